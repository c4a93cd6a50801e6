"""The suite's shared fixtures. One trained run serves every test that reads a run folder, so a
training is paid once per session, not once per file (tests that change a run copy it first).

Markers: `slow` (setup.cfg) marks what `make test-fast` leaves out: real processes, real-data
training, multi-process launches.
"""
from pathlib import Path
from typing import Callable, NamedTuple

import pytest

from helpers import train_in_process


class TrainedRun(NamedTuple):
    """A finished run folder trained through train.py, and what train.py printed on stdout."""
    out: Path
    stdout: str


@pytest.fixture(scope='session')
def trained_run(tmp_path_factory) -> Callable[..., TrainedRun]:
    """trained_run(model='lenet', epochs=2, limit=256, batch_size=64, **flags) -> TrainedRun.

    Each distinct set of flags is trained once per session through `train.py --quiet` (keyword
    `model_kwargs='{"act": "relu"}'` is `--model-kwargs ...`). The folder is shared: a test that
    writes into it must `copy_run` it first.
    """
    done = {}

    def make(model: str = 'lenet', epochs: int = 2, limit: int = 256, batch_size: int = 64,
             **flags) -> TrainedRun:
        settings = dict(model=model, epochs=epochs, limit=limit, batch_size=batch_size, **flags)
        key = tuple(sorted(settings.items()))
        if key not in done:
            out = tmp_path_factory.mktemp(f'{model}-run')
            argv = [a for k, v in settings.items() for a in (f'--{k.replace("_", "-")}', v)]
            code, stdout, stderr = train_in_process([*argv, '--out', out, '--quiet'])
            assert code == 0, stderr
            done[key] = TrainedRun(out, stdout)
        return done[key]
    return make


@pytest.fixture(scope='session')
def small_run(trained_run) -> TrainedRun:
    """The one small finished run most run-folder tests read: the book's lenet, 2 epochs on 256
    images, batch 64, seed 2 (test_run_folders' QUICK settings)."""
    return trained_run(seed=2)
