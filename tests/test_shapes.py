"""gluon_cnn.shapes against MXNet's own operators, the LeNet-5 paper's counts and autograd."""
import itertools
import re

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, nd
from mxnet.gluon import nn

from gluon_cnn import shapes

# ----------------------------------------------------------------------------- output sizes
_COMBOS = [(n, k, p, s, d) for n, k, p, s, d in itertools.product(
               (7, 8, 13), (1, 2, 3, 5), (0, 1, 2), (1, 2, 3), (1, 2))
           if d * (k - 1) + 1 <= n + 2 * p]  # the dilated kernel fits the padded input


@pytest.mark.parametrize('n,k,p,s,d', _COMBOS)
def test_out_size_matches_convolution(n, k, p, s, d):
    x = nd.zeros((1, 1, n, n + 1))
    y = nd.Convolution(x, nd.zeros((1, 1, k, k)), kernel=(k, k), pad=(p, p), stride=(s, s),
                       dilate=(d, d), num_filter=1, no_bias=True)
    assert y.shape[2:] == (shapes.out_size(n, k, 2 * p, s, d),
                           shapes.out_size(n + 1, k, 2 * p, s, d))


@pytest.mark.parametrize('n,k,s', [(28, 2, 2), (24, 3, 2), (7, 3, 1), (9, 2, 3)])
def test_out_size_matches_pooling(n, k, s):
    y = nd.Pooling(nd.zeros((1, 1, n, n)), kernel=(k, k), stride=(s, s), pool_type='max')
    assert y.shape[2] == shapes.out_size(n, k, 0, s)


def test_conv_output_shape_matches_gluon_non_square():
    conv = nn.Conv2D(2, kernel_size=(3, 5), padding=(0, 1), strides=(3, 4))  # d2l zh §5.2's example
    conv.initialize()
    y = conv(nd.zeros((1, 1, 8, 8)))
    assert y.shape[2:] == shapes.conv_output_shape((8, 8), (3, 5), (0, 1), (3, 4)) == (2, 2)


