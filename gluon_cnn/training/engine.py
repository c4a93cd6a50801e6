"""Training and evaluation with the book's `train_ch5` semantics (d2l zh §5.5), made fast.

Softmax cross-entropy, SGD by default, Xavier init, `trainer.step(batch_size)`, one line per epoch.
What is different from the book is speed, not meaning:
- the data lives in memory on the device (`gluon_cnn.data.ArrayIter`), no per-sample transforms;
- net, loss and the batch's metrics run as one hybridized graph (`Objective`) with static memory;
- loss and accuracy sums stay on the device until the epoch ends: no host sync per batch;
- with `widen=8` (the default), LeNet's 6-channel convolutions run as exact 8-channel ones
  (`gluon_cnn.training.widen`), for which oneDNN has its fast direct kernels.

This is the engine: it knows nets, iterators, losses and trainers, nothing of configs, run
folders or plots (those are `gluon_cnn.app.run`'s).
"""
import math
import time

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from ..mx import internals, npmode
from . import parallel
from .seeding import epoch_seed, seed_everything
from ..errors import DivergedError
from .widen import widened

__all__ = ['count_correct', 'evaluate_accuracy', 'train', 'make_trainer',
           'settle_shapes', 'Objective', 'format_epoch', 'CHECK_EVERY', 'WIDEN']

CHECK_EVERY = 50  # batches between NaN checks: late enough never to stall, early enough to stop
# A running epoch-mean loss this many times the run's starting loss has exploded. Measured ratios
# (max running mean / first batch): book LeNet lr 0.9 1.03, lenet-bn lr 1.0 1.00, best 1.00;
# lenet-relu lr 1000 190-220 (epochs 2-3, ~430-500 nats) and 1e20 in epoch 1.
EXPLODE = 10
WIDEN = 8  # channel multiple of the widened convolutions; 0 trains the layers as they are


# ----------------------------------------------------------------------------- evaluation
def count_correct(y_hat, y):
    """Number of correct predictions, as a 1-element array left on the device."""
    # float32 on both sides: argmax is float32 (classic) or int64 (numpy mode),
    # symbols have no dtype
    return (y_hat.argmax(axis=1).astype('float32') == y.astype('float32')).astype('float32').sum()


def _zeros(ctx):
    """A 1-element float32 zero array of the current array kind (classic or numpy mode)."""
    return npmode.zeros(1, ctx=ctx)


def _scalar(a) -> float:
    """The value of a 1-element array, in classic and numpy mode (the latter has no asscalar)."""
    return a.asnumpy().item()


def evaluate_accuracy(net, data_iter, ctx=None) -> float:
    """Accuracy of `net` over `data_iter`, an iterable of (X, y) batches. One host sync, at the
    end. The book's argument order, (data_iter, net, ctx), is `gluon_cnn.book`'s."""
    ctx = ctx or mx.cpu()
    correct, n = None, 0
    for X, y in data_iter:
        X, y = X.as_in_context(ctx), y.as_in_context(ctx)
        c = count_correct(net(X), y)
        correct = c if correct is None else correct + c
        n += y.shape[0]
    return _scalar(correct) / n if n else float('nan')


# ----------------------------------------------------------------------------- training
class Objective(gluon.HybridBlock):
    """net, loss and metrics in one graph, so hybridize() compiles them with the forward pass.

    Returns the per-example losses (for backward), their sum and the number of correct
    predictions: the metrics cost no Python-side operator calls per batch (about 8% of a
    LeNet step when they were separate calls).
    """

    def __init__(self, net, loss, **kwargs):
        super().__init__(**kwargs)
        self.net, self.loss = net, loss

    def use(self, net, hybridize: bool):
        """Compute with `net` from now on (a view of the same parameters, gluon_cnn.training.widen)."""
        if net is not self.net:
            del self.net  # Gluon refuses to change a child's type in place; this re-registers it
            self.net = net
            if hybridize:  # standalone calls (evaluation) get the view's own graph too
                net.hybridize(static_alloc=True, static_shape=True)
            internals.clear_cached_graphs(self)

    def hybrid_forward(self, F, X, y):
        y_hat = self.net(X)
        l = self.loss(y_hat, y)
        return l, l.sum(), count_correct(y_hat, y)


