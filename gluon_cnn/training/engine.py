"""Training and evaluation with the book's `train_ch5` semantics (d2l zh §5.5), made fast.

Softmax cross-entropy, SGD by default, Xavier init, `trainer.step(batch_size)`, one line per epoch.
What is different from the book is speed, not meaning:
- the data lives in memory on the device (`gluon_cnn.data.ArrayIter`), no per-sample transforms;
- net, loss and the batch's metrics run as one hybridized graph (`compute.NetAndLoss`) with
  static memory, over the run's view of the net (`compute.view`: widened or fused convolutions);
- loss and accuracy sums stay on the device until the epoch ends: no host sync per batch.

Where a step runs (one device, several, ps-lite or Horovod workers) is the runtime's placement
(`gluon_cnn.training.runtime`); this loop reads the same for all of them. The engine knows nets,
iterators, losses and trainers, nothing of configs, run folders or plots (`gluon_cnn.app.run`).
"""
import math
import time

from mxnet import autograd

from ..backend import npmode
from .compute import NetAndLoss, count_correct, settle_shapes
from .loss_watch import CHECK_EVERY, LossWatch
from .progress import no_bars
from .runtime import as_runtime
from .seeding import epoch_seed, seed_everything
from .widen import WIDEN

__all__ = ['count_correct', 'evaluate_accuracy', 'train', 'train_epoch', 'Loop', 'make_trainer',
           'settle_shapes', 'NetAndLoss', 'format_epoch', 'CHECK_EVERY', 'WIDEN', 'OPTIMIZERS']

# --optimizer's names: (MXNet optimizer, its arguments besides the learning rate and wd)
OPTIMIZERS = {'sgd': ('sgd', {}), 'momentum': ('sgd', {'momentum': 0.9}),
              'nag': ('nag', {'momentum': 0.9}), 'adam': ('adam', {})}


# ----------------------------------------------------------------------------- evaluation
def evaluate_accuracy(net, data_iter, ctx=None, on_batch=None) -> float:
    """Accuracy of `net` over `data_iter`, an iterable of (X, y) batches. One host sync, at the
    end. The book's argument order, (data_iter, net, ctx), is `gluon_cnn.book`'s.
    on_batch(batch_size, correct) sees each batch's device-side count (a progress bar)."""
    ctx = ctx or as_runtime().ctx
    correct, n = None, 0
    for X, y in data_iter:
        X, y = X.as_in_context(ctx), y.as_in_context(ctx)
        c = count_correct(net(X), y)
        correct = c if correct is None else correct + c
        n += y.shape[0]
        if on_batch is not None:
            on_batch(y.shape[0], c)
    return npmode.scalar(correct) / n if n else float('nan')


# ----------------------------------------------------------------------------- training
def make_trainer(net, optimizer: str = 'sgd', lr: float = 0.9, wd: float = 0.0,
                 lr_scheduler=None, runtime=None):
    """A gluon.Trainer for where the run trains (one device unless given; several contexts or
    workers sum their gradients). 'momentum' and 'nag' use momentum 0.9. lr_scheduler: per
    update."""
    name, args = OPTIMIZERS[optimizer]
    args = dict(learning_rate=lr, wd=wd, **args)
    if lr_scheduler is not None:
        args['lr_scheduler'] = lr_scheduler
    return as_runtime(runtime).make_trainer(net.collect_params(), name, args)


class Loop:
    """What one epoch hands the next: the pieces `train_epoch` trains with, and the graph (net +
    loss + metrics) it builds on the first batch and reuses after, as in one engine.train call.
    `watch` checks the loss for divergence (LossWatch)."""

    def __init__(self, net, loss, trainer, runtime=None, watch: LossWatch = None):
        self.net, self.loss, self.trainer = net, loss, trainer
        self.runtime = as_runtime(runtime)
        self.watch = watch or LossWatch(trainer, CHECK_EVERY)
        self.graph = None                # built on the first batch (runtime.prepare)


