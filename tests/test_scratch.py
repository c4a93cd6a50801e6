"""gluon_cnn.ops.scratch against MXNet's own operators and the numbers printed in d2l zh ch. 5."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, nd, npx
from mxnet.gluon import nn

from gluon_cnn.ops import scratch
from gluon_cnn.ops.scratch import (BatchNorm, Conv2D, comp_conv2d, corr2d, corr2d_multi_in,
                                   corr2d_multi_in_out, corr2d_multi_in_out_1x1, edge_image,
                                   learn_kernel, pool2d)

from oracles import GEOMETRIES, mx_conv, rand


@pytest.fixture
def np_mode():
    npx.set_np()
    try:
        yield
    finally:
        npx.reset_np()


# ----------------------------------------------------------------------------- the book's numbers
def test_book_corr2d():  # d2l zh §5.1
    Y = corr2d(nd.arange(9).reshape((3, 3)), nd.array([[0, 1], [2, 3]]))
    assert Y.asnumpy().tolist() == [[19, 25], [37, 43]]


def test_book_multi_in_and_out():  # d2l zh §5.3
    X = nd.array([[[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]])
    K = nd.array([[[0, 1], [2, 3]], [[1, 2], [3, 4]]])
    assert corr2d_multi_in(X, K).asnumpy().tolist() == [[56, 72], [104, 120]]
    Y = corr2d_multi_in_out(X, nd.stack(K, K + 1, K + 2))
    assert Y.asnumpy().tolist() == [[[56, 72], [104, 120]], [[76, 100], [148, 172]],
                                    [[96, 128], [192, 224]]]


def test_book_pool2d():  # d2l zh §5.4
    X = nd.arange(9).reshape((3, 3))
    assert pool2d(X, (2, 2)).asnumpy().tolist() == [[4, 5], [7, 8]]
    assert pool2d(X, (2, 2), 'avg').asnumpy().tolist() == [[2, 3], [5, 6]]


def test_book_maxpool_padding_stride():  # d2l zh §5.4: MaxPool2D(3, padding=1, strides=2)
    X = nd.arange(16).reshape((1, 1, 4, 4))
    pool = nn.MaxPool2D(3, padding=1, strides=2)
    assert pool(X)[0, 0].asnumpy().tolist() == [[5, 7], [13, 15]]
    assert pool2d(X[0, 0], 3, padding=1, stride=2).asnumpy().tolist() == [[5, 7], [13, 15]]


def test_book_edge_detection_and_learned_kernel():  # d2l zh §5.1
    X = edge_image()
    Y = corr2d(X, nd.array([[1, -1]]))
    expected = np.zeros((6, 7))
    expected[:, 1], expected[:, 5] = 1, -1  # white-to-black edge 1, black-to-white -1
    assert (Y.asnumpy() == expected).all()
    mx.random.seed(0)
    conv = nn.Conv2D(1, kernel_size=(1, 2))
    conv.initialize()
    losses = learn_kernel(conv, X.reshape((1, 1, 6, 8)), Y.reshape((1, 1, 6, 7)), log=None)
    assert losses[-1] < losses[0] / 100
    np.testing.assert_allclose(conv.weight.data().reshape((1, 2)).asnumpy(), [[1, -1]], atol=0.02)
    # with MXNet's seed 0 this is the very kernel the book prints: [[ 0.9895    -0.9873705]]
    np.testing.assert_allclose(conv.weight.data().reshape((1, 2)).asnumpy(), [[0.9895, -0.9873705]],
                               rtol=1e-4)


def test_book_comp_conv2d_shapes():  # d2l zh §5.2 prints (8, 8), (8, 8), (4, 4), (2, 2)
    X = nd.random.uniform(shape=(8, 8))
    layers = [nn.Conv2D(1, kernel_size=3, padding=1),
              nn.Conv2D(1, kernel_size=(5, 3), padding=(2, 1)),
              nn.Conv2D(1, kernel_size=3, padding=1, strides=2),
              nn.Conv2D(1, kernel_size=(3, 5), padding=(0, 1), strides=(3, 4))]
    assert [comp_conv2d(c, X).shape for c in layers] == [(8, 8), (8, 8), (4, 4), (2, 2)]


# ----------------------------------------------------------------------------- vs MXNet operators
@pytest.mark.parametrize('kernel,padding,stride', GEOMETRIES)
def test_corr2d_matches_convolution(kernel, padding, stride):
    X, K = rand(7, 8), rand(*kernel, seed=1)
    expected = mx_conv(X.reshape((1, 7, 8)), K.reshape((1, 1) + kernel), padding, stride)[0]
    np.testing.assert_allclose(corr2d(X, K, padding, stride).asnumpy(), expected.asnumpy(),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('kernel,padding,stride', GEOMETRIES)
def test_multi_in_out_matches_convolution(kernel, padding, stride):
    X, K = rand(2, 6, 7), rand(3, 2, *kernel, seed=2)
    np.testing.assert_allclose(corr2d_multi_in_out(X, K, padding, stride).asnumpy(),
                               mx_conv(X, K, padding, stride).asnumpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(corr2d_multi_in(X, K[0], padding, stride).asnumpy(),
                               mx_conv(X, K[:1], padding, stride)[0].asnumpy(),
                               rtol=1e-5, atol=1e-5)


def test_1x1_is_a_matrix_product():  # d2l zh §5.3: Y1 and Y2 agree to float error
    X, K = rand(3, 3, 3), rand(2, 3, 1, 1, seed=3)
    Y1 = corr2d_multi_in_out_1x1(X, K)
    np.testing.assert_allclose(Y1.asnumpy(), corr2d_multi_in_out(X, K).asnumpy(), atol=1e-6)
    np.testing.assert_allclose(Y1.asnumpy(), mx_conv(X, K, (0, 0), (1, 1)).asnumpy(), atol=1e-6)


def test_scratch_conv2d_block_is_corr2d_plus_bias():
    conv = Conv2D((2, 3))
    conv.initialize(mx.init.Uniform(1.0))
    conv.bias.set_data(nd.array([0.25]))
    X = rand(5, 6)
    expected = corr2d(X, conv.weight.data()).asnumpy() + conv.bias.data().asscalar()
    np.testing.assert_allclose(conv(X).asnumpy(), expected, rtol=1e-6)


# nd.Pooling needs padding <= half the window, so (1, 3) pads only (0, 1) here
POOL_GEOMETRIES = [((3, 2), (1, 0), (1, 1)), ((1, 3), (0, 1), (2, 1)), ((3, 5), (0, 1), (3, 4)),
                   ((2, 3), (1, 1), (2, 2)), ((3, 3), (1, 1), (2, 2))]


@pytest.mark.parametrize('mode', ['max', 'avg'])
@pytest.mark.parametrize('kernel,padding,stride', POOL_GEOMETRIES)
def test_pool2d_matches_pooling(mode, kernel, padding, stride):
    X = rand(7, 8)
    expected = nd.Pooling(X.reshape((1, 1, 7, 8)), kernel=kernel, pool_type=mode, pad=padding,
                          stride=stride)[0, 0]
    np.testing.assert_allclose(pool2d(X, kernel, mode, padding, stride).asnumpy(),
                               expected.asnumpy(), rtol=1e-5, atol=1e-6)


def test_min_pool_is_minus_max_pool_of_minus():
    X = rand(6, 7)
    np.testing.assert_allclose(pool2d(X, (2, 3), 'min', (1, 1), (2, 2)).asnumpy(),
                               -nd.Pooling(-X.reshape((1, 1, 6, 7)), kernel=(2, 3), pad=(1, 1),
                                           stride=(2, 2), pool_type='max')[0, 0].asnumpy())


def test_pool2d_rejects_unknown_mode():
    with pytest.raises(ValueError, match='max'):
        pool2d(nd.ones((3, 3)), 2, 'median')


# ----------------------------------------------------------------------------- batch norm
def _pair_of_bns(num_features, num_dims, seed=0):
    """Our BatchNorm and nn.BatchNorm with the same random gamma and beta."""
    ours, ref = BatchNorm(num_features, num_dims), nn.BatchNorm(in_channels=num_features)
    ours.initialize()
    ref.initialize()
    rs = np.random.RandomState(seed)
    gamma, beta = rs.uniform(0.5, 2, num_features), rs.uniform(-1, 1, num_features)
    ours.gamma.set_data(nd.array(gamma).reshape(ours.gamma.shape))
    ours.beta.set_data(nd.array(beta).reshape(ours.beta.shape))
    ref.gamma.set_data(nd.array(gamma))
    ref.beta.set_data(nd.array(beta))
    return ours, ref


@pytest.mark.parametrize('shape', [(8, 3), (4, 3, 5, 6)])
def test_batchnorm_matches_nn_batchnorm_train_and_eval(shape):
    ours, ref = _pair_of_bns(shape[1], len(shape))
    # eval before any training: both start from running mean 0 and variance 1 (d2l-en#1591)
    X0 = rand(*shape, seed=9) * 3 + 1
    np.testing.assert_allclose(ours(X0).asnumpy(), ref(X0).asnumpy(), rtol=1e-5, atol=1e-5)
    for step in range(3):
        X = rand(*shape, seed=step) * (step + 2) + step  # shifting statistics
        outs = []
        for bn in (ours, ref):
            with autograd.record():
                Y = bn(X)
                l = (Y * nd.arange(Y.size).reshape(Y.shape) / Y.size).sum()  # uneven gradients
            l.backward()  # MXNet updates its running statistics in the backward pass
            outs.append((Y.asnumpy(), bn.gamma.grad().asnumpy().ravel(),
                         bn.beta.grad().asnumpy().ravel()))
        (y, dgamma, dbeta), (y_ref, dgamma_ref, dbeta_ref) = outs
        np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
        # gradients are sums over the batch: float32 summation order differs a little more
        np.testing.assert_allclose(dgamma, dgamma_ref, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(dbeta, dbeta_ref, rtol=1e-4, atol=1e-5)
    mean, var = ours.running_stats()
    np.testing.assert_allclose(mean.asnumpy(), ref.running_mean.data().asnumpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var.asnumpy(), ref.running_var.data().asnumpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours(X0).asnumpy(), ref(X0).asnumpy(), rtol=1e-5, atol=1e-5)


def test_batch_norm_train_mode_normalizes_per_channel():
    X = rand(4, 3, 5, 5) * 4 + 2
    with autograd.train_mode():
        Y, mean, var = scratch.batch_norm(X, nd.ones((1, 3, 1, 1)), nd.zeros((1, 3, 1, 1)),
                                          nd.zeros((1, 3, 1, 1)), nd.ones((1, 3, 1, 1)), 1e-5, 0.9)
    Yn = Y.asnumpy()
    np.testing.assert_allclose(Yn.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(Yn.var(axis=(0, 2, 3)), 1, atol=1e-3)
    np.testing.assert_allclose(mean.asnumpy().ravel(), 0.1 * X.asnumpy().mean(axis=(0, 2, 3)),
                               rtol=1e-5)


# ----------------------------------------------------------------------------- d2l 1.x np mode
def test_ops_in_np_mode(np_mode):
    X = mx.np.arange(9).reshape((3, 3))
    assert corr2d(X, mx.np.array([[0, 1], [2, 3]])).asnumpy().tolist() == [[19, 25], [37, 43]]
    assert pool2d(X, (2, 2), 'avg').asnumpy().tolist() == [[2, 3], [5, 6]]
    X3 = mx.np.array([[[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]])
    K = mx.np.array([[[0, 1], [2, 3]], [[1, 2], [3, 4]]])
    assert corr2d_multi_in(X3, K).asnumpy().tolist() == [[56, 72], [104, 120]]
    assert corr2d_multi_in_out(X3, mx.np.stack([K, K + 1])).shape == (2, 2, 2)
    assert corr2d_multi_in_out_1x1(X3, mx.np.ones((4, 2, 1, 1))).shape == (4, 3, 3)


def test_batchnorm_in_np_mode_matches_classic(np_mode):
    Xn = np.random.RandomState(0).uniform(-1, 1, (4, 3, 2, 2)).astype('float32')
    bn = BatchNorm(3, 4)
    bn.initialize()
    with autograd.record():
        Y = bn(mx.np.array(Xn))
    assert isinstance(Y, mx.np.ndarray)
    npx.reset_np()
    ref = nn.BatchNorm()
    ref.initialize()
    with autograd.train_mode():
        expected = ref(nd.array(Xn))
    np.testing.assert_allclose(Y.asnumpy(), expected.asnumpy(), rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- transposed conv
def test_trans_conv_book_example():  # d2l en §14.10.1
    X = K = nd.array([[0, 1], [2, 3]])
    assert scratch.trans_conv(X, K).asnumpy().tolist() == [[0, 0, 1], [0, 4, 6], [4, 12, 9]]


@pytest.mark.parametrize('padding,stride,output_padding', [
    (0, 1, 0), (1, 2, 1), ((1, 0), (3, 2), (2, 1)), (2, 2, 1), (0, 3, 2), (2, 1, 0)])
def test_trans_conv_matches_deconvolution(padding, stride, output_padding):
    from gluon_cnn.shapes import pair
    X, K = rand(3, 4), rand(3, 2, seed=1)
    Y = scratch.trans_conv(X, K, padding, stride, output_padding)
    ref = nd.Deconvolution(X.reshape((1, 1, 3, 4)), K.reshape((1, 1, 3, 2)), kernel=(3, 2),
                           stride=pair(stride), pad=pair(padding), adj=pair(output_padding),
                           num_filter=1, no_bias=True)[0, 0]
    assert Y.shape == ref.shape
    np.testing.assert_allclose(Y.asnumpy(), ref.asnumpy(), rtol=1e-5, atol=1e-6)


def test_trans_conv_is_the_adjoint_of_corr2d():
    """<corr2d(Z, K, p, s), X> = <Z, trans_conv(X, K, p, s)>: why it is called a transpose."""
    K, X = rand(3, 3), rand(4, 4, seed=1)
    Z = rand(*scratch.trans_conv(X, K, 1, 2).shape, seed=2)
    lhs = (corr2d(Z, K, 1, 2) * X).sum().asscalar()
    rhs = (Z * scratch.trans_conv(X, K, 1, 2)).sum().asscalar()
    assert lhs == pytest.approx(rhs, rel=1e-5)
