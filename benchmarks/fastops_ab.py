#!/usr/bin/env python
"""Stock MXNet ops vs the fastops library (gluon_cnn.backend.fastops), side by side.

Three measurements, each interleaved (A B A B ...) so that outside load hits both alike:
  step     one engine training step (forward + backward + SGD + metric sums, hybridized,
           static_alloc) of the book's net, stock (widened to 8, what the engine runs) vs
           fused(net); and one evaluation batch
  parts    fastops_conv alone per layer, forward and forward+backward, vs MXNet's
           Convolution + Activation + Pooling on the same shapes
  overhead one call of a trivial custom op (fastops_copy of 1 float) vs MXNet's own `copy`
Plus `--epochs N`: engine.train epochs with the same seed, stock and fast, printing both runs'
epoch lines (the numbers should agree to the printed digits).

    python benchmarks/fastops_ab.py --model lenet --steps 40
    python benchmarks/fastops_ab.py --model lenet-en --epochs 2 --limit 10000
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from machine import machine  # noqa: E402  (benchmarks/machine.py)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# this benchmark's build of the library has the fastops_copy operator (the overhead arm)
os.environ.setdefault('GLUON_CNN_FASTOPS_BENCH', '1')
import gluon_cnn  # noqa: E402,F401  (its compat shims come before mxnet)

import mxnet as mx  # noqa: E402
from mxnet import autograd, gluon, init, nd  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

from gluon_cnn import data as gdata, get_model, model_info  # noqa: E402
from gluon_cnn.training import engine, placement, runtime  # noqa: E402
from gluon_cnn.training.seeding import seed_everything  # noqa: E402
from gluon_cnn.backend import fastops  # noqa: E402
from gluon_cnn.training.widen import widened  # noqa: E402

BATCH = 256


def timed(fn, reps: int) -> list:
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        nd.waitall()
        out.append((time.perf_counter() - start) * 1e3)
    return out


def interleave(fns: dict, rounds: int, reps: int) -> dict:
    """{name: median ms} over rounds x reps calls, the arms alternating every `reps` calls."""
    for fn in fns.values():  # warm-up: graphs, states, memory pools
        timed(fn, 3)
    got = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            got[k] += timed(fn, reps)
    return {k: statistics.median(v) for k, v in got.items()}


def _net(model):
    seed_everything(0)
    net = get_model(model)
    net.initialize(init.Xavier())
    X = nd.random.uniform(shape=(BATCH, 1, 28, 28))
    engine.settle_shapes(net, X)
    return net, X


def step_ab(model, steps):
    net, X = _net(model)
    y = nd.array(mx.nd.random.randint(0, 10, shape=(BATCH,)).asnumpy())
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    arms = {}
    for name, view in (('stock (widened)', widened(net, engine.WIDEN)),
                       ('fastops', fastops.fused(net))):
        obj = engine.NetAndLoss(view, loss)
        obj.hybridize(static_alloc=True, static_shape=True)
        view.hybridize(static_alloc=True, static_shape=True)
        trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 1e-6})

        def step(obj=obj, trainer=trainer):
            with autograd.record():
                l, s, c = obj(X, y)
            l.backward()
            trainer.step(BATCH)

        arms[name + ' train step'] = step
        arms[name + ' eval batch'] = (lambda v=view: v(X))
    res = interleave(arms, max(1, steps // 5), 5)
    for k, v in res.items():
        print(f'  {model:9s} {k:32s} {v:7.2f} ms')
    a, b = res['stock (widened) train step'], res['fastops train step']
    c, d = res['stock (widened) eval batch'], res['fastops eval batch']
    print(f'  {model:9s} fastops speed-up: train step {a / b:.2f}x, eval batch {c / d:.2f}x')


def parts_ab(model, steps):
    """Each fused layer alone, against MXNet's ops for the same computation."""
    net, X = _net(model)
    for conv, pool in fastops.fuse_pairs(net):
        x = nd.random.uniform(shape=(BATCH,) + tuple(conv.weight.shape[1:2]) + _in_hw(net, conv, X))
        fast = nn.HybridSequential()
        fast.add(fastops.FastConv2D(conv, pool, data_grad=conv.weight.shape[1] > 1))
        stock = nn.HybridSequential()
        stock.add(conv, *([pool] if pool is not None else []))
        for blk in (fast, stock):
            blk.hybridize(static_alloc=True, static_shape=True)
        x.attach_grad()

        def fb(blk):
            def run():
                with autograd.record():
                    out = blk(x)
                out.backward()
            return run
        res = interleave({'stock fwd': lambda: stock(x), 'fast fwd': lambda: fast(x),
                          'stock fwd+bwd': fb(stock), 'fast fwd+bwd': fb(fast)},
                         max(1, steps // 5), 5)
        print(f'  {conv.name} {tuple(x.shape)} -> {conv.weight.shape[0]} ch'
              f'{" + " + pool.name if pool is not None else ""}: ' +
              ', '.join(f'{k} {v:.2f} ms' for k, v in res.items()))


def _in_hw(net, target, X):
    """(H, W) of the input `target` sees in `net` for data X."""
    out = X
    for blk in net._children.values():
        if blk is target:
            return tuple(out.shape[2:])
        out = blk(out)
    raise ValueError('layer not in net')


def overhead(reps):
    x = nd.ones((1,))
    res = interleave({'fastops_copy (custom op)': lambda: nd.fastops_copy(x),
                      'nd.copy (MXNet op)': lambda: x.copy()}, 10, reps)
    for k, v in res.items():
        print(f'  one call of {k}: {v * 1e3:.0f} us')


def epochs_ab(model, epochs, limit):
    """engine.train with the same seed, stock and with fastops; prints both runs' epoch lines."""
    train, test = gdata.load_dataset()
    info = model_info(model)
    kw = {'pad': info.pad, 'value_range': info.value_range}
    lines = {}
    for name in ('stock', 'fastops'):
        seed_everything(0)
        net = get_model(model)
        net.initialize(init.Xavier())
        tr = gdata.ArrayIter(train, BATCH, shuffle=True, seed=0, limit=limit, **kw)
        te = gdata.ArrayIter(test, BATCH, **kw)
        trainer = engine.make_trainer(net, 'sgd', 0.9)
        way = runtime.Runtime(placement.OneDevice(),  # fused instead of widened
                              'fused' if name == 'fastops' else 'widened')
        hist = engine.train(net, tr, te, gluon.loss.SoftmaxCrossEntropyLoss(), trainer, epochs,
                            way, seed=0, on_epoch=None)
        lines[name] = [engine.format_epoch(m) for m in hist]
        for line in lines[name]:
            print(f'  {name:8s} {line}')
    strip = lambda l: l.split(', time')[0]  # noqa: E731  (times differ, the numbers must not)
    same = [strip(a) == strip(b) for a, b in zip(lines['stock'], lines['fastops'])]
    print(f'  same printed numbers in {sum(same)} of {len(same)} epochs')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', default='lenet', help='lenet (d2l zh) or lenet-en (default lenet)')
    p.add_argument('--steps', type=int, default=40, help='timed calls per arm (default 40)')
    p.add_argument('--what', default='step,parts,overhead',
                   help='comma-separated subset of step,parts,overhead')
    p.add_argument('--epochs', type=int, default=0, help='also train N epochs stock vs fast')
    p.add_argument('--limit', type=int, help='with --epochs: the first N training examples')
    args = p.parse_args(argv)
    if not fastops.load():
        sys.exit(f'fastops unavailable: {fastops.reason()}')
    print(f'{machine()}, mxnet {mx.__version__}, load average {os.getloadavg()[0]:.2f}')
    what = args.what.split(',')
    if 'step' in what:
        step_ab(args.model, args.steps)
    if 'parts' in what:
        parts_ab(args.model, args.steps)
    if 'overhead' in what:
        overhead(200)
    if args.epochs:
        epochs_ab(args.model, args.epochs, args.limit)


if __name__ == '__main__':
    main()
