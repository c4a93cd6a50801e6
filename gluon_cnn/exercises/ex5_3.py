"""d2l zh §5.3 (multiple input and output channels), exercises 1-5."""
import numpy as np
from mxnet import nd

from ..ops.conv_matrix import conv_im2col, conv_matrix, conv_toeplitz, im2col
from ..ops.scratch import corr2d_multi_in_out, corr2d_multi_in_out_1x1
from ..shapes import conv_macs, conv_output_shape, pair
from ._registry import Answer, exercise


class Counted:
    """A number that counts the multiplications and additions done with it."""
    mults = adds = 0

    def __init__(self, v):
        self.v = v

    def __mul__(self, other):
        Counted.mults += 1
        return Counted(self.v * other.v)

    def __add__(self, other):
        Counted.adds += 1
        return Counted(self.v + other.v)


def count_conv_ops(c_i, h, w, c_o, kernel, padding=0, stride=1) -> tuple:
    """(multiplications, additions) of a naive conv forward pass with bias, by running one."""
    (k_h, k_w), (p_h, p_w), (s_h, s_w) = pair(kernel), pair(padding), pair(stride)
    X = [[[Counted(1.0)] * (w + 2 * p_w) for _ in range(h + 2 * p_h)] for _ in range(c_i)]
    K, b = Counted(0.5), Counted(0.1)
    Counted.mults = Counted.adds = 0
    for o in range(c_o):
        for i in range(0, h + 2 * p_h - k_h + 1, s_h):      # every window that fits, by stepping
            for j in range(0, w + 2 * p_w - k_w + 1, s_w):
                acc = b                                   # start from the bias
                for c in range(c_i):
                    for a in range(k_h):
                        for e in range(k_w):              # padded zeros are multiplied too
                            acc = acc + X[c][i + a][j + e] * K
    return Counted.mults, Counted.adds


@exercise('5.3.1', 'multiplications and additions of a conv forward pass')
def conv_forward_cost(log=print) -> Answer:
    c_i, h, w, c_o, k, p, s = 3, 7, 9, 4, (3, 2), (1, 2), (2, 3)
    h_o, w_o = conv_output_shape((h, w), k, p, s)
    mults = conv_macs(*k, c_i, c_o, h_o, w_o)
    log('output h_o x w_o = floor((h - k_h + 2p_h + s_h)/s_h) x floor((w - k_w + 2p_w + s_w)/s_w);')
    log('each of the c_o*h_o*w_o outputs is a dot product of c_i*k_h*k_w products plus a bias:')
    log('  multiplications = c_o*h_o*w_o*c_i*k_h*k_w')
    log('  additions = c_o*h_o*w_o*(c_i*k_h*k_w - 1) for the sums, + c_o*h_o*w_o for the bias'
        ' = the same number as multiplications')
    counted = count_conv_ops(c_i, h, w, c_o, k, p, s)
    log(f'c_i={c_i}, {h}x{w}, c_o={c_o}, k={k}, p={p}, s={s}: output {h_o}x{w_o}, formula '
        f'{mults} and {mults}; counted by running a naive conv: {counted[0]} and {counted[1]}')
    return Answer(f'c_o*h_o*w_o*c_i*k_h*k_w multiplications and as many additions (with bias); '
                  f'{mults} for the example, {counted} counted', ((mults, mults), counted))


@exercise('5.3.2', 'the cost of doubling c_i and c_o, and of doubling the padding')
def doubling_cost(log=print) -> Answer:
    def macs(c_i, c_o, p, h=28, k=5):
        h_o, w_o = conv_output_shape((h, h), k, p)
        return conv_macs(k, k, c_i, c_o, h_o, w_o)
    base = macs(6, 16, 1)
    ratios = {'c_i x2': macs(12, 16, 1) / base, 'c_o x2': macs(6, 32, 1) / base,
              'both x2': macs(12, 32, 1) / base, 'padding 1 -> 2': macs(6, 16, 2) / base}
    for what, r in ratios.items():
        log(f'  {what:<15} x{r:.3f}')
    log('cost is linear in c_i and in c_o: doubling both is 4x. Padding only grows the output:')
    log('((h - k + 2*2p + 1) / (h - k + 2p + 1))^2 at stride 1, '
        'here 28x28, k=5, p 1 -> 2: (28/26)^2.')
    return Answer('doubling c_i or c_o: 2x each, both: 4x; doubling padding 1 -> 2 on 28x28 k=5: '
                  f'x{ratios["padding 1 -> 2"]:.3f} (only the output grows)', ratios)


