"""Training and evaluation with the book's `train_ch5` semantics (d2l zh §5.5), made fast.

Softmax cross-entropy, SGD by default, Xavier init, `trainer.step(batch_size)`, one line per epoch.
What is different from the book is speed, not meaning:
- the data lives in memory on the device (`gluon_cnn.data.ArrayIter`), no per-sample transforms;
- net, loss and the batch's metrics run as one hybridized graph (`ways.Objective`) with static
  memory;
- loss and accuracy sums stay on the device until the epoch ends: no host sync per batch;
- LeNet's 6-channel convolutions run as exact 8-channel ones (`gluon_cnn.training.widen`), for
  which oneDNN has its fast direct kernels.

How a step runs (one device, several, ps-lite or Horovod workers) is the `way`'s
(`gluon_cnn.training.ways`); this loop reads the same for all of them. The engine knows nets,
iterators, losses and trainers, nothing of configs, run folders or plots (`gluon_cnn.app.run`).
"""
import math
import time

from ..backend import npmode
from .loss_watch import CHECK_EVERY, LossWatch
from .seeding import epoch_seed, seed_everything
from .ways import WIDEN, Objective, as_way, count_correct, settle_shapes

__all__ = ['count_correct', 'evaluate_accuracy', 'train', 'make_trainer', 'settle_shapes',
           'Objective', 'format_epoch', 'CHECK_EVERY', 'WIDEN']

OPTIMIZERS = {'sgd': ('sgd', {}), 'momentum': ('sgd', {'momentum': 0.9}),
              'nag': ('nag', {'momentum': 0.9}), 'adam': ('adam', {})}


# ----------------------------------------------------------------------------- evaluation
def evaluate_accuracy(net, data_iter, ctx=None, on_batch=None) -> float:
    """Accuracy of `net` over `data_iter`, an iterable of (X, y) batches. One host sync, at the
    end. The book's argument order, (data_iter, net, ctx), is `gluon_cnn.book`'s.
    on_batch(batch_size, correct) sees each batch's device-side count (a progress bar)."""
    ctx = ctx or as_way().ctx
    correct, n = None, 0
    for X, y in data_iter:
        X, y = X.as_in_context(ctx), y.as_in_context(ctx)
        c = count_correct(net(X), y)
        correct = c if correct is None else correct + c
        n += y.shape[0]
        if on_batch is not None:
            on_batch(y.shape[0], c)
    return _scalar(correct) / n if n else float('nan')


# ----------------------------------------------------------------------------- training
def make_trainer(net, optimizer: str = 'sgd', lr: float = 0.9, wd: float = 0.0,
                 lr_scheduler=None, way=None):
    """A gluon.Trainer for the way the run trains (one device unless given; several contexts or
    workers sum their gradients). 'momentum' and 'nag' use momentum 0.9. lr_scheduler: per
    update."""
    name, args = OPTIMIZERS[optimizer]
    args = dict(learning_rate=lr, wd=wd, **args)
    if lr_scheduler is not None:
        args['lr_scheduler'] = lr_scheduler
    return as_way(way).make_trainer(net.collect_params(), name, args)


