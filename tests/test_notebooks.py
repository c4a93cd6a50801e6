"""notebooks/: committed with their outputs, training notebooks end well above chance, and
notebooks/run_all.py --check catches a notebook at chance and an output that changed.

Oracle: the saved outputs themselves (what the code gave when `make notebooks` ran) and
hand-made notebooks with known outputs for the checker. `make notebooks-check` (CI) reruns every
notebook and compares; this file does not rerun them (minutes).
"""
import importlib.util
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / 'notebooks'
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
