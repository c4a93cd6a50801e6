"""Closed-form shape math for CNNs: the one home of every formula (d2l zh §5.1-§5.4).

The tracer (`trace.py`), the exercises and the tests all call these functions, so no formula is
written twice. Sizes are per spatial axis unless the name says otherwise; "p_total" is the padding
summed over both sides of an axis (Gluon's `padding=p` gives p_total = 2p).

>>> out_size(28, 5)                    # d2l zh §5.2: 28 - 5 + 1
24
>>> conv_output_shape((28, 28), 5, padding=2)
(28, 28)
>>> conv_params(5, 5, 1, 6), conv_macs(5, 5, 1, 6, 24, 24)
(156, 86400)
>>> receptive_field([(5, 1), (2, 2), (5, 1), (2, 2)])
(16, 4)
>>> out_size_formula(28, 5)           # the formula with its numbers, as the tracer shows it
'⌊(28 - 5 + 0 + 1) / 1⌋ = 24'
>>> solve(32, 28)[0]                   # the inverse: (kernel, padding per side, stride)
(5, 0, 1)
>>> transposed_out_size(4, 16, 12, 8)    # a transposed conv runs it backwards: 4 -> 28
28
>>> transposed_out_size_formula(4, 16, 12, 8)
'(4 - 1)·8 - 12 + 16 + 0 = 28'

    python -m gluon_cnn.shapes solve 32 28    # every (kernel, padding, stride) from 32 to 28
    python -m gluon_cnn.shapes solve 4 28 --transpose --max-kernel 16   # and upsampling 4 to 28

After a transposed convolution of stride s the jump is a fraction of an input pixel (j / s); the
fields of later layers add (k - 1) * jump rounded up to whole pixels.
"""
from fractions import Fraction
from math import ceil as _ceil
from typing import Iterable, Sequence, Tuple, Union

__all__ = ['out_size', 'out_size_formula', 'solve', 'conv_output_shape', 'padding_for',
           'conv_params', 'conv_macs', 'conv_connections', 'dense_params', 'dense_macs',
           'dense_connections', 'pool_macs', 'batchnorm_params', 'receptive_field',
           'receptive_field_step', 'pair', 'transposed_out_size', 'transposed_out_size_formula',
           'solve_transposed', 'transposed_receptive_field_step', 'receptive_field_start']

IntOrPair = Union[int, Sequence[int]]


# one int or an (h, w) pair -> an (h, w) tuple
def pair(v: IntOrPair, n: int = 2) -> tuple:
    if isinstance(v, int):
        return (v,) * n
    v = tuple(int(a) for a in v)
    assert len(v) == n, f'expected {n} values, got {v}'
    return v


