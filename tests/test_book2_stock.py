"""The same numbers as stock d2l: a training section of each edition, run as printed in
gluon-cnn's venv and in a venv of stock d2l 1.0.3 with its own pins (`make stock-d2l`), gives the
same printed lines and the same plotted points, given the same data and seeds.

The data: the first 2048/512 Fashion-MNIST examples, written here as IDX files into a fresh
MXNET_HOME. Stock Gluon reads them with its own reader once its sha1 check (which only Gluon's
original gzip files pass) is skipped; gluon-cnn reads them through its hook. The seeds and the
observation cells are the same code in both kernels; the book's cells run unchanged, at full
length (no quick mode). Both kernels run MXNet on the same OpenMP threads, the count gluon-cnn's
start-up picks (stock MXNet alone would take half of them), so that their sums add up in the same
order. Run by `make test-stock-d2l` (CI); skipped without STOCK_D2L_PYTHON.
"""
import gzip
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gluon_cnn.backend import compat
from gluon_cnn.book2 import sections

STOCK = os.environ.get('STOCK_D2L_PYTHON')
pytestmark = pytest.mark.skipif(not STOCK, reason='make test-stock-d2l runs it (stock d2l venv)')
DEBIAN = Path('/usr/share/datasets/fashion-mnist')
SIZES = {'train': 2048, 't10k': 512}

BEFORE = '''
import random, numpy, mxnet
from mxnet.gluon import utils
utils.check_sha1 = lambda *args, **kwargs: True  # Gluon's download(): the files are not its own
random.seed(0); numpy.random.seed(0); mxnet.random.seed(0)
from d2l import mxnet as d2l_
points = []
add = d2l_.Animator.add
def recording_add(self, x, y):
    ys = y if hasattr(y, '__len__') else [y]
    points.append([x, [None if v is None else float(v) for v in ys]])
    return add(self, x, y)
d2l_.Animator.add = recording_add
'''
AFTER = '''
import json
board = {k: [[float(p.x), float(p.y)] for p in v] for k, v in model.board.data.items()} \\
    if 'model' in globals() and hasattr(model, 'board') else None
print('OBSERVED', json.dumps({'animator': points, 'board': board}))
'''
RUN = '''
import sys
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=1800, kernel_name='python3').execute()
nbformat.write(nb, sys.argv[1])
'''


def _write_idx(folder: Path):
    """The first SIZES examples of Debian's files, as Gluon names them."""
    folder.mkdir(parents=True)
    for split, n in SIZES.items():
        for kind, header in (('images-idx3', '>IIII'), ('labels-idx1', '>II')):
            name = f'{split}-{kind}-ubyte.gz'
            with gzip.open(DEBIAN / name) as f:
                raw = f.read()
            size = struct.calcsize(header)
            fields = list(struct.unpack(header, raw[:size]))
            per = int(np.prod(fields[2:])) if len(fields) > 2 else 1
            fields[1] = n
            with gzip.open(folder / name, 'wb') as f:
                f.write(struct.pack(header, *fields) + raw[size:size + n * per])


def _run(python: str, sec, home: Path, work: Path) -> dict:
    """Run the section in a kernel of `python`; (printed lines, observed points)."""
    work.mkdir()
    path = work / 'section.ipynb'
    import nbformat
    nbformat.write(sections.notebook([BEFORE, *sec.cells, AFTER]), str(path))
    env = {k: v for k, v in os.environ.items()
           if k not in ('GLUON_CNN_BOOK_QUICK', 'PYTHONPATH', 'DISPLAY', 'MPLBACKEND')}
    env['MXNET_HOME'] = str(home)
    compat.set_threads(env)  # what ours sets at start-up, given to stock's kernel too
    out = subprocess.run([python, '-c', RUN, str(path)], capture_output=True, text=True,
                         cwd=work, env=env, timeout=3000)
    assert out.returncode == 0, out.stderr[-3000:]
    nb = nbformat.read(str(path), as_version=4)
    text = ''.join(sections.printed(c) for c in nb.cells)
    observed = json.loads(text.split('OBSERVED ', 1)[1])
    lines = [re.sub(r'[\d.]+ examples/sec', 'N examples/sec', line)
             for line in text.split('OBSERVED ', 1)[0].splitlines()]
    return {'lines': lines, **observed}


@pytest.mark.skipif(not DEBIAN.is_dir(), reason='no Debian dataset-fashion-mnist')
@pytest.mark.parametrize('edition, number', [('en', '7.6'), ('zh', '6.6')])
def test_same_numbers_as_stock_d2l(edition, number, tmp_path):
    _write_idx(tmp_path / 'home' / 'datasets' / 'fashion-mnist')
    sec = sections.section(edition, number)
    ours = _run(sys.executable, sec, tmp_path / 'home', tmp_path / 'ours')
    stock = _run(STOCK, sec, tmp_path / 'home', tmp_path / 'stock')
    assert ours == stock
    trained = ours['board']['train_loss'] if edition == 'en' else ours['animator']
    assert len(trained) >= 10  # 10 epochs plotted: the comparison saw a whole training
