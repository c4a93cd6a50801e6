"""The chapter's operators written from scratch, with the book's names (d2l zh §5.1-§5.4, §5.10).

Loops are explicit on purpose: the reader sees the definition, not a fast kernel. tests/
test_scratch.py checks each one against MXNet's own operator (nd.Convolution, nd.Pooling,
nn.BatchNorm) and against the numbers the book prints. Every function takes `mx.nd` arrays, or
`mx.np` arrays after d2l 1.x's `npx.set_np()`; output sizes come from `gluon_cnn.shapes`.

>>> corr2d(nd.arange(9).reshape((3, 3)), nd.array([[0, 1], [2, 3]])).asnumpy()  # d2l zh §5.1
array([[19., 25.],
       [37., 43.]], dtype=float32)
"""
from typing import Tuple

import mxnet as mx
from mxnet import autograd, gluon, init, nd
from mxnet.gluon import nn

from ..shapes import IntOrPair, conv_output_shape, pair, transposed_out_size

__all__ = ['corr2d', 'Conv2D', 'edge_image', 'learn_kernel', 'corr2d_multi_in',
           'corr2d_multi_in_out', 'corr2d_multi_in_out_1x1', 'comp_conv2d', 'pad2d', 'pool2d',
           'batch_norm', 'BatchNorm', 'trans_conv']


# ----------------------------------------------------------------------------- helpers
# the array module of x: mx.np in d2l 1.x's np mode (`npx.set_np()`), mx.nd otherwise
def _F(x):
    return mx.np if isinstance(x, mx.np.ndarray) else nd


# stack a list along a new axis 0 (nd.stack takes *args, np.stack takes a list)
def _stack(arrays):
    return nd.stack(*arrays) if _F(arrays[0]) is nd else mx.np.stack(arrays)


# `a` as the same array type (nd or np) and on the same device as X
def _as_type_of(a, X):
    if _F(a) is not _F(X):
        a = a.as_np_ndarray() if _F(X) is mx.np else a.as_nd_ndarray()
    return a.as_in_context(X.context)


# pad a 2-D array with `value` on each side: p_h rows above and below, p_w columns left and right
def pad2d(X, p_h: int, p_w: int, value: float = 0.0):
    if p_h == 0 and p_w == 0:
        return X
    h, w = X.shape
    P = _F(X).full((h + 2 * p_h, w + 2 * p_w), value, ctx=X.context, dtype=X.dtype)
    P[p_h:p_h + h, p_w:p_w + w] = X
    return P


# ----------------------------------------------------------------------------- §5.1 convolution
def corr2d(X, K, padding: IntOrPair = 0, stride: IntOrPair = 1):
    """2-D cross-correlation of X (h, w) with kernel K (k_h, k_w) (d2l zh §5.1).

    `padding` (zeros, per side) and `stride` are §5.2's; the defaults give the book's function.
    """
    h, w = K.shape
    (p_h, p_w), (s_h, s_w) = pair(padding), pair(stride)
    Y = _F(X).zeros(conv_output_shape(X.shape, K.shape, (p_h, p_w), (s_h, s_w)), ctx=X.context)
    X = pad2d(X, p_h, p_w)
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i * s_h: i * s_h + h, j * s_w: j * s_w + w] * K).sum()
    return Y


class Conv2D(nn.Block):
    """The book's 2-D convolutional layer: corr2d plus a scalar bias (d2l zh §5.1).

    Its forward writes Y[i, j] in place, which autograd cannot record: exercise 5.1.2 shows the
    error and the fix (`gluon_cnn.exercises.ex5_1.ConvolutionConv2D`).
    """

    def __init__(self, kernel_size: IntOrPair, **kwargs):
        super().__init__(**kwargs)
        self.weight = self.params.get('weight', shape=pair(kernel_size))
        self.bias = self.params.get('bias', shape=(1,), init=init.Zero())  # as nn.Conv2D's bias

    def forward(self, x):
        return corr2d(x, self.weight.data()) + self.bias.data()  # (h, w) -> (h-kh+1, w-kw+1)


def edge_image(h: int = 6, w: int = 8):
    """The book's (6, 8) image: ones with black (zero) columns 2-5, so two vertical edges."""
    X = nd.ones((h, w))
    X[:, 2:6] = 0
    return X