# d2l zh §5.2-§5.3: floor((n - k + p_total + s) / s) = floor((n - k + p_total) / s) + 1
def out_size(n: int, k: int, p_total: int = 0, s: int = 1, dilation: int = 1,
             ceil: bool = False) -> int:
    """Output length of a convolution or pooling window along one axis (0 when k does not fit).

    ceil : round up instead of down, as pooling with `ceil_mode=True` does (MXNet's 'full'
        pooling convention): a last, partial window still gives an output.
    """
    k_eff = dilation * (k - 1) + 1  # a dilated kernel spans this many input positions
    if ceil:
        return max(0, -(-(n - k_eff + p_total) // s) + 1)
    return max(0, (n - k_eff + p_total + s) // s)


def out_size_formula(n: int, k: int, p_total: int = 0, s: int = 1, dilation: int = 1,
                     ceil: bool = False) -> str:
    """`out_size` written out with its numbers, as d2l zh §5.2 writes it.

    '⌊(28 - 5 + 0 + 1) / 1⌋ = 24': input, kernel, total padding, stride, then the result.

    A dilated kernel shows its span d(k - 1) + 1; ceil mode shows ⌈(n - k + p) / s⌉ + 1.
    """
    k_eff = dilation * (k - 1) + 1
    k_text = str(k) if dilation == 1 else f'{k_eff} [{dilation}·({k} - 1) + 1]'
    result = out_size(n, k, p_total, s, dilation, ceil)
    if ceil:
        return f'⌈({n} - {k_text} + {p_total}) / {s}⌉ + 1 = {result}'
    return f'⌊({n} - {k_text} + {p_total} + {s}) / {s}⌋ = {result}'


# the inverse of out_size: which windows take n_in to n_out (tutorials work 32 -> 28 by hand)
def solve(n_in: int, n_out: int, max_kernel: int = 11, max_stride: int = 4) -> list:
    """Every (kernel, padding, stride) with out_size(n_in, kernel, 2 * padding, stride) == n_out.

    padding is per side, as Gluon's `padding=` takes it, and at most kernel - 1 (more padding
    only adds outputs that see nothing but zeros). The book's usual answers come first: stride 1
    before larger strides, then no padding before padding, then the smaller kernel.

    >>> solve(32, 28)[:3]
    [(5, 0, 1), (7, 1, 1), (9, 2, 1)]
    """
    if n_in < 1 or n_out < 1 or max_kernel < 1 or max_stride < 1:
        raise ValueError(f'sizes must be positive: n_in={n_in}, n_out={n_out}, '
                         f'max_kernel={max_kernel}, max_stride={max_stride}')
    found = [(k, p, s) for s in range(1, max_stride + 1) for p in range(max_kernel)
             for k in range(p + 1, max_kernel + 1)
             if k <= n_in + 2 * p and out_size(n_in, k, 2 * p, s) == n_out]
    return sorted(found, key=lambda kps: (kps[2], kps[1], kps[0]))


# d2l en §14.10 / Dumoulin & Visin (2016), "A guide to convolution arithmetic", relationship 14:
# a transposed conv maps n to (n - 1)s - p_total + d(k - 1) + 1 + output_padding
def transposed_out_size(n: int, k: int, p_total: int = 0, s: int = 1, dilation: int = 1,
                        output_padding: int = 0) -> int:
    """Output length of a transposed convolution (Gluon's Conv2DTranspose) along one axis.

    Each of the n inputs scatters a k-window into the output, s apart; padding crops p_total
    from the result, output_padding adds rows at the end (Gluon's `output_padding`, MXNet's adj).
    """
    return max(0, (n - 1) * s - p_total + dilation * (k - 1) + 1 + output_padding)


def transposed_out_size_formula(n: int, k: int, p_total: int = 0, s: int = 1, dilation: int = 1,
                                output_padding: int = 0) -> str:
    """`transposed_out_size` with its numbers: '(4 - 1)·8 - 12 + 16 + 0 = 28'."""
    k_text = str(k) if dilation == 1 else f'{dilation * (k - 1) + 1} [{dilation}·({k} - 1) + 1]'
    result = transposed_out_size(n, k, p_total, s, dilation, output_padding)
    return f'({n} - 1)·{s} - {p_total} + {k_text} + {output_padding} = {result}'


def solve_transposed(n_in: int, n_out: int, max_kernel: int = 11, max_stride: int = 4) -> list:
    """Every (kernel, padding, stride, output_padding) of a transposed conv taking n_in to n_out.

    padding is per side and at most kernel - 1, output_padding below the stride (as MXNet
    requires). First no output_padding, then kernels that cover their stride (k >= s: every
    output pixel gets an input; k < s leaves holes), then the smaller stride, padding, kernel.

    >>> solve_transposed(4, 28, max_kernel=16, max_stride=8)[:2]
    [(16, 0, 4, 0), (13, 0, 5, 0)]
    """
    if n_in < 1 or n_out < 1 or max_kernel < 1 or max_stride < 1:
        raise ValueError(f'sizes must be positive: n_in={n_in}, n_out={n_out}, '
                         f'max_kernel={max_kernel}, max_stride={max_stride}')
    found = [(k, p, s, a) for s in range(1, max_stride + 1) for a in range(s)
             for p in range(max_kernel) for k in range(p + 1, max_kernel + 1)
             if transposed_out_size(n_in, k, 2 * p, s, 1, a) == n_out]
    return sorted(found, key=lambda f: (f[3], f[0] < f[2], f[2], f[1], f[0]))


# per-axis out_size for an (h, w) input; padding is Gluon's per-side padding
def conv_output_shape(hw: IntOrPair, kernel: IntOrPair, padding: IntOrPair = 0,
                      stride: IntOrPair = 1, dilation: IntOrPair = 1) -> Tuple[int, int]:
    """(h_out, w_out) of a 2-D conv/pool with symmetric per-side `padding`, as in nn.Conv2D."""
    (h, w), (kh, kw), (ph, pw) = pair(hw), pair(kernel), pair(padding)
    (sh, sw), (dh, dw) = pair(stride), pair(dilation)
    return out_size(h, kh, 2 * ph, sh, dh), out_size(w, kw, 2 * pw, sw, dw)


# d2l zh §5.2: 'valid' pads nothing, 'same' keeps n (stride 1), 'full' lets every overlap count
def padding_for(mode: str, k: int) -> int:
    """Total padding p_total along one axis for padding mode 'valid' | 'same' | 'full'.

    'same' needs p_total = k - 1, which is odd for even k: Gluon's symmetric padding can then
    only give k - 2 or k (an output one smaller or larger), as the book notes for §5.2.
    """
    totals = {'valid': 0, 'same': k - 1, 'full': 2 * (k - 1)}
    if mode not in totals:
        raise ValueError(f"padding mode must be 'valid', 'same' or 'full', not {mode!r}")
    return totals[mode]


# k_h * k_w * c_i weights per output channel, plus one bias each (d2l zh §5.3)
def conv_params(kh: int, kw: int, ci: int, co: int, bias: bool = True, groups: int = 1) -> int:
    return kh * kw * (ci // groups) * co + (co if bias else 0)


# one multiply-accumulate per weight per output position; bias adds are not MACs
def conv_macs(kh: int, kw: int, ci: int, co: int, ho: int, wo: int, groups: int = 1) -> int:
    return kh * kw * (ci // groups) * co * ho * wo


# LeCun et al. (1998): every weight use plus every bias use, e.g. C1 of LeNet-5 = 122,304
def conv_connections(kh: int, kw: int, ci: int, co: int, ho: int, wo: int, bias: bool = True,
                     groups: int = 1) -> int:
    return (kh * kw * (ci // groups) + (1 if bias else 0)) * co * ho * wo


# a fully-connected layer: i * o weights plus o biases
def dense_params(i: int, o: int, bias: bool = True) -> int:
    return i * o + (o if bias else 0)


# a dense layer is a 1x1 conv on a 1x1 map: i * o MACs per example
def dense_macs(i: int, o: int) -> int:
    return i * o


# weight uses plus bias uses, per example
def dense_connections(i: int, o: int, bias: bool = True) -> int:
    return (i + (1 if bias else 0)) * o


# one compare (max) or add (avg) per window element per output position
def pool_macs(k_h: int, k_w: int, c: int, ho: int, wo: int) -> int:
    return k_h * k_w * c * ho * wo


# gamma, beta (trainable) and running mean, var (statistics) per channel: (total, trainable)
def batchnorm_params(c: int, scale: bool = True, center: bool = True) -> Tuple[int, int]:
    trainable = c * (int(scale) + int(center))
    return trainable + 2 * c, trainable


# one layer of the receptive-field recurrence: rf += (k - 1) * jump, jump *= s; after a
# transposed conv the jump is a fraction and the added span is rounded up to whole pixels
def receptive_field_step(rf: int, jump, k: int, s: int = 1, dilation: int = 1) -> tuple:
    return rf + _ceil((dilation * (k - 1)) * jump), jump * s


# a transposed conv: output o takes inputs i with i*s <= o + p < i*s + k_eff, at most
# ceil(k_eff / s) of them, j apart; outputs are s times closer than inputs
def transposed_receptive_field_step(rf: int, jump, k: int, s: int = 1,
                                    dilation: int = 1) -> tuple:
    k_eff = dilation * (k - 1) + 1
    step = Fraction(jump) / s
    return rf + (-(-k_eff // s) - 1) * jump, int(step) if step.denominator == 1 else step


# Araujo et al. (2019), "Computing receptive fields of CNNs", Distill: compose (k, s) layers
def receptive_field(layers: Iterable[Sequence[int]]) -> Tuple[int, int]:
    """(rf, jump) after a stack of (k, s) layers, each a window k and stride s along one axis.

    rf is how many input pixels one output pixel sees; jump is the input distance between two
    neighbouring outputs (the cumulative stride).
    """
    rf, jump = 1, 1
    for layer in layers:
        k, s = layer[0], layer[1]
        rf, jump = receptive_field_step(rf, jump, k, s, *layer[2:3])
    return rf, jump


# where output 0's field begins in the input: start -= p * jump at each layer (it may be negative,
# in the padding); output i's field is then [start + i * jump, start + i * jump + rf - 1]
def receptive_field_start(layers: Iterable[Sequence[int]]) -> Tuple[int, int, int]:
    """(rf, jump, start) after a stack of (k, s, p) layers, p the padding per side.

    >>> receptive_field_start([(5, 1, 2), (2, 2, 0)])     # a same-padded 5x5 conv, 2x2 pooling
    (6, 2, -2)
    """
    rf, jump, start = 1, 1, 0
    for layer in layers:
        k, s, p = layer[0], layer[1], layer[2]
        start -= p * jump
        rf, jump = receptive_field_step(rf, jump, k, s, *layer[3:4])
    return rf, jump, start
