"""Shared test helpers: running a command as a real process, reading a train.py run in-process,
and the skip for tests that need the real Fashion-MNIST files. Fixtures live in conftest.py."""
import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, 'PYTHONPATH': str(ROOT)}  # the worktree's gluon_cnn, not an installed one


class Finished(NamedTuple):
    """What a command did: its exit code and everything it wrote."""
    code: int
    out: str
    err: str


def run_command(*argv, timeout: float = 300, cwd: Path = ROOT, env: dict = None) -> Finished:
    """Run `python *argv` (e.g. 'train.py', '--epochs', '1' or '-m', 'gluon_cnn.trace') to its
    end as a real process, stdin closed; a hang fails the test after `timeout` seconds."""
    r = subprocess.run([sys.executable, *map(str, argv)], capture_output=True, text=True, cwd=cwd,
                       env=env or ENV, timeout=timeout, stdin=subprocess.DEVNULL)
    return Finished(r.returncode, r.stdout, r.stderr)


def train_in_process(argv) -> Finished:
    """train.py's main(argv) in this process, its stdout captured (not a TTY: no progress bar),
    so a test sees what the user sees without paying for a new interpreter and MXNet import."""
    from gluon_cnn.app import train_command
    buf, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
        code = train_command.main([str(a) for a in argv])
    return Finished(code, buf.getvalue(), err.getvalue())


def _have_fashion_mnist() -> bool:
    from gluon_cnn import data as gdata
    from gluon_cnn.errors import DataError
    try:
        gdata.find_data_dir('fashion-mnist', download=False)
    except DataError:
        return False
    return True


# the tests that train on or read the real Fashion-MNIST files (every finder location counts)
needs_fashion_mnist = pytest.mark.skipif(not _have_fashion_mnist(), reason='needs Fashion-MNIST '
                                         '(/usr/share/datasets/fashion-mnist or GLUON_CNN_DATA)')
