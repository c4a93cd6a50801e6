#!/usr/bin/env python
"""Where one engine training step goes: forward, + backward, + SGD update, + metric sums.

The engine's own step on one fixed batch (`NetAndLoss` widened as in training), cut after each
part and synchronized, interleaved in one process; medians in ms. The differences between rows
are what each part costs.

    python benchmarks/step_parts.py                  # lenet-en, batch 256
    python benchmarks/step_parts.py --model lenet
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import gluon_cnn  # noqa: E402,F401  (its compat shims come before mxnet)

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from mxnet import autograd, gluon, nd  # noqa: E402

from gluon_cnn.training import engine, placement, runtime  # noqa: E402
from gluon_cnn import get_model  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', default='lenet-en', help='registry name (default lenet-en)')
    p.add_argument('--batch', type=int, default=256)
    p.add_argument('--steps', type=int, default=25, help='timed rounds (default 25)')
    args = p.parse_args(argv)

    mx.random.seed(0)
    net = get_model(args.model)
    net.initialize(mx.init.Xavier())
    rng = np.random.RandomState(0)
    X = nd.array(rng.uniform(0, 1, (args.batch, 1, 28, 28)))
    y = nd.array(rng.randint(0, 10, args.batch))
    trainer = engine.make_trainer(net, 'sgd', 0.1)
    # the graph engine.train builds on its first batch: the widened view
    objective = runtime.Runtime(placement.OneDevice(), 'widened').prepare(
        net, gluon.loss.SoftmaxCrossEntropyLoss(), trainer, X)
    sums = [nd.zeros(1), nd.zeros(1)]

    def step(upto: int):
        with autograd.record():
            l, batch_loss, batch_correct = objective(X, y)
        if upto >= 1:
            l.backward()
        if upto >= 2:
            trainer.step(args.batch)
        if upto >= 3:
            sums[0] += batch_loss
            sums[1] += batch_correct
        nd.waitall()

    parts = ['forward (net + loss + metrics graph)', '+ backward', '+ SGD update', '+ metric sums']
    times = {part: [] for part in parts}
    for upto in range(len(parts)):
        step(upto), step(upto)
    for _ in range(args.steps):
        for upto, part in enumerate(parts):
            start = time.perf_counter()
            step(upto)
            times[part].append(time.perf_counter() - start)
    print(f'{args.model}, batch {args.batch}, median of {args.steps} interleaved rounds\n')
    print('| step cut after | ms |\n|---|---|')
    for part, ts in times.items():
        print(f'| {part} | {statistics.median(ts) * 1e3:.1f} |')


if __name__ == '__main__':
    main()
