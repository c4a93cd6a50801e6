"""gluon_cnn.exercises: every quick exercise runs and computes the right answer; the CLI works."""
import math
import re

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

from gluon_cnn.exercises import EXERCISES, Answer, list_exercises, run_exercise
from gluon_cnn.exercises.command import main

# d2l zh 1st edition, chapter 5: exercises per section §5.1 ... §5.12, 36 in all
PER_SECTION = {1: 4, 2: 2, 3: 5, 4: 3, 5: 1, 6: 3, 7: 3, 8: 2, 9: 2, 10: 5, 11: 3, 12: 3}
BOOK_IDS = [f'5.{s}.{i}' for s, n in PER_SECTION.items() for i in range(1, n + 1)]
TRAIN_IDS = {'5.6.1', '5.6.2', '5.6.3', '5.7.2', '5.8.1', '5.8.2', '5.9.1', '5.10.2', '5.10.3',
             '5.10.4', '5.11.3', '5.12.2'}


@pytest.fixture(scope='module')
def answers():
    """Every quick exercise run once; (answer, printed lines) by id."""
    out = {}
    for i in list_exercises('quick'):
        lines = []
        out[i] = (run_exercise(i, log=lines.append), lines)
    return out


def test_all_36_book_exercises_and_the_extras_are_registered():
    assert len(BOOK_IDS) == 36
    assert [i for i in list_exercises() if not i.startswith('en.')] == BOOK_IDS  # book order
    assert {'en.avgpool-as-conv', 'en.max-via-relu'} <= set(EXERCISES)
    assert set(list_exercises('train')) == TRAIN_IDS
    assert all(EXERCISES[i].estimate for i in TRAIN_IDS)


@pytest.mark.parametrize('ex_id', list_exercises('quick'))
def test_quick_exercise_prints_an_answer(answers, ex_id):
    answer, lines = answers[ex_id]
    assert isinstance(answer, Answer) and answer.text
    assert lines[0].startswith(f'\n== {ex_id}') and lines[-1].startswith(f'answer {ex_id}: ')
    assert len(lines) >= 3  # an explanation between the header and the answer


def test_5_1_1_edge_kernels(answers):
    v = answers['5.1.1'][0].value
    Y_h = v['horizontal'].asnumpy()
    assert np.flatnonzero(np.abs(Y_h).sum(axis=1)).tolist() == [1, 5]
    assert (Y_h[1] == 1).all() and (Y_h[5] == -1).all()
    assert (v['missed'].asnumpy() == 0).all()
    Y_d = v['diagonal'].asnumpy()
    i, j = np.indices(Y_d.shape)
    assert (Y_d[(j - i == 0) | (j - i == 1)] == 1).all() and (Y_d[(j < i) | (j > i + 1)] == 0).all()


def test_5_1_2_error_then_fix(answers):
    v = answers['5.1.2'][0].value
    assert 'Inplace operations' in v['error']
    np.testing.assert_allclose(v['weight'].reshape(1, 2), [[1, -1]], atol=0.05)
    assert v['losses'][-1] < v['losses'][0] / 100


def test_5_1_3_matrix_times_the_image_is_mxnets_correlation(answers):
    # the oracle: MXNet's own convolution of the exercise's X and K, against T @ vec(X)
    T = answers['5.1.3'][0].value['T']
    X, K = np.arange(9, dtype=np.float32).reshape(3, 3), np.array([[0, 1], [2, 3]], np.float32)
    ref = mx.nd.Convolution(mx.nd.array(X[None, None]), mx.nd.array(K[None, None]), kernel=(2, 2),
                            num_filter=1, no_bias=True).asnumpy().ravel()
    assert T.shape == (4, 9)
    np.testing.assert_array_equal(T @ X.ravel(), ref)


