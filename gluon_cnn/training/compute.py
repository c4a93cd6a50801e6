"""What computes a training step: the net as built, its widened view, or the fused operators'
view. `view` is the one function that decides; `Runtime.compute` names the choice for a run.

Every view shares every Parameter with the net and computes the same function, so the numbers
and the saved parameters are the book's whichever computes:
- 'stock': the net as built, MXNet's own operators;
- 'widened': LeNet's 6-channel convolutions as exact 8-channel ones (`training.widen`), for which
  oneDNN has its fast direct kernels;
- 'fused': each few-channel conv + activation + pooling as one custom operator
  (`backend.fastops`), where its library loads; else the widened view.
"""
from mxnet import autograd, gluon

from ..backend import fastops, internals
from .widen import WIDEN, widened

__all__ = ['COMPUTE', 'WIDEN', 'NetAndLoss', 'view', 'compute_for', 'count_correct',
           'settle_shapes']

COMPUTE = ('stock', 'widened', 'fused')


def compute_for(fast_ops: bool, widen: int) -> str:
    """The compute of a config's `fast_ops` and `widen` fields."""
    return 'fused' if fast_ops else 'widened' if widen else 'stock'


def view(net, compute: str, widen: int = WIDEN, np_mode: bool = False):
    """What trains and evaluates for `compute` (COMPUTE): `net` itself or a view sharing its
    Parameters. Call after the net's shapes are known (`settle_shapes`). The views are built of
    legacy operators: in numpy mode (np_mode, npx.set_np()) the net computes as it is."""
    assert compute in COMPUTE, compute
    if np_mode:
        return net
    if compute == 'fused' and fastops.load():
        return fastops.fused(net)
    if compute == 'stock':
        return net
    return widened(net, widen or WIDEN)


class NetAndLoss(gluon.HybridBlock):
    """net, loss and the batch's metrics in one graph, so hybridize() compiles them with the
    forward pass. Returns the per-example losses (for backward), their sum and the number of
    correct predictions: the metrics cost no Python-side operator calls per batch (about 8% of a
    LeNet step when they were separate calls)."""

    def __init__(self, net, loss, **kwargs):
        super().__init__(**kwargs)
        self.net, self.loss = net, loss

    def hybrid_forward(self, F, X, y):
        y_hat = self.net(X)                    # (B, classes)
        l = self.loss(y_hat, y)                # (B,)
        return l, l.sum(), count_correct(y_hat, y)


def count_correct(y_hat, y):
    """Number of correct predictions, as a 1-element array left on the device."""
    # float32 on both sides: argmax is float32 (classic) or int64 (numpy mode),
    # symbols have no dtype
    return (y_hat.argmax(axis=1).astype('float32') == y.astype('float32')).astype('float32').sum()


def settle_shapes(net, X):
    """Finish Gluon's deferred initialization with one example of batch X, so that the views
    (whose zero padding hides shapes from Gluon's inference) can build their graphs. The weights
    are drawn here, where the book's first forward pass draws them: a seed gives the same net."""
    if not all(internals.is_initialized(p) for p in net.collect_params().values()):
        with autograd.pause():
            net(X[:1])