def make_trainer(net, optimizer: str = 'sgd', lr: float = 0.9, wd: float = 0.0,
                 lr_scheduler=None, ctxs=(None,), workers=parallel.LOCAL) -> gluon.Trainer:
    """A gluon.Trainer; 'momentum' and 'nag' use momentum 0.9. lr_scheduler: per-update lr.
    Several ctxs or workers: gradients summed by a kvstore (gluon_cnn.training.parallel)."""
    name, args = {'sgd': ('sgd', {}), 'momentum': ('sgd', {'momentum': 0.9}),
                  'nag': ('nag', {'momentum': 0.9}), 'adam': ('adam', {})}[optimizer]
    if lr_scheduler is not None:
        args['lr_scheduler'] = lr_scheduler
    return parallel.make_kvstore_trainer(net.collect_params(), name,
                                         dict(learning_rate=lr, wd=wd, **args),
                                         list(ctxs), workers)


def train(net, train_iter, test_iter, loss, trainer, num_epochs, ctx=None, hybridize=True,
          start_epoch=0, history=None, on_epoch=print, augment=None, progress=None,
          seed=None, on_checkpoint=None, check_every=CHECK_EVERY, widen=WIDEN,
          workers=parallel.LOCAL):
    """The book's train_ch5 loop; returns the list of per-epoch metric dicts.

    on_epoch(line) is called with the book's epoch line after every epoch; learning-rate schedules
    live in the trainer (make_trainer's lr_scheduler). `start_epoch` and `history` resume a run.
    augment(X) transforms each training batch on the device (see gluon_cnn.data.augment).
    progress(epoch, num_epochs, num_batches) makes a per-epoch bar (gluon_cnn.training.progress.epoch_bars).
    seed: re-seed every generator at each epoch start from (seed, epoch), so a resumed run draws
    the same random numbers (MXNet cannot save its RNG state). on_checkpoint(history) runs after
    each epoch, before on_epoch. A NaN/inf loss, or a running epoch mean EXPLODE times the
    run's starting loss, raises DivergedError naming epoch and batch (checked every
    `check_every` batches without stalling the pipeline, see _LossWatch).
    widen: run conv pairs with channels rounded up to this multiple (exact; gluon_cnn.training.widen),
    0 to run them as they are.
    ctx: one context, or a list for data parallelism (d2l zh §8.5; the trainer then needs a
    kvstore, see make_trainer). workers: this process's rank among ps-lite workers; each takes
    its share of every global batch, and only rank 0 evaluates (gluon_cnn.training.parallel).
    """
    ctxs = list(ctx) if isinstance(ctx, (list, tuple)) else [ctx or mx.cpu()]
    ctx = ctxs[0]                    # data, metrics and evaluation live on the first device
    objective = Objective(net, loss)
    if hybridize:
        objective.hybridize(static_alloc=True, static_shape=True)
    history = list(history or [])
    # a resumed run measures explosions against its first epoch's mean, not its current loss
    watch = _LossWatch(trainer, check_every, history[0]['loss'] if history else None)

    def prepare(X):
        """Before the first step: finish deferred initialization on this batch, which draws
        the initial weights exactly where the first forward pass would (so a seed gives the
        same net as ever), send the starting weights to the other workers before a training
        pass can reorder their layout (parallel.connect_trainer), then train and evaluate the
        widened view of the net for the rest of the run (exact; gluon_cnn.training.widen). One view for
        the whole run: rebuilding graphs every epoch grows the memory pool."""
        settle_shapes(net, X)
        parallel.connect_trainer(net, trainer, workers, X.shape[0])
        objective.use(widened(net, widen), hybridize)

    for epoch in range(start_epoch, num_epochs):
        if seed is not None:
            seed_everything(epoch_seed(seed, epoch))
        start = time.time()
        loss_avg, train_acc, n = _train_epoch(objective, train_iter, trainer, ctxs, epoch + 1,
                                              num_epochs, augment, progress, watch,
                                              prepare if epoch == start_epoch else None,
                                              workers)
        train_seconds = time.time() - start
        test_acc = (evaluate_accuracy(objective.net, test_iter, ctx) if workers.rank == 0
                    else math.nan)
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
                 watch, prepare=None, workers=parallel.LOCAL):
    """One pass over train_iter; returns (mean loss, train accuracy, examples).
    prepare(X), if given, runs on the first (augmented) batch before its step.
    ctx: one context or a list; with several, or several workers, see _parallel_step."""
    ctxs = ctx if isinstance(ctx, list) else [ctx]
    ctx, full = ctxs[0], None
    l_sum, correct, n = _zeros(ctx), _zeros(ctx), 0
    watch.start(epoch, len(train_iter))
    bar = progress(epoch, num_epochs, len(train_iter)) if progress else None
    for i, (X, y) in enumerate(train_iter):
        X, y = X.as_in_context(ctx), y.as_in_context(ctx)
        if augment is not None:
            X = augment(X)           # random crops/flips, on the device (gluon_cnn.data.augment)
        if prepare is not None and i == 0:
            prepare(X)
        if len(ctxs) > 1 or workers.num_workers > 1:
            full = full or X.shape[0]  # the first batch is a full one
            batch_loss, batch_correct, b = _parallel_step(objective, X, y, trainer, ctxs, workers,
                                                          full)
        else:
            with autograd.record():      # record the forward pass for autograd
                l, batch_loss, batch_correct = objective(X, y)
            l.backward()                 # d(sum of per-example losses) / d(params)
            trainer.step(X.shape[0])     # SGD step on the batch mean: divides by batch size
            b = X.shape[0]
        l_sum += watch.add(batch_loss, b)  # metrics stay on the device: no sync per batch
        correct += batch_correct
        n += b
        watch.check(i, l_sum, n)     # every check_every batches: reads an older, finished sum
        if bar is not None:
            bar.update(b, l_sum, correct)  # reads the sums back at most every 0.25 s
    if bar is not None:
        bar.close()
    if workers.num_workers > 1:      # each worker saw its share: the epoch's sums over workers
        l_sum, correct, n = _summed_over_workers(workers, l_sum, correct, n)
    loss_avg = _scalar(l_sum) / n  # the epoch's one host sync
    if not math.isfinite(loss_avg):
        watch.diverged()
    watch.check_growth(loss_avg)
    return loss_avg, _scalar(correct) / n, n