def test_5_3_5_matrix_forms_match_nd_convolution(answers):
    # the oracle: MXNet's own Convolution of the exercise's seeded X and K, computed here; the
    # exercise's reported differences must be the ones measured against it
    from gluon_cnn.ops.conv_matrix import conv_im2col, conv_toeplitz
    from gluon_cnn.ops.scratch import corr2d_multi_in_out
    reported = answers['5.3.5'][0].value
    rs = np.random.RandomState(0)
    X, K = mx.nd.array(rs.uniform(size=(3, 8, 8))), mx.nd.array(rs.uniform(size=(4, 3, 3, 3)))
    ref = mx.nd.Convolution(X.expand_dims(0), K, kernel=(3, 3), num_filter=4, pad=(1, 1),
                            no_bias=True)[0].asnumpy()
    forms = {'corr2d_multi_in_out': corr2d_multi_in_out, 'im2col': conv_im2col,
             'toeplitz': conv_toeplitz}
    assert set(reported) == set(forms)
    for name, form in forms.items():
        got = form(X, K, 1).asnumpy()
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5, err_msg=name)
        assert reported[name] == pytest.approx(float(np.abs(got - ref).max()), abs=1e-7), name


def test_5_1_4_dense_layer_learns_the_conv_matrix(answers):
    v = answers['5.1.4'][0].value
    assert v['max_err'] < 0.01
    np.testing.assert_allclose(v['edges'].asnumpy()[:, [1, 5]], [[1, -1]] * 6, atol=0.02)


def test_5_2_formula_equals_gluon(answers):
    assert answers['5.2.1'][0].value == ((2, 2), (2, 2))
    rows = answers['5.2.2'][0].value
    assert len(rows) >= 8
    for k, p, s, formula, _ in rows:  # the oracle: Gluon's own layer on an 8x8 input
        conv = nn.Conv2D(1, kernel_size=k, padding=p, strides=s)
        conv.initialize()
        assert formula == conv(mx.nd.zeros((1, 1, 8, 8))).shape[2:], (k, p, s)


def test_5_3_costs(answers):
    formula, counted = answers['5.3.1'][0].value
    assert formula == counted
    r = answers['5.3.2'][0].value
    assert (r['c_i x2'], r['c_o x2'], r['both x2']) == (2, 2, 4)
    assert r['padding 1 -> 2'] == pytest.approx((28 / 26) ** 2)
    m = answers['5.3.3'][0].value
    assert (m[3] / m[1], m[5] / m[1]) == (9, 25)


def test_5_3_4_y1_y2_agree_to_rounding(answers):
    # the oracle: MXNet's own 1x1 Convolution of the exercise's seeded X and K, computed here
    from gluon_cnn.ops.scratch import corr2d_multi_in_out, corr2d_multi_in_out_1x1
    reported = answers['5.3.4'][0].value
    rs = np.random.RandomState(0)
    assert sorted(reported) == [3, 64]
    for c_i in (3, 64):
        X = mx.nd.array(rs.uniform(size=(c_i, 3, 3)))
        K = mx.nd.array(rs.uniform(size=(2, c_i, 1, 1)))
        ref = mx.nd.Convolution(X.expand_dims(0), K, kernel=(1, 1), num_filter=2,
                                no_bias=True)[0].asnumpy()
        Y1, Y2 = corr2d_multi_in_out_1x1(X, K).asnumpy(), corr2d_multi_in_out(X, K).asnumpy()
        np.testing.assert_allclose(Y1, ref, rtol=1e-5)  # equal to float32 rounding
        np.testing.assert_allclose(Y2, ref, rtol=1e-5)
        r = reported[c_i]
        assert r['max_diff'] == pytest.approx(float(np.abs(Y1 - Y2).max()), abs=1e-7)
        assert r['equal'] == int((Y1 == Y2).sum()) and r['size'] == Y1.size == 2 * 3 * 3
        assert r['err1'] < 1e-5 and r['err2'] < 1e-5


