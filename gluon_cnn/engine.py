"""Training and evaluation with the book's `train_ch5` semantics (d2l zh §5.5), made fast.

Softmax cross-entropy, SGD by default, Xavier init, `trainer.step(batch_size)`, one line per epoch.
What is different from the book is speed, not meaning:
- the data lives in memory on the device (`gluon_cnn.data.ArrayIter`), no per-sample transforms;
- net, loss and the batch's metrics run as one hybridized graph (`_Objective`) with static memory;
- loss and accuracy sums stay on the device until the epoch ends: no host sync per batch;
- LeNet's 6-channel convolutions run as exact 8-channel ones while `train` runs (`gluon_cnn.widen`),
  for which oneDNN has its fast direct kernels.
"""
import contextlib
import json
import math
import random
import signal
import threading
import time
from pathlib import Path

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, init, nd

from .config import TrainConfig
from .errors import ConfigError, DivergedError, TraceError
from . import checkpoint
from . import data as gdata
from . import recipe
from .augment import make_augment
from .models import default_input_shape, get_model
from .widen import widened

__all__ = ['try_gpu', 'get_ctx', 'seed_everything', 'evaluate_accuracy', 'train', 'train_ch5',
           'make_trainer', 'run', 'load_run_data']

CHECK_EVERY = 50  # batches between NaN checks: late enough never to stall, early enough to stop fast


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
    # float32 on both sides: argmax is float32 (classic) or int64 (numpy mode), symbols have no dtype
    return (y_hat.argmax(axis=1).astype('float32') == y.astype('float32')).astype('float32').sum()


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
    """net, loss and metrics in one graph, so hybridize() compiles them with the forward pass.

    Returns the per-example losses (for backward), their sum and the number of correct
    predictions: the metrics cost no Python-side operator calls per batch (about 8% of a
    LeNet step when they were separate calls).
    """

    def __init__(self, net, loss, **kwargs):
        super().__init__(**kwargs)
        self.net, self.loss = net, loss

    def hybrid_forward(self, F, X, y):
        y_hat = self.net(X)
        l = self.loss(y_hat, y)
        return l, l.sum(), _correct(y_hat, y)


def make_trainer(net, optimizer: str = 'sgd', lr: float = 0.9, wd: float = 0.0,
                 lr_scheduler=None) -> gluon.Trainer:
    """A gluon.Trainer; 'momentum' and 'nag' use momentum 0.9. lr_scheduler: per-update lr."""
    name, args = {'sgd': ('sgd', {}), 'momentum': ('sgd', {'momentum': 0.9}),
                  'nag': ('nag', {'momentum': 0.9}), 'adam': ('adam', {})}[optimizer]
    if lr_scheduler is not None:
        args['lr_scheduler'] = lr_scheduler
    return gluon.Trainer(net.collect_params(), name, dict(learning_rate=lr, wd=wd, **args))


def train(net, train_iter, test_iter, loss, trainer, num_epochs, ctx=None, hybridize=True,
          start_epoch=0, history=None, on_epoch=print, augment=None, progress=None,
          seed=None, on_checkpoint=None, check_every=CHECK_EVERY):
    """The book's train_ch5 loop; returns the list of per-epoch metric dicts.

    on_epoch(line) is called with the book's epoch line after every epoch; learning-rate schedules
    live in the trainer (make_trainer's lr_scheduler). `start_epoch` and `history` resume a run.
    augment(X) transforms each training batch on the device (see gluon_cnn.augment).
    progress(epoch, num_epochs, num_batches) makes a per-epoch bar (gluon_cnn.progress.epoch_bars).
    seed: re-seed every generator at each epoch start from (seed, epoch), so a resumed run draws
    the same random numbers (MXNet cannot save its RNG state). on_checkpoint(history) runs after
    each epoch, before on_epoch. A NaN/inf loss raises DivergedError naming epoch and batch
    (checked every `check_every` batches without stalling the pipeline, see _LossWatch).
    """
    ctx = ctx or mx.cpu()
    objective = _Objective(net, loss)
    if hybridize:
        objective.hybridize(static_alloc=True, static_shape=True)
    history = list(history or [])
    with contextlib.ExitStack() as widening:
        def prepare(X):
            """Before the first step: finish deferred initialization on this batch, which draws
            the initial weights exactly where the first forward pass would (so a seed gives the
            same net as ever), then run widened for the rest of the run (exact; gluon_cnn.widen).
            One widening for the whole run: rebuilding graphs every epoch grows the memory pool."""
            _settle_shapes(net, X)
            widening.enter_context(widened(objective))

        for epoch in range(start_epoch, num_epochs):
            if seed is not None:
                seed_everything(epoch_seed(seed, epoch))
            start = time.time()
            loss_avg, train_acc, n = _train_epoch(objective, train_iter, trainer, ctx, epoch + 1,
                                                  num_epochs, augment, progress, check_every,
                                                  prepare if epoch == start_epoch else None)
            train_seconds = time.time() - start
            test_acc = evaluate_accuracy(net, test_iter, ctx)
            metrics = {'epoch': epoch + 1, 'loss': loss_avg, 'train_acc': train_acc,
                       'test_acc': test_acc, 'seconds': time.time() - start,
                       'examples_per_sec': n / train_seconds}
            history.append(metrics)
            if on_checkpoint:                # before the epoch line: what was printed is saved
                on_checkpoint(history)
            if on_epoch:
                on_epoch(format_epoch(metrics))
    return history


