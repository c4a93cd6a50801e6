"""A tqdm progress bar per training epoch: computed batches, running loss and accuracy,
examples/s, then a status line while the test set is evaluated.

The book's `train_ch5` (d2l zh §5.5) prints one line per epoch; on a terminal we also show where
the epoch is. MXNet runs asynchronously: the Python loop may be many batches ahead of the work
actually done. So the bar does not count batches as they are queued: at each batch it queues a
copy of the running sums (a tiny op that runs after that batch's forward pass), and reads back
the copy of the batch `lag` batches earlier, which is finished or nearly so. The bar, the loss
and the accuracy are those of finished batches, from the first one on, and the loop stays at most
`lag` batches ahead of the device (engine._LossWatch reads old sums the same way).

    bars = epoch_bars()                        # what train.py does on a terminal
    try:
        history = engine.train(..., progress=bars, on_epoch=bars.write)
    finally:
        bars.abort()                           # Ctrl-C: the bar's last state, then a new line

Interface for the engine, per epoch: `bar = progress(epoch, num_epochs, num_batches)`, then
`bar.update(batch_size, l_sum, correct)` after each batch, then `bar.close()` when the epoch's
batches are queued: it waits for the rest, then shows "testing" until `bars.write(line)` prints
the epoch line. An engine that reports test batches calls `bar.testing(num_batches)` and
`bar.tested(batch_size, correct)` per test batch, then `bar.done()`, as engine.train does.
"""
import collections
import sys
import time
from typing import Optional

from tqdm import tqdm

__all__ = ['EpochBar', 'EpochBars', 'epoch_bars', 'NoBar', 'no_bars']

_FORMAT = ('{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} batches '
           '[{elapsed}<{remaining}{postfix}]')
_TESTING = '{desc} [{elapsed}]'


class EpochBar:
    """One epoch's bar. `update()` once per queued batch; `close()` after the last one.

    lag : batches between queueing a batch and reading its sums back (the loop's lead).
    """

    def __init__(self, epoch: int, num_epochs: int, num_batches: int, lag: int = 2, file=None):
        self.lag, self.file = lag, file or sys.stderr
        self.desc = f'epoch {epoch}/{num_epochs}'
        self.pending = collections.deque()  # (batch size, l_sum copy, correct copy), queued
        self.pending_tests = collections.deque()  # test batches' counts, queued
        self.n, self.start, self.test_bar = 0, None, None
        # leave=False: the bar disappears and the plain epoch line takes its place
        self.bar = tqdm(total=num_batches, desc=self.desc, leave=False, file=self.file,
                        bar_format=_FORMAT, dynamic_ncols=True)

    def update(self, batch_size: int, l_sum, correct):
        """Queue a snapshot of the running sums after this batch; show the batch `lag` back.

        l_sum, correct : the loop's running device-side sums (1-element NDArrays, updated in
        place by the loop, hence the copies).
        """
        if self.start is None:
            self.start = time.monotonic()
        self.pending.append((batch_size, l_sum.copy(), correct.copy()))
        while len(self.pending) > self.lag:
            self._show(*self.pending.popleft())

    def _show(self, batch_size: int, l_sum, correct):
        """One more finished batch: wait for its sums (finished or nearly), show the means."""
        loss, right = l_sum.asscalar(), correct.asscalar()  # a sync on an old batch only
        self.n += batch_size
        rate = self.n / max(time.monotonic() - self.start, 1e-9)
        self.bar.set_postfix_str(f'loss {loss / self.n:.4f}, acc {right / self.n:.3f}, '
                                 f'{rate:,.0f} examples/s', refresh=False)
        self.bar.update(1)  # tqdm redraws at most every 0.1 s by itself

    def close(self):
        """The epoch's batches are queued: show each as it finishes, then a testing status."""
        while self.pending:
            self._show(*self.pending.popleft())
        self.bar.close()
        self.testing()

    def testing(self, num_batches: Optional[int] = None):
        """Show that the test set is being evaluated (with a bar when num_batches is known)."""
        if self.test_bar is not None:
            self.test_bar.close()
        fmt = _FORMAT if num_batches else _TESTING
        self.test_bar = tqdm(total=num_batches, desc=f'{self.desc}: testing', leave=False,
                             file=self.file, bar_format=fmt, dynamic_ncols=True)
        self.test_bar.refresh()

    def tested(self, batch_size: int, correct=None):
        """One test batch queued; `correct` (its device-side count) is waited for `lag` batches
        later, so that the bar shows evaluated batches, not queued ones."""
        self.pending_tests.append(correct)
        while len(self.pending_tests) > self.lag:
            self._tested_one(self.pending_tests.popleft())

    def _tested_one(self, correct):
        if correct is not None:
            correct.wait_to_read()
        if self.test_bar is not None:
            self.test_bar.update(1)

    def done(self):
        """Clear whatever is shown (after the evaluation's one host sync: all is computed)."""
        while self.pending_tests:
            self._tested_one(self.pending_tests.popleft())
        for bar in (self.bar, self.test_bar):
            if bar is not None:
                bar.close()  # a closed bar stays closed
        self.test_bar = None


class EpochBars:
    """The `progress` argument of `engine.train`: (epoch, num_epochs, num_batches) -> EpochBar,
    which remembers the live bar so that `write` and `abort` can leave the terminal clean."""

    def __init__(self, lag: int = 2, file=None):
        self.lag, self.file, self.live = lag, file, None

    def __call__(self, epoch: int, num_epochs: int, num_batches: int) -> EpochBar:
        self.clear()
        self.live = EpochBar(epoch, num_epochs, num_batches, self.lag, self.file)
        return self.live

    def clear(self):
        if self.live is not None:
            self.live.done()
            self.live = None

    def write(self, line: str):
        """The `on_epoch`/`log` callback: clear the testing status, then print the line."""
        self.clear()
        print(line, flush=True)

    def abort(self):
        """After Ctrl-C or an error: the live bar's last state on its own line, so whatever is
        printed next starts a clean line (nothing when no bar is live)."""
        if self.live is not None:
            live, self.live = self.live, None
            showing = live.test_bar if live.test_bar is not None else live.bar
            showing.leave = True
            showing.close()  # redraws over the terminal's ^C echo, then a new line
            live.done()


class NoBar:
    """An epoch bar that shows nothing: what the engine uses when no bars were asked for."""

    def update(self, batch_size: int, l_sum, correct):
        pass

    def close(self):
        pass

    def testing(self, num_batches: Optional[int] = None):
        pass

    def tested(self, batch_size: int, correct=None):
        pass

    def done(self):
        pass


def no_bars(epoch: int, num_epochs: int, num_batches: int) -> NoBar:
    """The default `progress` of `engine.train`: no bars."""
    return NoBar()


def epoch_bars(lag: int = 2, file=None) -> EpochBars:
    """Per-epoch bars for `engine.train(progress=...)`; pass `.write` as its on_epoch."""
    return EpochBars(lag, file)
