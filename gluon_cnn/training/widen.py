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
dropped by `concat`'s backward), so the parameters, their gradients and the outputs of the net
are those of the book's layers.

`widened(net)` returns a *view*: a new block that shares every Parameter and every other layer
with `net` and runs the widened pair in place of the original one. `net` itself is never changed,
so its repr, its checkpoints and anything a user holds of it stay the book's; the engine trains
and evaluates the view (`engine.train(widen=8)`).

Padding the consumer's input alone, with a `concat` of zeros on the activations, would keep every
layer's output as it is, but mxnet 1.9.1 dies with SIGFPE in `concat`'s backward when oneDNN hands
it a channel-blocked gradient whose split is not on a block boundary; widening the producer needs
no concat on activations.

Only pairs reachable from `net` through (Hybrid)Sequential containers are widened, since only those
can be rebuilt without knowing a block's forward. Nets in numpy mode (`npx.set_np()`), BatchNorm
between the two convolutions, groups or non-NCHW layouts are left as they are: the point is the
book's LeNets, not a general compiler.
"""
from mxnet.gluon import nn

from ..backend import internals
from ..backend.views import replaced, sequentials

__all__ = ['WIDEN', 'widened', 'widen_pairs', 'WideConv2D']

WIDEN = 8  # the channel multiple: oneDNN's fast direct kernels want multiples of 8

_CHANNELWISE = (nn.Activation, nn.MaxPool2D, nn.AvgPool2D)
_SEQUENTIAL = (nn.Sequential, nn.HybridSequential)


def _zeros(F, a, axis: int, n: int):
    """n zero slices of `a` along `axis`, built from `a` so no shape is needed in symbol mode."""
    zero = F.zeros_like(F.slice_axis(a, axis=axis, begin=0, end=1))
    return zero if n == 1 else F.repeat(zero, repeats=n, axis=axis)


class WideConv2D(nn.HybridBlock):
    """`conv`'s computation with zero rows (extra filters) and/or zero columns (extra input
    channels) appended to its weight and bias in the graph. It holds `conv`'s own Parameters and
    activation, so training it trains `conv`."""

    def __init__(self, conv: nn.Conv2D, extra_out: int, extra_in: int):
        # sharing conv's ParameterDict: `get` then returns conv's own Parameters
        super().__init__(prefix=conv.prefix, params=conv.params)
        self.extra_out, self.extra_in = extra_out, extra_in
        self.op_kwargs = dict(internals.layer_kwargs(conv),
                              num_filter=internals.conv_channels(conv) + extra_out)
        self.weight = self.params.get('weight')
        self.bias = self.params.get('bias') if conv.bias is not None else None
        self.act = conv.act

    def hybrid_forward(self, F, x, weight, bias=None):
        if self.extra_in:
            weight = F.concat(weight, _zeros(F, weight, 1, self.extra_in), dim=1)    # (O, c', k, k)
        if self.extra_out:
            weight = F.concat(weight, _zeros(F, weight, 0, self.extra_out), dim=0)  # (c', C, k, k)
            if bias is not None:
                bias = F.concat(bias, _zeros(F, bias, 0, self.extra_out), dim=0)    # (c',)
        args = (x, weight) if bias is None else (x, weight, bias)
        out = F.Convolution(*args, name='fwd', **self.op_kwargs)
        return self.act(out) if self.act is not None else out


def _plain_conv(block) -> bool:
    if type(block) is not nn.Conv2D:
        return False
    k = internals.layer_kwargs(block)
    return k['num_group'] == 1 and k['layout'] == 'NCHW'


def widen_pairs(net, multiple: int = WIDEN) -> list:
    """[(producer, consumer)] Conv2D pairs of `net` that `widened` would widen."""
    pairs = []
    for block in sequentials(net):
        layers = list(internals.children(block).values())
        for i, producer in enumerate(layers):
            if not (_plain_conv(producer) and internals.conv_channels(producer) % multiple):
                continue
            j = i + 1
            while j < len(layers) and type(layers[j]) in _CHANNELWISE:
                j += 1
            if j < len(layers) and _plain_conv(layers[j]):
                pairs.append((producer, layers[j]))
    return pairs


def widened(net, multiple: int = WIDEN):
    """A view of `net` whose widenable conv pairs run with channels rounded up to `multiple`
    (see the module docstring), or `net` itself when there is nothing to widen. The engine uses
    8: 16 also gives a 1-channel conv's weight gradient a direct kernel and trains the zh LeNet
    ~15% faster still, but doubles the activations and slows evaluation
    (`benchmarks/widen_ab.py`, benchmarks/README.md).

    A net whose parameters wait for deferred initialization is returned as it is: the zero padding
    would hide the weight's shape from Gluon's inference (the engine runs one batch first).
    Classic mode only: in numpy mode (npx.set_np()) `training.compute.view` keeps the net."""
    pairs = widen_pairs(net, multiple) if multiple else []
    if not pairs or not all(internals.is_initialized(c.weight) for pair in pairs for c in pair):
        return net
    extra = {}  # conv -> [extra outputs, extra inputs]; NiN's 1x1 chains are both
    for producer, consumer in pairs:
        n = -internals.conv_channels(producer) % multiple
        extra.setdefault(producer, [0, 0])[0] = n
        extra.setdefault(consumer, [0, 0])[1] = n
    return replaced(net, {conv: WideConv2D(conv, *pads) for conv, pads in extra.items()})
