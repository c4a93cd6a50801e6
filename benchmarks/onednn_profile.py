#!/usr/bin/env python
"""Where a training step of our LeNet spends its time, per oneDNN primitive (mx.profiler is
compiled out of the mxnet 1.9.1 wheel, so we read oneDNN's own verbose log instead).

Re-runs itself with DNNL_VERBOSE=1, trains `--batches` steps of 'lenet-en' at batch 256 exactly as
gluon_cnn.training.engine does (hybridized net + loss, SGD), skips the first `--skip` steps
(primitive creation) and sums each primitive's exec time per step, with the implementation
oneDNN chose.

    python benchmarks/onednn_profile.py              # as the engine trains: widened to 8 channels
    python benchmarks/onednn_profile.py --widen 0    # the book's 6 channels as they are
"""
import argparse
import collections
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
MARK = 'PROFILE-START'


def child(batches: int, skip: int, block: int):
    """Train `batches` steps, printing MARK after `skip` of them."""
    from mxnet import autograd, gluon, init, nd
    from gluon_cnn import data as gdata, get_model
    from gluon_cnn.training import engine, placement, runtime
    train, _ = gdata.load_dataset()
    net = get_model('lenet-en')
    net.initialize(init.Xavier())
    trainer = engine.make_trainer(net, 'sgd', 0.9)
    data = gdata.ArrayIter(train, 256, shuffle=True, seed=0, limit=256 * batches)
    # the graph engine.train builds on its first batch (0: the net as built)
    objective = runtime.Runtime(placement.OneDevice(), 'widened' if block else 'stock',
                                widen=block).prepare(net, gluon.loss.SoftmaxCrossEntropyLoss(),
                                                     trainer, next(iter(data))[0])
    for i, (X, y) in enumerate(data):
        if i == skip:
            nd.waitall()
            print(MARK, flush=True)
        with autograd.record():
            l, _, _ = objective(X, y)
        l.backward()
        trainer.step(X.shape[0])
    nd.waitall()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--batches', type=int, default=30, help='training steps to run (default 30)')
    p.add_argument('--skip', type=int, default=10, help='first steps not counted (default 10)')
    p.add_argument('--widen', type=int, default=8,
                   help='channel multiple for gluon_cnn.training.widen (default 8, as the '
                        'engine; 0: off)')
    p.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args.batches, args.skip, args.widen)
    out = subprocess.run([sys.executable, __file__, '--child', '--batches', str(args.batches),
                          '--skip', str(args.skip), '--widen', str(args.widen)],
                         env={**os.environ, 'DNNL_VERBOSE': '1'},
                         capture_output=True, text=True, check=True).stdout
    steps = args.batches - args.skip
    total = collections.Counter()
    for line in out.split(MARK, 1)[1].splitlines():
        f = line.split(',')
        # dnnl_verbose,exec,cpu,<primitive>,<impl>,<prop_kind>,<mds...>,<attrs>,<aux>,<problem>,<ms>
        if len(f) > 8 and f[:2] == ['dnnl_verbose', 'exec']:
            total[(f[3], f[5], f[4], f[-2])] += float(f[-1]) / steps
    whole = sum(total.values())
    print(f'{whole:.1f} ms per step in oneDNN primitives ({steps} steps)\n')
    print('| ms/step | share | primitive | pass | implementation | problem |\n'
          '|---|---|---|---|---|---|')
    for (prim, kind, impl, prob), ms in total.most_common(12):
        print(f'| {ms:.2f} | {ms / whole:.0%} | {prim} | {kind} | {impl} | {prob} |')


if __name__ == '__main__':
    main()