def _parallel_step(objective, X, y, trainer, ctxs, workers, full: int):
    """One step of data parallelism (d2l zh §8.5) on global batch X: this worker's share, split
    over its devices; returns (loss sum, correct, examples) of the share, on ctxs[0]."""
    parts = parallel.split_batch(X, y, ctxs, workers)  # [(X_k, y_k, real)], one per device
    scale = 1.0
    if internals.uses_kvstore_updates(trainer) and X.shape[0] != full:
        # the servers divide by the batch size of the first step (dist_async): a short batch
        # weights its losses full / b so that step(full) still averages over its b examples
        scale = full / X.shape[0]
    with autograd.record():          # forward on every device, recorded for autograd
        outs = [objective(Xk, yk) for Xk, yk, _ in parts]
        # a stand-in part's loss counts 0; a short dist_async batch's counts full / b
        ls = [l if real and scale == 1.0 else l * (scale if real else 0.0)
              for (l, _, _), (_, _, real) in zip(outs, parts)]
    autograd.backward(ls)            # one backward pass per device
    # the kvstore or Horovod sums the gradients; the step averages over the global batch
    trainer.step(full if scale != 1.0 else parallel.step_size(workers, X.shape[0]))
    real_outs = [(s, c) for (_, s, c), (_, _, real) in zip(outs, parts) if real]
    batch_loss = (sum(s.as_in_context(ctxs[0]) for s, _ in real_outs) if real_outs
                  else _zeros(ctxs[0]))
    batch_correct = (sum(c.as_in_context(ctxs[0]) for _, c in real_outs) if real_outs
                     else _zeros(ctxs[0]))
    return batch_loss, batch_correct, sum(Xk.shape[0] for Xk, _, real in parts if real)


