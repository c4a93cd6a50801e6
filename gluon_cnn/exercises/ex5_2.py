"""d2l zh §5.2 (padding and stride), exercises 1-2."""
from mxnet import nd
from mxnet.gluon import nn

from ..ops.scratch import comp_conv2d
from ..shapes import conv_output_shape
from ._registry import Answer, exercise


@exercise('5.2.1', "the last example's shape by formula versus experiment")
def last_example_shape(log=print) -> Answer:
    k, p, s = (3, 5), (0, 1), (3, 4)
    formula = conv_output_shape((8, 8), k, p, s)
    experiment = comp_conv2d(nn.Conv2D(1, kernel_size=k, padding=p, strides=s),
                             nd.random.uniform(shape=(8, 8))).shape
    log('floor((n_h - k_h + p_h + s_h) / s_h) x floor((n_w - k_w + p_w + s_w) / s_w), '
        'p summed over both sides:')
    log(f'  floor((8 - 3 + 0 + 3) / 3) = {formula[0]},  floor((8 - 5 + 2 + 4) / 4) = {formula[1]}')
    log(f'  formula {formula}, Gluon {experiment}')
    return Answer(f'{formula} by formula, {experiment} by experiment', (formula, experiment))


# (kernel, padding, stride) combinations, square and not
COMBINATIONS = [(1, 0, 1), (2, 0, 2), (3, 1, 1), (3, 2, 1), (4, 1, 3), (5, 2, 2), (7, 3, 2),
                ((2, 4), (1, 0), (2, 3)), ((5, 1), (2, 0), (1, 2)), ((3, 3), (0, 0), (8, 8))]


@exercise('5.2.2', 'other padding and stride combinations: formula versus Gluon')
def padding_stride_table(log=print) -> Answer:
    X = nd.random.uniform(shape=(8, 8))
    rows = []
    log(f"{'kernel':>8} {'padding':>8} {'stride':>8} {'formula':>9} {'Gluon':>9}")
    for k, p, s in COMBINATIONS:
        formula = conv_output_shape((8, 8), k, p, s)
        gluon = comp_conv2d(nn.Conv2D(1, kernel_size=k, padding=p, strides=s), X).shape
        rows.append((k, p, s, formula, gluon))
        log(f'{str(k):>8} {str(p):>8} {str(s):>8} {str(formula):>9} {str(gluon):>9}')
    agree = sum(f == g for *_, f, g in rows)
    log('padding k - 1 in total keeps the size at stride 1 (3 with 1, 5 with 2); '
        'stride s divides it by ~s;')
    log('a stride larger than the input still gives one output: the window at (0, 0).')
    return Answer(f'formula and Gluon agree on {agree} of {len(rows)} combinations on 8x8', rows)