def _train_epoch(objective, train_iter, trainer, ctx, epoch, num_epochs, augment, progress,
                 check_every, prepare=None):
    """One pass over train_iter; returns (mean loss, train accuracy, examples).
    prepare(X), if given, runs on the first (augmented) batch before its step."""
    l_sum, correct, n = nd.zeros(1, ctx=ctx), nd.zeros(1, ctx=ctx), 0
    watch = _LossWatch(epoch, len(train_iter), trainer, check_every)
    bar = progress(epoch, num_epochs, len(train_iter)) if progress else None
    for i, (X, y) in enumerate(train_iter):
        X, y = X.as_in_context(ctx), y.as_in_context(ctx)
        if augment is not None:
            X = augment(X)           # random crops/flips, on the device (gluon_cnn.augment)
        if prepare is not None and i == 0:
            prepare(X)
        with autograd.record():      # record the forward pass for autograd
            l, batch_loss, batch_correct = objective(X, y)
        l.backward()                 # d(sum of per-example losses) / d(params)
        trainer.step(X.shape[0])     # SGD step on the batch mean: divides by batch size
        l_sum += watch.add(batch_loss)  # metrics stay on the device: no sync per batch
        correct += batch_correct
        n += X.shape[0]
        watch.check(i, l_sum)        # every check_every batches: reads an older, finished sum
        if bar is not None:
            bar.update(X.shape[0], l_sum, correct)  # reads the sums back at most every 0.25 s
    if bar is not None:
        bar.close()
    loss_avg = l_sum.asscalar() / n  # the epoch's one host sync
    if not math.isfinite(loss_avg):
        watch.diverged()
    return loss_avg, correct.asscalar() / n, n


def _settle_shapes(net, X):
    """Finish Gluon's deferred initialization with one example of batch X, so that `widened`
    (whose zero padding hides shapes from Gluon's inference) can build its graph."""
    if any(p._data is None for p in net.collect_params().values()):
        with autograd.pause():
            net(X[:1])


