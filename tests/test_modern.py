"""The modern CNNs of d2l zh §5.6-5.12 against the book's printed output and MXNet's own operators.

Shapes at the book's input sizes come from gluon_cnn.trace (symbolic: no weights, no arithmetic),
so the 224x224 VGG costs nothing; numerics run on the smallest input each net accepts.
Oracles: the shapes the book prints (d2l zh 1st ed., MXNet notebooks), parameter counts from the
closed forms in gluon_cnn.shapes, and the blocks recomputed with mx.nd.Convolution / Pooling /
BatchNorm. The registry-wide contract (hybridized == imperative at 96x96, np mode == classic) is
in test_models.py.
"""
import re

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, npx

from gluon_cnn import get_model
from gluon_cnn.errors import TraceError
from gluon_cnn.models import model_info
from gluon_cnn.models.densenet import DenseBlock, transition_block
from gluon_cnn.models.googlenet import INCEPTION_SPEC, Inception
from gluon_cnn.models.resnet import Residual
from gluon_cnn.shapes import batchnorm_params, conv_params, dense_params
from gluon_cnn.trace import trace

# d2l zh §5.6-5.12
MODERN = ['alexnet', 'vgg11', 'vgg11-small', 'nin', 'googlenet', 'resnet18', 'densenet']

# The smallest side each net accepts: every unpadded window must still fit
# (see test_smallest_input).
SMALLEST = {'alexnet': 67, 'vgg11': 32, 'vgg11-small': 32, 'nin': 67, 'googlenet': 1, 'resnet18': 1,
            'densenet': 29}


# ----------------------------------------------------------------------------- helpers
def stage_shapes(net, shape):
    """Output shapes of the children of `net.features` and `net.output`: the book's printout."""
    return [r.output_shape for r in trace(net, shape, depth=2).rows]


def param_count(net, shape):
    """(all, trainable) parameter counts of `net` traced at `shape`."""
    t = trace(net, shape)
    return t.total_params, t.trainable_params


def build(name, seed=0):
    mx.random.seed(seed)
    net = get_model(name)
    net.initialize(mx.init.Xavier())
    return net


# ----------------------------------------------------------------------------- the book's shapes
def test_alexnet_book_shapes():
    """d2l zh §5.6 prints conv0 (1, 96, 54, 54) ... pool2 (1, 256, 5, 5), dense 4096, 4096, 10."""
    assert stage_shapes(get_model('alexnet'), (1, 1, 224, 224)) == [
        (1, 96, 54, 54), (1, 96, 26, 26), (1, 256, 26, 26), (1, 256, 12, 12), (1, 384, 12, 12),
        (1, 384, 12, 12), (1, 256, 12, 12), (1, 256, 5, 5),
        (1, 4096), (1, 4096), (1, 4096), (1, 4096), (1, 10)]


@pytest.mark.parametrize('name, widths', [('vgg11', (64, 128, 256, 512, 512)),
                                          ('vgg11-small', (16, 32, 64, 128, 128))])
def test_vgg_book_shapes(name, widths):
    """d2l zh §5.7 prints 64@112, 128@56, 256@28, 512@14, 512@7, then 4096, 4096, 10 (ratio 4: /4).
    """
    blocks = [(1, c, 224 >> (i + 1), 224 >> (i + 1)) for i, c in enumerate(widths)]
    assert stage_shapes(get_model(name), (1, 1, 224, 224)) == blocks + [(1, 4096)] * 4 + [(1, 10)]


def test_nin_book_shapes():
    """d2l zh §5.8 prints 96@54, 96@26, 256@26, 256@12, 384@12, 384@5, dropout, 10@5, 10@1, (1, 10).
    """
    # the net is the book's flat Sequential: its children are depth 1, nin_blocks folded
    rows = trace(get_model('nin'), (1, 1, 224, 224), depth=1).rows
    assert [r.output_shape for r in rows] == [
        (1, 96, 54, 54), (1, 96, 26, 26), (1, 256, 26, 26), (1, 256, 12, 12), (1, 384, 12, 12),
        (1, 384, 5, 5), (1, 384, 5, 5),
        (1, 10, 5, 5), (1, 10, 1, 1), (1, 10)]  # output: nin_block(10), global pooling, flatten