def train_epoch(loop: Loop, train_iter, test_iter, epoch: int, num_epochs: int, *, augment=None,
                progress=no_bars) -> dict:
    """One epoch of the book's loop (d2l en §3.6 `train_epoch_ch3`, d2l zh §5.5 `train_ch5`):
    train over `train_iter`, then test on `test_iter`; returns the epoch's metrics dict.
    epoch counts from 0; `train` calls it once per epoch, and so does benchmarks/bench_train.py.
    """
    runtime, watch = loop.runtime, loop.watch
    start = time.time()
    bar = progress(epoch + 1, num_epochs, len(train_iter))
    placement, ctx = runtime.placement, runtime.ctx
    l_sum, correct, n = npmode.zeros(1, ctx), npmode.zeros(1, ctx), 0
    watch.start(epoch + 1, len(train_iter))
    for i, (X, y) in enumerate(train_iter):
        X, y = X.as_in_context(ctx), y.as_in_context(ctx)  # the batch on the first device
        if augment is not None:
            X = augment(X)               # random crops/flips, on the device
        if loop.graph is None:           # weights drawn where the book draws them, then shared
            loop.graph = runtime.prepare(loop.net, loop.loss, loop.trainer, X)
        parts = placement.split(X, y)    # [(X_k, y_k, real)]: one part per device
        weight = placement.loss_weight(X.shape[0])
        with autograd.record():          # record the forward pass for autograd
            outs = [loop.graph(Xk, yk) for Xk, yk, _ in parts]  # (losses, their sum, correct)
            # a stand-in part's loss counts 0 (training.parallel says why it runs at all)
            ls = [(l if weight == 1.0 else l * weight) if real else l * 0.0
                  for (l, _, _), (_, _, real) in zip(outs, parts)]
        autograd.backward(ls)            # d(sum of per-example losses) / d(params), per device
        loop.trainer.step(placement.step_size(X.shape[0]))  # SGD on the batch mean
        batch_loss, batch_correct, b = _batch_sums(outs, parts, ctx)
        l_sum += watch.add(batch_loss, b)  # metrics stay on the device: no sync per batch
        correct += batch_correct
        n += b
        watch.check(i, l_sum, n)         # every check_every batches: reads an older, finished sum
        bar.update(b, l_sum, correct)    # reads the sums back at most every 0.25 s
    bar.close()
    l_sum, correct, n = placement.totals(l_sum, correct, n)  # over the workers
    loss_avg = npmode.scalar(l_sum) / n  # the epoch's one host sync
    if not math.isfinite(loss_avg):
        watch.diverged()
    watch.check_growth(loss_avg)
    train_seconds = time.time() - start
    test_acc = math.nan                  # only the leader evaluates
    if runtime.evaluates:                # the view (widened or fused) is the net: test it
        bar.testing(len(test_iter) if hasattr(test_iter, '__len__') else None)
        test_acc = evaluate_accuracy(loop.graph.net if loop.graph else loop.net, test_iter, ctx,
                                     bar.tested)
    bar.done()
    return {'epoch': epoch + 1, 'loss': loss_avg, 'train_acc': npmode.scalar(correct) / n,
            'test_acc': test_acc, 'seconds': time.time() - start,
            'examples_per_sec': n / train_seconds}


def train(net, train_iter, test_iter, loss, trainer, num_epochs, runtime=None, *, history=(),
          augment=None, seed=None, on_epoch=print, on_checkpoint=None, progress=no_bars,
          check_every=CHECK_EVERY):
    """The book's train_ch5 loop; returns the list of per-epoch metric dicts.

    runtime: where and how each step runs (`gluon_cnn.training.runtime`): a Runtime, a context,
    or a list of contexts; one CPU by default. history: the epochs a resumed run has done (it
    goes on after them). augment(X) transforms each training batch on the device
    (gluon_cnn.data.augment). seed: re-seed every generator at each epoch start from (seed,
    epoch), so a resumed run draws the same random numbers (MXNet cannot save its RNG state).
    on_checkpoint(history) runs after each epoch, before on_epoch(line) prints the book's epoch
    line. progress(epoch, num_epochs, num_batches) makes a per-epoch bar
    (gluon_cnn.training.progress). A NaN/inf loss, or a running epoch mean EXPLODE times the
    run's starting loss, raises DivergedError naming epoch and batch (checked every
    `check_every` batches without stalling the pipeline, LossWatch).
    """
    history, progress = list(history), progress or no_bars
    # a resumed run measures explosions against its first epoch's mean, not its current loss
    watch = LossWatch(trainer, check_every, history[0]['loss'] if history else None)
    loop = Loop(net, loss, trainer, runtime, watch)
    for epoch in range(len(history), num_epochs):
        if seed is not None:             # the same draws for this epoch, resumed or not
            seed_everything(epoch_seed(seed, epoch))
        metrics = train_epoch(loop, train_iter, test_iter, epoch, num_epochs, augment=augment,
                              progress=progress)  # train, then test
        history.append(metrics)
        if on_checkpoint:                # before the epoch line: what was printed is saved
            on_checkpoint(history)
        if on_epoch:
            on_epoch(format_epoch(metrics))
    return history


def _batch_sums(outs, parts, ctx) -> tuple:
    """(loss sum, correct, examples) of a batch's real parts, on the first device."""
    real = [(s, c, Xk.shape[0]) for (_, s, c), (Xk, _, r) in zip(outs, parts) if r]
    if len(real) == 1:
        return real[0]
    return (sum((s.as_in_context(ctx) for s, _, _ in real), npmode.zeros(1, ctx)),
            sum((c.as_in_context(ctx) for _, c, _ in real), npmode.zeros(1, ctx)),
            sum(b for _, _, b in real))


def format_epoch(m: dict) -> str:
    """The book's epoch line (d2l zh §5.5), plus throughput."""
    return (f"epoch {m['epoch']}, loss {m['loss']:.4f}, train acc {m['train_acc']:.3f}, "
            f"test acc {m['test_acc']:.3f}, time {m['seconds']:.1f} sec, "
            f"{m['examples_per_sec']:.0f} examples/sec")
