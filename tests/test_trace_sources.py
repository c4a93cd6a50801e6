"""`python -m gluon_cnn.trace` on a run folder (its recorded model and kwargs) and on
MODULE:FUNCTION (a learner's own constructor, by path or importable from the current folder).

Oracle: MXNet's own parameter count of the same net after a forward pass at the same input, and
the output shape MXNet computes.
"""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mxnet import nd

from gluon_cnn import get_model
from gluon_cnn.runs.config import TrainConfig
from gluon_cnn.runs.record import RunRecord, write_record
from gluon_cnn.trace import command as cli

ROOT = Path(__file__).resolve().parents[1]

OWN_NET = '''
from mxnet.gluon import nn


def small_cnn():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(5, 3, activation='relu'), nn.MaxPool2D(2), nn.Dense(10))
    return net
'''


def mxnet_facts(net, shape):
    """(parameter count, output shape) as MXNet gives them after one forward pass."""
    net.initialize()
    out = net(nd.zeros(shape))
    return sum(int(np.prod(p.shape)) for p in net.collect_params().values()), out.shape


def traced(argv, capsys):
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    title = text.splitlines()[0]
    params = int(re.search(r'Params: ([\d,]+)', text).group(1).replace(',', ''))
    out_shape = tuple(int(v) for v in re.search(r'-> \(([\d, ]+)\)', title).group(1).split(','))
    return title, params, out_shape


def test_run_folder_traces_the_recorded_model_at_its_size(tmp_path, capsys):
    kwargs = {'act': 'relu', 'channels': [16, 32]}
    write_record(RunRecord(TrainConfig(model='lenet', model_kwargs=kwargs, out=str(tmp_path)),
                           []))
    title, params, out_shape = traced([str(tmp_path)], capsys)
    assert title.startswith(f'lenet of {tmp_path} (') and '(1, 1, 28, 28)' in title
    assert (params, out_shape) == mxnet_facts(get_model('lenet', **kwargs), (1, 1, 28, 28))
    assert params != mxnet_facts(get_model('lenet'), (1, 1, 28, 28))[0]  # the kwargs counted


def test_run_folder_of_a_resized_run(tmp_path, capsys):
    write_record(RunRecord(TrainConfig(model='resnet18', resize=64, out=str(tmp_path)), []))
    title, params, out_shape = traced([str(tmp_path), '--depth', '1'], capsys)
    assert '(1, 1, 64, 64)' in title and out_shape == (1, 10)


def test_function_in_a_file(tmp_path, capsys):
    (tmp_path / 'mynet.py').write_text(OWN_NET)
    title, params, out_shape = traced([f'{tmp_path}/mynet.py:small_cnn', '--input', '1,1,12,12'],
                                      capsys)
    assert (params, out_shape) == mxnet_facts(get_own(tmp_path), (1, 1, 12, 12))


def test_function_in_a_module_of_the_current_folder(tmp_path, capsys, monkeypatch):
    (tmp_path / 'mynets.py').write_text(OWN_NET)
    monkeypatch.chdir(tmp_path)
    out = subprocess.run([sys.executable, '-m', 'gluon_cnn.trace', 'mynets:small_cnn'],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env={'PYTHONPATH': str(ROOT), 'PATH': '/usr/bin:/bin'})
    assert out.returncode == 0, out.stderr
    params = int(re.search(r'Params: ([\d,]+)', out.stdout).group(1).replace(',', ''))
    assert params == mxnet_facts(get_own(tmp_path), (1, 1, 28, 28))[0]


def get_own(folder: Path):
    namespace = {}
    exec(OWN_NET, namespace)
    return namespace['small_cnn']()


@pytest.mark.parametrize('spec, says', [
    ('nosuchmodule:build', "nosuchmodule:build: cannot import nosuchmodule"),
    ('json:nothing', "json:nothing: json has no function 'nothing'"),
    ('json:dumps', "trace calls dumps() without arguments, and it needs some"),
    ('json:JSONEncoder', 'JSONEncoder() returned JSONEncoder, not a Gluon Block'),
    ('lenet9', "unknown model 'lenet9'; valid names: "),
])
def test_bad_source_is_one_line(spec, says, capsys, tmp_path):
    code = cli.main([spec])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith('error: ') and says in err and err.count('\n') == 1, err


def test_folder_without_a_record_is_one_line(tmp_path, capsys):
    assert cli.main([str(tmp_path)]) == 2
    assert 'not a run folder' in capsys.readouterr().err


# ----------------------------------------------------------------------------- the user's mistakes
def _advised(err: str, pattern: str) -> list:
    """The argv a one-line error advises, found by `pattern` (its group 1) in the line."""
    return re.search(pattern, err).group(1).split()


@pytest.mark.parametrize('source, line, kind', [
    ('from mxnet.gluon import nn\n\ndef build():\n    return nn.Dense(3\n', 4, 'SyntaxError'),
    ('def build():\n    raise ValueError("no such layer")\n', 2, 'ValueError'),
    ('import no_such_module_of_theirs\n\ndef build():\n    pass\n', 1, 'ModuleNotFoundError'),
    ('from mxnet.gluon import nn\n\ndef build():\n    return nn.Conv2D(6, -5)\n', 4, None),
])
def test_the_users_own_error_is_theirs_in_a_line_or_two(source, line, kind, tmp_path, capsys):
    """Their file, their line and their exception's type; no traceback unless --debug."""
    path = tmp_path / 'mynet.py'
    path.write_text(source)
    spec = f'{path}:build'
    with pytest.raises(cli.UserCodeError) as e:
        cli.resolve(spec)
    assert (e.value.path, e.value.line) == (str(path), line)
    assert kind in (None, e.value.kind)
    assert cli.main([spec]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f'error: {path}, line {line}') and len(err.splitlines()) <= 2, err
    with pytest.raises(cli.UserCodeError):  # --debug: the traceback, chained to theirs
        cli.main([spec, '--debug'])


def test_a_file_without_its_function_lists_its_functions(tmp_path, capsys):
    path = tmp_path / 'mynet.py'
    path.write_text('def helper():\n    return 1\n' + OWN_NET)
    assert cli.main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.endswith('(its functions: helper, small_cnn)\n')
    assert cli.main(_advised(err, r'e\.g\. (\S+)')) == 0  # the advice works as given
    assert cli.main([f'{path}:small_cn']) == 2
    assert cli.main(_advised(capsys.readouterr().err, r'did you mean (\S+)\?')) == 0


@pytest.mark.parametrize('argv, pattern', [
    (['lenet9'], r'did you mean (\S+)\?'),
    (['resnt18', '--depth', '1'], r'did you mean (\S+)\?'),
    (['lenet', '--input', '1,28,28'], r'try (--input \S+)'),
])
def test_every_hint_is_accepted(argv, pattern, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'Check failed' not in err, err
    hinted = _advised(err, pattern)
    fixed = hinted if not hinted[0].startswith('--') else argv[:1] + hinted
    assert cli.main(fixed) == 0, fixed


def test_a_folder_of_runs_lists_them(tmp_path, capsys):
    for name in ('lenet-1', 'lenet-2'):
        (tmp_path / name).mkdir()
        write_record(RunRecord(TrainConfig(model='lenet', out=str(tmp_path / name)), []))
    assert cli.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.endswith(f'trace one of them: {tmp_path}/lenet-1, {tmp_path}/lenet-2\n')
    assert cli.main(_advised(err, r'them: (\S+),')) == 0
