"""Design choices around d2l zh ch. 5, measured with the tracer: what each one costs.

Parameters and MACs (multiply-accumulates, batch of 1) of
- two stacked 3x3 convolutions versus one 5x5 (Simonyan & Zisserman, 2015, "Very deep
  convolutional networks", VGG §2.3): the same 5x5 receptive field for 18/25 of the cost;
- a 1x1 bottleneck before a 5x5 (Szegedy et al., 2015, "Going deeper with convolutions",
  GoogLeNet Table 1, inception (3a): 192 -> 16 -> 32 channels on 28x28);
- depthwise-separable versus standard convolution (Howard et al., 2017, MobileNets §3.1:
  cost ratio 1/c_o + 1/k^2);
and pooling variants: overlapping 3/2 (Krizhevsky et al., 2012, AlexNet §3.4), global average
(Lin et al., 2014, "Network in network" §3.2) and spatial pyramid pooling (He et al., 2014,
SPP-net),
which gives a fixed-length vector from inputs of any size. Two worked examples that popular
Chinese CNN tutorials do by hand, checked by the tracer: the weights of a 3x3 convolution from 3
to 192 channels, and a 2-channel 96x96 net traced end to end.

Convolution run backwards: a fully convolutional LeNet (Long et al., 2015, "Fully convolutional
networks for semantic segmentation") whose 1x1 convolution and transposed convolution (d2l en
§14.10-§14.11) give one 28x28 score map per class. And why a CNN needs its nonlinearity: two
Dense layers without an activation are one Dense layer with the product matrix.

    python -m gluon_cnn.design_choices
"""
import argparse
import sys
from typing import Optional, Sequence

import numpy as np
from mxnet import nd
from mxnet.gluon import nn

from .cli import ArgumentParser, run_cli
from .models import get_model
from .trace import Trace, trace

__all__ = ['SpatialPyramidPooling', 'stacked_3x3_vs_5x5', 'bottleneck_1x1', 'separable_vs_standard',
           'pooling_variants', 'spp_lengths', 'conv_weights_3_to_192', 'tutorial_net_96',
           'lenet_fcn', 'fcn_trace', 'stacked_linear', 'report', 'main']


# ----------------------------------------------------------------------------- helpers
def _seq(*layers) -> nn.HybridSequential:
    net = nn.HybridSequential()
    net.add(*layers)
    return net


# one row of a comparison: what the tracer measures for `net` on `shape`
def _measure(name: str, net, shape: tuple) -> dict:
    t = trace(net, shape)
    return {'name': name, 'params': t.total_params, 'macs': t.total_macs,
            'ops': t.total_pool_ops + t.total_act_ops + t.total_norm_ops,
            'rf': t.rows[-1].receptive_field, 'output': t.rows[-1].output_shape}


def _table(rows: Sequence[dict], base: dict) -> str:
    lines = [f"{'':<34}{'params':>10}{'MACs':>14}{'ratio':>16}{'RF':>8}"]
    for r in rows:
        rel = f"{r['params'] / base['params']:.2f} / {r['macs'] / base['macs']:.2f}"
        lines.append(f"{r['name']:<34}{r['params']:>10,}{r['macs']:>14,}{rel:>16}"
                     f"{r['rf'][0]!s:>8}")
    return '\n'.join(lines)


# ----------------------------------------------------------------------------- convolutions
def stacked_3x3_vs_5x5(c: int = 64, hw: int = 28) -> list:
    """One 5x5 conv versus two 3x3 convs with a ReLU between them, c -> c channels, same padding.

    The ReLU is the extra nonlinearity VGG gains; it costs no MACs (one op per element).
    """
    shape = (1, c, hw, hw)
    return [_measure('one 5x5', _seq(nn.Conv2D(c, 5, padding=2, in_channels=c)), shape),
            _measure('two 3x3', _seq(nn.Conv2D(c, 3, padding=1, in_channels=c, activation='relu'),
                                     nn.Conv2D(c, 3, padding=1, in_channels=c)), shape)]


