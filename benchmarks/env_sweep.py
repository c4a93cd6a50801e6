#!/usr/bin/env python
"""Compare MXNet environment settings for our trainer, which MXNet reads at import time.

Each setting runs in its own child process (`bench_train.py --arms ours`), alternating
A B A B ... `--repeats` times so that load from other programs hits all of them alike; prints
the median training and evaluation throughput per setting.

    python benchmarks/env_sweep.py --limit 20000 'OMP_NUM_THREADS=1' 'OMP_NUM_THREADS=2'
    python benchmarks/env_sweep.py 'MXNET_ENGINE_TYPE=NaiveEngine' ''   # '' is the defaults
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent / 'bench_train.py'


def run_once(setting: str, args) -> dict:
    env = dict(os.environ)
    for kv in setting.split():
        k, _, v = kv.partition('=')
        env[k] = v
    with tempfile.NamedTemporaryFile(suffix='.json') as f:
        cmd = [sys.executable, str(BENCH), '--arms', args.arm, '--epochs', str(args.epochs),
               '--warmup', '1', '--no-rss', '--quiet', '--json', f.name]
        if args.limit:
            cmd += ['--limit', str(args.limit)]
        subprocess.run(cmd, env=env, check=True)
        return json.loads(Path(f.name).read_text())['results'][args.arm]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('settings', nargs='+',
                   help="space-separated K=V pairs per setting; '' = defaults")
    p.add_argument('--arm', default='ours', help='which bench_train.py arm (default ours)')
    p.add_argument('--repeats', type=int, default=2, help='alternations (default 2)')
    p.add_argument('--epochs', type=int, default=2, help='timed epochs per child (default 2)')
    p.add_argument('--limit', type=int, help='training examples per epoch (default all)')
    args = p.parse_args(argv)
    got = {s: {'train': [], 'eval': [], 'epoch': []} for s in args.settings}
    for r in range(args.repeats):
        for s in args.settings:
            res = run_once(s, args)
            for k in got[s]:
                got[s][k] += res[k]
            print(f'  repeat {r + 1} {s or "(defaults)":45s} '
                  f'train {statistics.median(res["train"]):7.0f} '
                  f'eval {statistics.median(res["eval"]):7.0f} ex/s  load {os.getloadavg()[0]:.1f}',
                  flush=True)
    print('| setting | train ex/s | epoch s | eval ex/s |\n|---|---|---|---|')
    for s, g in got.items():
        print(f'| {s or "(defaults)"} | {statistics.median(g["train"]):,.0f} | '
              f'{statistics.median(g["epoch"]):.2f} | {statistics.median(g["eval"]):,.0f} |')


if __name__ == '__main__':
    main()
