"""LeNet-5 as published: LeCun, Bottou, Bengio and Haffner (1998), "Gradient-based learning
applied to document recognition", Proc. IEEE 86(11), section II.B and Fig. 2.

What differs from the book's LeNet (`lenet.py`, d2l zh §5.5) and is rebuilt here:
- 32x32 input: the 28x28 digit padded by 2, background -0.1 and foreground 1.175 (its registry
  record);
- S2/S4 are *trainable* subsampling: sum of a 2x2 patch, times a per-map coefficient, plus a
  per-map bias, then squashing;
- C3 reads only the S2 maps of Table I (60 of the 96 map pairs), not all 6;
- every unit up to F6 squashes with f(a) = 1.7159 tanh(2a/3) (Appendix A);
- the output is 10 Euclidean RBF units whose fixed +-1 prototypes are 7x12 digit bitmaps; we
  output the negative squared distances as scores (argmax = nearest prototype) and train on the
  distance to the correct prototype, the paper's eq. (8);
- weights are uniform in +-2.4/F_i, F_i the unit's fan-in (Appendix A), declared as each
  parameter's initializer: `net.initialize()` uses them whatever default it is given.

Custom layers own their parameters, work in classic and `npx.set_np()` modes, hybridize, and
declare their connections to the tracer (`trace_counts`) so that `trace(net, (1, 1, 32, 32))`
reproduces the paper's per-layer parameter and connection counts.
"""
import mxnet as mx
import numpy as np
from mxnet import gluon
from mxnet.gluon import nn

from ..backend import npmode
from .registry import register

__all__ = ['Squash', 'Subsampling', 'PartialConv2D', 'RBFOutput', 'RBFDistanceLoss', 'LeNet5',
           'C3_TABLE', 'PROTOTYPES', 'prototype_codes', 'lenet5', 'lenet5_softmax']

INPUT_PAD = 2                   # 28x28 digits centred in the paper's 32x32 field (section II.B)
INPUT_RANGE = (-0.1, 1.175)     # background, foreground: mean ~0, variance ~1 (section II.B)


# ----------------------------------------------------------------------------- helpers
# In npx.set_np() mode the legacy F.xxx operators refuse numpy arrays: use F.np / F.npx there.
def _ops(F):
    return npmode.namespaces(F)


def _uniform(fan_in: int) -> mx.init.Initializer:
    """Appendix A: weights uniform in (-2.4/F_i, 2.4/F_i), F_i the fan-in of the unit."""
    return mx.init.Uniform(2.4 / fan_in)


def _c3_table():
    """Table I: which S2 maps (columns 0-5) each C3 map (rows 0-15) reads."""
    three = [tuple((j + d) % 6 for d in range(3)) for j in range(6)]      # maps 0-5
    four = [tuple((j + d) % 6 for d in range(4)) for j in range(6)]       # maps 6-11
    skip = [(0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5)]                    # maps 12-14
    return tuple(three + four + skip + [tuple(range(6))])                # map 15


C3_TABLE = _c3_table()

# Fig. 3's stylized digits, 7 wide and 12 tall ('#' = +1, '.' = -1), read row by row into the
# 84-dim prototypes of the output RBF units. They are fixed, as in the paper. For Fashion-MNIST
# the same ten bitmaps serve as arbitrary class codes (class 0 t-shirt <-> digit 0, and so on).
PROTOTYPES = """
.......  .......  .......  .......  .......  .......  .......  .......  .......  .......
..###..  ...#...  .#####.  .#####.  ....##.  #######  ..####.  #######  ..###..  ..###..
.#...#.  ..##...  #.....#  #.....#  ...#.#.  #......  .#.....  #.....#  .#...#.  .#...#.
#.....#  .#.#...  ......#  ......#  ..#..#.  #......  #......  .....#.  #.....#  #.....#
#.....#  ...#...  .....#.  ....##.  .#...#.  ######.  #......  ....#..  .#...#.  #.....#
#.....#  ...#...  ....#..  ......#  #....#.  ......#  ######.  ...#...  ..###..  .######
#.....#  ...#...  ...#...  ......#  #######  ......#  #.....#  ..#....  .#...#.  ......#
#.....#  ...#...  ..#....  ......#  .....#.  ......#  #.....#  ..#....  #.....#  ......#
.#...#.  ...#...  .#.....  #.....#  .....#.  #.....#  #.....#  ..#....  #.....#  .....#.
..###..  .#####.  #######  .#####.  .....#.  .#####.  .#####.  ..#....  .#####.  .####..
.......  .......  .......  .......  .......  .......  .......  .......  .......  .......
.......  .......  .......  .......  .......  .......  .......  .......  .......  .......
"""


