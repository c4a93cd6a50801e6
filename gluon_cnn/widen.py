"""Channel widening: LeNet's 6-channel convolutions run as 8-channel ones, with the same math.

Why: the oneDNN inside mxnet 1.9.1 picks its direct (blocked-layout) convolution kernels only when
the channel counts are multiples of 8. For LeNet's 6 channels it falls back to im2col + GEMM
(`gemm:jit`), 2-3x slower for conv1's forward pass and for both backward passes of conv2
(benchmarks/README.md has the per-primitive profile and the before/after).

How: in a Sequential, a Conv2D producer with c channels (c not a multiple of 8), followed only by
channel-wise layers (activation, pooling) and then a Conv2D consumer, is computed as
- the producer with c' filters, c rounded up to a multiple of 8 (or 16): its weight and bias get
  c' - c zero rows in the graph, and the extra channels carry the constant act(0) (0.5 for a
  sigmoid) through the pooling,
- the consumer with c' input channels: its weight gets c' - c zero columns, so the constants
  contribute exactly 0.
The zero rows and columns are built in the graph from the real parameters (their gradients are
dropped by `concat`'s backward), so the parameters, their gradients, the checkpoints and the
outputs of the net are those of the book's layers. Only the producer's own output, seen from
inside, has c' channels; `widened` therefore swaps the layers in for a `with` block and restores
them afterwards (`engine.train` runs inside one).

Padding the consumer's input alone, with a `concat` of zeros on the activations, would keep every
layer's output as it is, but mxnet 1.9.1 dies with SIGFPE in `concat`'s backward when oneDNN hands
it a channel-blocked gradient whose split is not on a block boundary; widening the producer needs
no concat on activations.

Nets in numpy mode (`npx.set_np()`), BatchNorm between the two convolutions, groups or non-NCHW
layouts are left as they are: the point is the book's LeNets, not a general compiler.
"""
from contextlib import contextmanager

from mxnet import gluon
from mxnet.gluon import nn
from mxnet.util import is_np_array

__all__ = ['widened', 'widen_pairs', 'clear_cached_graphs']

_CHANNELWISE = (nn.Activation, nn.MaxPool2D, nn.AvgPool2D)


def _zeros(F, a, axis: int, n: int):
    """n zero slices of `a` along `axis`, built from `a` so no shape is needed in symbol mode."""
    zero = F.zeros_like(F.slice_axis(a, axis=axis, begin=0, end=1))
    return zero if n == 1 else F.repeat(zero, repeats=n, axis=axis)


class _Widened(nn.Conv2D):
    """A Conv2D with zero rows (extra filters) and/or zero columns (extra input channels) appended
    to its weight and bias in the graph: `_widen` = (extra outputs, extra inputs)."""

    def hybrid_forward(self, F, x, weight, bias=None):
        extra_out, extra_in = self._widen
        if extra_in:
            weight = F.concat(weight, _zeros(F, weight, 1, extra_in), dim=1)    # (O, c', k, k)
        if extra_out:
            weight = F.concat(weight, _zeros(F, weight, 0, extra_out), dim=0)  # (c', C_in, k, k)
            if bias is not None:
                bias = F.concat(bias, _zeros(F, bias, 0, extra_out), dim=0)    # (c',)
        return super().hybrid_forward(F, x, weight, bias)


def _plain_conv(block) -> bool:
    k = getattr(block, '_kwargs', {})
    return type(block) is nn.Conv2D and k.get('num_group') == 1 and k.get('layout') == 'NCHW'


def widen_pairs(net, multiple: int = 8) -> list:
    """[(producer, consumer)] Conv2D pairs of `net` that `widened` would widen. Convolutions
    already widened are not plain Conv2D any more, so a nested `widened` finds nothing."""
    pairs = []

    def visit(block):
        if isinstance(block, (nn.Sequential, nn.HybridSequential)):
            layers = list(block._children.values())
            for i, producer in enumerate(layers):
                if not (_plain_conv(producer) and producer._channels % multiple):
                    continue
                j = i + 1
                while j < len(layers) and type(layers[j]) in _CHANNELWISE:
                    j += 1
                if j < len(layers) and _plain_conv(layers[j]):
                    pairs.append((producer, layers[j]))

    net.apply(visit)
    return pairs


def clear_cached_graphs(net):
    """Make every hybridized block of `net` rebuild its graph: the layers' settings changed."""
    net.apply(lambda b: b._clear_cached_op() if isinstance(b, gluon.HybridBlock) else None)


@contextmanager
def widened(net, multiple: int = 8):
    """Within the block, `net`'s widenable conv pairs run with channels rounded up to `multiple`
    (see the module docstring). The engine uses 8 for a whole run. 16 also gives a 1-channel
    conv's weight gradient a direct kernel and trains the zh LeNet ~15% faster still, but doubles
    the activations and slows evaluation (`benchmarks/widen_ab.py`, benchmarks/README.md).

    Re-entrant: a nested `widened` changes nothing. A net whose parameters wait for deferred
    initialization is left alone. Cached graphs of `net` and of the blocks inside it are rebuilt
    on entry and exit (milliseconds for LeNet); pass the outermost hybridized block.
    """
    pairs = [] if is_np_array() else widen_pairs(net, multiple)
    # the zero padding hides the weight's shape from Gluon's deferred initialization: widen only
    # nets whose shapes are settled (the engine runs one batch first; see engine.train)
    if not pairs or any(c.weight._data is None for pair in pairs for c in pair):
        yield net
        return
    widen = {}  # conv -> [extra outputs, extra inputs]; NiN's 1x1 chains are both
    for producer, consumer in pairs:
        extra = -producer._channels % multiple
        widen.setdefault(producer, [0, 0])[0] = extra
        widen.setdefault(consumer, [0, 0])[1] = extra
    for conv, (extra_out, _) in widen.items():
        conv._kwargs = dict(conv._kwargs, num_filter=conv._channels + extra_out)
        conv._widen = tuple(widen[conv])
        conv.__class__ = _Widened
    clear_cached_graphs(net)
    try:
        yield net
    finally:
        for conv in widen:
            conv._kwargs = dict(conv._kwargs, num_filter=conv._channels)
            conv.__class__ = nn.Conv2D
            del conv._widen
        clear_cached_graphs(net)
