"""The 2nd edition's own MXNet code (d2l en v1.0.3 ch.7-8, d2l zh ch.6-7), unchanged, offline.

Oracles: the book's own cells (gluon_cnn/book2/cells/, extracted from the book by d2lbook's tab
rules) either run in a Jupyter kernel or raise; Gluon's FashionMNIST with the hook turned off
(GLUON_CNN_NO_STARTUP=1) is what a stock install does offline, and fails. Every section runs
under `make test-book2` (GLUON_CNN_TEST_BOOK2=1); `make test` runs the two of QUICK, one per
edition and training door (d2l.Trainer, d2l.train_ch6).
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gluon_cnn.book2 import extract, quick, sections
from gluon_cnn.errors import ConfigError

pytest.importorskip('d2l', reason="d2l is not installed: make setup installs it "
                    "(pip install --no-deps d2l==1.0.3)")

ROOT = Path(__file__).resolve().parents[1]
MIRRORS = {'en': Path('/work/.mirror/d2l-ai+d2l-en/repo'),
           'zh': Path('/work/.mirror/d2l-ai+d2l-zh/repo')}
QUICK = {('en', '7.6'), ('zh', '7.3')}  # LeNet through d2l.Trainer; NiN through d2l.train_ch6


# ----------------------------------------------------------------------------- extraction
def test_each_edition_has_its_sections_with_code():
    numbers = {ed: [s.number for s in sections.load_sections(ed) if s.cells]
               for ed in ('en', 'zh')}
    assert numbers['en'] == ['7.2', '7.3', '7.4', '7.5', '7.6'] + [f'8.{i}' for i in range(1, 9)]
    assert numbers['zh'] == ['6.2', '6.3', '6.4', '6.5', '6.6'] + [f'7.{i}' for i in range(1, 8)]


@pytest.mark.parametrize('edition', ['en', 'zh'])
def test_cells_are_mxnet_only(edition):
    for s in sections.load_sections(edition):
        text = '\n'.join(s.cells)
        for other in ('import torch', 'import tensorflow', 'import jax', 'paddle', '%%tab',
                      '@tab', 'tab.selected', 'd2lbook'):
            assert other not in text, (s.number, other)
        if s.cells:
            assert 'from mxnet' in s.cells[0], s.number


def test_tab_rules():
    """English: untagged cells are pytorch's (config.ini's first tab); tab.selected branches."""
    markdown = '''
```{.python .input}
%load_ext d2lbook.tab
tab.interact_select(['mxnet', 'pytorch'])
```

```{.python .input}
%%tab pytorch, mxnet
class Net:
    def __init__(self):
        if tab.selected('mxnet'):
            self.net = 'mxnet'
        if tab.selected('pytorch'):
            self.net = 'torch'
        self.done = True
```

```{.python .input}
x = 'untagged'
```

```{.python .input  n=2}
#@tab all
y = 1
```
'''
    assert extract.mxnet_cells(markdown, 'pytorch') == [
        "class Net:\n    def __init__(self):\n        self.net = 'mxnet'\n        self.done = True",
        'y = 1']
    assert extract.mxnet_cells(markdown, 'mxnet')[1:] == ["x = 'untagged'", 'y = 1']
    assert extract.default_tab('[build]\ntabs = pytorch, mxnet\n') == 'pytorch'


@pytest.mark.parametrize('edition', ['en', 'zh'])
def test_cells_are_what_the_book_holds(edition):
    """The committed cells equal a fresh extraction from a clone of the book, where there is one."""
    record = json.loads((sections.CELLS / f'{edition}.json').read_text(encoding='utf-8'))
    git_dir = MIRRORS[edition]
    if not git_dir.is_dir():
        pytest.skip(f'no clone of {record["repository"]} at {git_dir}')
    fresh = extract.sections(git_dir, extract.BOOKS[edition], record['commit'])
    assert [s._asdict() for s in fresh] == record['sections']


# ----------------------------------------------------------------------------- quick mode
def test_quick_limits():
    assert quick.limits('') is None and quick.limits('0') is None
    assert quick.limits('1') == quick.Limits(1, 5, 16)
    assert quick.limits('epochs=2,batch_size=32') == quick.Limits(2, 5, 32)
    assert quick.limits('batches=6').examples == 96
    for bad in ('epochs=0', 'batches=4', 'speed=3', 'epochs=x'):
        with pytest.raises(ConfigError):
            quick.limits(bad)


# ----------------------------------------------------------------------------- offline data
DATA_SCRIPT = '''
from d2l import mxnet as d2l
from mxnet import npx
npx.set_np()
data = d2l.FashionMNIST(batch_size=16)
X, y = next(iter(data.train_dataloader()))
print(len(data.train), len(data.val), X.shape, float(X.max()) <= 1.0)
'''


def _python(script: str, tmp_path: Path, **env) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items()
            if k not in ('GLUON_CNN_BOOK_QUICK', 'DISPLAY', 'MPLBACKEND')}  # headless
    full.update(MXNET_HOME=str(tmp_path), **env)  # an empty Gluon cache
    return subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          cwd=tmp_path, env=full, timeout=300)


def test_fashion_mnist_offline_as_printed(tmp_path):
    out = _python(DATA_SCRIPT, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[:2] == ['60000', '10000']
    assert out.stdout.split()[-1] == 'True'


def test_without_the_hook_gluon_downloads_and_fails_offline(tmp_path):
    """What the book's line does on a stock install offline: Gluon's download fails. The numpy
    shims are loaded by hand (on 3.12+ mxnet imports nothing without them); the hook is off."""
    shims = 'import _gluon_cnn_startup\n_gluon_cnn_startup.load_compat()\n'
    out = _python(shims + DATA_SCRIPT + '\n', tmp_path, GLUON_CNN_NO_STARTUP='1')
    if out.returncode == 0:
        pytest.skip('Gluon could download: this machine is online')
    assert 'fashion-mnist' in out.stderr.lower() or 'download' in out.stderr.lower()


def test_headless_ipython_runs_lenet_and_draws_with_agg(tmp_path):
    """§7.6 in a terminal IPython without a display: the plots go to Agg."""
    script = '''
from IPython.core.interactiveshell import InteractiveShell
from gluon_cnn.book2.sections import section
shell = InteractiveShell.instance()
for cell in section('en', '7.6').cells:
    shell.run_cell(cell).raise_error()
import matplotlib
print('backend', matplotlib.get_backend().lower(), len(model.board.data['train_loss']) > 0)
'''.replace('model.board', "shell.user_ns['model'].board")
    out = _python(script, tmp_path, GLUON_CNN_BOOK_QUICK='1')
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == 'backend agg True'


# ----------------------------------------------------------------------------- every section
def _all_sections():
    for edition in ('en', 'zh'):
        for s in sections.load_sections(edition):
            if s.cells:
                marks = () if (edition, s.number) in QUICK else (pytest.mark.book2,)
                yield pytest.param(edition, s.number, marks=marks, id=f'{edition}-{s.number}')


@pytest.mark.parametrize('edition, number', list(_all_sections()))
def test_section_runs_as_printed(edition, number, tmp_path):
    if (edition, number) not in QUICK and not os.environ.get('GLUON_CNN_TEST_BOOK2'):
        pytest.skip('make test-book2 runs every section')
    sec = sections.section(edition, number)
    env = {'GLUON_CNN_BOOK_QUICK': '1', 'MXNET_HOME': str(tmp_path)}
    nb = sections.run_section(sec, env=env, cwd=tmp_path)
    assert len(nb.cells) == len(sec.cells)
    trains = any('.fit(' in c or 'train_ch6(' in c for c in sec.cells)
    if trains:  # what the training printed or plotted is numbers, not NaN
        text = '\n'.join(sections.printed(c) for c in nb.cells)
        assert 'nan' not in text.lower()


# ----------------------------------------------------------------------------- trace
TRACE_SCRIPT = '''
import contextlib, io, sys
from gluon_cnn.book2.sections import section
cells = section('en', '7.6').cells
source = cells[0] + '\\n\\n' + cells[1] + '\\n\\ndef lenet():\\n    return LeNet()\\n'
open('book_lenet.py', 'w').write(source)
sys.path.insert(0, '')
from book_lenet import *  # the book's LeNet(d2l.Classifier), as printed
book = io.StringIO()
with contextlib.redirect_stdout(book):
    exec(cells[2])  # the book's layer_summary cell
from gluon_cnn.trace.__main__ import main
ours = io.StringIO()
with contextlib.redirect_stdout(ours):
    assert main(['book_lenet:lenet']) == 0
print(book.getvalue()); print('TRACE'); print(ours.getvalue())
'''


def test_trace_of_a_2nd_edition_classifier_matches_layer_summary(tmp_path):
    """python -m gluon_cnn.trace module:function on the English LeNet (a d2l.Classifier): its
    rows are the book's layer_summary, layer by layer (class and output shape)."""
    out = _python(TRACE_SCRIPT, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    book, ours = out.stdout.split('TRACE')
    expected = [(name, shape) for name, shape in
                re.findall(r'^(\w+) output shape:\s+(\(.*?\))', book, re.M)]
    rows = re.findall(r'^\s*\d+ \((\w+)[^)]*\)(?: \[\d\])?\s+(\(.*?\))', ours, re.M)
    assert len(expected) == 7
    assert rows == expected
