"""gluon_cnn.perf: MXNet env defaults are set before mxnet is imported, and a user's value wins."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import gluon_cnn
from gluon_cnn import perf


def test_user_value_wins_and_unset_keys_get_defaults(monkeypatch):
    monkeypatch.setattr(perf, 'DEFAULTS', {'GLUON_CNN_TEST_A': '1', 'GLUON_CNN_TEST_B': '2'})
    monkeypatch.setenv('GLUON_CNN_TEST_A', 'mine')
    monkeypatch.delenv('GLUON_CNN_TEST_B', raising=False)
    perf.apply_defaults()
    assert os.environ['GLUON_CNN_TEST_A'] == 'mine'
    assert os.environ['GLUON_CNN_TEST_B'] == '2'
    assert 'GLUON_CNN_TEST_B=2' in perf.describe()


def test_perf_is_the_first_import_and_does_not_import_mxnet():
    # MXNet reads its engine type and OpenMP threads once, at import: perf must run first.
    tree = ast.parse(Path(gluon_cnn.__file__).read_text())
    first = next(n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))
    assert isinstance(first, ast.ImportFrom) and [a.name for a in first.names] == ['perf']
    # perf.py run on its own (not via the package, whose __init__ imports mxnet after it)
    # must pull in nothing of mxnet
    alone = subprocess.run([sys.executable, '-c', 'import sys, runpy; runpy.run_path(sys.argv[1]); '
                            'print("mxnet" in sys.modules)', perf.__file__],
                           capture_output=True, text=True, check=True)
    assert alone.stdout.strip() == 'False'
