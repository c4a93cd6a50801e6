#!/usr/bin/env python
"""Two versions of the fastops source (gluon_cnn/backend/fastops/fastops.cc), side by side: one
kernel change measured alone.

MXNet cannot load two libraries that register the same operator into one process, so each version
runs in its own child process, and the children alternate (base, new, base, new, ...) so that
outside load hits both alike. Each child times the engine's training step (forward, backward, SGD,
metric sums; hybridized, static_alloc) and an evaluation batch of the fused view, and prints its
medians; the parent prints the medians over the rounds and the ratios.

    python benchmarks/fastops_versions.py --base HEAD~1 --model lenet --rounds 6
    python benchmarks/fastops_versions.py --base <commit> [--new FILE]
    OMP_NUM_THREADS=1 FASTOPS_AB_CLOCK=cpu python benchmarks/fastops_versions.py ...  (CPU-ms)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / 'gluon_cnn' / 'backend' / 'fastops' / 'fastops.cc'


def child(source: str, model: str, steps: int) -> None:
    sys.path.insert(0, str(ROOT))
    import gluon_cnn  # noqa: F401  (its compat shims come before mxnet)
    from benchmarks.fastops_ab import BATCH, _net, interleave
    import mxnet as mx
    from mxnet import autograd, gluon, nd
    from gluon_cnn.backend import fastops
    from gluon_cnn.training import engine

    fastops.SOURCE = Path(source)  # the library is named by a hash of its source: one per version
    if not fastops.load():
        sys.exit(fastops.reason())
    net, X = _net(model)
    y = nd.array(mx.nd.random.randint(0, 10, shape=(BATCH,)).asnumpy())
    view = fastops.fused(net)
    obj = engine.NetAndLoss(view, gluon.loss.SoftmaxCrossEntropyLoss())
    obj.hybridize(static_alloc=True, static_shape=True)
    view.hybridize(static_alloc=True, static_shape=True)
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 1e-6})

    def step():
        with autograd.record():
            l, _, _ = obj(X, y)
        l.backward()
        trainer.step(BATCH)

    arms = {'train step': step, 'eval batch': lambda: view(X)}
    if os.environ.get('FASTOPS_AB_CLOCK') == 'cpu':
        # CPU time of the whole process: on a crowded machine it moves far less than wall time
        # (run with OMP_NUM_THREADS=1, so that no OpenMP thread spins waiting for another)
        import time
        import statistics as st
        got = {k: [] for k in arms}
        for _ in range(3):
            for fn in arms.values():
                fn()
                nd.waitall()
        for _ in range(steps):
            for k, fn in arms.items():
                t = time.process_time()
                fn()
                nd.waitall()
                got[k].append((time.process_time() - t) * 1e3)
        res = {k: st.median(v) for k, v in got.items()}
    else:
        res = interleave(arms, max(1, steps // 5), 5)
    print(json.dumps(res))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--base', default='HEAD', help='git revision of the base version (default HEAD)')
    p.add_argument('--new', default=str(SOURCE), help='the new version (default: the work tree)')
    p.add_argument('--model', default='lenet')
    p.add_argument('--rounds', type=int, default=6, help='children per version (default 6)')
    p.add_argument('--steps', type=int, default=30, help='timed calls per child and arm')
    p.add_argument('--child', help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a.child, a.model, a.steps)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / 'fastops.cc'
        base.write_text(subprocess.run(
            ['git', 'show', f'{a.base}:gluon_cnn/backend/fastops/fastops.cc'], cwd=ROOT, check=True,
            capture_output=True, text=True).stdout)
        got = {'base': [], 'new': []}
        for _ in range(a.rounds):
            for name, src in (('base', base), ('new', Path(a.new))):
                out = subprocess.run([sys.executable, __file__, '--child', str(src), '--model',
                                      a.model, '--steps', str(a.steps)], cwd=ROOT, check=True,
                                     capture_output=True, text=True).stdout
                got[name].append(json.loads(out.strip().splitlines()[-1]))
    clock = os.environ.get('FASTOPS_AB_CLOCK', 'wall')
    print(f'{a.model}, base {a.base} vs new {a.new}, {a.rounds} alternating children each, '
          f'{clock} ms, OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS", "(unset)")}; '
          f'load average {os.getloadavg()[0]:.1f}')
    for arm in ('train step', 'eval batch'):
        b = statistics.median(r[arm] for r in got['base'])
        n = statistics.median(r[arm] for r in got['new'])
        print(f'  {arm:11s} base {b:6.2f} ms  new {n:6.2f} ms  new is {b / n:.2f}x')


if __name__ == '__main__':
    main()