@pytest.mark.parametrize('k', [1, 3, 5, 7])
def test_padding_modes(k):
    n = 11
    assert shapes.out_size(n, k, shapes.padding_for('valid', k)) == n - k + 1
    assert shapes.out_size(n, k, shapes.padding_for('same', k)) == n
    assert shapes.out_size(n, k, shapes.padding_for('full', k)) == n + k - 1
    # odd k: Gluon's symmetric padding p_total / 2 per side gives 'same' for real
    y = nd.Convolution(nd.zeros((1, 1, n, n)), nd.zeros((1, 1, k, k)), kernel=(k, k),
                       pad=(shapes.padding_for('same', k) // 2,) * 2, num_filter=1, no_bias=True)
    assert y.shape[2:] == (n, n)
    with pytest.raises(ValueError):
        shapes.padding_for('half', k)


# ----------------------------------------------------------------------------- params, counts
@pytest.mark.parametrize('kh,kw,ci,co,bias', [(5, 5, 1, 6, True), (3, 3, 16, 32, False),
                                              (1, 1, 192, 64, True)])
def test_conv_params_match_gluon(kh, kw, ci, co, bias):
    conv = nn.Conv2D(co, (kh, kw), in_channels=ci, use_bias=bias)
    conv.initialize()
    n = sum(p.data().size for p in conv.collect_params().values())
    assert n == shapes.conv_params(kh, kw, ci, co, bias)


def test_dense_params_match_gluon():
    d = nn.Dense(120, in_units=400)
    d.initialize()
    n = sum(p.data().size for p in d.collect_params().values())
    assert n == shapes.dense_params(400, 120) == 48120


def test_lenet5_paper_counts():
    # LeCun et al. (1998), section II.B: C1 156 params / 122,304 connections, C5 48,120, F6 10,164
    assert shapes.conv_params(5, 5, 1, 6) == 156
    assert shapes.conv_connections(5, 5, 1, 6, 28, 28) == 122304
    assert shapes.conv_connections(5, 5, 16, 120, 1, 1) == 48120
    assert shapes.dense_connections(120, 84) == 10164


def test_conv_macs_equal_an_im2col_matmul():
    # a conv is a (ho*wo, kh*kw*ci) x (kh*kw*ci, co) product: m*k*n multiply-adds
    kh, kw, ci, co, n = 3, 2, 4, 5, 9
    ho, wo = shapes.conv_output_shape((n, n), (kh, kw))
    cols = nd.im2col(nd.zeros((1, ci, n, n)), kernel=(kh, kw))  # (1, kh*kw*ci, ho*wo)
    m, k = cols.shape[2], cols.shape[1]
    assert shapes.conv_macs(kh, kw, ci, co, ho, wo) == m * k * co
    assert shapes.dense_macs(k, co) * m == m * k * co
    assert shapes.pool_macs(2, 2, 6, 12, 12) == 6 * 12 * 12 * 4


def test_batchnorm_params_match_gluon():
    bn = nn.BatchNorm(in_channels=6)
    bn.initialize()
    total = sum(p.data().size for p in bn.collect_params().values())
    trainable = sum(p.data().size for p in bn.collect_params().values() if p.grad_req != 'null')
    assert shapes.batchnorm_params(6) == (total, trainable) == (24, 12)


# ----------------------------------------------------------------------------- receptive field
def _support(layers, n, out_index):
    """Input pixels (along H) that one output pixel depends on: the nonzero input gradient."""
    x = nd.ones((1, 1, n, n))
    x.attach_grad()
    with autograd.record():
        y = x
        for k, s, d in layers:
            y = nd.Convolution(y, nd.ones((1, 1, k, k)), kernel=(k, k), stride=(s, s),
                               dilate=(d, d), num_filter=1, no_bias=True)
        y[0, 0, out_index, 0].backward()
    rows = np.nonzero(x.grad.asnumpy()[0, 0].sum(axis=1))[0]
    return rows.min(), rows.max()


@pytest.mark.parametrize('layers', [[(5, 1, 1), (2, 2, 1), (5, 1, 1), (2, 2, 1)],   # LeNet
                                    [(3, 1, 1), (3, 1, 2), (3, 2, 1)],
                                    [(7, 2, 1), (3, 2, 1), (3, 1, 1), (1, 1, 1)]])
def test_receptive_field_matches_autograd(layers):
    n = 64
    lo0, hi0 = _support(layers, n, 0)
    lo1, _ = _support(layers, n, 1)
    rf, jump = shapes.receptive_field(layers)
    assert (rf, jump) == (hi0 - lo0 + 1, lo1 - lo0)


# ----------------------------------------------------------------------------- the formula, shown
@pytest.mark.parametrize('n,k,p,s,d', _COMBOS[::7])
def test_out_size_formula_shows_the_numbers_and_the_result(n, k, p, s, d):
    text = shapes.out_size_formula(n, k, 2 * p, s, d)
    span = d * (k - 1) + 1
    assert text.startswith(f'⌊({n} - {span}') and f'+ {2 * p} + {s}) / {s}⌋' in text
    assert text.endswith(f'= {(n - span + 2 * p + s) // s}')


@pytest.mark.parametrize('n,k,p,s', [(7, 3, 0, 2), (8, 3, 1, 2), (9, 2, 0, 2), (6, 3, 1, 3)])
def test_ceil_mode_matches_full_pooling(n, k, p, s):
    y = nd.Pooling(nd.zeros((1, 1, n, n)), kernel=(k, k), stride=(s, s), pad=(p, p),
                   pool_type='max', pooling_convention='full')
    assert y.shape[2] == shapes.out_size(n, k, 2 * p, s, ceil=True)
    assert shapes.out_size_formula(n, k, 2 * p, s, ceil=True).endswith(f'= {y.shape[2]}')


# ----------------------------------------------------------------------------- the inverse
def _brute_force(n_in, n_out, max_k, max_s):
    """Every (k, p, s), 0 <= p < k, with floor((n + 2p - k) / s) + 1 == n_out: written here."""
    return {(k, p, s) for k in range(1, max_k + 1) for p in range(k) for s in range(1, max_s + 1)
            if n_in + 2 * p >= k and (n_in + 2 * p - k) // s + 1 == n_out}


@pytest.mark.parametrize('n_in,n_out', [(32, 28), (28, 14), (224, 55), (96, 48), (7, 7), (5, 9)])
def test_solve_finds_every_window_and_only_those(n_in, n_out):
    found = shapes.solve(n_in, n_out, max_kernel=11, max_stride=4)
    assert len(found) == len(set(found))
    assert set(found) == _brute_force(n_in, n_out, 11, 4)
    for k, p, s in found[:3] + found[-2:]:  # MXNet's own convolution agrees
        y = nd.Convolution(nd.zeros((1, 1, n_in, n_in)), nd.zeros((1, 1, k, k)), kernel=(k, k),
                           pad=(p, p), stride=(s, s), num_filter=1, no_bias=True)
        assert y.shape[2] == n_out


def test_solve_puts_the_books_answer_first():
    assert shapes.solve(32, 28)[0] == (5, 0, 1)  # stride 1, no padding
    assert shapes.solve(28, 28)[0] == (1, 0, 1) and (5, 2, 1) in shapes.solve(28, 28)
    assert shapes.solve(224, 55)[0] == (5, 0, 4) and (11, 2, 4) in shapes.solve(224, 55)  # AlexNet
    strides = [s for _, _, s in shapes.solve(96, 48)]
    assert strides == sorted(strides)
    assert shapes.solve(28, 60) == []
    with pytest.raises(ValueError):
        shapes.solve(0, 5)


def test_solve_cli(capsys):
    from gluon_cnn.shapes.command import main
    assert main(['solve', '32', '28']) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2].split()[:3] == ['5', '0', '1']
    assert out[2].endswith('⌊(32 - 5 + 0 + 1) / 1⌋ = 28')
    assert main(['solve', '32', 'x']) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: N_OUT') and err.count('\n') == 1
    assert main(['solve', '28', '60']) == 2
    assert capsys.readouterr().err.endswith('; try --transpose\n')  # a growing size


def _advised(argv: list, err: str) -> list:
    """The command line a refusal of `shapes solve` advises: its flags, as the user would type
    them (`--transpose` and larger limits added, `--transpose` dropped)."""
    flags = re.search(r'(?:try|pass) (--[^;()]*?)(?: or less)?(?: \(|\n|$)', err)
    out = [a for a in argv if not (a == '--transpose' and 'drop --transpose' in err)]
    new = flags.group(1).split() if flags else []
    for i, a in enumerate(new):
        if a.startswith('--') and a in out and a != '--transpose':  # a limit given again
            j = out.index(a)
            out[j + 1] = new[i + 1]
        elif a.startswith('--') and a not in out:
            out += [a] + ([new[i + 1]] if i + 1 < len(new) and not new[i + 1].startswith('--')
                          else [])
    return out


@pytest.mark.parametrize('argv', [
    ['5', '28'],                                       # grows: --transpose, not a larger kernel
    ['4', '280', '--transpose'],                       # a larger stride
    ['28', '5', '--transpose'],                        # shrinks: drop --transpose
    ['100', '1'],
    ['32', '28', '--max-kernel', '100000'],            # too costly: a smaller kernel
    ['32', '28', '--max-stride', '100000000'],         # not --max-kernel 0
    ['32', '28', '--max-kernel', '3', '--max-stride', '1000'],  # a larger kernel, a smaller stride
    ['4', '28', '--transpose', '--max-kernel', '900'],  # output_padding counted in the cost
])
def test_every_solve_hint_is_accepted(argv, capsys):
    from gluon_cnn.shapes.command import MAX_TRIES, main, tries
    assert main(['solve'] + argv) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'max-kernel 0' not in err, err
    fixed = _advised(argv, err)
    assert fixed != argv, err
    numbers = dict(zip(fixed, fixed[1:]))
    assert tries(int(numbers.get('--max-kernel', 11)), int(numbers.get('--max-stride', 4)),
                 '--transpose' in fixed) <= MAX_TRIES
    assert main(['solve'] + fixed) == 0, (err, fixed)
    assert capsys.readouterr().out.split()[0].isdigit()


def test_the_cost_counts_output_padding():
    """The windows solve_transposed tries: every output_padding below each stride as well."""
    from gluon_cnn.shapes.command import tries
    k, s = 6, 5
    assert tries(k, s, True) == sum(1 for st in range(1, s + 1) for a in range(st)
                                    for p in range(k) for kk in range(p + 1, k + 1))
    assert tries(k, s, False) == sum(1 for st in range(1, s + 1) for p in range(k)
                                     for kk in range(p + 1, k + 1))


# ----------------------------------------------------------------------------- transposed conv
_TRANSPOSED = [(n, k, p, s, a, d) for n, k, p, s, a, d in
               itertools.product([1, 3, 4, 7], [1, 2, 3, 5], [0, 1, 2], [1, 2, 3], [0, 1, 2],
                                 [1, 2])
               if a < s and p < k and (n - 1) * s - 2 * p + d * (k - 1) + 1 + a > 0]


@pytest.mark.parametrize('n,k,p,s,a,d', _TRANSPOSED[::5])
def test_transposed_out_size_matches_deconvolution(n, k, p, s, a, d):
    y = nd.Deconvolution(nd.zeros((1, 1, n, n)), nd.zeros((1, 1, k, k)), kernel=(k, k),
                         stride=(s, s), pad=(p, p), adj=(a, a), dilate=(d, d), num_filter=1,
                         no_bias=True)
    assert y.shape[2] == shapes.transposed_out_size(n, k, 2 * p, s, d, a)
    assert shapes.transposed_out_size_formula(n, k, 2 * p, s, d, a).endswith(f'= {y.shape[2]}')


def _deconv_length(n, k, p, s, a):
    """The output length MXNet's Deconvolution gives, 0 where it refuses (nothing left)."""
    try:
        return nd.Deconvolution(nd.zeros((1, 1, n, 1)), nd.zeros((1, 1, k, 1)), kernel=(k, 1),
                                stride=(s, 1), pad=(p, 0), adj=(a, 0), num_filter=1,
                                no_bias=True).shape[2]
    except mx.base.MXNetError:
        return 0


@pytest.mark.parametrize('n_in,n_out', [(4, 28), (14, 28), (7, 28), (5, 5)])
def test_solve_transposed_inverts_deconvolution(n_in, n_out):
    found = shapes.solve_transposed(n_in, n_out, max_kernel=16, max_stride=8)
    brute = {(k, p, s, a) for k in range(1, 17) for p in range(k) for s in range(1, 9)
             for a in range(s) if _deconv_length(n_in, k, p, s, a) == n_out}
    assert len(found) == len(set(found)) and set(found) == brute
    assert all(a == 0 for *_, a in found[:1])  # no output_padding first
    # each answer run forwards by a plain convolution gives back the input size (the adjoint)
    for k, p, s, a in found[:3]:
        assert shapes.out_size(n_out, k, 2 * p, s) == n_in


def test_solve_transposed_cli(capsys):
    from gluon_cnn.shapes.command import main
    assert main(['solve', '4', '28', '--transpose', '--max-kernel', '16']) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2].split()[:4] == ['16', '0', '4', '0']
    assert out[2].endswith('(4 - 1)·4 - 0 + 16 + 0 = 28')
    assert main(['solve', '4', '280', '--transpose']) == 2
    assert 'transposed kernel' in capsys.readouterr().err


def _transposed_support(k, s, n_in, out_index, jump_in=1, rf_in=1):
    """Input rows that one output of [conv(rf_in, stride jump_in), deconv(k, s)] depends on."""
    n = (n_in - 1) * jump_in + rf_in
    x = nd.ones((1, 1, n, 1))
    x.attach_grad()
    with autograd.record():
        y = nd.Convolution(x, nd.ones((1, 1, rf_in, 1)), kernel=(rf_in, 1), stride=(jump_in, 1),
                           num_filter=1, no_bias=True)
        y = nd.Deconvolution(y, nd.ones((1, 1, k, 1)), kernel=(k, 1), stride=(s, 1),
                             num_filter=1, no_bias=True)
        y[0, 0, out_index, 0].backward()
    rows = np.nonzero(x.grad.asnumpy()[0, 0, :, 0])[0]
    return rows.max() - rows.min() + 1


@pytest.mark.parametrize('k,s,jump,rf', [(16, 4, 4, 16), (4, 2, 1, 1), (3, 2, 2, 5), (5, 3, 1, 3)])
def test_transposed_receptive_field_is_the_widest_dependence(k, s, jump, rf):
    widest = max(_transposed_support(k, s, 8, o, jump, rf) for o in range(3 * s, 4 * s + k))
    field, step = shapes.transposed_receptive_field_step(rf, jump, k, s)
    assert field == widest
    assert step * s == jump
