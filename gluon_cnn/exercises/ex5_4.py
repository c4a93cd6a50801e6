"""d2l zh §5.4 (pooling), exercises 1-3."""
import numpy as np
from mxnet import nd

from .. import data as gdata
from ..ops.scratch import pool2d
from ..shapes import conv_output_shape, pool_macs
from ._registry import Answer, exercise


@exercise('5.4.1', 'pooling forward complexity')
def pooling_cost(log=print) -> Answer:
    c, h, w, k, p, s = 3, 7, 9, (2, 3), (1, 1), (2, 2)
    h_o, w_o = conv_output_shape((h, w), k, p, s)
    formula = pool_macs(*k, c, h_o, w_o)
    X = nd.random.uniform(shape=(h, w))
    visited = 0
    for i in range(0, h + 2 * p[0] - k[0] + 1, s[0]):   # step the window over the padded input
        for j in range(0, w + 2 * p[1] - k[1] + 1, s[1]):
            visited += c * k[0] * k[1]                   # it reads k_h * k_w elements per channel
    assert pool2d(X, k, 'max', p, s).shape == (h_o, w_o)
    log('each of the c*h_o*w_o outputs reads a p_h x p_w window once '
        '(p_h*p_w - 1 compares for max,')
    log('p_h*p_w - 1 adds and one divide for avg): O(c * h_o * w_o * p_h * p_w), where padding')
    log('(pad_h, pad_w) and stride (s_h, s_w) give h_o = floor((h - p_h + 2 pad_h + s_h) / s_h), '
        'as for')
    log('a convolution; with the exercise\'s padding pad_h = p_h '
        'that is floor((h + p_h) / s_h) + 1.')
    log(f'c={c}, {h}x{w}, window {k}, padding {p}, stride {s}: output {h_o}x{w_o}, '
        f'{formula} element reads by formula, {visited} counted. '
        'No parameters, no multiplications.')
    return Answer(f'O(c*h_o*w_o*p_h*p_w): {formula} reads in the example', (formula, visited))


def _relu_edges(X, kernel):
    K = nd.array(kernel).reshape((1, 1) + np.array(kernel).shape)
    return nd.relu(nd.Convolution(X, K, kernel=K.shape[2:], num_filter=1, no_bias=True))


@exercise('5.4.2', 'max versus average pooling, on examples')
def max_versus_avg(log=print) -> Answer:
    peak = nd.zeros((4, 4))
    peak[1, 2] = 1                                  # one strong response, a sparse feature
    rs = np.random.RandomState(0)
    noisy = nd.array(0.5 + 0.1 * rs.randn(64, 64))  # a flat region with noise
    kept = {m: pool2d(peak, 2, m, stride=2).max().asscalar() for m in ('max', 'avg')}
    flat = {m: nd.Pooling(noisy.reshape((1, 1, 64, 64)), kernel=(2, 2), stride=(2, 2), pool_type=m)
            for m in ('max', 'avg')}
    log(f'a single activation 1.0 in a 2x2 window: max keeps {kept["max"]:g}, '
        f'avg dilutes it to {kept["avg"]:g}')
    log(f'a flat 0.5 region with noise std 0.1: avg -> mean {flat["avg"].mean().asscalar():.3f}, '
        f'std {_std(flat["avg"]):.3f} (noise halved); '
        f'max -> mean {flat["max"].mean().asscalar():.3f} '
        f'(biased up by the noise), std {_std(flat["max"]):.3f}')
    train, test = gdata.load_dataset()
    X = nd.array(test.images[:200, None].astype('float32') / 255)  # real Fashion-MNIST images
    shift = {}
    for name, kernel in (('vertical edges', [[1, -1]]), ('horizontal edges', [[1], [-1]])):
        # b: shifted 1 px
        a, b = _relu_edges(X[..., :26], kernel), _relu_edges(X[..., 1:27], kernel)
        row = {'none': _rel(a, b)}
        for m in ('max', 'avg'):
            pool = lambda z: nd.Pooling(z, kernel=(3, 3), stride=(2, 2), pool_type=m)  # noqa: E731
            row[m] = _rel(pool(a), pool(b))
        shift[name] = row
        log(f'{name} of 200 test images shifted by 1 pixel: relative change {row["none"]:.2f} '
            f'unpooled, {row["max"]:.2f} after 3x3/2 max pooling, {row["avg"]:.2f} after avg')
    log('both poolings make features less sensitive to small shifts; neither wins everywhere.')
    log('on a trained net, layer by layer and against strided convolutions without pooling: '
        'python -m gluon_cnn.viz shift --run DIR --compare DIR2 (docs/seeing.md)')
    return Answer('max keeps the strongest response (is the feature there?) at full strength; '
                  'avg keeps the mean (smooths noise, dilutes sparse peaks); '
                  'both damp 1-pixel shifts',
                  {'kept': kept, 'shift': shift})


def _std(a) -> float:
    return float(np.std(a.asnumpy()))


def _rel(a, b) -> float:
    return float(((a - b).norm() / a.norm()).asscalar())


@exercise('5.4.3', 'does min pooling make sense? (after ReLU)')
def min_pooling(log=print) -> Answer:
    rs = np.random.RandomState(0)
    X = nd.array(rs.randn(1, 1, 16, 16))
    K = nd.array(rs.randn(1, 1, 3, 3))
    A = nd.relu(nd.Convolution(X, K, kernel=(3, 3), num_filter=1, no_bias=True))[0, 0]  # (14, 14)
    zero = {m: float((pool2d(A, 2, m, stride=2) == 0).mean().asscalar())
            for m in ('min', 'max', 'avg')}
    log(f'a ReLU feature map is {float((A == 0).mean().asscalar()):.0%} zeros; after 2x2/2 '
        f"pooling the output is zero at {zero['min']:.0%} (min), {zero['max']:.0%} (max), "
        f"{zero['avg']:.0%} (avg) of places.")
    log('after ReLU, min pooling reports "some neuron in the window was off": '
        'nearly always 0, no information.')
    log('before the nonlinearity min pool = -maxpool(-x): '
        'a net could learn that with negated weights,')
    log('so it adds nothing new; '
        'it is useful only where low values are the signal (dark spots, distances).')
    return Answer(f"not after ReLU: min pooling zeroes {zero['min']:.0%} of outputs; "
                  'elsewhere it is just max pooling of -x', zero)
