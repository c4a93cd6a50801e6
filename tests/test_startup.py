"""Any import order: the book's §5.1 script, which imports mxnet first, in a venv where gluon-cnn
is pip-installed, editable (`make setup`) and regular (a user's `pip install .`).

Oracle: the script's own result (d2l zh §5.1: the learned kernel is close to [1, -1]) and, for
the order, which modules were loaded when `import mxnet` ran: the start-up hook loaded the shims
(gluon_cnn.backend.compat) and nothing else of gluon_cnn. On numpy >= 1.24 (Python 3.12+) the script
fails without the hook (`np.bool`); on 3.10/3.11 the module check is what would fail.

Each venv is made without pip and borrows this interpreter's site-packages (mxnet, numpy) through
a .pth path line, so nothing is downloaded: about 5 s per install.
"""
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / 'tests' / 'scripts' / 'book_5_1.py'
PTH = 'gluon_cnn-startup.pth'

# appended to the book's script: what had been imported, seen from inside the run
PROBE = '''
import sys as _sys
print('loaded:', sorted(m for m in _sys.modules if m.startswith('gluon_cnn')))
'''


def _venv(tmp_path: Path, editable: bool) -> Path:
    """A fresh venv with gluon-cnn installed from this checkout; returns its python."""
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    python = venv / 'bin' / 'python'
    purelib = subprocess.run([str(python), '-c', 'import sysconfig; '
                              'print(sysconfig.get_paths()["purelib"])'],
                             capture_output=True, text=True, check=True).stdout.strip()
    # a path line, read after gluon-cnn's own .pth files ('zz' sorts last)
    borrowed = Path(sysconfig.get_paths()['purelib'])
    Path(purelib, 'zz-borrowed.pth').write_text(f'{borrowed}\n')
    # on 3.12+ mxnet imports distutils from setuptools' shim, which its own .pth installs: read it
    # after the path line, which makes the shim's module importable
    shim = borrowed / 'distutils-precedence.pth'
    if shim.is_file():
        Path(purelib, 'zzz-distutils-precedence.pth').write_text(shim.read_text())
    cmd = [sys.executable, '-m', 'pip', '--python', str(python), 'install', '-q', '--no-deps',
           '--no-build-isolation'] + (['-e', str(ROOT)] if editable else [str(ROOT)])
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert Path(purelib, PTH).is_file(), f'{PTH} was not installed'
    return python


@pytest.mark.parametrize('editable', [True, False], ids=['editable', 'regular'])
def test_book_5_1_script_imports_mxnet_first(tmp_path, editable):
    python = _venv(tmp_path, editable)
    script = tmp_path / 'book_5_1.py'
    script.write_text(SCRIPT.read_text(encoding='utf-8') + PROBE, encoding='utf-8')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}  # the installed package
    out = subprocess.run([str(python), str(script)], capture_output=True, text=True, cwd=tmp_path,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    # the hook ran before mxnet and loaded the shims alone, not the package (which imports mxnet)
    assert "loaded: ['gluon_cnn.backend.compat']" in out.stdout, out.stdout
    losses = [float(x) for x in re.findall(r'batch \d+, loss ([\d.]+)', out.stdout)]
    assert len(losses) == 5 and losses[-1] < 0.05 < losses[0]
    kernel = [float(x) for x in re.findall(r'\[\[\s*([-\d.e]+)\s+([-\d.e]+)\]\]', out.stdout)[-1]]
    assert abs(kernel[0] - 1) < 0.1 and abs(kernel[1] + 1) < 0.1, kernel


def test_hook_steps_aside_and_can_be_turned_off(tmp_path):
    """The finder is on sys.meta_path until the first `import mxnet`, then gone; with
    GLUON_CNN_NO_STARTUP=1 it is never installed; it imports nothing heavy at start-up."""
    python = _venv(tmp_path, editable=False)
    code = ('import sys; names = lambda: [getattr(f, "__name__", "") for f in sys.meta_path]; '
            'before = "BeforeMXNet" in names(); heavy = "numpy" in sys.modules; import mxnet; '
            'print(before, heavy, "BeforeMXNet" in names(), '
            '"gluon_cnn.backend.compat" in sys.modules)')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    out = subprocess.run([str(python), '-c', code], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120)
    assert out.stdout.split() == ['True', 'False', 'False', 'True'], out.stderr
    off = subprocess.run([str(python), '-c', code.split('; import mxnet')[0] + '; print(before)'],
                         capture_output=True, text=True, cwd=tmp_path,
                         env={**env, 'GLUON_CNN_NO_STARTUP': '1'}, timeout=120)
    assert off.stdout.split() == ['False'], off.stderr
