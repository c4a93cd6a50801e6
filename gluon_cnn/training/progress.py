"""A tqdm progress bar per training epoch: batches, running loss and accuracy, examples/s.

The book's `train_ch5` (d2l zh §5.5) prints one line per epoch; on a terminal we also show where
the epoch is. MXNet runs asynchronously: the Python loop may be many batches ahead of the work
actually done, and reading a number back (`asscalar()`) waits for all of it. So the bar counts
batches as they are queued (free) and reads the running sums back at most every `interval`
seconds, which keeps the hot loop free of per-batch host syncs.

>>> history = engine.train(..., progress=epoch_bars())   # what train.py does on a TTY
"""
import sys
import time
from typing import Callable, Optional

from tqdm import tqdm

__all__ = ['EpochBar', 'epoch_bars']

_FORMAT = ('{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} batches '
           '[{elapsed}<{remaining}{postfix}]')


class EpochBar:
    """One epoch's bar. `update()` once per batch; `close()` clears it before the epoch line.

    interval : seconds between host syncs that refresh loss, accuracy and examples/s.
    """

    def __init__(self, epoch: int, num_epochs: int, num_batches: int, interval: float = 0.25,
                 file=None):
        self.interval, self.n = interval, 0
        self.start = self.last_sync = time.monotonic()
        # leave=False: the bar disappears and the plain epoch line takes its place
        self.bar = tqdm(total=num_batches, desc=f'epoch {epoch}/{num_epochs}', leave=False,
                        file=file or sys.stdout, bar_format=_FORMAT, dynamic_ncols=True)

    def update(self, batch_size: int, l_sum, correct):
        """Count one queued batch; every `interval` s, wait for the device and show the sums.

        l_sum, correct : the loop's running device-side sums (1-element NDArrays).
        """
        self.n += batch_size
        now = time.monotonic()
        if now - self.last_sync >= self.interval:
            loss, acc = l_sum.asscalar() / self.n, correct.asscalar() / self.n  # the sync
            now = self.last_sync = time.monotonic()
            rate = self.n / max(now - self.start, 1e-9)
            self.bar.set_postfix_str(f'loss {loss:.4f}, acc {acc:.3f}, {rate:,.0f} examples/s',
                                     refresh=False)
        self.bar.update(1)  # tqdm redraws at most every 0.1 s by itself

    def close(self):
        self.bar.close()


def epoch_bars(interval: float = 0.25, file=None) -> Callable[[int, int, int], Optional[EpochBar]]:
    """The `progress` argument of `engine.train`: (epoch, num_epochs, num_batches) -> EpochBar."""
    return lambda epoch, num_epochs, num_batches: EpochBar(epoch, num_epochs, num_batches,
                                                           interval, file)
