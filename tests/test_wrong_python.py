"""The README's commands under a Python without MXNet (a `python` that is not the checkout's .venv):
one line saying which Python to use, exit 2; `import gluon_cnn` in a program or a REPL raises
ModuleNotFoundError with the same advice.

Oracle: a bare venv made here without pip (`--without-pip`, no system site-packages), which has
no mxnet and no numpy whatever the base interpreter holds; the checkout is a scratch copy of
symlinks, with or without a .venv folder, so the advice is checked in both cases.
"""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def bare_python(tmp_path_factory) -> str:
    """A venv's python with nothing installed (checked, not assumed)."""
    venv = tmp_path_factory.mktemp('bare') / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    python = str(venv / 'bin' / 'python')
    probe = subprocess.run([python, '-c', 'import importlib.util as u; '
                            'print(u.find_spec("mxnet") is None)'], capture_output=True, text=True)
    assert probe.stdout.strip() == 'True', 'the bare venv sees an mxnet'
    return python


def _checkout(tmp_path: Path, with_venv: bool) -> Path:
    """A scratch checkout: the package linked in, train.py copied (Python runs a linked script
    from the link's target folder), and an empty .venv when asked."""
    repo = tmp_path / 'repo'
    repo.mkdir()
    (repo / 'gluon_cnn').symlink_to(ROOT / 'gluon_cnn')
    (repo / 'train.py').write_text((ROOT / 'train.py').read_text())
    if with_venv:
        (repo / '.venv').mkdir()
    return repo


@pytest.mark.parametrize('command', [['-m', 'gluon_cnn.trace', 'lenet'], ['train.py'],
                                     ['-m', 'gluon_cnn.viz', 'explain', '--help']])
def test_a_command_says_which_python(bare_python, tmp_path, command):
    repo = _checkout(tmp_path, with_venv=True)
    proc = subprocess.run([bare_python, *command], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ''
    assert proc.stderr == (f'error: mxnet is not installed in {bare_python}; use .venv/bin/python '
                           '(made by make setup) or activate it: . .venv/bin/activate\n')


def test_without_a_venv_it_says_make_setup(bare_python, tmp_path):
    repo = _checkout(tmp_path, with_venv=False)
    proc = subprocess.run([bare_python, '-m', 'gluon_cnn.trace', 'lenet'], cwd=repo,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count('\n') == 1 and 'make setup' in proc.stderr, proc.stderr


def test_import_raises_an_import_error_with_the_advice(bare_python, tmp_path):
    """A program (or a REPL) gets an exception it can catch, never an exit."""
    repo = _checkout(tmp_path, with_venv=True)
    code = ('try:\n    import gluon_cnn\n'
            'except ModuleNotFoundError as e:\n    print(e.name, "|", e)\n')
    proc = subprocess.run([bare_python, '-c', code], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (f'mxnet | mxnet is not installed in {bare_python}; use .venv/bin/python '
                           '(made by make setup) or activate it: . .venv/bin/activate\n')
