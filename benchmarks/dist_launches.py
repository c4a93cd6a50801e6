"""Launch the two-worker test run many times and count the bad launches (a race hunter).

    python benchmarks/dist_launches.py [-n 40] [--engine ps-lite|horovod]

Each launch is tests/dist_worker.py (LeNet, 300 random images, 2 epochs) under
`python -m gluon_cnn.launch`, as tests/test_parallel.py runs it once. A launch is good when it
exits 0, its two workers end bit-identical and within 1e-4 of one process. Prints every bad
launch's outcome and the count; exits 1 if any was bad.
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import gluon_cnn  # noqa: F401  (first: its compat shims must come before mxnet on 3.12+)
import mxnet as mx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORKER = [sys.executable, str(ROOT / 'tests' / 'dist_worker.py')]
ENGINES = {'ps-lite': (['-s', '1'], 'dist_sync'), 'horovod': (['--horovod'], 'horovod')}


def _params(path) -> dict:
    return {k: v.asnumpy() for k, v in mx.nd.load(str(path)).items()}


def _max_diff(a: dict, b: dict) -> float:
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


def one_launch(engine: str, reference: dict) -> str:
    """'' for a good launch, else what went wrong."""
    flags, kvstore = ENGINES[engine]
    with tempfile.TemporaryDirectory() as out:
        p = subprocess.run([sys.executable, '-m', 'gluon_cnn.launch', '--timeout', '120', *flags,
                            '-n', '2', '--', *WORKER, out, kvstore, 'cpu'], cwd=ROOT,
                           capture_output=True, text=True, timeout=180)
        if p.returncode:
            return (p.stderr.strip().splitlines() or [f'exit {p.returncode}'])[-1]
        r0, r1 = (_params(Path(out) / f'rank-{r}.params') for r in (0, 1))
        apart, off = _max_diff(r0, r1), _max_diff(r0, reference)
        return '' if apart == 0 and off < 1e-4 else f'workers {apart:.3g} apart, {off:.3g} off'


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('-n', type=int, default=40, help='launches (default 40)')
    p.add_argument('--engine', choices=ENGINES, default='ps-lite')
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([*WORKER, out, 'device', 'cpu'], check=True, cwd=ROOT)
        reference = _params(Path(out) / 'rank-0.params')
    bad = 0
    for i in range(args.n):
        what = one_launch(args.engine, reference)
        if what:
            bad += 1
            print(f'launch {i + 1}: {what}', flush=True)
    print(f'{args.engine}: {bad} bad launches of {args.n}')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
