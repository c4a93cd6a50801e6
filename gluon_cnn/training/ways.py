"""The ways of running a training step: one object each, so that the loop in `engine` reads the
same for all of them.

- `OneDevice`: the book's step (d2l zh §5.5) on one context.
- `SeveralDevices`: one process, the batch split over several contexts, gradients summed by the
  'device' kvstore (d2l zh §8.5).
- `ParameterServer`: ps-lite workers (`--kvstore dist_sync`, `dist_device_sync`, `dist_async`),
  each taking its share of every global batch, started by `python -m gluon_cnn.launch`.
- `Horovod`: Horovod workers (`--kvstore horovod`), gradients allreduced.

Each has `make_trainer` (the Trainer that sums its gradients), `prepare` (before the first step
of a run: finish deferred initialization, share the starting weights, switch to the widened
view), `step` (forward, backward and update on one global batch) and `totals` (an epoch's sums
over the workers). `for_run` picks the way for a run's contexts and kvstore, in one place.
"""
from typing import List

import mxnet as mx
from mxnet import autograd, gluon

from ..errors import ConfigError
from ..backend import fastops, internals, npmode
from . import parallel
from .widen import widened

__all__ = ['WIDEN', 'Objective', 'OneDevice', 'SeveralDevices', 'ParameterServer', 'Horovod',
           'for_run', 'as_way', 'settle_shapes']

WIDEN = 8  # channel multiple of the widened convolutions; 0 trains the layers as they are


class Objective(gluon.HybridBlock):
    """net, loss and metrics in one graph, so hybridize() compiles them with the forward pass.

    Returns the per-example losses (for backward), their sum and the number of correct
    predictions: the metrics cost no Python-side operator calls per batch (about 8% of a
    LeNet step when they were separate calls).
    """

    def __init__(self, net, loss, **kwargs):
        super().__init__(**kwargs)
        self.net, self.loss = net, loss
        self.prepared = False            # set by the way's prepare, before the first step

    def use(self, net, hybridize: bool):
        """Compute with `net` from now on: a view of the same parameters (training.widen)."""
        if net is not self.net:
            del self.net  # Gluon refuses to change a child's type in place; this re-registers it
            self.net = net
            if hybridize:  # standalone calls (evaluation) get the view's own graph too
                net.hybridize(static_alloc=True, static_shape=True)
            internals.clear_cached_graphs(self)

    def hybrid_forward(self, F, X, y):
        y_hat = self.net(X)
        l = self.loss(y_hat, y)
        return l, l.sum(), count_correct(y_hat, y)


def count_correct(y_hat, y):
    """Number of correct predictions, as a 1-element array left on the device."""
    # float32 on both sides: argmax is float32 (classic) or int64 (numpy mode),
    # symbols have no dtype
    return (y_hat.argmax(axis=1).astype('float32') == y.astype('float32')).astype('float32').sum()


def settle_shapes(net, X):
    """Finish Gluon's deferred initialization with one example of batch X, so that `widened`
    (whose zero padding hides shapes from Gluon's inference) can build its graph."""
    if not all(internals.is_initialized(p) for p in net.collect_params().values()):
        with autograd.pause():
            net(X[:1])