def test_googlenet_book_shapes():
    """d2l zh §5.9 prints stages 64@24, 192@12, 480@6, 832@3, 1024@1, then 10, at 96x96."""
    assert stage_shapes(get_model('googlenet'), (1, 1, 96, 96)) == [
        (1, 64, 24, 24), (1, 192, 12, 12), (1, 480, 6, 6), (1, 832, 3, 3), (1, 1024, 1, 1), (1, 10)]


def test_googlenet_inception_widths_match_book():
    """d2l zh §5.9: 64+128+32+32 = 256, 128+192+96+64 = 480, ..., 384+384+128+128 = 1024."""
    widths = [c1 + c2[1] + c3[1] + c4 for stage in INCEPTION_SPEC for c1, c2, c3, c4 in stage]
    assert widths == [256, 480, 512, 512, 512, 528, 832, 832, 1024]


@pytest.mark.parametrize('side, stages', [
    (96, [(1, 64, 24, 24), (1, 128, 12, 12), (1, 256, 6, 6), (1, 512, 3, 3)]),
    # d2l zh §5.11 prints the 224x224 trace: sequential1-4 at 56, 28, 14, 7
    (224, [(1, 64, 56, 56), (1, 128, 28, 28), (1, 256, 14, 14), (1, 512, 7, 7)])])