def prototype_codes() -> np.ndarray:
    """PROTOTYPES as a (10, 84) float32 array of +-1, one row per class."""
    rows = [line.split() for line in PROTOTYPES.strip('\n').splitlines()]
    assert len(rows) == 12 and all(len(r) == 10 and all(len(b) == 7 for b in r) for r in rows)
    bitmaps = np.array([[[c == '#' for c in r[d]] for r in rows] for d in range(10)])  # (10, 12, 7)
    return np.where(bitmaps, 1.0, -1.0).reshape(10, 84).astype(np.float32)


# ----------------------------------------------------------------------------- layers
class Squash(nn.HybridBlock):
    """Appendix A's squashing function f(a) = A tanh(S a), A = 1.7159, S = 2/3: f(+-1) = +-1."""

    A, S = 1.7159, 2.0 / 3.0

    def hybrid_forward(self, F, x):
        return _ops(F)[0].tanh(x * self.S) * self.A

    def trace_counts(self, in_shape: tuple, out_shape: tuple) -> dict:
        # an activation: one op per element, no weight; part of a unit, not a connection
        return {'act_ops': int(np.prod(out_shape)), 'connections': 0}


class Subsampling(nn.HybridBlock):
    """S2 / S4 (section II.B): each unit sums a 2x2 patch of its map, multiplies by the map's
    trainable coefficient and adds the map's trainable bias (squashing follows as `Squash`)."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():  # fan-in 4: the four inputs share one coefficient
            self.weight = self.params.get('weight', shape=(channels,), init=_uniform(4))
            self.bias = self.params.get('bias', shape=(channels,), init=_uniform(4))

    def hybrid_forward(self, F, x, weight, bias):
        w, b = weight.reshape((1, -1, 1, 1)), bias.reshape((1, -1, 1, 1))  # per map: (1, C, 1, 1)
        s = npmode.pooling(F, x, kernel=(2, 2), stride=(2, 2), pool_type='sum')  # (B, C, H/2, W/2)
        return npmode.broadcast_add(F, npmode.broadcast_mul(F, s, w), b)

    def trace_counts(self, in_shape: tuple, out_shape: tuple) -> dict:
        n_out = int(np.prod(out_shape))
        # per unit: a 2x2 window summed, one multiply by the trainable coefficient, one bias add;
        # the paper's connections are the 4 inputs and the bias
        return {'macs': n_out, 'pool_ops': 4 * n_out, 'bias_adds': n_out,
                'connections': 5 * n_out}


class PartialConv2D(nn.HybridBlock):
    """A convolution in which output map i reads only the input maps `table[i]` (C3, Table I).

    Consecutive maps with the same fan-in become one grouped convolution over the gathered input
    maps: for C3, maps 0-5 (3 inputs each), 6-14 (4 each) and 15 (all 6), so 3 convolutions.
    """

    def __init__(self, table, kernel_size: int, in_channels: int, **kwargs):
        super().__init__(**kwargs)
        self.table, self.k, self.in_channels = tuple(map(tuple, table)), kernel_size, in_channels
        self.groups = []  # (first map, number of maps, maps read per map)
        for i, reads in enumerate(self.table):
            if self.groups and self.groups[-1][2] == len(reads):
                first, n, fan = self.groups[-1]
                self.groups[-1] = (first, n + 1, fan)
            else:
                self.groups.append((i, 1, len(reads)))
        with self.name_scope():  # attributes, so Gluon passes them to hybrid_forward by name
            for first, n, fan in self.groups:
                init = _uniform(fan * kernel_size ** 2)
                setattr(self, f'weight{first}', self.params.get(
                    f'weight{first}', shape=(n, fan, kernel_size, kernel_size), init=init))
                setattr(self, f'bias{first}',
                        self.params.get(f'bias{first}', shape=(n,), init=init))

    def hybrid_forward(self, F, x, **params):
        maps = npmode.split(F, x, self.in_channels, axis=1)
        conv = npmode.convolution(F)

        def concat(xs):
            return npmode.concat_channels(F, *xs)
        outs = []
        for first, n, fan in self.groups:
            # gather the maps each output reads, in order: (B, 6, H, W) -> (B, n * fan, H, W)
            reads = concat([maps[j] for i in range(first, first + n) for j in self.table[i]])
            # grouped conv, one group per output map: -> (B, n, H - k + 1, W - k + 1)
            outs.append(conv(reads, params[f'weight{first}'], params[f'bias{first}'],
                             kernel=(self.k, self.k), num_filter=n, num_group=n))
        return concat(outs)

    def trace_counts(self, in_shape: tuple, out_shape: tuple) -> dict:
        hw = out_shape[0] * out_shape[2] * out_shape[3]
        macs = sum(len(r) for r in self.table) * self.k ** 2 * hw
        adds = len(self.table) * hw  # one bias per unit
        return {'macs': macs, 'bias_adds': adds, 'connections': macs + adds}


@mx.init.register
class FixedArray(mx.init.Initializer):
    """Sets a parameter to a fixed array (the RBF prototypes).

    Not mx.init.Constant: with an array value, its dumps() replaces the array by a list, so the
    second symbolic build of the net (trace, then hybridized training) fails on `list.asnumpy`.
    """

    def __init__(self, value):
        # JSON-able, as dumps() needs
        super().__init__(value=np.asarray(value, dtype=np.float32).tolist())

    def _init_weight(self, _, arr):
        arr[:] = np.array(self._kwargs['value'], dtype=np.float32)


class RBFOutput(nn.HybridBlock):
    """Section II.B's output layer: y_i = sum_j (x_j - w_ij)^2 with fixed +-1 prototypes w_i.

    Returns the scores -y_i, so that argmax picks the nearest prototype.
    """

    def __init__(self, codes: np.ndarray, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():  # fixed: never updated, and no gradient computed
            self.prototypes = self.params.get('prototypes', shape=codes.shape, grad_req='null',
                                              init=FixedArray(codes), differentiable=False)

    def hybrid_forward(self, F, x, prototypes):
        np_, _ = _ops(F)
        # (B,1,84), (1,10,84)
        xe, we = np_.expand_dims(x, axis=1), np_.expand_dims(prototypes, axis=0)
        diff = npmode.broadcast_sub(F, xe, we)                                   # (B, 10, 84)
        return -np_.sum(diff * diff, axis=2)                                     # (B, 10)

    def trace_counts(self, in_shape: tuple, out_shape: tuple) -> dict:
        n = int(np.prod(in_shape)) * out_shape[1]  # one (x - w)^2 accumulate per weight
        return {'macs': n, 'connections': n}


class RBFDistanceLoss(gluon.loss.Loss):
    """Eq. (8): the squared distance of the output to the correct class's prototype.

    `pred` are RBFOutput's scores (negative distances), so the loss is -pred[label]. The paper's
    competitive term (eq. 9) is left out: with fixed prototypes there is no collapse to avoid.
    """

    def __init__(self, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label):
        return -npmode.pick(F, pred, label, axis=1)  # (B, 10) -> (B,)


# ----------------------------------------------------------------------------- net
class LeNet5(nn.HybridBlock):
    """LeNet-5 (LeCun et al. 1998, Fig. 2): C1 S2 C3 S4 C5 F6 (`features`) and an `output` layer.

    rbf : True for the paper's Euclidean RBF output, False for a Dense(classes) softmax head.
    """

    def __init__(self, rbf: bool = True, classes: int = 10, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential()
            self.features.add(
                # (B, 1, 32, 32) -> (B, 6, 28, 28)
                nn.Conv2D(6, 5, in_channels=1, prefix='c1_', weight_initializer=_uniform(25),
                          bias_initializer=_uniform(25)), Squash(),
                # -> (B, 6, 14, 14)
                Subsampling(6, prefix='s2_'), Squash(),
                # -> (B, 16, 10, 10)
                PartialConv2D(C3_TABLE, 5, 6, prefix='c3_'), Squash(),
                Subsampling(16, prefix='s4_'), Squash(),                          # -> (B, 16, 5, 5)
                # -> (B, 120, 1, 1)
                nn.Conv2D(120, 5, in_channels=16, prefix='c5_', weight_initializer=_uniform(400),
                          bias_initializer=_uniform(400)), Squash(),
                nn.Dense(84, in_units=120, prefix='f6_', weight_initializer=_uniform(120),
                         bias_initializer=_uniform(120)), Squash())               # -> (B, 84)
            if rbf:
                assert classes == 10, 'the RBF prototypes are the ten digit bitmaps'
                self.output = RBFOutput(prototype_codes(), prefix='output_')      # -> (B, 10)
            else:
                self.output = nn.Dense(classes, in_units=84, prefix='output_',
                                       weight_initializer=_uniform(84),
                                       bias_initializer=_uniform(84))

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


# ----------------------------------------------------------------------------- constructors
@register('lenet5', 'LeCun et al. (1998)', input_shape=(1, 1, 32, 32), pad=INPUT_PAD,
          value_range=INPUT_RANGE, loss=RBFDistanceLoss)
def lenet5(**kwargs):
    """LeNet-5 with the paper's RBF output and distance loss (LeCun et al. 1998). 60,000 params."""
    return LeNet5(rbf=True, **kwargs)


@register('lenet5-softmax', 'LeCun et al. (1998)', input_shape=(1, 1, 32, 32), pad=INPUT_PAD,
          value_range=INPUT_RANGE)
def lenet5_softmax(**kwargs):
    """LeNet-5 with a Dense(10) output trained by softmax cross-entropy, for comparison."""
    return LeNet5(rbf=False, **kwargs)
