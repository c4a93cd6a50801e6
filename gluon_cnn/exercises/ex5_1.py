"""d2l zh §5.1 (2-D convolutional layers), exercises 1-4."""
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn

from ..ops.conv_matrix import conv_im2col, conv_matrix, conv_toeplitz
from ..ops.scratch import Conv2D, corr2d, edge_image, learn_kernel
from ._registry import Answer, exercise

__all__ = ['ConvolutionConv2D']


@exercise('5.1.1', 'kernels that detect horizontal and diagonal edges')
def horizontal_and_diagonal_edges(log=print) -> Answer:
    X_h = edge_image().T                    # (8, 6): the book's image turned: horizontal edges
    K_h = nd.array([[1], [-1]])             # the book's [[1, -1]] turned: compares rows
    Y_h = corr2d(X_h, K_h)
    X_d = nd.array(np.triu(np.ones((6, 6)), 1))  # ones above the main diagonal: a diagonal edge
    K_d = nd.array([[0, 1], [-1, 0]])       # x[i, j+1] - x[i+1, j]: compares across the diagonal
    Y_d = corr2d(X_d, K_d)
    Y_miss = corr2d(X_h, nd.array([[1, -1]]))
    log('a horizontal edge is a change between rows, so turn the kernel: K = [[1], [-1]].')
    log(f'on the turned image it fires on rows {_rows(Y_h)} only '
        '(1: white above black, -1: the reverse);')
    log("the book's K = [[1, -1]] sees nothing there: "
        f"max |Y| = {Y_miss.abs().max().asscalar():g}.")
    log('a diagonal edge: K = [[0, 1], [-1, 0]] on a triangle image fires along the edge, '
        'zero elsewhere:')
    log(str(Y_d.asnumpy().astype(int)))
    return Answer('horizontal: [[1], [-1]]; diagonal: [[0, 1], [-1, 0]] (or [[1, 0], [0, -1]] for '
                  'the other diagonal)', {'horizontal': Y_h, 'diagonal': Y_d, 'missed': Y_miss})


def _rows(Y) -> list:
    return [int(i) for i in np.nonzero(np.abs(Y.asnumpy()).sum(axis=1))[0]]


class ConvolutionConv2D(Conv2D):
    """The book's Conv2D with corr2d replaced by nd.Convolution, which autograd can record."""

    def forward(self, x):
        k = self.weight.shape
        y = nd.Convolution(x.reshape((1, 1) + x.shape), self.weight.data().reshape((1, 1) + k),
                           self.bias.data(), kernel=k, num_filter=1)  # (1, 1, h', w')
        return y.reshape(y.shape[2:])


@exercise('5.1.2', 'autograd through the scratch Conv2D: the error, then the fix')
def autograd_through_conv2d(log=print) -> Answer:
    X = edge_image()
    Y = corr2d(X, nd.array([[1, -1]]))
    mx.random.seed(0)
    conv = Conv2D((1, 2))
    conv.initialize()
    try:
        learn_kernel(conv, X, Y, log=None)
        error = None
    except mx.MXNetError as e:
        error = next(l for l in str(e).splitlines() if 'Inplace' in l or 'Check failed' in l)
        error = error[error.index('Inplace'):] if 'Inplace' in error else error
    log(f'scratch Conv2D under autograd.record(): MXNetError: {error}')
    log('corr2d writes Y[i, j] = ... into a preallocated array; '
        'autograd cannot record in-place writes.')
    mx.random.seed(0)
    fixed = ConvolutionConv2D((1, 2))
    fixed.initialize()
    losses = learn_kernel(fixed, X, Y, log=None)
    w = fixed.weight.data().asnumpy()
    kernel = '[[' + ', '.join(f'{v:.4f}' for v in w.ravel()) + ']]'
    log(f'with nd.Convolution in forward: loss {losses[0]:.2f} -> {losses[-1]:.4f} in 10 steps, '
        f'learned kernel {kernel}')
    return Answer(f'error "{error}"; with nd.Convolution the kernel is learned: {kernel}',
                  {'error': error, 'weight': w, 'losses': losses})


@exercise('5.1.3', 'cross-correlation as a matrix multiplication')
def corr2d_as_matmul(log=print) -> Answer:
    X, K = nd.arange(9).reshape((3, 3)), nd.array([[0, 1], [2, 3]])
    T = conv_matrix(K, (3, 3))
    log('flatten X (3x3 -> 9) and write each output as a row of weights over all 9 inputs:')
    log(str(T.astype(int)))
    log('T @ vec(X) = vec(Y). Or keep the kernel as a row and copy each window into a column '
        '(im2col): K (1x4) @ windows (4x4).')
    Y = corr2d(X, K).asnumpy()
    diffs = [float(np.abs(f(X, K)[0].asnumpy() - Y).max()) for f in (conv_toeplitz, conv_im2col)]
    log(f'both give {conv_toeplitz(X, K)[0].asnumpy().astype(int).tolist()}, as corr2d '
        f'(max differences {diffs}); gluon_cnn.ops.conv_matrix does any size, stride and padding')
    return Answer('vec(Y) = T vec(X), T a (4, 9) Toeplitz-block matrix of K; or im2col: '
                  'vec(K)^T @ [windows as columns]', {'T': T, 'diffs': diffs})


@exercise('5.1.4', 'a fully connected layer that detects edges')
def dense_edge_detector(log=print, steps: int = 300) -> Answer:
    K = nd.array([[1, -1]])
    T = conv_matrix(K, (6, 8))              # (42, 48): the conv as a dense weight matrix
    mx.random.seed(0)
    rs = np.random.RandomState(0)
    dense = nn.Dense(42, use_bias=False)    # 48 pixels in, 6x7 edge map out
    dense.initialize(mx.init.Normal(0.01))
    trainer = gluon.Trainer(dense.collect_params(), 'adam', {'learning_rate': 0.02})
    for _ in range(steps):                  # random binary images and their true edge maps
        X = nd.array(rs.randint(0, 2, (64, 48)))
        Y = nd.dot(X, nd.array(T.T))        # (64, 48) x (48, 42): the exact edge maps
        with autograd.record():
            l = ((dense(X) - Y) ** 2).mean()
        l.backward()
        trainer.step(1)
    W = dense.weight.data().asnumpy()
    err = float(np.abs(W - T).max())
    edges = dense(edge_image().reshape((1, 48))).reshape((6, 7))
    log('nn.Dense(42) trained on random 6x8 images learns the conv matrix: '
        f'max |W - T| = {err:.3f}')
    log(f'it finds the edges of the book image: row 0 = {np.round(edges[0].asnumpy(), 2).tolist()}')
    log(f'but it needs {W.size:,} weights for what the conv does with 2, and it is tied to 6x8 '
        'inputs: a conv layer is this dense layer with the weights shared and local.')
    return Answer(f'a Dense layer whose weights are the conv matrix (learned: max err {err:.3f}); '
                  f'{W.size} weights instead of 2', {'max_err': err, 'edges': edges})
