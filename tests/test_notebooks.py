"""notebooks/: committed with their outputs, training notebooks end well above chance and draw
their learning curves, 5.05 shows where `make train`'s numbers come from and a still picture
where GitHub's viewer runs no scripts, and notebooks/run_all.py --check catches a notebook at
chance and an output that changed.

Oracle: the saved outputs themselves (what the code gave when `make notebooks` ran), README's
`make train` output (CI's own run of train.py), the printed epoch lines for the curves' numbers,
and hand-made notebooks with known outputs for the checker. `make notebooks-check` (CI) reruns
every notebook and compares; this file does not rerun them (minutes).
"""
import contextlib
import importlib.util
import io
import re
from pathlib import Path

import mxnet as mx
import nbformat
import pytest
from mxnet import gluon, init

from gluon_cnn import book as d2l
from gluon_cnn import get_model
from gluon_cnn.data import ArrayIter, load_dataset

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / 'notebooks'
EPOCH = re.compile(r'epoch (\d+), loss ([\d.]+), train acc ([\d.]+), test acc ([\d.]+)')
spec = importlib.util.spec_from_file_location('run_all', NOTEBOOKS / 'run_all.py')
run_all = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_all)

PATHS = sorted(NOTEBOOKS.glob('*.ipynb'))
TRAINING = [p for p in PATHS if 'train_ch5(' in p.read_text()]


def notebook(*outputs):
    """A one-cell notebook whose cell printed `outputs`."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('train()')
    cell.outputs = [nbformat.v4.new_output('stream', name='stdout', text=t) for t in outputs]
    nb.cells.append(cell)
    return nb


@pytest.mark.parametrize('path', PATHS, ids=lambda p: p.name)
def test_committed_with_outputs(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == 'code']
    assert code and all(c.get('execution_count') for c in code), f'{path.name}: not executed'


@pytest.mark.parametrize('path', TRAINING, ids=lambda p: getattr(p, 'name', str(p)))
def test_training_notebook_ends_above_its_threshold(path):
    assert path.name in run_all.THRESHOLDS, f'{path.name} trains but has no threshold'
    acc = run_all.final_test_acc(nbformat.read(path, as_version=4))
    assert acc is not None and acc >= run_all.THRESHOLDS[path.name] > 0.1, (path.name, acc)


def test_check_flags_a_notebook_at_chance():
    saved = notebook('epoch 1, loss 2.3026, train acc 0.100, test acc 0.100, time 1.0 sec\n')
    found = run_all.problems(Path('5.05-lenet.ipynb'), saved, saved)
    assert found == ['ends at test acc 0.1 (needs >= 0.6; chance is 0.1)']


def test_check_masks_times_but_not_numbers():
    saved = notebook('epoch 1, loss 0.5000, train acc 0.800, test acc 0.810, time 31.0 sec\n')
    slower = notebook('epoch 1, loss 0.5000, train acc 0.800, test acc 0.810, time 57.2 sec\n')
    assert run_all.problems(Path('5.05-lenet.ipynb'), slower, saved) == []
    other = notebook('epoch 1, loss 0.5001, train acc 0.800, test acc 0.810, time 31.0 sec\n')
    [found] = run_all.problems(Path('5.05-lenet.ipynb'), other, saved)
    assert 'code cell 1 gives other output' in found and 'loss 0.5001' in found


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == 'code']


def has_png(cell) -> bool:
    return any('image/png' in out.get('data', {}) for out in cell.get('outputs', []))


def printed(cell) -> str:
    return ''.join(out.text for out in cell.get('outputs', []) if out.output_type == 'stream')


@pytest.mark.parametrize('path', TRAINING, ids=lambda p: getattr(p, 'name', str(p)))
def test_training_notebook_draws_its_curves(path):
    """Each training run is followed by its curves, saved as a PNG that GitHub shows."""
    cells = code_cells(nbformat.read(path, as_version=4))
    trains = [i for i, c in enumerate(cells) if 'train_ch5(' in c.source]
    assert trains, path.name
    for i in trains:
        assert 'history=history' in cells[i].source, path.name
        curves = cells[i + 1]
        assert curves.source.startswith('viz.plot_curves(history') and has_png(curves), path.name


def test_lenet_notebook_prints_make_trains_lines():
    """5.05 runs train.py's loop as `make train` does: the same epoch lines as README shows."""
    readme = (ROOT / 'README.md').read_text()
    block = readme[readme.index('$ make train'):]
    block = block[:block.index('```')]
    cells = code_cells(nbformat.read(NOTEBOOKS / '5.05-lenet.ipynb', as_version=4))
    [cell] = [c for c in cells if 'engine.train(' in c.source]
    ours = EPOCH.findall(printed(cell))
    assert len(ours) == 5 and ours == EPOCH.findall(block)


def test_lenet_notebook_has_a_still_picture_before_the_explainer():
    """GitHub's viewer runs no scripts: the layer maps come first as a PNG."""
    cells = code_cells(nbformat.read(NOTEBOOKS / '5.05-lenet.ipynb', as_version=4))
    [page] = [i for i, c in enumerate(cells) if 'viz.explain(' in c.source]
    [still] = [i for i, c in enumerate(cells) if 'viz.plot_feature_maps(' in c.source]
    assert still < page and has_png(cells[still])


def test_train_ch5_history_is_what_it_prints():
    """The curves plot the numbers train_ch5 prints (which test_book checks against d2lzh)."""
    train, test = load_dataset(download=False)
    mx.random.seed(1)
    net = get_model('lenet')
    net.initialize(init=init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.9})
    train_iter, test_iter = ArrayIter(train, 256, limit=1000), ArrayIter(test, 256, limit=512)
    history, out = [], io.StringIO()
    with contextlib.redirect_stdout(out):
        result = d2l.train_ch5(net, train_iter, test_iter, 256, trainer, mx.cpu(), 2,
                               history=history)
    assert result is None
    shown = [tuple(float(v) for v in m) for m in EPOCH.findall(out.getvalue())]
    assert [(h['epoch'], round(h['loss'], 4), round(h['train_acc'], 3), round(h['test_acc'], 3))
            for h in history] == shown and len(shown) == 2
