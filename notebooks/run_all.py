"""Execute every notebook of this folder headless (nbclient), as CI does; exit 1 if one fails.

    .venv/bin/python notebooks/run_all.py            # all, in section order
    .venv/bin/python notebooks/run_all.py 5.05       # those whose name starts with 5.05

The notebooks are kept without outputs; this runs them in memory and writes nothing back.
The kernel is this interpreter's (ipykernel's `python3` spec resolves to sys.executable), so
run it with the venv's Python.
"""
import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent
CELL_TIMEOUT = 300  # seconds per cell: the longest (a cut-down training run) takes ~20 s on 2 cores


def run(path: Path) -> float:
    """Execute one notebook in its own folder; returns seconds taken."""
    nb = nbformat.read(path, as_version=4)
    start = time.time()
    NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name='python3',
                   resources={'metadata': {'path': str(HERE)}}).execute()
    return time.time() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('prefix', nargs='*', help='run only notebooks whose name starts with these')
    args = parser.parse_args(argv)
    paths = sorted(p for p in HERE.glob('*.ipynb')
                   if not args.prefix or any(p.name.startswith(x) for x in args.prefix))
    failed, total = [], 0.0
    for path in paths:
        try:
            seconds = run(path)
        except CellExecutionError as e:
            failed.append(path.name)
            print(f'FAIL {path.name}\n{e}', flush=True)
            continue
        total += seconds
        print(f'ok   {path.name}  {seconds:5.1f} s', flush=True)
    print(f'{len(paths) - len(failed)}/{len(paths)} notebooks ran, {total:.0f} s')
    return 1 if failed or not paths else 0


if __name__ == '__main__':
    sys.exit(main())
