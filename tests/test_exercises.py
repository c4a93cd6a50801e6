"""gluon_cnn.exercises: every quick exercise runs and computes the right answer; the CLI works."""
import math

import numpy as np
import pytest

from gluon_cnn.exercises import EXERCISES, Answer, list_exercises, run_exercise
from gluon_cnn.exercises.__main__ import main

# d2l zh: §5.1 has 4 exercises, §5.2 2, §5.3 5, §5.4 3, §5.5 1, §5.10 5: twenty in all
BOOK_IDS = ([f'5.1.{i}' for i in range(1, 5)] + ['5.2.1', '5.2.2'] + [f'5.3.{i}' for i in range(1, 6)]
            + [f'5.4.{i}' for i in range(1, 4)] + ['5.5.1'] + [f'5.10.{i}' for i in range(1, 6)])


@pytest.fixture(scope='module')
def answers():
    """Every quick exercise run once; (answer, printed lines) by id."""
    out = {}
    for i in list_exercises('quick'):
        lines = []
        out[i] = (run_exercise(i, log=lines.append), lines)
    return out


def test_all_twenty_book_exercises_and_the_extras_are_registered():
    assert set(BOOK_IDS) <= set(EXERCISES) and len(BOOK_IDS) == 20
    assert {'en.avgpool-as-conv', 'en.max-via-relu'} <= set(EXERCISES)
    assert list_exercises()[:4] == ['5.1.1', '5.1.2', '5.1.3', '5.1.4']
    assert list_exercises().index('5.10.1') > list_exercises().index('5.5.1')  # numeric order
    assert set(list_exercises('train')) == {'5.10.2', '5.10.3', '5.10.4'}


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


def test_5_1_3_and_5_3_5_matrix_forms_agree(answers):
    assert answers['5.1.3'][0].value['diffs'] == [0.0, 0.0]
    assert answers['5.1.3'][0].value['T'].shape == (4, 9)
    assert max(answers['5.3.5'][0].value.values()) < 1e-5


def test_5_1_4_dense_layer_learns_the_conv_matrix(answers):
    v = answers['5.1.4'][0].value
    assert v['max_err'] < 0.01
    np.testing.assert_allclose(v['edges'].asnumpy()[:, [1, 5]], [[1, -1]] * 6, atol=0.02)


def test_5_2_formula_equals_gluon(answers):
    assert answers['5.2.1'][0].value == ((2, 2), (2, 2))
    rows = answers['5.2.2'][0].value
    assert len(rows) >= 8 and all(f == g for *_, f, g in rows)


def test_5_3_costs(answers):
    formula, counted = answers['5.3.1'][0].value
    assert formula == counted
    r = answers['5.3.2'][0].value
    assert (r['c_i x2'], r['c_o x2'], r['both x2']) == (2, 2, 4)
    assert r['padding 1 -> 2'] == pytest.approx((28 / 26) ** 2)
    m = answers['5.3.3'][0].value
    assert (m[3] / m[1], m[5] / m[1]) == (9, 25)


def test_5_3_4_y1_y2_agree_to_rounding(answers):
    for r in answers['5.3.4'][0].value.values():
        assert r['max_diff'] < 1e-5 and r['err1'] < 1e-5 and r['err2'] < 1e-5


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
        assert res['diverged'] or 0 <= res['test_acc'] <= 1
    assert not math.isnan(r4['frozen']['test_acc'])


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