def test_5_4_pooling(answers):
    formula, counted = answers['5.4.1'][0].value
    assert formula == counted
    v = answers['5.4.2'][0].value
    assert v['kept'] == {'max': 1.0, 'avg': 0.25}
    for row in v['shift'].values():
        assert row['max'] < row['none'] and row['avg'] < row['none']
    z = answers['5.4.3'][0].value
    assert z['min'] > 0.8 and z['max'] < 0.5


def test_5_10_quick(answers):
    assert answers['5.10.1'][0].value < 1e-4
    v = answers['5.10.5'][0].value
    assert abs(v[False]['mean']) < 1e-5 and v[False]['std'] == pytest.approx(1, abs=1e-3)
    assert any(abs(m) > 0.01 for m in v[False]['running_mean'])
    assert v[True]['running_mean'] == [0.0, 0.0, 0.0] and v[True]['std'] > 2


def test_5_7_vgg_costs_and_table2(answers):
    v = answers['5.7.1'][0].value
    # d2l zh §5.6/§5.7 at 224x224: AlexNet's 11x11/4 conv outputs 96@54x54, VGG's first 64@224x224
    assert v['alexnet']['first_convs'][0][2] == (96, 54, 54)
    assert v['vgg11']['first_convs'][0][2] == (64, 224, 224)
    assert v['vgg11']['macs'] > 5 * v['alexnet']['macs']
    assert v['vgg11']['activation_bytes'] > 5 * v['alexnet']['activation_bytes']
    counts = answers['5.7.3'][0].value  # Simonyan & Zisserman (2015) Table 2
    assert round(counts['vgg16-imagenet'] / 1e6) == 138
    assert round(counts['vgg19-imagenet'] / 1e6) == 144


def test_5_9_2_parameter_sizes(answers):
    from gluon_cnn.shapes import conv_params, dense_params
    v = answers['5.9.2'][0].value
    # closed forms of d2l zh §5.6 AlexNet and §5.7 VGG-11 (1 channel in, 10 classes)
    alex_convs = (conv_params(11, 11, 1, 96) + conv_params(5, 5, 96, 256)
                  + conv_params(3, 3, 256, 384) + conv_params(3, 3, 384, 384)
                  + conv_params(3, 3, 384, 256))
    alex_dense = dense_params(256 * 5 * 5, 4096) + dense_params(4096, 4096) + dense_params(4096, 10)
    assert (v['alexnet']['params'], v['alexnet']['dense']) == (alex_convs + alex_dense, alex_dense)
    chans = [1, 64, 128, 256, 256, 512, 512, 512, 512]
    vgg_dense = dense_params(512 * 7 * 7, 4096) + dense_params(4096, 4096) + dense_params(4096, 10)
    assert v['vgg11']['params'] == vgg_dense + sum(
        conv_params(3, 3, a, b) for a, b in zip(chans, chans[1:]))
    assert v['nin']['dense'] == 0 and v['googlenet']['dense'] == dense_params(1024, 10)
    assert max(v['nin']['params'], v['googlenet']['params']) < v['alexnet']['params'] / 5


def test_5_11_resnet_table1_and_bottleneck(answers):
    rows = answers['5.11.1'][0].value  # He et al. (2016) Table 1, multiply-adds in 10^9
    for depth, flops in {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}.items():
        assert rows[depth]['macs'] / 1e9 == pytest.approx(flops, rel=0.02)
    v = answers['5.11.2'][0].value
    for name in ('basic', 'bottleneck'):  # the traced block against the closed form
        assert (v[name]['params'], v[name]['macs']) == v['formula'][name]
    # He et al. Fig. 5: a bottleneck on 256 channels costs about a basic block on 64
    assert v['bottleneck']['macs'] == pytest.approx(v['basic64']['macs'], rel=0.1)


def test_5_12_densenet_counts(answers):
    v = answers['5.12.1'][0].value
    assert v['densenet']['params'] < v['resnet18']['params'] / 10
    assert v['densenet']['widest_3x3_out'] == 32 and v['resnet18']['widest_3x3_out'] == 512
    rows = answers['5.12.3'][0].value
    assert all(r['trainable_params'] == r['formula'] for r in rows.values())
    assert round(rows[201]['trainable_params'] / 1e6) == 20  # Huang et al. (2017) Sec. 4.4