# ----------------------------------------------------------------------------- one process
class OneDevice:
    """One process on one context: the book's step (d2l zh §5.5).

    widen: run conv pairs with channels rounded up to this multiple (exact; training.widen), 0 to
    run them as they are. hybridize: compile net, loss and metrics into one static graph.
    """
    rank, num_workers = 0, 1

    def __init__(self, ctx=None, widen: int = WIDEN, hybridize: bool = True,
                 fast_ops: bool = False):
        self.ctxs = [ctx or mx.cpu()]
        self.widen, self.hybridize, self.fast_ops = widen, hybridize, fast_ops

    @property
    def ctx(self):
        """Where batches, metrics and evaluation live: the first device."""
        return self.ctxs[0]

    @property
    def evaluates(self) -> bool:
        """Whether this process measures test accuracy (one of the workers does)."""
        return self.rank == 0

    def __str__(self) -> str:
        return str(self.ctx)

    def make_trainer(self, params, optimizer: str, optimizer_params: dict) -> gluon.Trainer:
        return gluon.Trainer(params, optimizer, optimizer_params)

    def objective(self, net, loss) -> Objective:
        objective = Objective(net, loss)
        if self.hybridize:
            objective.hybridize(static_alloc=True, static_shape=True)
        return objective

    def prepare(self, objective: Objective, trainer: gluon.Trainer, X) -> None:
        """Before the run's first step, on its first (augmented) batch: draw the initial weights
        exactly where the first forward pass would (so a seed gives the same net as ever), share
        them with the other workers, then train and evaluate the widened view for the rest of
        the run. One view for the whole run: rebuilding graphs every epoch grows the memory pool.
        """
        settle_shapes(objective.net, X)
        self.share_weights(objective.net, trainer, X.shape[0])
        objective.use(self.view(objective.net), self.hybridize)
        objective.prepared = True

    def view(self, net):
        """What trains: the fused operators' view (mx.fastops, where the library loads) or the
        widened one; either shares every Parameter with `net` and computes the same function."""
        if self.fast_ops and fastops.load():
            return fastops.fused(net)
        return widened(net, self.widen)

    def share_weights(self, net, trainer: gluon.Trainer, batch: int) -> None:
        """Send the starting weights to the other workers (none here)."""

    def step(self, objective: Objective, trainer: gluon.Trainer, X, y) -> tuple:
        """One update on batch X; (loss sum, correct, examples) of it, on the device."""
        with autograd.record():          # record the forward pass for autograd
            l, loss_sum, correct = objective(X, y)
        l.backward()                     # d(sum of per-example losses) / d(params)
        trainer.step(X.shape[0])         # SGD step on the batch mean: divides by batch size
        return loss_sum, correct, X.shape[0]

    def totals(self, loss_sum, correct, n: int) -> tuple:
        """The epoch's sums over every worker: this process is all of them."""
        return loss_sum, correct, n


class SeveralDevices(OneDevice):
    """One process, each batch split over several contexts (d2l zh §8.5); the 'device' kvstore
    sums the gradients and the step averages over the whole batch."""

    def __init__(self, ctxs, widen: int = WIDEN, hybridize: bool = True,
                 fast_ops: bool = False):
        super().__init__(ctxs[0], widen, hybridize, fast_ops)
        self.ctxs = list(ctxs)
        self.full = None                 # the run's full batch size, from its first batch

    def __str__(self) -> str:
        return str(self.ctxs)

    def make_trainer(self, params, optimizer: str, optimizer_params: dict) -> gluon.Trainer:
        return gluon.Trainer(params, optimizer, optimizer_params, kvstore='device',
                             update_on_kvstore=False)

    def step(self, objective: Objective, trainer: gluon.Trainer, X, y) -> tuple:
        self.full = self.full or X.shape[0]  # the first batch is a full one
        parts = self.split(X, y)             # [(X_k, y_k, real)], one per device
        weight = self.loss_weight(X.shape[0])
        with autograd.record():          # forward on every device, recorded for autograd
            outs = [objective(Xk, yk) for Xk, yk, _ in parts]
            # a stand-in part's loss counts 0 (parallel's docstring says why it runs at all)
            ls = [(l if weight == 1.0 else l * weight) if real else l * 0.0
                  for (l, _, _), (_, _, real) in zip(outs, parts)]
        autograd.backward(ls)            # one backward pass per device
        trainer.step(self.step_size(X.shape[0]))  # the sum of the gradients, over the batch
        real = [(s, c) for (_, s, c), (_, _, r) in zip(outs, parts) if r]
        loss_sum = sum((s.as_in_context(self.ctx) for s, _ in real), npmode.zeros(1, self.ctx))
        correct = sum((c.as_in_context(self.ctx) for _, c in real), npmode.zeros(1, self.ctx))
        return loss_sum, correct, sum(Xk.shape[0] for Xk, _, r in parts if r)

    def split(self, X, y) -> list:
        """This process's share of global batch X, one part per device."""
        return parallel.split_batch(X, y, self.ctxs)

    def loss_weight(self, b: int) -> float:
        """What each example's loss is multiplied by before backward (1: step averages it)."""
        return 1.0

    def step_size(self, b: int) -> float:
        """What `trainer.step` divides the summed gradients by."""
        return b


