"""The progress display (gluon_cnn.training.progress): it counts finished batches, shows loss and
accuracy from the first one, shows the test pass, and leaves a clean line on Ctrl-C.

Oracles: the running sums the loop keeps (their value at each batch, computed here with numpy),
what tqdm wrote to the stream, and train.py itself on a pseudo-terminal, interrupted by SIGINT.
"""
import fcntl
import io
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pytest
from mxnet import nd

from gluon_cnn.training.progress import EpochBar, epoch_bars

ROOT = Path(__file__).resolve().parents[1]


def drive(bar, losses, corrects, sizes):
    """Run the loop's side of the interface: sums updated in place, as engine.train keeps them."""
    l_sum, correct = nd.zeros((1,)), nd.zeros((1,))
    seen = []
    for l, c, b in zip(losses, corrects, sizes):
        l_sum += l
        correct += c
        bar.update(b, l_sum, correct)
        seen.append((bar.bar.n, bar.bar.postfix))
    return seen


def test_counts_finished_batches_lag_behind_and_show_their_means():
    losses, corrects, sizes = [9.0, 7.0, 5.0, 3.0, 1.0], [1, 2, 3, 4, 5], [4, 4, 4, 4, 2]
    out = io.StringIO()
    bar = EpochBar(1, 2, len(losses), lag=2, file=out)
    seen = drive(bar, losses, corrects, sizes)
    # batch i is shown at update i + 2, with the sums as they were after batch i
    assert [n for n, _ in seen] == [0, 0, 1, 2, 3]
    assert seen[2][1].startswith('loss 2.2500, acc 0.250')          # 9 / 4, 1 / 4
    assert seen[4][1].startswith(f'loss {21 / 12:.4f}, acc {6 / 12:.3f}')  # three batches
    bar.close()   # the two still pending are shown, then the test pass
    assert bar.bar.n == 5 and bar.n == sum(sizes)
    total = np.sum(losses) / np.sum(sizes)
    assert bar.bar.postfix.startswith(f'loss {total:.4f}, '
                                      f'acc {np.sum(corrects) / np.sum(sizes):.3f}')
    assert 'epoch 1/2: testing' in out.getvalue()


def test_loss_and_accuracy_from_the_first_finished_batch():
    out = io.StringIO()
    bar = EpochBar(1, 1, 3, lag=0, file=out)
    seen = drive(bar, [2.5], [3], [8])
    assert seen[0][0] == 1 and seen[0][1].startswith('loss 0.3125, acc 0.375')


def test_testing_status_is_cleared_before_the_epoch_line(capsys):
    out = io.StringIO()
    bars = epoch_bars(lag=1, file=out)
    bar = bars(1, 1, 2)
    drive(bar, [1.0, 1.0], [1, 1], [2, 2])
    bar.close()
    assert out.getvalue().rstrip().endswith('epoch 1/1: testing [00:00]')
    bars.write('epoch 1, loss 0.5000')
    assert capsys.readouterr().out == 'epoch 1, loss 0.5000\n'
    assert out.getvalue().endswith('\r') or out.getvalue().endswith('\x1b[A')  # line cleared
    bar.testing(4)   # an engine that reports test batches gets a bar
    bar.tested(64, nd.array([3.0]))
    bar.tested(64, nd.array([5.0]))
    assert bar.test_bar.n == 1 and '0/4 batches' in out.getvalue()  # the newest waits (lag 1)


def test_abort_leaves_the_last_state_on_its_own_line():
    out = io.StringIO()
    bars = epoch_bars(lag=1, file=out)
    bar = bars(2, 5, 10)
    drive(bar, [1.0, 1.0, 1.0], [1, 1, 1], [2, 2, 2])
    bars.abort()
    text = out.getvalue()
    assert text.endswith('\n') and 'epoch 2/5:  20%' in text.rsplit('\r', 1)[-1]
    bars.abort()  # nothing live: nothing more written
    assert out.getvalue() == text


@pytest.mark.slow
def test_ctrl_c_on_a_terminal_ends_on_a_clean_line(tmp_path):
    """train.py on a pseudo-terminal, SIGINT while the bar shows: 'interrupted:' starts a line."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: train.py with its stdout and stderr on a 24x100 terminal
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 100, 0, 0))
        env = {**os.environ, 'PYTHONPATH': str(ROOT)}
        os.execve(sys.executable, [sys.executable, str(ROOT / 'train.py'), '--limit', '30000',
                                   '--epochs', '1', '--out', str(tmp_path / 'r')], env)
    text, deadline, sent, last = b'', time.monotonic() + 120, False, 0.0
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                text += chunk
            # Ctrl-C while the bar shows, and again every 5 s until the run says so
            if re.search(rb'epoch 1/1: +\d+%.*loss', text) and b'interrupted' not in text and \
                    time.monotonic() > last + 5:
                os.kill(pid, signal.SIGINT)
                sent, last = True, time.monotonic()
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
    assert sent, text.decode(errors='replace')
    lines = text.decode(errors='replace').replace('\r\n', '\n').split('\n')
    said = [line for line in lines if 'interrupted' in line]
    assert said and said[0].lstrip('\r').startswith('interrupted: Ctrl-C'), lines[-6:]
    assert os.waitstatus_to_exitcode(status) == 130


@pytest.mark.slow
def test_piped_output_has_no_bar(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / 'train.py'), '--limit', '512', '--epochs',
                          '1', '--out', str(tmp_path / 'r')], capture_output=True, text=True,
                         env={**os.environ, 'PYTHONPATH': str(ROOT)}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'batches' not in out.stdout + out.stderr and 'testing' not in out.stderr
