"""Training and evaluation with the book's `train_ch5` semantics (d2l zh §5.5), made fast.

Softmax cross-entropy, SGD by default, Xavier init, `trainer.step(batch_size)`, one line per epoch.
What is different from the book is speed, not meaning:
- the data lives in memory on the device (`gluon_cnn.data.ArrayIter`), no per-sample transforms;
- net and loss run as one hybridized graph (`_Objective`) with static memory;
- loss and accuracy sums stay on the device until the epoch ends: no host sync per batch.
"""
import json
import math
import random
import time
from pathlib import Path

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, init, nd

from .config import TrainConfig
from .errors import ConfigError, DivergedError
from . import data as gdata
from .models import get_model

__all__ = ['try_gpu', 'get_ctx', 'seed_everything', 'evaluate_accuracy', 'train', 'train_ch5',
           'make_trainer', 'run', 'load_run_data']


# ----------------------------------------------------------------------------- devices, seeds
def try_gpu(i: int = 0):
    """gpu(i) if MXNet sees one, else cpu() (d2l zh §4.6)."""
    return mx.gpu(i) if mx.context.num_gpus() > i else mx.cpu()


def get_ctx(spec: str):
    """'cpu', 'gpu' or 'gpu:N' -> an MXNet context; a missing GPU is a ConfigError, not a fallback."""
    if spec == 'cpu':
        return mx.cpu()
    name, _, num = spec.partition(':')
    if name != 'gpu' or (num and not num.isdigit()):
        raise ConfigError(f"--ctx {spec!r}: use cpu, gpu or gpu:N")
    i = int(num or 0)
    if mx.context.num_gpus() <= i:
        raise ConfigError(f'--ctx {spec}: MXNet sees {mx.context.num_gpus()} GPU(s) (this mxnet build '
                          'is CPU-only unless you installed mxnet-cuXXX); use --ctx cpu')
    return mx.gpu(i)


def seed_everything(seed: int):
    """The one place where a run is seeded: Python, numpy and MXNet's generators."""
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


# ----------------------------------------------------------------------------- evaluation
def _correct(y_hat, y):
    """Number of correct predictions, as a 1-element array left on the device."""
    return (y_hat.argmax(axis=1) == y.astype(y_hat.dtype)).astype('float32').sum()


def evaluate_accuracy(net, data_iter, ctx=None) -> float:
    """Accuracy of `net` over `data_iter` (d2l zh §5.5). One host sync, at the end."""
    ctx = ctx or mx.cpu()
    correct, n = None, 0
    for X, y in data_iter:
        X, y = X.as_in_context(ctx), y.as_in_context(ctx)
        c = _correct(net(X), y)
        correct = c if correct is None else correct + c
        n += y.shape[0]
    return float(correct.asscalar()) / n if n else float('nan')


# ----------------------------------------------------------------------------- training
class _Objective(gluon.HybridBlock):
    """net and loss in one graph, so hybridize() compiles the loss with the forward pass."""

    def __init__(self, net, loss, **kwargs):
        super().__init__(**kwargs)
        self.net, self.loss = net, loss

    def hybrid_forward(self, F, X, y):
        y_hat = self.net(X)
        return self.loss(y_hat, y), y_hat


def make_trainer(net, optimizer: str = 'sgd', lr: float = 0.9, wd: float = 0.0) -> gluon.Trainer:
    """A gluon.Trainer; 'momentum' and 'nag' use momentum 0.9."""
    name, args = {'sgd': ('sgd', {}), 'momentum': ('sgd', {'momentum': 0.9}),
                  'nag': ('nag', {'momentum': 0.9}), 'adam': ('adam', {})}[optimizer]
    return gluon.Trainer(net.collect_params(), name, dict(learning_rate=lr, wd=wd, **args))