class _LossWatch:
    """Finds the first batch whose loss is NaN/inf without a host sync per batch.

    Each batch's loss sum stays on the device in a list. Every `every` batches we read the running
    sum *as it was `every` batches ago*: that value was computed long since, so reading it does not
    drain the pipeline, and it bounds how far Python runs ahead of the device (so Ctrl-C and a
    diverged run stop within ~2 * `every` batches). NaN and inf propagate into the running sum, so
    a finite sum means every batch so far was finite; only then do we look at single batches.
    """

    def __init__(self, epoch: int, num_batches: int, trainer, every: int):
        self.epoch, self.num_batches, self.trainer, self.every = epoch, num_batches, trainer, every
        self.losses, self.pending = [], None

    def add(self, batch_loss):
        self.losses.append(batch_loss)
        return batch_loss

    def check(self, i: int, l_sum):
        if (i + 1) % self.every:
            return
        if self.pending is not None and not math.isfinite(self.pending.asscalar()):
            self.diverged()
        self.pending = l_sum.copy()  # read back at the next check, by when it is long computed

    def diverged(self):
        """Raise DivergedError naming the first batch (1-based) whose loss was not finite."""
        sums = np.array([float(b.asnumpy().sum()) for b in self.losses], dtype=np.float32)
        bad = np.flatnonzero(~np.isfinite(sums))
        if not len(bad):             # every batch finite but their float32 sum overflowed
            bad = np.flatnonzero(~np.isfinite(np.cumsum(sums, dtype=np.float32)))
        i = int(bad[0]) if len(bad) else len(sums) - 1
        lr = self.trainer.learning_rate
        raise DivergedError(f'loss became {sums[i]} in epoch {self.epoch}, batch {i + 1} of '
                            f'{self.num_batches}; try a smaller learning rate (now {lr:g}, e.g. '
                            f'--lr {lr / 10:g})')


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch `epoch` (0-based) of a run seeded `seed`: distinct, and < 2**31."""
    return (seed * 1_000_003 + epoch + 1) % (2 ** 31 - 1)


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
    kw = dict(ctx=ctx, resize=cfg.resize, **gdata.input_options(input_spec))
    return (gdata.ArrayIter(train_split, cfg.batch_size, shuffle=True, seed=cfg.seed,
                            limit=cfg.limit, **kw),
            gdata.ArrayIter(test_split, cfg.batch_size, **kw))


def lr_scheduler(cfg: TrainConfig, steps_per_epoch: int):
    """The per-update schedule of `cfg.lr_schedule` ('cosine': warm-up then cosine), or None."""
    if cfg.lr_schedule == 'constant':
        return None
    if cfg.lr_schedule == 'lecun1998':  # the paper's steps, scaled to --lr (papers/lecun1998-lenet5.md)
        return recipe.EpochSteps(cfg.lr, steps_per_epoch)
    return recipe.WarmupCosine(cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                               warmup_steps=round(cfg.warmup * steps_per_epoch))


def default_out(cfg: TrainConfig) -> Path:
    return Path('runs') / f"{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}"


def run(cfg: TrainConfig, log=print, resume: bool = False, progress=None, on_trace=None) -> dict:
    """Train `cfg.model` as configured, save parameters and metrics.json; returns the metrics.

    A checkpoint is written into `cfg.out` after every epoch; resume=True continues the run there
    from its latest checkpoint (build cfg with `resume_config`). SIGTERM stops like Ctrl-C.
    progress: per-epoch bars for `train` (train.py passes gluon_cnn.progress.epoch_bars() on a TTY).
    on_trace(table): receives the layer table at the input size the data has (train.py --trace).
    """
    cfg.validate()
    ctx = get_ctx(cfg.ctx)
    net = get_model(cfg.model, **cfg.model_kwargs)
    out = Path(cfg.out) if cfg.out else default_out(cfg)
    ckpt = checkpoint.load_checkpoint(out) if resume else None  # refuse a bad one before any work
    seed_everything(cfg.seed)
    spec = getattr(net, 'input_spec', {})
    train_iter, test_iter = load_run_data(cfg, ctx, spec)
    layers = _check_input(net, cfg, gdata.input_shape(spec, cfg.resize))
    if on_trace:
        on_trace(str(layers))
    _prepare_out(out)  # after the checks above, so a refused run leaves no empty folder
    # A parameter's own initializer (LeNet-5's +-2.4/fan_in) always wins over this default; 'model'
    # falls back to Gluon's own default, Uniform(0.07), instead of the book's Xavier.
    net.initialize(init.Xavier() if cfg.init == 'xavier' else init.Uniform(), ctx=ctx)
    trainer = make_trainer(net, cfg.optimizer, cfg.lr, cfg.wd, lr_scheduler(cfg, len(train_iter)))
    history = []
    if ckpt is not None:  # parameters, optimizer states and the shuffle RNG as after that epoch
        checkpoint.restore(ckpt, net, trainer, train_iter.rng, ctx)
        history = ckpt.history
        log(f'resuming {out} after epoch {ckpt.epoch} of {cfg.epochs}')
    log(f'training {cfg.model} on {train_iter.num_examples:,} {cfg.dataset} examples, {ctx}')
    # A model may name its own loss (LeNet-5's RBF distance) as a plain, non-Block attribute.
    if cfg.label_smoothing:
        loss = recipe.LabelSmoothingLoss(cfg.label_smoothing)
    else:
        loss = getattr(net, 'train_loss', gluon.loss.SoftmaxCrossEntropyLoss)()
    augment = make_augment(cfg.augment, fill=gdata.input_options(spec)['value_range'][0])
    config = {**vars(cfg), 'out': str(out)}
    save = lambda h: checkpoint.save_checkpoint(out, net, trainer, h, train_iter.rng, config)
    with _sigterm_as_interrupt(), _explain_stop(out, cfg.lr):
        history = train(net, train_iter, test_iter, loss, trainer, cfg.epochs, ctx,
                        hybridize=cfg.hybridize, on_epoch=log, augment=augment,
                        start_epoch=len(history), history=history, seed=cfg.seed, on_checkpoint=save,
                        progress=progress)
    net.save_parameters(str(out / 'model.params'))
    metrics = {'config': config, 'epochs': history}
    checkpoint.write_text_atomic(out / 'metrics.json', json.dumps(metrics, indent=1) + '\n')
    log(f'saved {out / "model.params"} and {out / "metrics.json"}')
    from .viz.figures import plot_curves, save as save_png  # matplotlib only when it is needed
    curves = save_png(plot_curves(history, title=f'{cfg.model}, lr {cfg.lr}, batch {cfg.batch_size}'),
                      out / 'curves.png')  # loss and accuracy per epoch, as the book's Animator
    log(f'saved {curves}')
    return metrics


def _check_input(net, cfg: TrainConfig, shape: tuple):
    """The net's trace at `shape`; an input it cannot take (AlexNet on 28x28) is refused, with the fix."""
    from .trace import trace  # symbolic shapes only: the net's parameters stay untouched
    try:
        return trace(net, shape)
    except TraceError as e:
        side = default_input_shape(cfg.model)[-1]
        raise ConfigError(f'{cfg.model} cannot take {shape[-2]}x{shape[-1]} inputs '
                          f"({str(e).splitlines()[0].split(': ')[0]}); pass --resize {side}, its input size "
                          'in the book') from None


