"""Execute the notebooks of this folder headless (nbclient); write their outputs, or check them.

    .venv/bin/python notebooks/run_all.py --write    # make notebooks: run all, save the outputs
    .venv/bin/python notebooks/run_all.py --check    # CI: run all, compare with what is saved
    .venv/bin/python notebooks/run_all.py 5.05       # those whose name starts with 5.05

The notebooks are committed with their outputs, so a reader sees on GitHub what the code gives.
--check fails (exit 1) when a notebook raises, when a training notebook's last test accuracy is
below its threshold in THRESHOLDS (chance is 0.1), or when a text output differs from the saved
one once times, speeds and addresses are masked (MASKS): the seeds are fixed, so the numbers must
match. Images are not compared (they depend on matplotlib's version). The kernel is this
interpreter's (ipykernel's `python3` spec resolves to sys.executable): run it with the venv's.

oneDNN's sums (AlexNet onwards) depend on how many threads share them, so the outputs are made
and checked with MXNet on THREADS OpenMP threads, whatever the machine has, as long as it has that
many cores: the same digits a reader on a 2-core machine sees with gluon-cnn's default.
"""
import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent
CELL_TIMEOUT = 600  # seconds per cell: the longest (LeNet's 5 epochs) takes ~40 s on 2 cores

# the lowest final test accuracy each training notebook may end at; 0.1 is guessing
THRESHOLDS = {
    '5.05-lenet.ipynb': 0.6,
    '5.06-alexnet.ipynb': 0.6,
    '5.07-vgg.ipynb': 0.6,
    '5.08-nin.ipynb': 0.5,
    '5.09-googlenet.ipynb': 0.6,
    '5.10-batch-norm.ipynb': 0.75,
    '5.11-resnet.ipynb': 0.6,
    '5.12-densenet.ipynb': 0.5,
}

# what may differ between two runs of the same seeded code: wall times, speeds, addresses
MASKS = [
    (re.compile(r'time [\d.]+ sec'), 'time <t> sec'),
    (re.compile(r'[\d,.]+ examples/sec'), '<n> examples/sec'),
    (re.compile(r'\b\d+(\.\d+)? ?(ms|s)\b'), '<t>'),
    (re.compile(r'0x[0-9a-f]+'), '0x<addr>'),
]

TEST_ACC = re.compile(r'test acc ([\d.]+)')
THREADS = '2'  # MXNET_OMP_MAX_THREADS of the saved outputs (see the docstring)


def execute(path: Path):
    """The notebook at path, executed in its own folder; returns (notebook, seconds)."""
    nb = nbformat.read(path, as_version=4)
    start = time.time()
    NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name='python3',
                   resources={'metadata': {'path': str(HERE)}}).execute()
    return nb, time.time() - start


def text_outputs(nb) -> list:
    """Each code cell's text outputs (streams, text/plain results), masked."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != 'code':
            continue
        texts = []
        for out in cell.get('outputs', []):
            if out.output_type == 'stream':
                texts.append(out.text)
            elif out.output_type in ('execute_result', 'display_data'):
                texts.append(out.get('data', {}).get('text/plain', ''))
        text = ''.join(texts)
        for pattern, mask in MASKS:
            text = pattern.sub(mask, text)
        cells.append(text)
    return cells


def final_test_acc(nb):
    """The last 'test acc X' any output printed, or None."""
    found = TEST_ACC.findall('\n'.join(text_outputs(nb)))
    return float(found[-1]) if found else None


def problems(path: Path, nb, saved) -> list:
    """What --check finds wrong with a fresh run `nb` of the notebook saved as `saved`."""
    found = []
    need = THRESHOLDS.get(path.name)
    acc = final_test_acc(nb)
    if need is not None and (acc is None or acc < need):
        found.append(f'ends at test acc {acc} (needs >= {need}; chance is 0.1)')
    for i, (new, old) in enumerate(zip(text_outputs(nb), text_outputs(saved))):
        if new != old:
            found.append(f'code cell {i + 1} gives other output than the saved one:\n'
                         f'--- saved\n{old}\n--- now\n{new}')
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('prefix', nargs='*', help='run only notebooks whose name starts with these')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--write', action='store_true', help='save each executed notebook')
    mode.add_argument('--check', action='store_true',
                      help='compare with the saved outputs and the thresholds; write nothing')
    args = parser.parse_args(argv)
    if os.environ.pop('OMP_NUM_THREADS', None) is not None:
        print(f'note: OMP_NUM_THREADS is not passed on; the kernels run MXNet on {THREADS} '
              'threads, as the saved outputs were made', flush=True)
    os.environ['MXNET_OMP_MAX_THREADS'] = THREADS  # the kernels inherit it
    paths = sorted(p for p in HERE.glob('*.ipynb')
                   if not args.prefix or any(p.name.startswith(x) for x in args.prefix))
    failed, total = [], 0.0
    for path in paths:
        saved = nbformat.read(path, as_version=4)
        try:
            nb, seconds = execute(path)
        except CellExecutionError as e:
            failed.append(path.name)
            print(f'FAIL {path.name}\n{e}', flush=True)
            continue
        total += seconds
        found = problems(path, nb, saved) if args.check else []
        if args.write:
            nbformat.write(nb, path)
        acc = final_test_acc(nb)
        end = f', test acc {acc:.3f}' if acc is not None else ''
        if found:
            failed.append(path.name)
            print(f'FAIL {path.name}  {seconds:5.1f} s{end}\n' + '\n'.join(found), flush=True)
        else:
            print(f'ok   {path.name}  {seconds:5.1f} s{end}', flush=True)
    print(f'{len(paths) - len(failed)}/{len(paths)} notebooks ran, {total:.0f} s')
    return 1 if failed or not paths else 0


if __name__ == '__main__':
    sys.exit(main())