def train(net, train_iter, test_iter, loss, trainer, num_epochs, ctx=None, hybridize=True,
          start_epoch=0, history=None, on_epoch=print, lr_at=None):
    """The book's train_ch5 loop; returns the list of per-epoch metric dicts.

    on_epoch(metrics) is called after every epoch (printing, checkpoints); lr_at(epoch) sets the
    learning rate at the start of each epoch when given. `start_epoch` and `history` resume a run.
    """
    ctx = ctx or mx.cpu()
    objective = _Objective(net, loss)
    if hybridize:
        objective.hybridize(static_alloc=True, static_shape=True)
    history = list(history or [])
    for epoch in range(start_epoch, num_epochs):
        if lr_at is not None:
            trainer.set_learning_rate(lr_at(epoch))
        start = time.time()
        l_sum, correct, n = nd.zeros(1, ctx=ctx), nd.zeros(1, ctx=ctx), 0
        for i, (X, y) in enumerate(train_iter):
            X, y = X.as_in_context(ctx), y.as_in_context(ctx)
            with autograd.record():      # record the forward pass for autograd
                l, y_hat = objective(X, y)
            l.backward()                 # d(sum of per-example losses) / d(params)
            trainer.step(X.shape[0])     # SGD step on the batch mean: divides by batch size
            l_sum += l.sum()             # metrics stay on the device: no sync per batch
            correct += _correct(y_hat, y)
            n += X.shape[0]
        loss_avg = l_sum.asscalar() / n  # the epoch's one host sync
        if not math.isfinite(loss_avg):
            raise DivergedError(f'loss became {loss_avg} in epoch {epoch + 1}; '
                                f'try a smaller learning rate (now {trainer.learning_rate})')
        train_seconds = time.time() - start
        test_acc = evaluate_accuracy(net, test_iter, ctx)
        metrics = {'epoch': epoch + 1, 'loss': loss_avg, 'train_acc': correct.asscalar() / n,
                   'test_acc': test_acc, 'seconds': time.time() - start,
                   'examples_per_sec': n / train_seconds}
        history.append(metrics)
        if on_epoch:
            on_epoch(format_epoch(metrics))
    return history


def format_epoch(m: dict) -> str:
    """The book's epoch line (d2l zh §5.5), plus throughput."""
    return (f"epoch {m['epoch']}, loss {m['loss']:.4f}, train acc {m['train_acc']:.3f}, "
            f"test acc {m['test_acc']:.3f}, time {m['seconds']:.1f} sec, "
            f"{m['examples_per_sec']:.0f} examples/sec")


def train_ch5(net, train_iter, test_iter, batch_size, trainer, ctx, num_epochs):
    """The book's signature (d2l zh §5.5): softmax cross-entropy, prints one line per epoch."""
    return train(net, train_iter, test_iter, gluon.loss.SoftmaxCrossEntropyLoss(), trainer,
                 num_epochs, ctx)


# ----------------------------------------------------------------------------- a whole run
def load_run_data(cfg: TrainConfig, ctx, input_spec: dict):
    """(train_iter, test_iter) for a config, shaped as the model's `input_spec` asks."""
    train_split, test_split = gdata.load_dataset(cfg.dataset, cfg.data_dir)
    if cfg.limit is not None and cfg.limit > len(train_split.labels):
        raise ConfigError(f'--limit {cfg.limit} is larger than the {len(train_split.labels):,} '
                          f'training examples of {cfg.dataset}')
    kw = dict(ctx=ctx, pad=input_spec.get('pad', 0), resize=cfg.resize,
              value_range=input_spec.get('value_range', (0.0, 1.0)))
    return (gdata.ArrayIter(train_split, cfg.batch_size, shuffle=True, seed=cfg.seed,
                            limit=cfg.limit, **kw),
            gdata.ArrayIter(test_split, cfg.batch_size, **kw))


def default_out(cfg: TrainConfig) -> Path:
    return Path('runs') / f"{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}"


def run(cfg: TrainConfig, log=print) -> dict:
    """Train `cfg.model` as configured, save parameters and metrics.json; returns the metrics."""
    cfg.validate()
    ctx = get_ctx(cfg.ctx)
    net = get_model(cfg.model, **cfg.model_kwargs)
    out = Path(cfg.out) if cfg.out else default_out(cfg)
    _prepare_out(out)
    seed_everything(cfg.seed)
    train_iter, test_iter = load_run_data(cfg, ctx, getattr(net, 'input_spec', {}))
    net.initialize(init.Xavier() if cfg.init == 'xavier' else None, ctx=ctx)
    trainer = make_trainer(net, cfg.optimizer, cfg.lr, cfg.wd)
    log(f'training {cfg.model} on {train_iter.num_examples:,} {cfg.dataset} examples, {ctx}')
    # A model may name its own loss (LeNet-5's RBF distance) as a plain, non-Block attribute.
    loss = getattr(net, 'train_loss', gluon.loss.SoftmaxCrossEntropyLoss)()
    history = train(net, train_iter, test_iter, loss, trainer,
                    cfg.epochs, ctx, hybridize=cfg.hybridize, on_epoch=log)
    net.save_parameters(str(out / 'model.params'))
    metrics = {'config': {**vars(cfg), 'out': str(out)}, 'epochs': history}
    (out / 'metrics.json').write_text(json.dumps(metrics, indent=1) + '\n')
    log(f'saved {out / "model.params"} and {out / "metrics.json"}')
    return metrics


def _prepare_out(out: Path):
    """Create --out, or fail with a ConfigError saying why it cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / '.write-test'
        probe.write_text('')
        probe.unlink()
    except OSError as e:
        raise ConfigError(f'--out {out}: cannot write there ({e.strerror or e})') from None