def test_resnet18_book_shapes(side, stages):
    h = side // 2
    stem = [(1, 64, h, h)] * 3 + [(1, 64, h // 2, h // 2)]  # conv, batchnorm, relu, pool
    assert stage_shapes(get_model('resnet18'), (1, 1, side, side)) == \
        stem + stages + [(1, 512, 1, 1), (1, 10)]


def test_densenet_book_shapes():
    """d2l zh §5.12: each dense block adds 4 * 32 = 128 channels, each transition halves C, H, W."""
    shapes = stage_shapes(get_model('densenet'), (1, 1, 96, 96))
    assert shapes[3:11] == [(1, 64, 24, 24),                     # ResNet's stem
                            (1, 192, 24, 24), (1, 96, 12, 12),   # 64 + 128, then halved
                            (1, 224, 12, 12), (1, 112, 6, 6),
                            (1, 240, 6, 6), (1, 120, 3, 3),
                            (1, 248, 3, 3)]
    assert shapes[-2:] == [(1, 248, 1, 1), (1, 10)]


# ----------------------------------------------------------------------------- the book's blocks
def test_residual_book_shapes():
    """d2l zh §5.11 prints (4, 3, 6, 6) for Residual(3) and (4, 6, 3, 3) with a 1x1 conv, stride 2.
    """
    X = mx.nd.random.uniform(shape=(4, 3, 6, 6))
    for blk, shape in [(Residual(3), (4, 3, 6, 6)),
                       (Residual(6, use_1x1conv=True, strides=2), (4, 6, 3, 3))]:
        blk.initialize()
        assert blk(X).shape == shape


def test_dense_and_transition_book_shapes():
    """d2l zh §5.12 prints (4, 23, 8, 8) for DenseBlock(2, 10) on 3 channels, then (4, 10, 4, 4)."""
    X = mx.nd.random.uniform(shape=(4, 3, 8, 8))
    blk, trans = DenseBlock(2, 10), transition_block(10)
    blk.initialize(), trans.initialize()
    Y = blk(X)
    assert Y.shape == (4, 23, 8, 8)
    np.testing.assert_array_equal(Y[:, :3].asnumpy(), X.asnumpy())  # concatenation keeps the input
    assert trans(Y).shape == (4, 10, 4, 4)


def _randomize(blk, X, seed=0):
    """Initialize every parameter, running statistics included, to random values."""
    blk.initialize()
    blk(X)  # deferred initialization infers the input channels
    rng = np.random.RandomState(seed)
    for p in blk.collect_params().values():
        lo = 0.5 if p.name.endswith(('_var', 'gamma')) else -0.5  # variances must be positive
        p.set_data(mx.nd.array(rng.uniform(lo, lo + 1, p.shape)))


def _conv(x, conv, kernel, pad=0, stride=1):
    w, b = conv.weight.data(), conv.bias.data()
    return mx.nd.Convolution(x, w, b, kernel=(kernel, kernel), pad=(pad, pad),
                             stride=(stride, stride), num_filter=w.shape[0])


def _bn(x, bn):  # inference mode: the running statistics; eps is nn.BatchNorm's (the op's is 1e-3)
    return mx.nd.BatchNorm(x, bn.gamma.data(), bn.beta.data(), bn.running_mean.data(),
                           bn.running_var.data(), eps=1e-5, use_global_stats=True, fix_gamma=False)


def test_residual_against_mxnet_operators():
    blk, X = Residual(6, use_1x1conv=True, strides=2), mx.nd.random.uniform(shape=(2, 3, 7, 7))
    _randomize(blk, X)
    Y = mx.nd.relu(_bn(_conv(X, blk.conv1, 3, pad=1, stride=2), blk.bn1))
    Y = _bn(_conv(Y, blk.conv2, 3, pad=1), blk.bn2)
    expected = mx.nd.relu(Y + _conv(X, blk.conv3, 1, stride=2))
    np.testing.assert_allclose(blk(X).asnumpy(), expected.asnumpy(), rtol=1e-5, atol=1e-5)


def test_inception_against_mxnet_operators():
    blk, X = Inception(2, (3, 4), (1, 2), 3), mx.nd.random.uniform(shape=(2, 5, 6, 6))
    _randomize(blk, X)
    relu, conv = mx.nd.relu, _conv
    pooled = mx.nd.Pooling(X, kernel=(3, 3), stride=(1, 1), pad=(1, 1), pool_type='max')
    expected = mx.nd.concat(relu(conv(X, blk.p1_1, 1)),
                            relu(conv(relu(conv(X, blk.p2_1, 1)), blk.p2_2, 3, pad=1)),
                            relu(conv(relu(conv(X, blk.p3_1, 1)), blk.p3_2, 5, pad=2)),
                            relu(conv(pooled, blk.p4_2, 1)), dim=1)
    assert expected.shape == (2, 2 + 4 + 2 + 3, 6, 6)
    np.testing.assert_allclose(blk(X).asnumpy(), expected.asnumpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('make', [lambda: Inception(2, (3, 4), (1, 2), 3), lambda: DenseBlock(2, 3),
                                  lambda: Residual(4, use_1x1conv=True, strides=2)],
                         ids=['Inception', 'DenseBlock', 'Residual'])
def test_custom_blocks_in_numpy_mode(make):
    """The blocks with their own hybrid_forward give classic mode's numbers after npx.set_np()."""
    X = np.random.RandomState(0).uniform(size=(2, 3, 5, 5)).astype('float32')
    blk = make()
    blk.initialize()
    expected = blk(mx.nd.array(X)).asnumpy()
    values = [p.data().asnumpy() for p in blk.collect_params().values()]
    npx.set_np()
    try:
        for hybridize in (False, True):
            twin = make()
            twin.initialize()
            twin(mx.np.array(X))
            for p, v in zip(twin.collect_params().values(), values):
                p.set_data(mx.np.array(v))
            if hybridize:
                twin.hybridize()
            np.testing.assert_allclose(twin(mx.np.array(X)).asnumpy(), expected,
                                       rtol=1e-5, atol=1e-6)
    finally:
        npx.reset_np()


# ----------------------------------------------------------------------------- parameter counts
def _alexnet_like(first=(11, 1, 96),
                  rest=((5, 96, 256), (3, 256, 384), (3, 384, 384), (3, 384, 256))):
    return sum(conv_params(k, k, ci, co) for k, ci, co in (first,) + rest)


def _expected_params():
    """Closed-form (all, trainable) counts from the book's configurations, layer by layer."""
    def dense_head(i):
        return dense_params(i, 4096) + dense_params(4096, 4096) + dense_params(4096, 10)

    def vgg(arch):
        return sum(conv_params(3, 3, ci, co) for ci, co in
                   zip([1] + [c for n, c in arch for _ in range(n)][:-1],
                       [c for n, c in arch for _ in range(n)]))

    arch = [(1, 64), (1, 128), (2, 256), (2, 512), (2, 512)]
    small = [(n, c // 4) for n, c in arch]
    nin = sum(conv_params(k, k, ci, co) + 2 * conv_params(1, 1, co, co)
              for k, ci, co in [(11, 1, 96), (5, 96, 256), (3, 256, 384), (3, 384, 10)])
    counts = {'alexnet': _alexnet_like() + dense_head(256 * 5 * 5),
              'vgg11': vgg(arch) + dense_head(512 * 7 * 7),
              'vgg11-small': vgg(small) + dense_head(128 * 7 * 7),
              'nin': nin}
    counts = {k: (v, v) for k, v in counts.items()}
    # GoogLeNet: no batch norm
    c_in, g = 192, conv_params(7, 7, 1, 64) + conv_params(1, 1, 64, 64) + conv_params(3, 3, 64, 192)
    for c1, (r2, c2), (r3, c3), c4 in [b for stage in INCEPTION_SPEC for b in stage]:
        g += (conv_params(1, 1, c_in, c1) + conv_params(1, 1, c_in, r2) + conv_params(3, 3, r2, c2)
              + conv_params(1, 1, c_in, r3) + conv_params(5, 5, r3, c3)
              + conv_params(1, 1, c_in, c4))
        c_in = c1 + c2 + c3 + c4
    counts['googlenet'] = (g + dense_params(1024, 10),) * 2
    # ResNet-18 and DenseNet: batchnorm_params gives (all, trainable) per layer
    def add(a, b):
        return (a[0] + b[0], a[1] + b[1])

    def both(n):
        return (n, n)

    r = add(both(conv_params(7, 7, 1, 64)), batchnorm_params(64))
    c_in = 64
    for i, c in enumerate((64, 128, 256, 512)):
        for j in range(2):
            ci = c_in if j == 0 else c
            r = add(r, both(conv_params(3, 3, ci, c) + conv_params(3, 3, c, c)))
            r = add(add(r, batchnorm_params(c)), batchnorm_params(c))
            if j == 0 and i > 0:
                r = add(r, both(conv_params(1, 1, ci, c)))
        c_in = c
    counts['resnet18'] = add(r, both(dense_params(512, 10)))
    d, c = add(both(conv_params(7, 7, 1, 64)), batchnorm_params(64)), 64
    for i in range(4):
        for _ in range(4):  # conv_block: BN, ReLU, 3x3 conv to 32 channels
            d = add(add(d, batchnorm_params(c)), both(conv_params(3, 3, c, 32)))
            c += 32
        if i < 3:  # transition_block: BN, ReLU, 1x1 conv halving the channels
            d = add(add(d, batchnorm_params(c)), both(conv_params(1, 1, c, c // 2)))
            c //= 2
    counts['densenet'] = add(add(d, batchnorm_params(c)), both(dense_params(c, 10)))
    return counts


@pytest.mark.parametrize('name', MODERN)
def test_parameter_counts(name):
    """Counts from the closed forms equal MXNet's, and the constructor's docstring states them."""
    total, trainable = _expected_params()[name]
    assert param_count(get_model(name), model_info(name).input_shape) == (total, trainable)
    doc = model_info(name).build.__doc__
    stated = [int(n.replace(',', ''))
              for n in re.findall(r'(\d[\d,]{4,})\s+(?:parameters|trainable)', doc)]
    assert stated and stated[0] == total and stated[-1] == trainable


# ----------------------------------------------------------------------------- the smallest inputs
@pytest.mark.parametrize('name', MODERN)
def test_smallest_input(name):
    """The net accepts SMALLEST[name] (forward, backward, every parameter gets a gradient,
    hybridized
    == imperative) and shape inference refuses one pixel less."""
    n = SMALLEST[name]
    if n > 1:
        with pytest.raises(TraceError):
            param_count(get_model(name), (1, 1, n - 1, n - 1))
    net = build(name)
    x = mx.nd.array(np.random.RandomState(1).uniform(size=(2, 1, n, n)))
    with autograd.record():
        y = net(x)
    y.backward()
    assert y.shape == (2, 10) and np.isfinite(y.asnumpy()).all()
    silent = [p.name for p in net.collect_params().values()
              if p.grad_req != 'null' and not np.abs(p.grad().asnumpy()).sum() > 0]
    assert not silent, f'no gradient reaches {silent}'
    imperative = net(x).asnumpy()  # predict mode: dropout off, batch norm on running statistics
    net.hybridize()
    np.testing.assert_allclose(net(x).asnumpy(), imperative, rtol=1e-5, atol=1e-5)
