"""Scale-out arms, side by side in one run: one process, two contexts, two local workers and bf16,
with train.py's default (the fused operators) and, alone and with two workers, --no-fast-ops.

(Two local Horovod workers too, when Horovod is installed: `make horovod`.)

    python benchmarks/scale_out.py [--limit 60000] [--repeats 3]

Each arm is `train.py` on the first --limit Fashion-MNIST images for 2 epochs (LeNet, batch 256);
the number is the second epoch's examples/sec from metrics.json (the first includes graph
building). Arms are interleaved repeat by repeat so drift hits them alike; we print medians and
the ratio to one process, plus the machine (`lscpu` model name). `make bench` runs it after
bench_train.py; benchmarks/README.md and README.md quote its table.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import machine  # noqa: E402  (benchmarks/machine.py)

ROOT = Path(__file__).resolve().parents[1]
TRAIN = [sys.executable, str(ROOT / 'train.py'), '--epochs', '2', '--quiet']
LAUNCH2 = [sys.executable, '-m', 'gluon_cnn.launch', '-n', '2', '--timeout', '600', '--']
HOROVOD2 = [*LAUNCH2[:3], '--horovod', *LAUNCH2[3:]]

BASE = 'one process'
ARMS = {  # name -> (argv prefix, extra train.py flags)
    BASE: ([], []),
    'two contexts, --ctx cpu:0,cpu:1': ([], ['--ctx', 'cpu:0,cpu:1']),
    'two local workers, dist_sync': (LAUNCH2, ['--kvstore', 'dist_sync']),
    'one process, --amp bf16': ([], ['--amp', 'bf16']),
    'one process, --no-fast-ops': ([], ['--no-fast-ops']),
    'two local workers, dist_sync, --no-fast-ops': (LAUNCH2, ['--kvstore', 'dist_sync',
                                                             '--no-fast-ops']),
}
try:
    import horovod.mxnet  # noqa: F401  (optional)
    ARMS['two local workers, horovod'] = (HOROVOD2, ['--kvstore', 'horovod'])
except ImportError:
    pass


def run_arm(prefix, flags, limit: int) -> tuple:
    """(examples/sec of epoch 2, test accuracy) of one train.py run; (None, its last error line)
    when it fails, so one broken arm does not cost the others' numbers."""
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run([*prefix, *TRAIN, '--limit', str(limit), '--out', out, *flags],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, timeout=900)
        if proc.returncode != 0:
            return None, (proc.stderr.strip().splitlines() or ['(no output)'])[-1]
        epochs = json.loads((Path(out) / 'metrics.json').read_text())
        epochs = epochs.get('epochs') or epochs.get('history')
        return epochs[-1]['examples_per_sec'], epochs[-1]['test_acc']


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    # the whole set: 2 epochs of it take the sigmoid LeNet off its plateau (test acc ~0.6), so
    # the accuracy column can show that every arm trains the same net
    p.add_argument('--limit', type=int, default=60000, help='training images per epoch')
    p.add_argument('--repeats', type=int, default=3, help='runs per arm (median reported)')
    p.add_argument('--json', help='also write the table and the raw figures to this file')
    args = p.parse_args(argv)
    speed = {name: [] for name in ARMS}
    acc, failed = {}, {}
    load = os.getloadavg()
    for _ in range(args.repeats):
        for name, (prefix, flags) in ARMS.items():
            if name in failed:
                continue
            s, a = run_arm(prefix, flags, args.limit)
            if s is None:
                failed[name] = a
                print(f'note: {name} failed: {a}', file=sys.stderr)
                continue
            speed[name].append(s)
            acc[name] = a
    base = statistics.median(speed[BASE])
    title = (f'scale-out, LeNet, batch 256, {args.limit} images, epoch 2, median of '
             f'{args.repeats} ({machine()})')
    rows = ['| arm | examples/sec | vs one process | test acc |', '|---|---:|---:|---:|']
    for name in ARMS:
        if name in failed:
            rows.append(f'| {name} | failed: {failed[name]} | | |')
            continue
        m = statistics.median(speed[name])
        rows.append(f'| {name} | {m:,.0f} | {m / base:.2f}x | {acc[name]:.3f} |')
    print(title, *rows, sep='\n')
    if args.json:  # docs/scale-out.md renders its table from this file (make docs)
        import time
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            'speed': speed, 'acc': acc, 'failed': failed, 'title': title, 'table': '\n'.join(rows),
            'machine': machine(), 'date': time.strftime('%Y-%m-%d'),
            'load': load, 'end_load': os.getloadavg(),
            'command': 'python benchmarks/scale_out.py ' + ' '.join(argv or sys.argv[1:])},
            indent=1) + '\n')


if __name__ == '__main__':
    main()