def learn_kernel(conv: gluon.Block, X, Y, num_steps: int = 10, lr: float = 3e-2,
                 log=print) -> list:
    """Fit `conv` so that conv(X) ~ Y by squared error and plain gradient descent (d2l zh §5.1).

    X and Y are shaped as `conv` expects; `conv` must be initialized. Only `conv.weight` is
    updated, as in the book (the bias starts at 0 and stays there). Returns the loss per step.
    """
    losses = []
    for i in range(num_steps):
        with autograd.record():
            l = ((conv(X) - Y) ** 2).sum()
        l.backward()
        conv.weight.data()[:] -= lr * conv.weight.grad()  # the book's plain gradient step
        losses.append(float(l.asscalar()))
        if log and (i + 1) % 2 == 0:
            log(f'batch {i + 1}, loss {losses[-1]:.3f}')
    return losses


# ----------------------------------------------------------------------------- §5.2 padding, stride
def comp_conv2d(conv2d: gluon.Block, X):
    """(Re)initialize `conv2d` and apply it to a 2-D X, returning a 2-D output (d2l zh §5.2)."""
    conv2d.initialize(force_reinit=True)
    X = X.reshape((1, 1) + X.shape)  # (h, w) -> (1, 1, h, w): batch size and channels of 1
    Y = conv2d(X)
    return Y.reshape(Y.shape[2:])   # drop the batch and channel axes again


# ----------------------------------------------------------------------------- §5.3 channels
def corr2d_multi_in(X, K, padding: IntOrPair = 0, stride: IntOrPair = 1):
    """Sum over input channels of corr2d: X (c_i, h, w), K (c_i, k_h, k_w) (d2l zh §5.3)."""
    ys = [corr2d(x, k, padding, stride) for x, k in zip(X, K)]
    return nd.add_n(*ys) if _F(X) is nd else sum(ys[1:], ys[0])


def corr2d_multi_in_out(X, K, padding: IntOrPair = 0, stride: IntOrPair = 1):
    """One corr2d_multi_in per output channel: K (c_o, c_i, k_h, k_w) -> (c_o, h', w')."""
    return _stack([corr2d_multi_in(X, k, padding, stride) for k in K])


def corr2d_multi_in_out_1x1(X, K):
    """A 1x1 convolution as one matrix product: (c_o, c_i) x (c_i, h*w) (d2l zh §5.3)."""
    c_i, h, w = X.shape
    c_o = K.shape[0]
    X = X.reshape((c_i, h * w))
    K = K.reshape((c_o, c_i))
    Y = _F(X).dot(K, X)  # (c_o, c_i) x (c_i, h*w) -> (c_o, h*w)
    return Y.reshape((c_o, h, w))


# ----------------------------------------------------------------------------- §5.4 pooling
# what padding holds for each mode, so it never wins: nd.Pooling pads max with -inf and counts
# zero padding in the average (count_include_pad=True, its default)
_POOL_PAD = {'max': float('-inf'), 'min': float('inf'), 'avg': 0.0}


def pool2d(X, pool_size: IntOrPair, mode: str = 'max', padding: IntOrPair = 0,
           stride: IntOrPair = 1):
    """2-D max, average or min pooling of X (h, w) (d2l zh §5.4; 'min' is exercise 5.4.3).

    The book's function has stride 1 and no padding (the defaults); nn.MaxPool2D's stride
    defaults to the window size instead.
    """
    if mode not in _POOL_PAD:
        raise ValueError(f"mode must be 'max', 'avg' or 'min', not {mode!r}")
    (p_h, p_w), (s_h, s_w), (k_h, k_w) = pair(padding), pair(stride), pair(pool_size)
    Y = _F(X).zeros(conv_output_shape(X.shape, (k_h, k_w), (p_h, p_w), (s_h, s_w)), ctx=X.context)
    X = pad2d(X, p_h, p_w, _POOL_PAD[mode])
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            window = X[i * s_h: i * s_h + k_h, j * s_w: j * s_w + k_w]
            Y[i, j] = {'max': window.max, 'avg': window.mean, 'min': window.min}[mode]()
    return Y


