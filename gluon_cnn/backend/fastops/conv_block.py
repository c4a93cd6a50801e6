"""Gluon side of the fastops library: `FastConv2D` and `fused(net)`, a view of a net whose eligible
Conv2D layers (with the pooling layer right after them, when there is one) run as one
`fastops_conv` operator. Follows `gluon_cnn.training.widen`: the view shares every Parameter and
every other layer with `net`; `net` itself is never changed.

Eligible: a plain `nn.Conv2D` (NCHW, groups 1, dilation 1, stride 1, a kernel larger than 1x1)
whose activation is none, sigmoid, relu or tanh, with at most `max_channels` input and output
channels. The kernels are written for LeNet's few channels; wide layers stay with oneDNN, and so
do strided ones (the operator computes them at stride 1 and subsamples: stride^2 the work, e.g.
16x for AlexNet's first layer) and 1x1 ones (a plain GEMM, which oneDNN does well). Since the
fused operators are on by default (train.py, `TrainConfig.fast_ops`), this rule is what keeps
the modern nets on MXNet's own kernels. A following MaxPool2D/AvgPool2D with no padding and
ceil_mode off (or whose ceil size equals the floor size) is folded in. Only layers reachable
through (Hybrid)Sequential containers are replaced, as in `gluon_cnn.training.widen`.
"""
from mxnet import autograd
from mxnet.gluon import nn

from .. import internals
from ..blocks import is_container, walk
from ..views import replaced, sequentials

__all__ = ['FastConv2D', 'fused', 'fuse_pairs', 'MAX_CHANNELS']

MAX_CHANNELS = 16  # input and output channels up to which a Conv2D is run by fastops_conv
_ACTS = {None: 0, 'sigmoid': 1, 'relu': 2, 'tanh': 3}


def _kwargs(block) -> dict:
    return internals.layer_kwargs(block)


def _act_name(conv):
    act = conv.act
    if act is None:
        return None
    return internals.act_type(act) if isinstance(act, nn.Activation) else '?'


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _conv_ok(block, max_channels: int) -> bool:
    if type(block) is not nn.Conv2D:
        return False
    k = _kwargs(block)
    w = block.weight
    in_ch = w.shape[1] if w.shape and len(w.shape) == 4 else 0
    return (k['num_group'] == 1 and k['layout'] == 'NCHW' and _pair(k['dilate']) == (1, 1)
            and _pair(k['stride']) == (1, 1) and _pair(k['kernel']) != (1, 1)
            and _act_name(block) in _ACTS and 0 < in_ch <= max_channels
            and w.shape[0] <= max_channels)


def _pool_attrs(pool):
    """fastops_conv's pooling attributes for a Gluon pooling layer, or None when it cannot be
    folded in (padding, global pooling, ceil mode that changes the size is checked at run time
    by the operator's own floor size and is refused here)."""
    if type(pool) not in (nn.MaxPool2D, nn.AvgPool2D):
        return None
    k = _kwargs(pool)
    if (k.get('global_pool') or _pair(k['pad']) != (0, 0) or k.get('layout', 'NCHW') != 'NCHW'
            or k.get('pooling_convention', 'valid') != 'valid'):
        return None
    (pkh, pkw), (psh, psw) = _pair(k['kernel']), _pair(k['stride'])
    return {'pool': 1 if k['pool_type'] == 'max' else 2, 'pkh': pkh, 'pkw': pkw,
            'psh': psh, 'psw': psw}


class FastConv2D(nn.HybridBlock):
    """`conv` (and `pool`, if given) as one fastops_conv call. Holds `conv`'s own Parameters, so
    training it trains `conv`. data_grad=False skips the input gradient (a net's first layer:
    its input is the data)."""

    def __init__(self, conv: nn.Conv2D, pool=None, data_grad: bool = True):
        super().__init__(prefix=conv.prefix, params=conv.params)
        k = _kwargs(conv)
        (kh, kw), (sh, sw), (ph, pw) = _pair(k['kernel']), _pair(k['stride']), _pair(k['pad'])
        self.attrs = {'kh': kh, 'kw': kw, 'sh': sh, 'sw': sw, 'ph': ph, 'pw': pw,
                      'act': _ACTS[_act_name(conv)], 'no_bias': int(conv.bias is None),
                      'data_grad': int(bool(data_grad))}
        self.attrs.update(_pool_attrs(pool) if pool is not None else {'pool': 0})
        self.weight = self.params.get('weight')
        self.bias = self.params.get('bias') if conv.bias is not None else None
        # a string, not the blocks: Gluon would warn about unregistered children
        self._source = repr(conv) + ('' if pool is None else ', ' + repr(pool))

    def hybrid_forward(self, F, x, weight, bias=None):
        args = (x, weight) if bias is None else (x, weight, bias)
        # outside autograd.record (evaluation) the forward keeps nothing for a backward; a graph
        # traced there that is later differentiated recomputes what it needs (correct, slower)
        keep = {} if autograd.is_recording() else {'keep': 0}
        return F.fastops_conv(*args, **self.attrs, **keep)

    def __repr__(self):
        return f'FastConv2D({self._source})'


def fuse_pairs(net, max_channels: int = MAX_CHANNELS) -> list:
    """[(conv, pool or None)] of `net` that `fused` would replace, in order."""
    found = []
    for block in sequentials(net):
        layers = list(internals.children(block).values())
        i = 0
        while i < len(layers):
            if _conv_ok(layers[i], max_channels):
                nxt = layers[i + 1] if i + 1 < len(layers) else None
                pool = nxt if nxt is not None and _pool_attrs(nxt) is not None else None
                found.append((layers[i], pool))
                i += 2 if pool is not None else 1
            else:
                i += 1
    return found


def _first_layer(net):
    """The block that sees the net's input first, through Sequential containers."""
    return next((b for _, b in walk(net, is_container) if not is_container(b)), net)


def fused(net, max_channels: int = MAX_CHANNELS, data_grad_first: bool = False):
    """A view of `net` with every `fuse_pairs` pair run as one FastConv2D, or `net` itself when
    there is none, the library is not loaded, or a weight's shape is not known yet (deferred
    initialization: run one batch first, as the engine does). Classic mode only: in numpy mode
    (npx.set_np()) `training.compute.view` keeps the net as it is.

    The net's first layer skips its input gradient (`data_grad_first=False`: the input is the
    data); pass True to differentiate with respect to the input (saliency maps)."""
    from . import load
    if not load():
        return net
    pairs = fuse_pairs(net, max_channels)
    if not pairs or not all(internals.is_initialized(c.weight) for c, _ in pairs):
        return net
    first = _first_layer(net)
    swap, drop = {}, set()
    for conv, pool in pairs:
        swap[conv] = FastConv2D(conv, pool, data_grad=data_grad_first or conv is not first)
        if pool is not None:
            drop.add(pool)
    return replaced(net, swap, drop)
