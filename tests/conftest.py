"""The suite's shared fixtures. One trained run serves every test that reads a run folder, so a
training is paid once per session, not once per file (tests that change a run copy it first).

Markers: `slow` (setup.cfg) marks what `make test-fast` leaves out: real processes, real-data
training, multi-process launches.
"""
import os
from pathlib import Path
from typing import Callable, NamedTuple

import pytest

# pytest-xdist workers share the cores: each one's MXNet (and every child it starts) gets its share,
# as launch.py gives local workers, so that OpenMP pools do not spin against each other. Set before
# anything imports MXNet, which reads it once (gluon_cnn.backend.compat.set_threads leaves it be).
_workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
if _workers > 1 and 'OMP_NUM_THREADS' not in os.environ:
    os.environ['MXNET_OMP_MAX_THREADS'] = str(max(1, len(os.sched_getaffinity(0)) // _workers))

from helpers import train_in_process  # noqa: E402  (after the thread cap)


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


# Slow by what they need: a training on thousands of real images, or a real browser.
SLOW_FIXTURES = {'relu_run', 'runs', 'lenet_run', 'driver'}
# Whole files of real processes: fresh venvs, executed notebooks.
SLOW_FILES = {'test_startup.py', 'test_notebooks.py'}
# Tests that start real processes, in files other branches are editing; the mark moves onto each
# test (`@pytest.mark.slow`, as in the other files) when those branches are merged.
SLOW_TESTS = {
    'test_terminal.py': {'test_closed_pipe_ends_quietly',
                         'test_train_cut_short_by_a_closed_pipe_is_resumable',
                         'test_train_piped_to_head_mid_run_keeps_its_checkpoint',
                         'test_usage_error_is_one_line_and_see_help',
                         'test_sigkilled_launcher_leaves_no_role_running'},
    'test_trace_sources.py': {'test_function_in_a_module_of_the_current_folder'},
}


def pytest_collection_modifyitems(config, items):
    """Add the `slow` mark where the rules above say so (see `make test-fast`)."""
    for item in items:
        name = item.path.name
        if (name in SLOW_FILES or SLOW_FIXTURES & set(getattr(item, 'fixturenames', ()))
                or item.originalname in SLOW_TESTS.get(name, ())):
            item.add_marker(pytest.mark.slow)
