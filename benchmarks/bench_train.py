#!/usr/bin/env python
"""Side-by-side speed of LeNet training on Fashion-MNIST: ours vs what a reader would otherwise use.

The d2l English LeNet (registry 'lenet-en': pad 2, average pooling, sigmoid) at batch 256, lr 0.9,
six arms, each an object whose epoch() trains one epoch and tests:
  ours     train.py's default: the engine's own per-epoch function, engine.train_epoch, over the
           pieces app.run builds (runtime, net view, trainer, ArrayIter); the fused operators
           where the library builds (TrainConfig.fast_ops)
  stock    ours with MXNet's own operators (train.py --no-fast-ops: the widened view)
  d2l      the book's train_ch6 loop (d2l en §7.6) over DataLoader + ToTensor, num_workers=4
  plain    a hybridized Gluon loop over in-memory NDArrays, with the book's per-batch metrics
  torch    PyTorch eager, identical architecture, init and SGD (skipped when torch is absent)
  compile  the torch arm's net under torch.compile (inductor on CPU), compiled for every batch
           shape (full and last short batch, training and evaluation) before the first timed
           epoch
One plain loop interleaves them in one process (A B C D, A B C D, ...) so that load from other
programs hits them alike; the table shows medians over the timed epochs, each arm's ratio to ours,
and its images/s against the machine's limit (machine.peak_flops / train_flop_per_image). Peak RSS
is measured afterwards, one child process per arm, and for `make train`'s command (train.py) with
the fused default and with --no-fast-ops.

    python benchmarks/bench_train.py                    # what `make bench` runs
    python benchmarks/bench_train.py --epochs 2 --limit 10000 --arms ours,torch
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from machine import machine, peak_flops, torch_threads  # noqa: E402  (benchmarks/machine.py)
import gluon_cnn  # noqa: E402,F401  (its compat shims come before mxnet)

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from mxnet import autograd, gluon, init, nd  # noqa: E402

from gluon_cnn import data as gdata, get_model, model_info  # noqa: E402
from gluon_cnn.app.run import load_run_data  # noqa: E402
from gluon_cnn.backend import fastops  # noqa: E402
from gluon_cnn.papers.docs_pages import bench_rows, goal_line, rss_line  # noqa: E402
from gluon_cnn.trace import trace  # noqa: E402
from gluon_cnn.training import compute, engine, runtime as runtimes  # noqa: E402
from gluon_cnn.training.seeding import epoch_seed, seed_everything  # noqa: E402
from gluon_cnn.runs.config import TrainConfig  # noqa: E402

MODEL, BATCH, LR, SEED = 'lenet-en', 256, 0.9, 0
ARMS = ('ours', 'd2l', 'plain', 'torch', 'compile', 'stock')


# ----------------------------------------------------------------------------- arms
class Arm:
    """One training pipeline. epoch() trains one epoch and tests, the way this pipeline does;
    evaluate() times one more pass over the test set."""
    name = ''

    def epoch(self) -> dict:  # {'train_s', 'n', 'epoch_s', 'test_acc'}
        raise NotImplementedError

    def _evaluate(self) -> float:  # test accuracy, computed the way this pipeline does it
        raise NotImplementedError

    def evaluate(self) -> float:
        """Seconds for one pass over the test set."""
        start = time.perf_counter()
        self._evaluate()
        return time.perf_counter() - start


class Ours(Arm):
    """train.py as app.run builds it (runtime, data, net, trainer), one engine.train_epoch per
    call: the function engine.train runs per epoch, with the graph built once and kept."""
    name = 'ours'
    fast_ops = TrainConfig.fast_ops  # train.py's default

    def __init__(self, train, test, limit):
        cfg = self.cfg = TrainConfig(model=MODEL, batch_size=BATCH, lr=LR, seed=SEED, limit=limit,
                                     fast_ops=self.fast_ops)
        rt = runtimes.for_run([mx.cpu()], cfg.kvstore, compute.compute_for(cfg.fast_ops, cfg.widen),
                              cfg.widen, cfg.hybridize)
        if cfg.fast_ops and not fastops.load():
            print(f'note: {fastops.reason()}; the {self.name} arm runs MXNet\'s own operators')
        info = model_info(MODEL)
        net = get_model(MODEL)
        seed_everything(cfg.seed)
        self.train_iter, self.test_iter = load_run_data(cfg, rt.ctx, info)
        net.initialize(init.Xavier())
        trainer = engine.make_trainer(net, cfg.optimizer, cfg.lr, cfg.wd, runtime=rt)
        self.loop = engine.Loop(net, gluon.loss.SoftmaxCrossEntropyLoss(), trainer, rt)
        self.epochs_done = 0

    def epoch(self):
        seed_everything(epoch_seed(self.cfg.seed, self.epochs_done))  # as engine.train does
        m = engine.train_epoch(self.loop, self.train_iter, self.test_iter, self.epochs_done,
                               self.epochs_done + 1)
        self.epochs_done += 1
        n = self.train_iter.num_examples
        return {'train_s': n / m['examples_per_sec'], 'n': n, 'epoch_s': m['seconds'],
                'test_acc': m['test_acc']}

    def _evaluate(self):  # the view the engine trained (widened or fused), as it evaluates
        return engine.evaluate_accuracy(self.loop.graph.net, self.test_iter, self.loop.runtime.ctx)


class Stock(Ours):
    """ours with MXNet's own operators (train.py --no-fast-ops)."""
    name = 'stock'
    fast_ops = False


