#!/usr/bin/env python
"""The chapter's modern nets at the book's settings: ours (MXNet, oneDNN) against PyTorch eager.

d2l zh §5.11 ResNet-18 and §5.12 DenseNet from the registry, Fashion-MNIST resized to 96x96, the
book's batch (256) and learning rates, on the first --limit training images. Each net has a
PyTorch twin written below, layer for layer; its trainable parameter count must equal the MXNet
net's (asserted), so both do the same arithmetic. Both arms train on the very same batches (the
MXNet iterator's, copied once) with SGD and softmax cross-entropy; they alternate epoch by epoch,
1 warm-up + --epochs timed, and the table shows median training images/s.

    python benchmarks/bench_modern.py [--limit 256] [--epochs 2] [--models resnet18,densenet]
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from machine import machine, torch_threads  # noqa: E402  (benchmarks/machine.py)

import gluon_cnn  # noqa: E402,F401  (its compat shims come before mxnet)

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from mxnet import gluon, init  # noqa: E402

from gluon_cnn import get_model, model_info  # noqa: E402
from gluon_cnn.app.run import load_run_data  # noqa: E402
from gluon_cnn.runs.config import TrainConfig  # noqa: E402
from gluon_cnn.trace import trace  # noqa: E402
from gluon_cnn.training import compute, engine, runtime as runtimes  # noqa: E402
from gluon_cnn.training.seeding import seed_everything  # noqa: E402

MODELS = ('resnet18', 'densenet')
BATCH, SIDE, SEED = 256, 96, 0  # d2l zh §5.11-5.12: batch 256, resize 96


# ----------------------------------------------------------------------------- PyTorch twins
def torch_resnet18(nn):
    """d2l zh §5.11 ResNet-18 in PyTorch: gluon_cnn.models.resnet layer for layer."""
    class Residual(nn.Module):
        def __init__(self, cin, c, use_1x1conv=False, strides=1):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, c, 3, padding=1, stride=strides)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1)
            self.conv3 = nn.Conv2d(cin, c, 1, stride=strides) if use_1x1conv else None
            self.bn1, self.bn2 = nn.BatchNorm2d(c), nn.BatchNorm2d(c)

        def forward(self, X):
            Y = self.bn2(self.conv2(nn.functional.relu(self.bn1(self.conv1(X)))))
            return nn.functional.relu(Y + (self.conv3(X) if self.conv3 is not None else X))

    layers = [nn.Conv2d(1, 64, 7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(),
              nn.MaxPool2d(3, stride=2, padding=1)]
    cin = 64
    for i, c in enumerate((64, 128, 256, 512)):  # two Residuals per stage
        first = i == 0
        layers += [Residual(cin, c, use_1x1conv=not first, strides=1 if first else 2),
                   Residual(c, c)]
        cin = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10))


def torch_densenet(nn):
    """d2l zh §5.12 DenseNet in PyTorch: gluon_cnn.models.densenet layer for layer."""
    import torch
    def conv_block(cin, c):
        return nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, c, 3, padding=1))

    class DenseBlock(nn.Module):
        def __init__(self, num_convs, cin, growth):
            super().__init__()
            self.net = nn.ModuleList(conv_block(cin + i * growth, growth)
                                     for i in range(num_convs))

        def forward(self, X):
            for blk in self.net:
                X = torch.cat((X, blk(X)), dim=1)  # (B, C + g, H, W)
            return X

    layers = [nn.Conv2d(1, 64, 7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(),
              nn.MaxPool2d(3, stride=2, padding=1)]
    c = 64
    for i in range(4):  # four dense blocks of 4 convs, growth 32; transitions halve c and size
        layers.append(DenseBlock(4, c, 32))
        c += 4 * 32
        if i != 3:
            layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1),
                       nn.AvgPool2d(2, stride=2)]
            c //= 2
    return nn.Sequential(*layers, nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(c, 10))


TWINS = {'resnet18': torch_resnet18, 'densenet': torch_densenet}


# ----------------------------------------------------------------------------- arms
class MXNetArm:
    """train.py --model NAME as app.run builds it, one engine.train_epoch per call."""

    def __init__(self, name: str, limit: int):
        info = model_info(name)
        self.cfg = cfg = TrainConfig(model=name, batch_size=BATCH, lr=info.book.lr, resize=SIDE,
                                     limit=limit, limit_test=BATCH, seed=SEED)
        rt = runtimes.for_run([mx.cpu()], cfg.kvstore, compute.compute_for(cfg.fast_ops, cfg.widen),
                              cfg.widen, cfg.hybridize)
        self.net = get_model(name)
        seed_everything(SEED)
        self.train_iter, self.test_iter = load_run_data(cfg, rt.ctx, info)
        self.net.initialize(init.Xavier())
        trainer = engine.make_trainer(self.net, 'sgd', cfg.lr, runtime=rt)
        self.loop = engine.Loop(self.net, gluon.loss.SoftmaxCrossEntropyLoss(), trainer, rt)
        self.done = 0

    def trainable_params(self) -> int:  # traced on a fresh copy: this net's init is deferred
        return trace(get_model(self.cfg.model), model_info(self.cfg.model).input_shape) \
            .trainable_params

    def epoch(self) -> float:
        """Training images/s of one epoch."""
        m = engine.train_epoch(self.loop, self.train_iter, self.test_iter, self.done, self.done + 1)
        self.done += 1
        return m['examples_per_sec']


class TorchArm:
    """The PyTorch twin on the MXNet arm's batches, SGD at the book's rate, mean cross-entropy."""

    def __init__(self, name: str, batches, lr: float):
        import torch
        from torch import nn
        self.torch = torch
        torch.set_num_threads(torch_threads())
        torch.manual_seed(SEED)
        self.net = TWINS[name](nn)
        self.batches = [(torch.from_numpy(X), torch.from_numpy(y.astype(np.int64)))
                        for X, y in batches]
        self.opt = torch.optim.SGD(self.net.parameters(), lr=lr)
        self.loss = nn.CrossEntropyLoss()

    def trainable_params(self) -> int:
        return sum(p.numel() for p in self.net.parameters() if p.requires_grad)

    def epoch(self) -> float:
        start, n = time.perf_counter(), 0
        self.net.train()
        for X, y in self.batches:
            self.opt.zero_grad()
            l = self.loss(self.net(X), y)
            l.backward()
            self.opt.step()
            n += len(y)
        float(l.detach())  # the last step has finished
        return n / (time.perf_counter() - start)

    def top_ops(self, k: int = 3) -> list:
        """[(aten op, share of the step's CPU time)] of one profiled training step, largest
        first: where a PyTorch step spends its time."""
        X, y = self.batches[0]
        with self.torch.profiler.profile() as prof:
            self.opt.zero_grad()
            self.loss(self.net(X), y).backward()
            self.opt.step()
        ops = [e for e in prof.key_averages() if e.key.startswith('aten::')]
        total = sum(e.self_cpu_time_total for e in ops)
        ops.sort(key=lambda e: -e.self_cpu_time_total)
        return [(e.key, e.self_cpu_time_total / total) for e in ops[:k]]


def run(name: str, limit: int, epochs: int, log=print) -> dict:
    """{'mxnet': [images/s], 'torch': [...], 'params': n} for one net, arms alternating."""
    ours = MXNetArm(name, limit)
    batches = [(X.asnumpy(), y.asnumpy()) for X, y in ours.train_iter]
    twin = TorchArm(name, batches, ours.cfg.lr)
    assert ours.trainable_params() == twin.trainable_params(), \
        f'{name}: the PyTorch twin has {twin.trainable_params():,} trainable parameters, ' \
        f'the MXNet net {ours.trainable_params():,}'
    out = {'mxnet': [], 'torch': [], 'params': ours.trainable_params(),
           'images': sum(len(y) for _, y in batches)}
    for r in range(1 + epochs):  # the first round builds graphs and caches: untimed
        for key, arm in (('mxnet', ours), ('torch', twin)):
            speed = arm.epoch()
            if r:
                out[key].append(speed)
            log(f"  {name} round {r + 1}{'' if r else ' (warm-up)'}: {key:6s} {speed:7.1f} "
                'train images/s')
    out['torch_top'] = twin.top_ops()
    return out


def table(res: dict) -> str:
    """Medians per net, who wins, and where PyTorch's step spends its CPU time (its profiler)."""
    rows = ['| net (d2l zh) | trainable params | MXNet (ours) images/s | PyTorch eager images/s '
            '| ours vs PyTorch | PyTorch step\'s top ops (self CPU) |', '|---|--:|--:|--:|--:|---|']
    for name, r in res.items():
        mx_s, t_s = statistics.median(r['mxnet']), statistics.median(r['torch'])
        top = ', '.join(f'`{op}` {share:.0%}' for op, share in r['torch_top'])
        rows.append(f"| `{name}` | {r['params']:,} | {mx_s:,.1f} | {t_s:,.1f} | "
                    f"{mx_s / t_s:.2f}x ({'MXNet' if mx_s > t_s else 'PyTorch'} wins) | {top} |")
    return '\n'.join(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--limit', type=int, default=256, help='training images per epoch (default 256)')
    p.add_argument('--epochs', type=int, default=2, help='timed epochs per arm (default 2)')
    p.add_argument('--models', default=','.join(MODELS), help='comma-separated registry names')
    p.add_argument('--json', help='also write the table and the raw figures to this file')
    args = p.parse_args(argv)
    try:
        import torch
    except ImportError:
        print('note: PyTorch is not installed: no modern-nets table (`make bench` installs it)')
        return
    load = os.getloadavg()
    print(f'modern nets, {SIDE}x{SIDE}, batch {BATCH}, {args.limit} images, 1 warm-up + '
          f'{args.epochs} timed epochs; {machine()}; load average {load[0]:.2f}')
    res = {name: run(name, args.limit, args.epochs) for name in args.models.split(',') if name}
    title = (f'd2l zh §5.11-5.12 nets, {SIDE}x{SIDE} Fashion-MNIST, batch {BATCH}, the first '
             f'{args.limit} training images, median of {args.epochs} epochs after 1 warm-up; '
             f'mxnet {mx.__version__}, torch {torch.__version__}')
    print(table(res), '', title, sep='\n')
    if args.json:  # docs/performance.md renders its table from this file (make papers)
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            'results': res, 'table': table(res), 'title': title, 'machine': machine(),
            'load': load, 'date': time.strftime('%Y-%m-%d'),
            'command': 'python benchmarks/bench_modern.py ' + ' '.join(argv or sys.argv[1:])},
            indent=1) + '\n')


if __name__ == '__main__':
    main()