def _summed_over_workers(workers, l_sum, correct, n: int):
    """The epoch's loss sum, correct count and examples summed over workers (dist_sync), as the
    1-element arrays and int the epoch's end expects; dist_async keeps this worker's own."""
    l_tot, c_tot, n_tot = parallel.sum_over_workers(workers, [_scalar(l_sum), _scalar(correct), n])
    ctx = l_sum.context
    return mx.nd.array([l_tot], ctx=ctx), mx.nd.array([c_tot], ctx=ctx), int(round(n_tot))


def settle_shapes(net, X):
    """Finish Gluon's deferred initialization with one example of batch X, so that `widened`
    (whose zero padding hides shapes from Gluon's inference) can build its graph."""
    if not all(internals.is_initialized(p) for p in net.collect_params().values()):
        with autograd.pause():
            net(X[:1])


class _LossWatch:
    """Finds the first batch whose loss is NaN/inf, or whose loss exploded, without a host sync
    per batch.

    Each batch's loss sum stays on the device in a list. Every `every` batches we read the running
    sum *as it was `every` batches ago*: that value was computed long since, so reading it does not
    drain the pipeline, and it bounds how far Python runs ahead of the device (so Ctrl-C and a
    diverged run stop within ~2 * `every` batches). NaN and inf propagate into the running sum, so
    a finite sum means every batch so far was finite; only then do we look at single batches.
    A finite running mean above EXPLODE times `reference` (the run's starting loss: its first
    batch's, unless given) has exploded. One watch serves a whole run; `start` each epoch.
    """

    def __init__(self, trainer, every: int, reference=None):
        self.trainer, self.every, self.reference = trainer, every, reference

    def start(self, epoch: int, num_batches: int):
        self.epoch, self.num_batches = epoch, num_batches
        self.losses, self.sizes, self.pending = [], [], None

    def add(self, batch_loss, size: int = 1):
        self.losses.append(batch_loss)
        self.sizes.append(size)
        return batch_loss

    def check(self, i: int, l_sum, n: int):
        """After batch i (0-based) with running sum l_sum over n examples."""
        if (i + 1) % self.every:
            return
        if self.pending is not None:
            total, seen = _scalar(self.pending[0]), self.pending[1]
            if not math.isfinite(total):
                self.diverged()
            self.check_growth(total / seen)
        self.pending = (l_sum.copy(), n)  # read back at the next check, long computed by then

    def check_growth(self, mean: float):
        """Raise DivergedError if the running mean loss has exploded."""
        if self.reference is None:   # the first check of the run: batch 1 is long computed
            self.reference = _scalar(self.losses[0]) / self.sizes[0]
        limit = EXPLODE * self.reference
        if self.reference > 0 and mean > limit:
            means = [float(b.asnumpy().sum()) / k for b, k in zip(self.losses, self.sizes)]
            i = next((j for j, m in enumerate(means) if m > limit), len(means) - 1)
            self._raise(f'loss exploded to {means[i]:.4g} (over {EXPLODE}x the '
                        f'{self.reference:.3g} it started at) in', i)

    def diverged(self):
        """Raise DivergedError naming the first batch (1-based) whose loss was not finite."""
        sums = np.array([float(b.asnumpy().sum()) for b in self.losses], dtype=np.float32)
        bad = np.flatnonzero(~np.isfinite(sums))
        if not len(bad):             # every batch finite but their float32 sum overflowed
            bad = np.flatnonzero(~np.isfinite(np.cumsum(sums, dtype=np.float32)))
        i = int(bad[0]) if len(bad) else len(sums) - 1
        self._raise(f'loss became {sums[i]} in', i)

    def _raise(self, what: str, i: int):
        lr = self.trainer.learning_rate
        raise DivergedError(f'{what} epoch {self.epoch}, batch {i + 1} of {self.num_batches}; '
                            f'try a smaller learning rate (now {lr:g}, e.g. --lr {lr / 10:g})')


def format_epoch(m: dict) -> str:
    """The book's epoch line (d2l zh §5.5), plus throughput."""
    return (f"epoch {m['epoch']}, loss {m['loss']:.4f}, train acc {m['train_acc']:.3f}, "
            f"test acc {m['test_acc']:.3f}, time {m['seconds']:.1f} sec, "
            f"{m['examples_per_sec']:.0f} examples/sec")