def _book_accuracy(y_hat, y) -> float:
    """d2l's `accuracy`: a host sync per call, as in the book."""
    return float((y_hat.argmax(axis=1).astype(y.dtype) == y).astype(y.dtype).sum().asscalar())


class D2L(Arm):
    """The book's train_ch6 over its load_data_fashion_mnist pipeline (d2l en §7.6, §4.2).

    Gluon's FashionMNIST refuses Debian's recompressed files, so the same uint8 arrays go into an
    ArrayDataset holding what FashionMNIST holds: (N, 28, 28, 1) uint8 NDArray, int32 labels.
    The book's LeNet is an nn.Sequential and is not hybridized; ours is the same layers.
    """
    name = 'd2l'

    def __init__(self, train, test, limit):
        tf = gluon.data.vision.transforms
        trans = tf.Compose([tf.ToTensor()])
        workers = 0 if sys.platform.startswith('win') else 4  # d2l.get_dataloader_workers()

        def loader(split, shuffle, lim=None):
            ds = gluon.data.ArrayDataset(nd.array(split.images[:lim, :, :, None], dtype='uint8'),
                                         split.labels[:lim].astype(np.int32))
            return gluon.data.DataLoader(ds.transform_first(trans), BATCH, shuffle=shuffle,
                                         num_workers=workers)
        self.train_iter, self.test_iter = loader(train, True, limit), loader(test, False)
        mx.random.seed(SEED)
        self.net = get_model(MODEL)
        self.net.initialize(init.Xavier())
        self.loss = gluon.loss.SoftmaxCrossEntropyLoss()
        self.trainer = gluon.Trainer(self.net.collect_params(), 'sgd', {'learning_rate': LR})

    def epoch(self):
        start = time.perf_counter()
        l_sum = acc = n = 0.0
        for X, y in self.train_iter:
            with autograd.record():
                y_hat = self.net(X)
                l = self.loss(y_hat, y)
            l.backward()
            self.trainer.step(X.shape[0])
            l_sum += float(l.sum().asscalar())  # d2l.Accumulator.add converts to float
            acc += _book_accuracy(y_hat, y)
            n += X.shape[0]
        train_s = time.perf_counter() - start
        test_acc = self._evaluate()
        return {'train_s': train_s, 'n': int(n), 'epoch_s': time.perf_counter() - start,
                'test_acc': test_acc}

    def _evaluate(self):
        correct = n = 0.0  # d2l.evaluate_accuracy_gpu
        for X, y in self.test_iter:
            correct += _book_accuracy(self.net(X), y)
            n += y.size
        return correct / n


