"""Convolution as one matrix multiplication, two ways (d2l zh §5.1 and §5.3 exercises 5.1.3, 5.3.5).

- im2col: copy every receptive window of the input into a column, so the layer becomes
  (c_o, c_i*k_h*k_w) kernel rows x (c_i*k_h*k_w, h_o*w_o) columns. This is how Caffe and
  cuDNN's GEMM algorithm run convolutions (Chellapilla et al., 2006, "High performance
  convolutional neural networks for document processing").
- the doubly block Toeplitz matrix: fix the kernel instead, so the layer becomes
  (c_o*h_o*w_o, c_i*h_p*w_p) x the flattened padded input. Each kernel row becomes a Toeplitz
  matrix (constant diagonals, for stride 1), and those are arranged as a Toeplitz of blocks.
  Its transpose is the transposed convolution (d2l en §14.10). With circular (wrap-around)
  padding instead of zeros the same construction is doubly block circulant, which the 2-D
  DFT diagonalizes: the convolution theorem.

Both equal `scratch.corr2d_multi_in_out` and `nd.Convolution` (tests/test_convmat.py).
Arrays are built in numpy (float64) for clarity; results come back as float32 arrays of the
input's kind (NDArray, or mx.np after `npx.set_np()`).
"""
import mxnet as mx
import numpy as np
from mxnet import nd

from ..shapes import IntOrPair, conv_output_shape, out_size, pair

__all__ = ['im2col', 'conv_im2col', 'toeplitz_1d', 'conv_matrix', 'conv_toeplitz']


# an NDArray or numpy array as a float64 numpy array (float64: the matrices are exact oracles)
def _np(a) -> np.ndarray:
    return np.asarray(a.asnumpy() if hasattr(a, 'asnumpy') else a, dtype=np.float64)


# (k_h, k_w) -> (1, 1, k_h, k_w) and (c_i, h, w) stays: the book's single-channel case is c=1
def _as_4d_kernel(K: np.ndarray) -> np.ndarray:
    return K.reshape((1, 1) + K.shape) if K.ndim == 2 else K


# a float32 array of the caller's kind: mx.np after d2l 1.x's npx.set_np(), else an NDArray
def _out(Y: np.ndarray, like):
    return (mx.np if isinstance(like, mx.np.ndarray) else nd).array(Y, dtype='float32')


def _pad(X: np.ndarray, padding) -> np.ndarray:
    p_h, p_w = pair(padding)
    return np.pad(X, ((0, 0), (p_h, p_h), (p_w, p_w)))


# ----------------------------------------------------------------------------- im2col
def im2col(X, kernel_size: IntOrPair, padding: IntOrPair = 0, stride: IntOrPair = 1) -> np.ndarray:
    """Columns of receptive windows: X (c_i, h, w) or (h, w) -> (c_i*k_h*k_w, h_o*w_o)."""
    X = _np(X)
    X = X[None] if X.ndim == 2 else X
    (k_h, k_w), (s_h, s_w) = pair(kernel_size), pair(stride)
    h_o, w_o = conv_output_shape(X.shape[1:], (k_h, k_w), padding, stride)
    X = _pad(X, padding)
    cols = np.empty((X.shape[0] * k_h * k_w, h_o * w_o))
    for i in range(h_o):
        for j in range(w_o):
            # the window under output pixel (i, j), every input channel, flattened
            cols[:, i * w_o + j] = X[:, i * s_h: i * s_h + k_h, j * s_w: j * s_w + k_w].ravel()
    return cols


def conv_im2col(X, K, padding: IntOrPair = 0, stride: IntOrPair = 1):
    """Convolution by im2col: K (c_o, c_i, k_h, k_w) or (k_h, k_w) -> (c_o, h_o, w_o) NDArray."""
    K = _as_4d_kernel(_np(K))
    Xn = _np(X)
    h_o, w_o = conv_output_shape(Xn.shape[-2:], K.shape[2:], padding, stride)
    cols = im2col(Xn, K.shape[2:], padding, stride)            # (c_i*k_h*k_w, h_o*w_o)
    # (c_o, c_i*k_h*k_w) x ... -> (c_o, h_o*w_o)
    Y = K.reshape(K.shape[0], -1) @ cols
    return _out(Y.reshape(K.shape[0], h_o, w_o), X)


# ----------------------------------------------------------------------------- Toeplitz
def toeplitz_1d(k_row, n_in: int, stride: int = 1) -> np.ndarray:
    """(n_out, n_in) matrix whose row j holds `k_row` from column j*stride: a 1-D correlation.

    With stride 1 every diagonal is constant: a Toeplitz matrix.
    """
    k_row = _np(k_row)
    T = np.zeros((out_size(n_in, len(k_row), 0, stride), n_in))
    for j in range(T.shape[0]):
        T[j, j * stride: j * stride + len(k_row)] = k_row
    return T


def conv_matrix(K, in_hw: IntOrPair, padding: IntOrPair = 0, stride: IntOrPair = 1) -> np.ndarray:
    """The doubly block Toeplitz matrix of kernel K for inputs of size `in_hw` (before padding).

    Shape (c_o*h_o*w_o, c_i*h_p*w_p), acting on the flattened zero-padded input. Block (i, r)
    of one (output, input) channel pair is toeplitz_1d(K[a]) where r = i*s_h + a.
    """
    K = _as_4d_kernel(_np(K))
    c_o, c_i, k_h, k_w = K.shape
    (p_h, p_w), (s_h, s_w) = pair(padding), pair(stride)
    h_p, w_p = pair(in_hw)[0] + 2 * p_h, pair(in_hw)[1] + 2 * p_w
    h_o, w_o = out_size(h_p, k_h, 0, s_h), out_size(w_p, k_w, 0, s_w)
    T = np.zeros((c_o, h_o, w_o, c_i, h_p, w_p))
    for o in range(c_o):
        for c in range(c_i):
            for i in range(h_o):
                for a in range(k_h):  # output row i reads input row i*s_h + a with kernel row a
                    T[o, i, :, c, i * s_h + a, :] = toeplitz_1d(K[o, c, a], w_p, s_w)
    return T.reshape(c_o * h_o * w_o, c_i * h_p * w_p)


def conv_toeplitz(X, K, padding: IntOrPair = 0, stride: IntOrPair = 1):
    """Convolution as conv_matrix(K) x vec(padded X): X (c_i, h, w) or (h, w) -> (c_o, h_o, w_o)."""
    Xn = _np(X)
    Xn = Xn[None] if Xn.ndim == 2 else Xn
    K = _as_4d_kernel(_np(K))
    T = conv_matrix(K, Xn.shape[1:], padding, stride)
    h_o, w_o = conv_output_shape(Xn.shape[1:], K.shape[2:], padding, stride)
    Y = T @ _pad(Xn, padding).ravel()  # (c_o*h_o*w_o, c_i*h_p*w_p) x (c_i*h_p*w_p,)
    return _out(Y.reshape(K.shape[0], h_o, w_o), X)
