"""Watching the loss for NaN, inf and explosions, without a host sync per batch."""
import math

import numpy as np

from ..backend import npmode
from ..errors import DivergedError

__all__ = ['LossWatch', 'CHECK_EVERY', 'EXPLODE']

CHECK_EVERY = 50  # batches between NaN checks: late enough never to stall, early enough to stop
# A running epoch-mean loss this many times the run's starting loss has exploded. Measured ratios
# (max running mean / first batch): book LeNet lr 0.9 1.03, lenet-bn lr 1.0 1.00, best 1.00;
# lenet-relu lr 1000 190-220 (epochs 2-3, ~430-500 nats) and 1e20 in epoch 1.
EXPLODE = 10


class LossWatch:
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
            total, seen = npmode.scalar(self.pending[0]), self.pending[1]
            if not math.isfinite(total):
                self.diverged()
            self.check_growth(total / seen)
        self.pending = (l_sum.copy(), n)  # read back at the next check, long computed by then

    def check_growth(self, mean: float):
        """Raise DivergedError if the running mean loss has exploded."""
        if self.reference is None:   # the first check of the run: batch 1 is long computed
            self.reference = npmode.scalar(self.losses[0]) / self.sizes[0]
        limit = EXPLODE * self.reference
        if self.reference > 0 and mean > limit:
            means = [float(b.asnumpy().sum()) / k for b, k in zip(self.losses, self.sizes)]
            i = next((j for j, m in enumerate(means) if m > limit), len(means) - 1)
            self._raise(f'loss exploded to {means[i]:.4g} (over {EXPLODE}x the '
                        f'{self.reference:.3g} it started at) in', i, means[i])

    def diverged(self):
        """Raise DivergedError naming the first batch (1-based) whose loss was not finite."""
        sums = np.array([float(b.asnumpy().sum()) for b in self.losses], dtype=np.float32)
        bad = np.flatnonzero(~np.isfinite(sums))
        if not len(bad):             # every batch finite but their float32 sum overflowed
            bad = np.flatnonzero(~np.isfinite(np.cumsum(sums, dtype=np.float32)))
        i = int(bad[0]) if len(bad) else len(sums) - 1
        self._raise(f'loss became {sums[i]} in', i, float(sums[i]))

    def _raise(self, what: str, i: int, loss: float):
        lr = self.trainer.learning_rate
        raise DivergedError(f'{what} epoch {self.epoch}, batch {i + 1} of {self.num_batches}; '
                            f'try a smaller learning rate (now {lr:g}, e.g. --lr {lr / 10:g})',
                            epoch=self.epoch, batch=i + 1, batches=self.num_batches, loss=loss,
                            lr=lr)