def test_english_extras(answers):
    assert answers['en.avgpool-as-conv'][0].value < 1e-6
    v = answers['en.max-via-relu'][0].value
    assert v['pair'] < 1e-6 and v['pool'] < 1e-6


def test_training_exercises_run_on_a_small_subset():
    tiny = dict(limit=256, epochs=1, test_limit=256)
    r = run_exercise('5.10.2', log=lambda s: None, lrs=(1.0,), **tiny).value
    assert set(r['table']) == {'sigmoid', 'sigmoid + BN', 'relu', 'relu + BN'}
    r3 = run_exercise('5.10.3', log=lambda s: None, **tiny).value
    r4 = run_exercise('5.10.4', log=lambda s: None, **tiny).value
    for res in [*r3.values(), *r4.values(), *(row[1.0] for row in r['table'].values())]:
        assert res['diverged'] or is_count_of(res['test_acc'], 256)
    assert not math.isnan(r4['frozen']['test_acc'])


def test_5_11_3_preactivation_block_is_an_identity_when_its_branch_is_zero():
    r = run_exercise('5.11.3', log=lambda s: None, limit=256, epochs=1, test_limit=256).value
    # He et al. (2016b) Eq. 4: x_{l+1} = x_l + F(x_l); the original block clips x at 0 instead
    assert r['gap'][2] == 0 and r['gap'][1] > 1
    assert all(is_count_of(run['test_acc'], 256) for run in r['runs'].values())


def is_count_of(acc: float, n: int) -> bool:
    """acc is k/n for a whole k: an accuracy measured on exactly the n test examples asked for."""
    return 0 <= acc <= 1 and abs(acc * n - round(acc * n)) < 1e-6


def test_cli_runs_one_and_rejects_unknown(capsys):
    assert main(['5.2.1']) == 0
    assert 'answer 5.2.1: (2, 2) by formula, (2, 2) by experiment' in capsys.readouterr().out
    assert main(['9.9.9']) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown exercise '9.9.9'") and err.count('\n') == 1
    assert main(['--list']) == 0
    assert '5.10.2' in capsys.readouterr().out


def test_cli_reports_a_failing_exercise_and_runs_the_others(capsys, monkeypatch):
    from gluon_cnn.errors import DataError
    from gluon_cnn.exercises import ex5_4

    def missing(*a, **k):
        raise DataError('fashion-mnist not found')
    monkeypatch.setattr(ex5_4.gdata, 'load_dataset', missing)
    assert main(['5.4.2', '5.4.3']) == 2
    out, err = capsys.readouterr()
    assert 'answer 5.4.3:' in out and 'error in 5.4.2: fashion-mnist not found' in err
    assert 'Traceback' not in out + err


def test_a_section_runs_its_exercises(capsys):
    assert main(['5.2']) == 0
    out = capsys.readouterr().out
    assert [line.split()[1] for line in out.splitlines() if line.startswith('== ')] == \
        ['5.2.1', '5.2.2']
    assert out.splitlines()[-1].startswith('2 exercises in ')


def test_one_exercise_is_singular(capsys):
    assert main(['5.2.1']) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith('1 exercise in ')


@pytest.mark.parametrize('typo, advised', [('5.2.3', '5.2'), ('5.21.1', '5.2.1'),
                                           ('en.maxrelu', 'en.max-via-relu')])
def test_a_mistyped_id_gets_a_hint_that_runs(typo, advised, capsys):
    assert main([typo]) == 2
    err = capsys.readouterr().err
    hint = re.search(r'did you mean (\S+)\?$', err.strip()).group(1)
    assert (err.count('\n'), hint) == (1, advised)
    assert main([hint]) == 0