class Plain(Arm):
    """What a reader writes after §4.7 (hybridize): in-memory NDArrays, slicing, per-batch metrics.
    """
    name = 'plain'

    def __init__(self, train, test, limit):
        to_nd = lambda s, lim=None: (nd.array(s.images[:lim, None] / np.float32(255)),  # noqa: E731
                                     nd.array(s.labels[:lim]))
        (self.X, self.y), (self.Xt, self.yt) = to_nd(train, limit), to_nd(test)
        mx.random.seed(SEED)
        self.rng = np.random.RandomState(SEED)
        self.net = get_model(MODEL)
        self.net.initialize(init.Xavier())
        self.net.hybridize()
        self.loss = gluon.loss.SoftmaxCrossEntropyLoss()
        self.trainer = gluon.Trainer(self.net.collect_params(), 'sgd', {'learning_rate': LR})

    def epoch(self):
        start = time.perf_counter()
        order = nd.array(self.rng.permutation(len(self.y)), dtype='int32')
        l_sum = acc = 0.0
        for i in range(0, len(self.y), BATCH):
            idx = order[i:i + BATCH]
            X, y = self.X[idx], self.y[idx]
            with autograd.record():
                y_hat = self.net(X)
                l = self.loss(y_hat, y)
            l.backward()
            self.trainer.step(X.shape[0])
            l_sum += float(l.sum().asscalar())
            acc += _book_accuracy(y_hat, y)
        train_s = time.perf_counter() - start
        test_acc = self._evaluate()
        return {'train_s': train_s, 'n': len(self.y), 'epoch_s': time.perf_counter() - start,
                'test_acc': test_acc}

    def _evaluate(self):
        correct = sum(_book_accuracy(self.net(self.Xt[i:i + BATCH]), self.yt[i:i + BATCH])
                      for i in range(0, len(self.yt), BATCH))
        return correct / len(self.yt)


class Torch(Arm):
    """PyTorch eager on the identical LeNet (d2l en §7.6, PyTorch tab), Xavier init, SGD, mean CE.
    """
    name = 'torch'

    def __init__(self, train, test, limit):
        import torch
        from torch import nn
        self.torch = torch
        torch.set_num_threads(torch_threads())
        torch.manual_seed(SEED)
        to_t = lambda s, lim=None: (torch.from_numpy(s.images[:lim, None] / np.float32(255)),  # noqa: E731
                                    torch.from_numpy(s.labels[:lim].astype(np.int64)))
        (self.X, self.y), (self.Xt, self.yt) = to_t(train, limit), to_t(test)
        self.net = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
            nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
            nn.Linear(400, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))
        for m in self.net:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=LR)
        self.loss = nn.CrossEntropyLoss()  # the batch mean, as trainer.step(batch_size)

    def epoch(self):
        torch = self.torch
        start = time.perf_counter()
        order = torch.randperm(len(self.y))
        l_sum = acc = 0.0
        self.net.train()
        for i in range(0, len(self.y), BATCH):
            idx = order[i:i + BATCH]
            X, y = self.X[idx], self.y[idx]
            self.opt.zero_grad()
            y_hat = self.net(X)
            l = self.loss(y_hat, y)
            l.backward()
            self.opt.step()
            with torch.no_grad():
                l_sum += float(l) * len(y)
                acc += float((y_hat.argmax(1) == y).sum())
        train_s = time.perf_counter() - start
        test_acc = self._evaluate()
        return {'train_s': train_s, 'n': len(self.y), 'epoch_s': time.perf_counter() - start,
                'test_acc': test_acc}

    def _evaluate(self):
        self.net.eval()
        with self.torch.no_grad():
            correct = sum(float((self.net(self.Xt[i:i + BATCH]).argmax(1)
                                 == self.yt[i:i + BATCH]).sum())
                          for i in range(0, len(self.yt), BATCH))
        return correct / len(self.yt)


class Compile(Torch):
    """The torch arm under torch.compile (inductor, CPU). Compiling happens in the constructor,
    for each batch shape an epoch meets (full and short, training and evaluation), with the
    weights and optimizer put back afterwards: no timed epoch pays for it."""
    name = 'compile'

    def __init__(self, train, test, limit):
        super().__init__(train, test, limit)
        import copy
        torch = self.torch
        eager = self.net
        self.net = torch.compile(eager)
        saved = copy.deepcopy(eager.state_dict()), copy.deepcopy(self.opt.state_dict())
        for b in {BATCH, len(self.y) % BATCH or BATCH}:
            self.net.train()
            self.opt.zero_grad()
            self.loss(self.net(self.X[:b]), self.y[:b]).backward()
            self.opt.step()
        self.net.eval()
        with torch.no_grad():
            for b in {BATCH, len(self.yt) % BATCH or BATCH}:
                self.net(self.Xt[:b])
        eager.load_state_dict(saved[0])
        self.opt.load_state_dict(saved[1])