def train(net, train_iter, test_iter, loss, trainer, num_epochs, way=None, *, history=(),
          augment=None, seed=None, on_epoch=print, on_checkpoint=None, progress=None,
          check_every=CHECK_EVERY):
    """The book's train_ch5 loop; returns the list of per-epoch metric dicts.

    way: how each step runs (`gluon_cnn.training.ways`): a way, a context, or a list of contexts;
    one CPU by default. history: the epochs a resumed run has done (it goes on after them).
    augment(X) transforms each training batch on the device (gluon_cnn.data.augment). seed:
    re-seed every generator at each epoch start from (seed, epoch), so a resumed run draws the
    same random numbers (MXNet cannot save its RNG state). on_checkpoint(history) runs after each
    epoch, before on_epoch(line) prints the book's epoch line. progress(epoch, num_epochs,
    num_batches) makes a per-epoch bar (gluon_cnn.training.progress). A NaN/inf loss, or a
    running epoch mean EXPLODE times the run's starting loss, raises DivergedError naming epoch
    and batch (checked every `check_every` batches without stalling the pipeline, LossWatch).
    """
    way = as_way(way)
    objective = way.objective(net, loss)  # net + loss + metrics: one graph per step
    history = list(history)
    # a resumed run measures explosions against its first epoch's mean, not its current loss
    watch = LossWatch(trainer, check_every, history[0]['loss'] if history else None)
    for epoch in range(len(history), num_epochs):
        if seed is not None:             # the same draws for this epoch, resumed or not
            seed_everything(epoch_seed(seed, epoch))
        start = time.time()
        bar = progress(epoch + 1, num_epochs, len(train_iter)) if progress else None
        loss_avg, train_acc, n = _train_epoch(way, objective, train_iter, trainer, watch,
                                              epoch + 1, augment, bar)
        train_seconds = time.time() - start
        test_acc = math.nan              # only one worker evaluates
        if way.evaluates:                # the widened (or fused) view is the net: test it
            if bar is not None:
                bar.testing(len(test_iter) if hasattr(test_iter, '__len__') else None)
            test_acc = evaluate_accuracy(objective.net, test_iter, way.ctx,
                                         bar.tested if bar is not None else None)
        if bar is not None:
            bar.done()
        metrics = {'epoch': epoch + 1, 'loss': loss_avg, 'train_acc': train_acc,
                   'test_acc': test_acc, 'seconds': time.time() - start,
                   'examples_per_sec': n / train_seconds}
        history.append(metrics)
        if on_checkpoint:                # before the epoch line: what was printed is saved
            on_checkpoint(history)
        if on_epoch:
            on_epoch(format_epoch(metrics))
    return history


def _train_epoch(way, objective, train_iter, trainer, watch, epoch, augment, bar):
    """One pass over train_iter; returns (mean loss, train accuracy, examples)."""
    l_sum, correct, n = npmode.zeros(1, way.ctx), npmode.zeros(1, way.ctx), 0
    watch.start(epoch, len(train_iter))
    for i, (X, y) in enumerate(train_iter):
        X, y = X.as_in_context(way.ctx), y.as_in_context(way.ctx)  # batches on the first device
        if augment is not None:
            X = augment(X)               # random crops/flips, on the device
        if not objective.prepared:       # the first batch: weights drawn, shared, widened
            way.prepare(objective, trainer, X)
        # forward, backward and update, on one device or split over devices and workers
        batch_loss, batch_correct, b = way.step(objective, trainer, X, y)
        l_sum += watch.add(batch_loss, b)  # metrics stay on the device: no sync per batch
        correct += batch_correct
        n += b
        watch.check(i, l_sum, n)         # every check_every batches: reads an older, finished sum
        if bar is not None:
            bar.update(b, l_sum, correct)  # reads the sums back at most every 0.25 s
    if bar is not None:
        bar.close()
    l_sum, correct, n = way.totals(l_sum, correct, n)  # over the workers, where they can sum
    loss_avg = _scalar(l_sum) / n        # the epoch's one host sync
    if not math.isfinite(loss_avg):
        watch.diverged()
    watch.check_growth(loss_avg)
    return loss_avg, _scalar(correct) / n, n


def _scalar(a) -> float:
    """The value of a 1-element array, in classic and numpy mode (the latter has no asscalar)."""
    return a.asnumpy().item()


def format_epoch(m: dict) -> str:
    """The book's epoch line (d2l zh §5.5), plus throughput."""
    return (f"epoch {m['epoch']}, loss {m['loss']:.4f}, train acc {m['train_acc']:.3f}, "
            f"test acc {m['test_acc']:.3f}, time {m['seconds']:.1f} sec, "
            f"{m['examples_per_sec']:.0f} examples/sec")
