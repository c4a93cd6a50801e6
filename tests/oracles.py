"""Shared test oracles: random inputs and MXNet's own convolution, used by several test files."""
import numpy as np
from mxnet import nd

# (kernel (k_h, k_w), padding (p_h, p_w), stride (s_h, s_w)): square and not, padded, strided
GEOMETRIES = [((2, 2), (0, 0), (1, 1)), ((3, 2), (1, 0), (1, 1)), ((1, 3), (0, 2), (2, 1)),
              ((3, 5), (0, 1), (3, 4)), ((2, 3), (1, 1), (2, 2))]


def rand(*shape, seed=0):
    """Uniform(-1, 1) NDArray, reproducible."""
    return nd.array(np.random.RandomState(seed).uniform(-1, 1, shape))


def mx_conv(X, K, padding, stride):
    """nd.Convolution on one example without bias: X (c_i, h, w), K (c_o, c_i, k_h, k_w)."""
    return nd.Convolution(X.expand_dims(0), K, kernel=K.shape[2:], num_filter=K.shape[0],
                          pad=padding, stride=stride, no_bias=True)[0]