@exercise('5.3.3', 'the saving with 1x1 kernels')
def one_by_one_saving(log=print) -> Answer:
    same = {k: conv_macs(k, k, 64, 64, 28, 28) for k in (1, 3, 5)}  # same-padded: same output
    log('per output pixel a k_h x k_w kernel does c_i*k_h*k_w multiplications, a 1x1 only c_i:')
    for k, m in same.items():
        log(f'  {k}x{k}, 64 -> 64 channels on 28x28 (same padding): '
            f'{m:,} MACs ({m / same[1]:.0f}x the 1x1)')
    return Answer('k_h*k_w times fewer multiplications and parameters (9x for 3x3, 25x for 5x5) at '
                  'the same output size', same)


@exercise('5.3.4', 'are Y1 and Y2 exactly equal?')
def y1_equals_y2(log=print) -> Answer:
    rs = np.random.RandomState(0)
    results = {}
    for c_i in (3, 64):
        X, K = nd.array(rs.uniform(size=(c_i, 3, 3))), nd.array(rs.uniform(size=(2, c_i, 1, 1)))
        Y1, Y2 = corr2d_multi_in_out_1x1(X, K), corr2d_multi_in_out(X, K)
        exact = np.einsum('oc,chw->ohw', K.asnumpy().astype(np.float64)[:, :, 0, 0],
                          X.asnumpy().astype(np.float64))
        results[c_i] = {'equal': int((Y1 == Y2).sum().asscalar()), 'size': Y1.size,
                        'max_diff': float((Y1 - Y2).abs().max().asscalar()),
                        'err1': float(np.abs(Y1.asnumpy() - exact).max()),
                        'err2': float(np.abs(Y2.asnumpy() - exact).max())}
        r = results[c_i]
        log(f"c_i={c_i:>2}: {r['equal']}/{r['size']} elements bit-identical, max |Y1 - Y2| = "
            f"{r['max_diff']:.1e}; errors vs float64: {r['err1']:.1e} (dot) "
            f"and {r['err2']:.1e} (add_n)")
    log(f'floating-point addition is not associative: (0.1 + 0.2) + 0.3 = {(0.1 + 0.2) + 0.3!r}, '
        f'0.1 + (0.2 + 0.3) = {0.1 + (0.2 + 0.3)!r}')
    log('Y1 sums the c_i products inside one matrix product '
        '(BLAS order, maybe fused multiply-adds), '
        'Y2 adds per-channel results with add_n: same math, different rounding.')
    return Answer('equal to float32 rounding (~1e-7 relative) but not always bit-for-bit: the '
                  'two sum the channels in different orders', results)


@exercise('5.3.5', 'convolution as a matrix multiplication for k > 1')
def conv_as_matmul(log=print) -> Answer:
    rs = np.random.RandomState(0)
    X, K = nd.array(rs.uniform(size=(3, 8, 8))), nd.array(rs.uniform(size=(4, 3, 3, 3)))
    ref = nd.Convolution(X.expand_dims(0), K, kernel=(3, 3), num_filter=4, pad=(1, 1),
                         no_bias=True)[0].asnumpy()
    cols, T = im2col(X, 3, padding=1), conv_matrix(K, (8, 8), padding=1)
    diffs = {'corr2d_multi_in_out': corr2d_multi_in_out(X, K, 1), 'im2col': conv_im2col(X, K, 1),
             'toeplitz': conv_toeplitz(X, K, 1)}
    diffs = {k: float(np.abs(v.asnumpy() - ref).max()) for k, v in diffs.items()}
    rows = (K.shape[0], cols.shape[0])
    log(f'im2col: windows as columns {cols.shape}, kernel rows {rows}: {rows} x {cols.shape} -> '
        f'{(rows[0], cols.shape[1])}; the input is copied {cols.size / X.size:.1f}x')
    log(f'Toeplitz: the kernel as a {T.shape} matrix '
        f'on the {T.shape[1]} values of the padded input, '
        f'{(T != 0).mean():.1%} non-zero')
    log(f'max difference to nd.Convolution: {diffs}')
    return Answer('im2col (K as a (c_o, c_i*k_h*k_w) matrix times the windows as columns) '
                  'or a doubly block Toeplitz matrix of K times vec(X); '
                  'both match nd.Convolution', diffs)
