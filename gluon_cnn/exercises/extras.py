"""The English edition's cheap extras (d2l en §7.5 pooling exercises): average pooling as a
convolution, and max(a, b) and max pooling through ReLU."""
import numpy as np
from mxnet import nd

from ..ops.scratch import corr2d
from ._registry import Answer, exercise


@exercise('en.avgpool-as-conv', 'average pooling as a convolution (d2l en §7.5 ex. 1)')
def avgpool_as_conv(log=print) -> Answer:
    rs = np.random.RandomState(0)
    X = nd.array(rs.uniform(size=(2, 3, 6, 8)))
    k, s = (2, 3), (2, 1)
    pool = nd.Pooling(X, kernel=k, stride=s, pool_type='avg')
    # one all-1/(k_h*k_w) kernel per channel, applied to its own channel only (groups = channels)
    K = nd.full((3, 1) + k, 1 / (k[0] * k[1]))
    conv = nd.Convolution(X, K, kernel=k, stride=s, num_filter=3, num_group=3, no_bias=True)
    diff = float((pool - conv).abs().max().asscalar())
    log(f'avg pooling {k}, stride {s} = a depthwise conv (num_group = channels) with every weight '
        f'1/{k[0] * k[1]}: max difference {diff:.1e}')
    log('max pooling cannot be a convolution alone: '
        'a convolution is linear, so conv(-x) = -conv(x),')
    log('but maxpool(-x) = -minpool(x), which differs from -maxpool(x) on any non-constant window.')
    return Answer('a depthwise conv with constant weights 1/(k_h*k_w) and the same stride '
                  f'(diff {diff:.0e})', diff)


def relu(x):
    return nd.relu(x)


def max_via_relu(a, b):
    """max(a, b) from ReLUs only: relu(a - b) + relu(b) - relu(-b) = (a - b)^+ + b."""
    return relu(a - b) + relu(b) - relu(-b)


def maxpool2x2_via_conv_relu(X):
    """2x2 / stride 2 max pooling of X (h, w), h and w even, by strided convolutions and ReLU."""
    # strided 1x2 convolutions pick the left/right element of each horizontal pair
    # and their difference
    diff = corr2d(X, nd.array([[1, -1]]), stride=(1, 2))
    right = corr2d(X, nd.array([[0, 1]]), stride=(1, 2))
    rows = relu(diff) + relu(right) - relu(-right)          # (h, w/2): max of each pair
    diff = corr2d(rows, nd.array([[1], [-1]]), stride=(2, 1))
    lower = corr2d(rows, nd.array([[0], [1]]), stride=(2, 1))
    return relu(diff) + relu(lower) - relu(-lower)          # (h/2, w/2)


@exercise('en.max-via-relu',
          'max(a, b) with ReLU only, and max pooling from conv + ReLU (d2l en §7.5 ex. 3)')
def max_relu(log=print) -> Answer:
    rs = np.random.RandomState(0)
    a, b = nd.array(rs.randn(1000)), nd.array(rs.randn(1000))
    err_pair = float((max_via_relu(a, b) - nd.maximum(a, b)).abs().max().asscalar())
    X = nd.array(rs.randn(6, 8))
    pooled = maxpool2x2_via_conv_relu(X)
    ref = nd.Pooling(X.reshape((1, 1, 6, 8)), kernel=(2, 2), stride=(2, 2), pool_type='max')[0, 0]
    err_pool = float((pooled - ref).abs().max().asscalar())
    log('max(a, b) = b + max(a - b, 0) = relu(a - b) + relu(b) - relu(-b)   '
        '(b = relu(b) - relu(-b))')
    log(f'on 1000 random pairs: max error {err_pair:.1e}')
    log('2x2 max pooling = max over horizontal pairs '
        '(stride-(1, 2) convs [[1, -1]] and [[0, 1]], then ReLUs),')
    log(f'then over vertical pairs of that: equals nd.Pooling max to {err_pool:.1e}')
    return Answer('max(a, b) = relu(a - b) + relu(b) - relu(-b); 2x2 max pooling = 2 rounds of '
                  'strided convs and ReLUs', {'pair': err_pair, 'pool': err_pool})