# ----------------------------------------------------------------------------- several processes
class ParameterServer(SeveralDevices):
    """ps-lite workers (d2l zh §8.5's kvstore, across processes): every worker reads the same
    shuffled global batch and takes its share (`parallel.share`); the servers sum the gradients.
    Under `dist_sync` this computes the updates of one process with the same seed and batch.

    dist_async's servers apply the optimizer themselves, dividing by the batch size of the first
    step; only rank 0 evaluates, and epoch metrics are summed where the kvstore can sum.
    """

    def __init__(self, workers: parallel.Workers, ctxs, widen: int = WIDEN,
                 hybridize: bool = True, fast_ops: bool = False):
        super().__init__(ctxs, widen, hybridize, fast_ops)
        self.workers = workers
        self.rank, self.num_workers = workers.rank, workers.num_workers
        self.servers_update = 'async' in workers.name  # dist_async: the optimizer runs there

    def __str__(self) -> str:
        return f'{super().__str__()} x {self.num_workers} workers ({self.workers.name})'

    def make_trainer(self, params, optimizer: str, optimizer_params: dict) -> gluon.Trainer:
        # dist_sync / dist_device_sync update here (faster, and the optimizer states stay in the
        # trainer where checkpoints read them); dist_async's servers must apply the updates
        return gluon.Trainer(params, optimizer, optimizer_params, kvstore=self.workers.kvstore,
                             update_on_kvstore=None if self.servers_update else False)

    def share_weights(self, net, trainer: gluon.Trainer, batch: int) -> None:
        """Rank 0's starting weights go to the servers before a training pass can reorder their
        layout (Trainer.step would send them after the first backward pass). With the optimizer
        goes the gradient scale of a full global batch, as Trainer.step would set it."""
        self.full = batch
        parallel.plain_layout(net)
        internals.init_kvstore(trainer, self.step_size(batch))

    def split(self, X, y) -> list:
        return parallel.split_batch(X, y, self.ctxs, self.workers)

    def loss_weight(self, b: int) -> float:
        # dist_async's servers divide by the first step's batch size: a short batch weights its
        # losses full / b so that the update still averages over its b examples
        return self.full / b if self.servers_update else 1.0

    def step_size(self, b: int) -> float:
        return self.full if self.servers_update else b  # the servers' scale is the first step's

    def totals(self, loss_sum, correct, n: int) -> tuple:
        """Each worker saw its share: the epoch's sums over the workers (dist_sync); dist_async
        keeps this worker's own."""
        ctx = loss_sum.context
        l_tot, c_tot, n_tot = parallel.sum_over_workers(
            self.workers, [_scalar(loss_sum), _scalar(correct), n])
        return mx.nd.array([l_tot], ctx=ctx), mx.nd.array([c_tot], ctx=ctx), int(round(n_tot))


class Horovod(ParameterServer):
    """Horovod workers, one device each: rank 0's weights are broadcast, gradients allreduced by
    Horovod's DistributedTrainer (which divides by the number of workers itself)."""

    def make_trainer(self, params, optimizer: str, optimizer_params: dict) -> gluon.Trainer:
        return parallel.horovod().DistributedTrainer(params, optimizer, optimizer_params)

    def share_weights(self, net, trainer: gluon.Trainer, batch: int) -> None:
        parallel.plain_layout(net)       # Horovod's broadcast reads raw bytes too
        parallel.horovod().broadcast_parameters(net.collect_params(), root_rank=0)

    def loss_weight(self, b: int) -> float:
        return 1.0

    def step_size(self, b: int) -> float:
        return b / self.num_workers


def _scalar(a) -> float:
    return a.asnumpy().item()


# ----------------------------------------------------------------------------- choosing one
def for_run(ctxs: List, kvstore: str = 'device', widen: int = WIDEN, hybridize: bool = True,
            fast_ops: bool = False):
    """The way a run with these contexts and `--kvstore` trains: the one place that decides.
    A dist kvstore or Horovod joins the other workers first (blocks until every role is up)."""
    if kvstore == 'horovod' and len(ctxs) > 1:
        raise ConfigError('--kvstore horovod runs one device per process (Horovod sums the '
                          'first device\'s gradients only): start one process per device')
    workers = parallel.connect(kvstore)
    how = dict(widen=widen, hybridize=hybridize, fast_ops=fast_ops)
    if workers.horovod:
        return Horovod(workers, ctxs, **how)
    if workers.distributed:
        return ParameterServer(workers, ctxs, **how)
    if len(ctxs) > 1:
        return SeveralDevices(ctxs, **how)
    return OneDevice(ctxs[0], **how)


def as_way(way_or_ctx=None, hybridize: bool = True):
    """A way of running from what a caller passes: a way as it is, a context (one device) or a
    list of contexts (several devices, one process), or None for cpu()."""
    if isinstance(way_or_ctx, OneDevice):
        return way_or_ctx
    if isinstance(way_or_ctx, (list, tuple)):
        return for_run(list(way_or_ctx), hybridize=hybridize)
    return OneDevice(way_or_ctx, hybridize=hybridize)
