#!/usr/bin/env python
"""One training step and one evaluation batch of a LeNet, with gluon_cnn.training.widen at several
channel multiples, interleaved in one process (A B C, A B C, ...) so that load hits them alike.

Each arm is the engine's own step: `NetAndLoss` (net + loss + metrics, hybridized with static
memory) over the view `widened(net, multiple)`, backward, SGD; evaluation is that view's own
graph, as in engine.train. Multiple 0 is the book's layers as they are. Prints medians in ms.

    python benchmarks/widen_ab.py                        # lenet-en, multiples 0 8 16
    python benchmarks/widen_ab.py --model lenet --steps 40
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


def arm(model: str, multiple: int, batch: int):
    """(train step, eval batch) closures for one widening; identical weights and data per arm."""
    mx.random.seed(0)
    net = get_model(model)
    net.initialize(mx.init.Xavier())
    rng = np.random.RandomState(0)
    X, y = nd.array(rng.uniform(0, 1, (batch, 1, 28, 28))), nd.array(rng.randint(0, 10, batch))
    trainer = engine.make_trainer(net, 'sgd', 0.1)
    # the graph engine.train builds on its first batch (0: the net itself); it evaluates the view
    objective = runtime.Runtime(placement.OneDevice(), 'widened' if multiple else 'stock',
                                widen=multiple).prepare(
        net, gluon.loss.SoftmaxCrossEntropyLoss(), trainer, X)
    view = objective.net

    def train_step():
        with autograd.record():
            l, _, _ = objective(X, y)
        l.backward()
        trainer.step(batch)
        nd.waitall()

    def eval_batch():
        view(X).wait_to_read()  # the view's own cached graph, as engine.train evaluates

    return train_step, eval_batch


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', default='lenet-en', help='registry name (default lenet-en)')
    p.add_argument('--multiples', default='0,8,16', help='channel multiples to compare (0: off)')
    p.add_argument('--batch', type=int, default=256)
    p.add_argument('--steps', type=int, default=25, help='timed rounds (default 25)')
    args = p.parse_args(argv)
    multiples = [int(m) for m in args.multiples.split(',')]
    arms = {m: arm(args.model, m, args.batch) for m in multiples}
    times = {m: ([], []) for m in multiples}
    for train_step, eval_batch in arms.values():  # warm-up: graphs, primitives, memory
        train_step(), train_step(), eval_batch()
    for _ in range(args.steps):
        for m, fns in arms.items():
            for fn, bucket in zip(fns, times[m]):
                start = time.perf_counter()
                fn()
                bucket.append(time.perf_counter() - start)
    print(f'{args.model}, batch {args.batch}, median of {args.steps} interleaved rounds\n')
    print('| channel multiple | train step ms | eval batch ms |\n|---|---|---|')
    for m, (tr, ev) in times.items():
        print(f'| {m or "off (book layers)"} | {statistics.median(tr) * 1e3:.1f} | '
              f'{statistics.median(ev) * 1e3:.1f} |')


if __name__ == '__main__':
    main()
