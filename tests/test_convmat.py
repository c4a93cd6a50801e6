"""Convolution as a matrix product (gluon_cnn.ops.conv_matrix) against corr2d and nd.Convolution."""
import numpy as np
import pytest
from mxnet import nd

from gluon_cnn.ops.conv_matrix import conv_im2col, conv_matrix, conv_toeplitz, im2col, toeplitz_1d
from gluon_cnn.ops.scratch import corr2d, corr2d_multi_in_out

from oracles import GEOMETRIES, mx_conv, rand


def test_book_example_as_a_matrix():  # d2l zh §5.1: 3x3 input, 2x2 kernel -> a 4x9 matrix
    X, K = nd.arange(9).reshape((3, 3)), nd.array([[0, 1], [2, 3]])
    T = conv_matrix(K, (3, 3))
    assert T.shape == (4, 9)
    assert T[0].tolist() == [0, 1, 0, 2, 3, 0, 0, 0, 0]  # output (0, 0) reads x00 x01 x10 x11
    assert conv_toeplitz(X, K)[0].asnumpy().tolist() == [[19, 25], [37, 43]]
    assert conv_im2col(X, K)[0].asnumpy().tolist() == [[19, 25], [37, 43]]
    assert im2col(X, 2).shape == (4, 4)


def test_toeplitz_has_constant_diagonals():
    T = toeplitz_1d([1, 2, 3], 6)
    assert T.shape == (4, 6)
    for d in range(-3, 6):
        assert len(set(np.diagonal(T, d))) == 1


@pytest.mark.parametrize('kernel,padding,stride', GEOMETRIES)
def test_single_channel_equals_corr2d_and_convolution(kernel, padding, stride):
    X, K = rand(6, 7), rand(*kernel, seed=1)
    ref = corr2d(X, K, padding, stride).asnumpy()
    np.testing.assert_allclose(mx_conv(X.expand_dims(0), K.reshape((1, 1) + kernel), padding,
                                       stride)[0].asnumpy(), ref, rtol=1e-5, atol=1e-5)
    for conv in (conv_im2col, conv_toeplitz):
        np.testing.assert_allclose(conv(X, K, padding, stride)[0].asnumpy(), ref,
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('kernel,padding,stride', GEOMETRIES)
def test_multi_channel_equals_convolution(kernel, padding, stride):
    X, K = rand(3, 6, 7), rand(2, 3, *kernel, seed=4)
    ref = mx_conv(X, K, padding, stride).asnumpy()
    np.testing.assert_allclose(corr2d_multi_in_out(X, K, padding, stride).asnumpy(), ref,
                               rtol=1e-5, atol=1e-5)
    for conv in (conv_im2col, conv_toeplitz):
        np.testing.assert_allclose(conv(X, K, padding, stride).asnumpy(), ref, rtol=1e-5, atol=1e-5)


def test_transpose_of_the_matrix_is_the_transposed_convolution():
    # <T x, y> = <x, T^T y>: T^T is what nd.Deconvolution computes (the gradient of a conv)
    K = rand(1, 1, 2, 3, seed=5)
    T = conv_matrix(K, (4, 5))
    y = rand(1, 1, 3, 3, seed=6)
    deconv = nd.Deconvolution(y, K, kernel=(2, 3), num_filter=1, no_bias=True)
    np.testing.assert_allclose(T.T @ y.asnumpy().ravel(), deconv.asnumpy().ravel(),
                               rtol=1e-5, atol=1e-5)


def test_np_mode_returns_np_arrays():
    from mxnet import npx
    import mxnet as mx
    npx.set_np()
    try:
        X, K = mx.np.arange(9).reshape((3, 3)), mx.np.array([[0, 1], [2, 3]])
        for conv in (conv_im2col, conv_toeplitz):
            Y = conv(X, K)
            assert isinstance(Y, mx.np.ndarray) and Y[0].asnumpy().tolist() == [[19, 25], [37, 43]]
    finally:
        npx.reset_np()