ARM_CLASSES = {'ours': Ours, 'd2l': D2L, 'plain': Plain, 'torch': Torch,
               'compile': Compile, 'stock': Stock}


# ----------------------------------------------------------------------------- measuring
def torch_version():
    try:
        import torch
    except ImportError:
        return None
    return torch.__version__


def train_flop_per_image(model: str = MODEL) -> float:
    """FLOP to train on one image: forward + backward = 3 x the forward's multiply-accumulates
    (the backward computes the input and the weight gradients, a forward's worth each), at 2 FLOP
    per MAC. The MACs are the conv and dense layers' (gluon_cnn.trace at the model's input size);
    activations, pooling, loss and SGD are left out: they are a few percent of LeNet's."""
    return 3 * 2 * trace(get_model(model), model_info(model).input_shape).total_macs


def run_interleaved(names, epochs, warmup, limit, log=print) -> dict:
    """{arm: {'train': [ex/s], 'epoch': [s], 'eval': [ex/s], 'cpu': [epoch CPU-s], 'acc': test
    acc}}.

    Round r runs every arm's epoch r and then its test pass, A B C D, A B C D, so outside load
    hits all alike. CPU-s is this process's CPU time (all threads), which other programs' load
    hardly changes.
    """
    train, test = gdata.load_dataset()
    arms = {a: ARM_CLASSES[a](train, test, limit) for a in names}
    res = {a: {'train': [], 'epoch': [], 'eval': [], 'cpu': [], 'acc': None} for a in names}
    n_test = len(test.labels)
    for r in range(warmup + epochs):
        for name, arm in arms.items():
            cpu = time.process_time()
            m = arm.epoch()                  # train one epoch, then test
            cpu = time.process_time() - cpu
            eval_s = arm.evaluate()          # one more test pass, timed alone
            if r >= warmup:
                for key, value in (('train', m['n'] / m['train_s']), ('epoch', m['epoch_s']),
                                   ('eval', n_test / eval_s), ('cpu', cpu)):
                    res[name][key].append(value)
            res[name]['acc'] = m['test_acc']
            log(f"  round {r + 1}{'' if r >= warmup else ' (warm-up)'}: {name:7s} "
                f"{m['n'] / m['train_s']:8.0f} train ex/s  epoch {m['epoch_s']:6.2f} s "
                f"({cpu:6.2f} CPU-s)  eval {n_test / eval_s:8.0f} ex/s  "
                f"test acc {m['test_acc']:.3f}")
    return res


# Runs a script as __main__ and prints its VmHWM (peak RSS of this process since its exec) last.
# ru_maxrss from wait4 would not do: Linux carries the parent's peak across fork + exec, so every
# child would report this benchmark's own 1.4 GB.
_HWM = ('import atexit, runpy, sys\n'
        'atexit.register(lambda: print("VmHWM", [l.split()[1] for l in open("/proc/self/status")'
        ' if l.startswith("VmHWM")][0], file=sys.stderr))\n'
        'sys.argv = sys.argv[1:]\n'
        'runpy.run_path(sys.argv[0], run_name="__main__")\n')


def child_peak_rss(argv) -> float:
    """Peak RSS in MiB of `python argv...` (the main process; worker processes not included)."""
    proc = subprocess.run([sys.executable, '-c', _HWM] + argv, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    lines = [l for l in proc.stderr.splitlines() if l.startswith('VmHWM ')]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f'{" ".join(argv)} failed: {proc.stderr[-500:]}')
    return int(lines[-1].split()[1]) / 1024  # kB