def bottleneck_1x1(c_in: int = 192, c_mid: int = 16, c_out: int = 32, hw: int = 28) -> list:
    """A 5x5 conv c_in -> c_out, directly and after a 1x1 reduction to c_mid (inception 3a)."""
    shape = (1, c_in, hw, hw)
    return [_measure('5x5 direct', _seq(nn.Conv2D(c_out, 5, padding=2, in_channels=c_in)), shape),
            _measure(f'1x1 to {c_mid}, then 5x5', _seq(
                nn.Conv2D(c_mid, 1, in_channels=c_in, activation='relu'),
                nn.Conv2D(c_out, 5, padding=2, in_channels=c_mid)), shape)]


def separable_vs_standard(c_in: int = 64, c_out: int = 128, k: int = 3, hw: int = 28) -> list:
    """A standard k x k conv versus depthwise k x k (groups = c_in) then pointwise 1x1."""
    shape = (1, c_in, hw, hw)
    return [_measure('standard 3x3',
                     _seq(nn.Conv2D(c_out, k, padding=k // 2, in_channels=c_in)), shape),
            _measure('depthwise 3x3 + pointwise 1x1', _seq(
                nn.Conv2D(c_in, k, padding=k // 2, groups=c_in, in_channels=c_in),
                nn.Conv2D(c_out, 1, in_channels=c_in)), shape)]


# ----------------------------------------------------------------------------- pooling
class SpatialPyramidPooling(nn.Block):
    """He et al. (2014) SPP: pool each map into n x n bins for every level n, and concatenate.

    Output (B, C * sum(n^2)) whatever the input's height and width. Bin i of n along an axis of
    length a covers [floor(i*a/n), ceil((i+1)*a/n)), as adaptive pooling does, so bins tile the
    map for any a >= n (the paper's window ceil(a/n), stride floor(a/n) misses for a=7, n=4).
    A plain Block: the bins depend on the input's size, which a hybridized graph does not know.
    """

    def __init__(self, levels: Sequence[int] = (4, 2, 1), mode: str = 'max', **kwargs):
        super().__init__(**kwargs)
        assert mode in ('max', 'avg'), mode
        self.levels, self.mode = tuple(levels), mode

    def forward(self, x):
        h, w = x.shape[2:]
        bins = []
        for n in self.levels:
            for i in range(n):
                for j in range(n):
                    cell = x[:, :, (i * h) // n: -(-(i + 1) * h // n),
                             (j * w) // n: -(-(j + 1) * w // n)]
                    pooled = cell.max(axis=(2, 3)) if self.mode == 'max' else cell.mean(axis=(2, 3))
                    bins.append(pooled)
        return nd.stack(*bins, axis=2).reshape((x.shape[0], -1))  # (B, C, bins) -> (B, C*bins)


def pooling_variants(c: int = 16, hw: int = 13) -> list:
    """2x2/2, overlapping 3x3/2, global average and SPP (4, 2, 1) on a (1, c, hw, hw) map."""
    shape = (1, c, hw, hw)
    rows = [_measure('max 2x2 / 2', _seq(nn.MaxPool2D(2, 2)), shape),
            _measure('max 3x3 / 2 (overlapping)', _seq(nn.MaxPool2D(3, 2)), shape),
            _measure('global average', _seq(nn.GlobalAvgPool2D()), shape)]
    spp = SpatialPyramidPooling()
    rows.append({'name': 'SPP (4, 2, 1)', 'params': 0, 'macs': 0, 'ops': None, 'rf': (hw, hw),
                 'output': spp(nd.zeros(shape)).shape})
    return rows


def spp_lengths(sizes=((13, 13), (10, 17), (7, 7), (32, 24)), c: int = 16) -> dict:
    """SPP's output shape for several input sizes: always (1, c * 21)."""
    spp = SpatialPyramidPooling()
    return {hw: spp(nd.random.uniform(shape=(1, c) + hw)).shape for hw in sizes}


# ----------------------------------------------------------------------------- worked examples
def conv_weights_3_to_192() -> dict:
    """A 3x3 convolution from 3 to 192 channels: 3 * 3 * 3 * 192 = 5,184 weights, 192 biases."""
    conv = _seq(nn.Conv2D(192, 3, in_channels=3))
    t = trace(conv, (1, 3, 32, 32))
    weights = t.rows[0].params - 192
    return {'weights': weights, 'biases': 192, 'params': t.total_params}


def tutorial_net_96() -> Trace:
    """The 2-channel 96x96 net of a popular tutorial, traced end to end.

    5x5 conv to 8 maps (92x92), 4x4 pooling (23x23), 6x6 conv to 24 maps (18x18), 4x4 pooling,
    Dense 100. One tutorial says the second pooling gives 23x23 with 8 channels: the trace
    shows 24 maps of 4x4 (floor(18 / 4) = 4), so the Dense takes 24 * 4 * 4 = 384 inputs.
    """
    net = _seq(nn.Conv2D(8, 5, activation='relu'), nn.MaxPool2D(4),
               nn.Conv2D(24, 6, activation='relu'), nn.MaxPool2D(4), nn.Dense(100))
    return trace(net, (1, 2, 96, 96), explain=True)


# ----------------------------------------------------------------------------- transposed conv
def lenet_fcn(classes: int = 10) -> nn.HybridSequential:
    """LeNet's features, a 1x1 conv to one map per class, and a transposed conv back to 28x28.

    Long et al. (2015), FCN: the features shrink 28x28 to 4x4 with a total stride (jump) of 4,
    so a transposed conv of stride 4 brings the jump back to one pixel; kernel 16 and no padding
    make (4 - 1)·4 + 16 = 28 (`python -m gluon_cnn.shapes solve 4 28 --transpose
    --max-kernel 16` lists it first). Output (B, classes, 28, 28): an image, not a vector.
    """
    lenet = get_model('lenet')
    net = nn.HybridSequential()
    net.add(*[lenet[i] for i in range(4)])  # conv 5, pool 2, conv 5, pool 2: 28 -> 4
    net.add(nn.Conv2D(classes, 1),  # (B, 16, 4, 4) -> (B, classes, 4, 4): a Dense per pixel
            nn.Conv2DTranspose(classes, 16, strides=4))  # (B, classes, 4, 4) -> (..., 28, 28)
    return net


def fcn_trace() -> Trace:
    """The FCN traced with its output-size formulas; the last row reads 28x28, RF 28, jump 1."""
    return trace(lenet_fcn(), (1, 1, 28, 28), explain=True)


# ----------------------------------------------------------------------------- nonlinearity
def stacked_linear(n_in: int = 8, n_hidden: int = 5, n_out: int = 3, batch: int = 4,
                   seed: int = 0) -> dict:
    """Two Dense layers without activation versus one Dense with W = W2 W1, b = W2 b1 + b2.

    Without a nonlinearity depth adds nothing: dense2(dense1(x)) = x (W2 W1)^T + (W2 b1 + b2)
    for every x, so the stack is one Dense layer (d2l zh §3.8). With a sigmoid between them no
    such matrix exists; the returned gap is that of the same product matrix. Returns the largest
    |difference| of each and the output scale.
    """
    rng = np.random.RandomState(seed)
    x = nd.array(rng.randn(batch, n_in))
    d1, d2 = nn.Dense(n_hidden, in_units=n_in), nn.Dense(n_out, in_units=n_hidden)
    for d in (d1, d2):
        d.initialize()
        d.weight.set_data(nd.array(rng.randn(*d.weight.shape)))
        d.bias.set_data(nd.array(rng.randn(*d.bias.shape)))
    (w1, b1), (w2, b2) = [(d.weight.data(), d.bias.data()) for d in (d1, d2)]
    one = nn.Dense(n_out, in_units=n_in)
    one.initialize()
    one.weight.set_data(nd.dot(w2, w1))                    # (n_out, n_hidden) x (n_hidden, n_in)
    one.bias.set_data(nd.dot(w2, b1) + b2)                 # (n_out,)
    linear = d2(d1(x))
    with_sigmoid = d2(nd.sigmoid(d1(x)))
    return {'linear_gap': float(nd.abs(linear - one(x)).max().asscalar()),
            'sigmoid_gap': float(nd.abs(with_sigmoid - one(x)).max().asscalar()),
            'scale': float(nd.abs(linear).max().asscalar())}


# ----------------------------------------------------------------------------- report
def report(log=print) -> None:
    """Print every comparison (what `python -m gluon_cnn.design_choices` shows)."""
    log('== two stacked 3x3 vs one 5x5 (64 -> 64 channels, 28x28; '
        'ratio: params / MACs vs the first row)')
    rows = stacked_3x3_vs_5x5()
    log(_table(rows, rows[0]))
    log('same 5x5 receptive field, 18/25 = 0.72 of the weights, and one more nonlinearity (VGG).')
    log('\n== 1x1 bottleneck before a 5x5 (GoogLeNet inception 3a: 192 -> 16 -> 32, 28x28)')
    rows = bottleneck_1x1()
    log(_table(rows, rows[0]))
    log('\n== depthwise-separable vs standard 3x3 (64 -> 128 channels, 28x28)')
    rows = separable_vs_standard()
    log(_table(rows, rows[0]))
    log(f'MobileNet\'s ratio 1/c_o + 1/k^2 = 1/128 + 1/9 = {1 / 128 + 1 / 9:.3f} (biases aside)')
    log('\n== pooling variants on a (1, 16, 13, 13) map (AlexNet\'s conv5 size)')
    for r in pooling_variants():
        ops = f"{r['ops']:,}" if r['ops'] is not None else '-'
        log(f"{r['name']:<28} output {r['output']!s:<18} window ops {ops:>6}  RF {r['rf'][0]}")
    log('overlapping 3/2 pooling keeps the 2x2/2 output size (6x6) '
        'but each output sees 3x3 inputs;')
    log('global average pooling and SPP need no parameters and accept any input size:')
    for hw, shape in spp_lengths().items():
        log(f'  SPP (4, 2, 1) of a {hw[0]}x{hw[1]} map -> {shape}  (16 channels x 21 bins)')
    log('\n== worked examples')
    w = conv_weights_3_to_192()
    log(f"3x3 conv, 3 -> 192 channels: 3 * 3 * 3 * 192 = {w['weights']:,} weights "
        f"(+ {w['biases']} biases = {w['params']:,} parameters)")
    t = tutorial_net_96()
    log(f'the 2-channel 96x96 tutorial net; its second pooling gives {t.rows[3].output_shape}, '
        'not 23x23 with 8 channels:')
    log(str(t))
    log('\n== a fully convolutional LeNet: 1x1 conv, then a transposed conv back to 28x28 '
        '(FCN, Long et al. 2015)')
    log(str(fcn_trace()))
    log('\n== why the nonlinearity: dense2(dense1(x)) against one Dense with W2 W1, W2 b1 + b2')
    g = stacked_linear()
    log(f"no activation: largest difference {g['linear_gap']:.1e} (outputs up to "
        f"{g['scale']:.1f}): one layer, to float rounding")
    log(f"a sigmoid between them: {g['sigmoid_gap']:.2f}; no single matrix does that")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`python -m gluon_cnn.design_choices`: print the report; --help says what it holds."""
    p = ArgumentParser(prog='python -m gluon_cnn.design_choices', description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--debug', action='store_true',
                   help='show tracebacks instead of one-line errors')
    args = p.parse_args(argv)
    return run_cli(report, debug=args.debug)


if __name__ == '__main__':
    sys.exit(main())
