"""The slow viz figures show progress on a terminal, as train.py does: a bar on stderr that counts
finished seeded steps out of their total; piped, stderr stays clean."""
import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _dream(run: Path, out: Path, stderr) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, '-m', 'gluon_cnn.viz', 'dream', '--run', str(run),
                             '--layer', '2', '--octaves', '2', '--steps', '3', '--out', str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr)


def test_dream_counts_its_steps_on_a_terminal_and_is_quiet_piped(small_run, tmp_path):
    leader, follower = os.openpty()  # stderr a terminal, as a user's is, 100 columns wide
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack('HHHH', 30, 100, 0, 0))
    shown = b''
    try:
        proc = _dream(small_run.out, tmp_path / 'a.png', follower)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # read while it runs: a pty keeps little
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                shown += os.read(leader, 65536)
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=10)
    finally:
        os.close(follower)
        os.close(leader)
    assert code == 0, shown.decode(errors='replace')
    counts = [tuple(map(int, m)) for m in re.findall(rb'(\d+)/(\d+) \[', shown)]
    # 2 octaves x 3 steps; the bar redraws at most every 0.1 s and is cleared at the end (as
    # train.py's), so it shows some of the finished counts, never going back
    assert counts and {total for _, total in counts} == {6}, shown
    assert [n for n, _ in counts] == sorted(n for n, _ in counts), shown
    piped = _dream(small_run.out, tmp_path / 'b.png', subprocess.PIPE)
    _, err = piped.communicate(timeout=300)
    assert piped.returncode == 0 and err == b''