# ----------------------------------------------------------------------------- transposed conv
def trans_conv(X, K, padding: IntOrPair = 0, stride: IntOrPair = 1,
               output_padding: IntOrPair = 0):
    """2-D transposed convolution of X (h, w) with K (k_h, k_w) (d2l en §14.10, "反卷积").

    Convolution run backwards: every input element scatters a copy of K, scaled by it, into the
    output, `stride` apart; `padding` then crops that many rows and columns from each side and
    `output_padding` keeps that many more at the bottom and right. The size is
    (n - 1)s - 2p + k + output_padding (`gluon_cnn.shapes.transposed_out_size`), as
    nd.Deconvolution and nn.Conv2DTranspose compute it.
    """
    k_h, k_w = K.shape
    (p_h, p_w), (s_h, s_w), (a_h, a_w) = pair(padding), pair(stride), pair(output_padding)
    h_out = transposed_out_size(X.shape[0], k_h, 2 * p_h, s_h, output_padding=a_h)
    w_out = transposed_out_size(X.shape[1], k_w, 2 * p_w, s_w, output_padding=a_w)
    # the uncropped output, large enough for the output_padding rows past its end
    full = _F(X).zeros((max((X.shape[0] - 1) * s_h + k_h, p_h + h_out),
                        max((X.shape[1] - 1) * s_w + k_w, p_w + w_out)), ctx=X.context)
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            full[i * s_h: i * s_h + k_h, j * s_w: j * s_w + k_w] += X[i, j] * K
    return full[p_h: p_h + h_out, p_w: p_w + w_out]


# ----------------------------------------------------------------------------- §5.10 batch norm
def batch_norm(X, gamma, beta, moving_mean, moving_var, eps: float, momentum: float):
    """Batch normalization of X (N, C) or (N, C, H, W) (d2l zh §5.10): (Y, moving_mean, moving_var).

    Training mode (inside `autograd.record()`) normalizes by the batch's own statistics and
    moves the running ones towards them; prediction mode uses the running statistics.
    """
    F = _F(X)
    if not autograd.is_training():
        X_hat = (X - moving_mean) / F.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4), 'dense (N, C) or conv (N, C, H, W) input'
        axes = (0,) if len(X.shape) == 2 else (0, 2, 3)   # everything but the channel axis
        mean = X.mean(axis=axes, keepdims=True)            # (1, C) or (1, C, 1, 1)
        var = ((X - mean) ** 2).mean(axis=axes, keepdims=True)  # biased, as MXNet's operator
        X_hat = (X - mean) / F.sqrt(var + eps)
        moving_mean = momentum * moving_mean + (1.0 - momentum) * mean
        moving_var = momentum * moving_var + (1.0 - momentum) * var
    Y = gamma * X_hat + beta  # learnable scale and shift
    return Y, moving_mean, moving_var


class BatchNorm(nn.Block):
    """The book's batch normalization layer for dense (num_dims=2) or conv (num_dims=4) input.

    eps and momentum are nn.BatchNorm's defaults (1e-5, 0.9), so the two agree to float error.
    """

    def __init__(self, num_features: int, num_dims: int, **kwargs):
        super().__init__(**kwargs)
        shape = (1, num_features) if num_dims == 2 else (1, num_features, 1, 1)
        self.gamma = self.params.get('gamma', shape=shape, init=init.One())
        self.beta = self.params.get('beta', shape=shape, init=init.Zero())
        # Plain arrays, not Parameters: the statistics are not learned by the optimizer.
        self.moving_mean = nd.zeros(shape)
        # The zh book starts the running variance at 0. Predicting before (or early in)
        # training then divides by sqrt(0 + eps) = 0.003, blowing activations up ~316x;
        # nn.BatchNorm, PyTorch and TensorFlow all start at 1, and d2l-en#1591 fixed the book.
        self.moving_var = nd.ones(shape)

    def forward(self, X):
        # the statistics follow X's device, and its array type in np mode
        self.moving_mean, self.moving_var = (_as_type_of(a, X)
                                             for a in (self.moving_mean, self.moving_var))
        Y, self.moving_mean, self.moving_var = batch_norm(
            X, self.gamma.data(), self.beta.data(), self.moving_mean, self.moving_var,
            eps=1e-5, momentum=0.9)
        return Y

    def running_stats(self) -> Tuple:
        """(moving_mean, moving_var) flattened to (C,), as nn.BatchNorm's running_mean/var."""
        return self.moving_mean.reshape(-1), self.moving_var.reshape(-1)