def resume_config(run_dir, overrides: dict) -> TrainConfig:
    """The saved config of the run in run_dir, with `overrides` of the fields a resumed run may change."""
    ckpt = checkpoint.load_checkpoint(run_dir)
    saved = {k: v for k, v in ckpt.meta['config'].items() if k in TrainConfig.__dataclass_fields__}
    saved['out'] = str(run_dir)
    fixed = sorted(k for k, v in overrides.items() if k not in RESUMABLE_CHANGES and saved.get(k) != v)
    if fixed:
        flags = ', '.join('--' + k.replace('_', '-') for k in fixed)
        raise ConfigError(f'--resume continues {run_dir} as it was configured; {flags} cannot change '
                          f"(only {', '.join('--' + k.replace('_', '-') for k in RESUMABLE_CHANGES)} can)")
    return TrainConfig(**{**saved, **overrides})


RESUMABLE_CHANGES = ('epochs', 'lr', 'ctx', 'data_dir', 'hybridize')  # the rest must match the checkpoint


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While training, SIGTERM (kill, a job scheduler) raises KeyboardInterrupt like Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt('SIGTERM')
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _explain_stop(out: Path, lr: float):
    """Add to a divergence or an interrupt where the last good checkpoint is and how to go on."""
    try:
        yield
    except DivergedError as e:
        raise DivergedError(f'{e}; {_last_checkpoint(out, f" --lr {lr / 10:g}")}') from None
    except KeyboardInterrupt as e:
        raise KeyboardInterrupt(f'{str(e) or "Ctrl-C"}; {_last_checkpoint(out)}') from None


def _last_checkpoint(out: Path, flags: str = '') -> str:
    epoch = checkpoint.latest_epoch(out)
    if epoch is None:
        return 'no checkpoint yet (one is written at the end of each epoch)'
    return (f'the last checkpoint is epoch {epoch} in {out / checkpoint.SUBDIR}; continue with '
            f'python train.py --resume {out}{flags}')


def _prepare_out(out: Path):
    """Create --out, or fail with a ConfigError saying why it cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / '.write-test'
        probe.write_text('')
        probe.unlink()
    except OSError as e:
        raise ConfigError(f'--out {out}: cannot write there ({e.strerror or e})') from None