def peak_rss(names, limit) -> dict:
    """{arm: MiB} from one child per arm (1 epoch), plus `make train`'s command (train.py, its
    default model, 1 epoch) with the fused default and with --no-fast-ops."""
    me = [__file__, '--epochs', '1', '--warmup', '0', '--no-rss', '--quiet']
    lim = ['--limit', str(limit)] if limit else []
    out = {a: child_peak_rss(me + ['--arms', a] + lim) for a in names}
    train_py = str(Path(__file__).resolve().parents[1] / 'train.py')
    for key, flags in (('make train', []), ('make train --no-fast-ops', ['--no-fast-ops'])):
        with tempfile.TemporaryDirectory() as tmp:
            out[key] = child_peak_rss([train_py, '--epochs', '1', '--out', tmp] + lim + flags)
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--epochs', type=int, default=3, help='timed epochs per arm (default 3)')
    p.add_argument('--warmup', type=int, default=1, help='untimed first epochs per arm (default 1)')
    p.add_argument('--limit', type=int, help='train on the first N examples only (quick runs)')
    p.add_argument('--arms', default=','.join(ARMS),
                   help=f'comma-separated subset of {",".join(ARMS)}')
    p.add_argument('--no-rss', dest='rss', action='store_false', help='skip the peak-RSS children')
    p.add_argument('--rss-only', action='store_true', help='only the peak-RSS children, no timing')
    p.add_argument('--quiet', action='store_true', help='no per-epoch lines and no table')
    p.add_argument('--json', help='also write the raw per-epoch figures to this file')
    return p.parse_args(argv)


def describe_env() -> str:
    """The MXNet and OpenMP settings in effect, for the report (unset means MXNet's default;
    MXNET_OMP_MAX_THREADS is gluon-cnn's start-up default unless the user set it)."""
    keys = ('MXNET_OMP_MAX_THREADS', 'OMP_NUM_THREADS', 'MXNET_ENGINE_TYPE',
            'MXNET_CPU_WORKER_NTHREADS', 'MXNET_OPTIMIZER_AGGREGATION_SIZE')
    return ', '.join(f'{k}={os.environ.get(k, "(unset)")}' for k in keys)


def main(argv=None):
    args = parse_args(argv)
    names = [a for a in args.arms.split(',') if a]
    bad = [a for a in names if a not in ARMS]
    if bad or args.epochs < 1 or args.warmup < 0:
        sys.exit(f'error: --arms takes {",".join(ARMS)}; --epochs >= 1, --warmup >= 0')
    notes = []
    for arm in ('torch', 'compile'):
        if arm in names and torch_version() is None:
            names.remove(arm)
            notes.append(f'PyTorch is not installed: the {arm} arm was skipped '
                         '(`.venv/bin/pip install torch` to include it; it is never a dependency).')
    log = (lambda *a, **k: None) if args.quiet else print
    load = os.getloadavg()
    log(f'{MODEL}, batch {BATCH}, lr {LR}; '
        f'{args.warmup} warm-up + {args.epochs} timed epochs per arm; {machine()}; '
        f'load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}')
    start = time.time()
    if args.rss_only:
        for name, mib in peak_rss(names, args.limit).items():
            print(f'peak RSS {name}: {mib:,.0f} MiB')
        return
    res = run_interleaved(names, args.epochs, args.warmup, args.limit, log)
    rss = peak_rss(names, args.limit) if args.rss else {}
    flops, how = peak_flops()
    report = {
        'results': res, 'rss': rss, 'load': load, 'end_load': os.getloadavg(),
        'settings': describe_env(), 'machine': machine(),
        'limit': {'flop_per_image': train_flop_per_image(), 'peak_flops': flops, 'how': how},
        'versions': f'mxnet {mx.__version__}, torch {torch_version() or "absent"}, '
                    f'numpy {np.__version__}',
        'date': time.strftime('%Y-%m-%d'), 'wall_s': round(time.time() - start),
        'command': 'python benchmarks/bench_train.py ' + ' '.join(argv or sys.argv[1:])}
    if args.json:  # README.md and docs/performance.md render their tables from it (make papers)
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1) + '\n')
    if args.quiet:
        return
    print()
    print(bench_rows(report))
    print()
    print(goal_line(res))
    print(rss_line(rss))
    print(f"{report['versions']}; {report['machine']}; settings: {describe_env()}")
    end_load = os.getloadavg()
    print(f'load average at start {load[0]:.2f}, at end {end_load[0]:.2f}; '
          f'wall {time.time() - start:.0f} s')
    for n in notes:
        print('note:', n)


if __name__ == '__main__':
    main()
