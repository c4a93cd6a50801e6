"""A run's folder: where it is, who holds it, and what of a run's results it holds.

    DIR/metrics.json      the run's metrics: config and per-epoch history (gluon_cnn.runs.record)
    DIR/checkpoints/      one checkpoint per epoch, the two newest kept (gluon_cnn.runs.checkpoint)
    DIR/model.params      the final parameters (net.save_parameters), written last: the run is done
    DIR/model-symbol.json, DIR/model-0000.params   the graph for viewers (gluon_cnn.runs.export)
    DIR/curves.png        loss and accuracy per epoch, as the book's Animator draws them
    DIR/.lock             held (flock) by the live run, so that a second run there is refused;
                          removed when the run lets go of the folder

A finished run is never lost: a new run into a folder holding a run's results (model.params, a
checkpoint, or epochs in metrics.json) is refused unless asked to --overwrite, and the default
folder, runs/<model>-<time>[-N], is created exclusively (mkdir), so two runs started in the same
second get two folders.
"""
import contextlib
import fcntl
import os
import shutil
import time
from pathlib import Path

from mxnet.base import MXNetError

from ..durable import write_atomic, writing
from ..errors import ConfigError
from . import checkpoint
from .config import TrainConfig
from .record import METRICS_FILE, read_record

__all__ = ['default_out', 'prepare_out', 'lock_run_folder', 'refuse_results', 'clear_results',
           'save_final_params', 'RESULTS']


def default_out(cfg: TrainConfig, root='runs', create: bool = True) -> Path:
    """runs/<model>-<YYYYmmdd-HHMMSS>, or with -2, -3... the first name free; created here with
    an exclusive mkdir, so two runs started in the same second never share a folder."""
    stem = Path(root) / f"{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    if not create:
        return stem
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f'{stem.parent}: cannot create run folders there '
                          f'({e.strerror or e}); pass --out DIR') from None
    for n in range(1, 10_000):
        out = stem if n == 1 else stem.with_name(f'{stem.name}-{n}')
        try:
            out.mkdir()
            return out
        except FileExistsError:
            continue
        except OSError as e:
            raise ConfigError(f'--out {out}: cannot write there ({e.strerror or e})',
                              field='--out', path=out) from None
    raise ConfigError(f'{stem}-*: 10,000 run folders this second; pass --out DIR')


# what a run leaves in its folder that a new run would overwrite
RESULTS = ('model.params', METRICS_FILE, 'curves.png', checkpoint.SUBDIR, 'model-symbol.json',
           'model-0000.params')


def _results_in(out: Path) -> str:
    """What of a run's results `out` holds ('model.params, 3 epochs'), or '' when nothing that a
    new run would lose (no folder, or a run stopped before its first epoch)."""
    found = []
    if (out / 'model.params').is_file():
        found.append('model.params')
    if checkpoint.has_checkpoints(out):
        epoch = checkpoint.latest_epoch(out)
        found.append(f'checkpoint epoch {epoch}' if epoch else 'checkpoints')
    if (out / METRICS_FILE).is_file():
        try:
            done = len(read_record(out).history)
        except ConfigError:
            found.append(f'an unreadable {METRICS_FILE}')
        else:
            if done:
                found.append(f'{done} epoch{"s" * (done != 1)} in {METRICS_FILE}')
    return ', '.join(found)


def refuse_results(out: Path, locked: bool = False):
    """A new run into a folder holding a run's results is refused, naming --resume and
    --overwrite; a folder a live run holds is refused as in use (unless we hold it: locked)."""
    if not locked and (out / '.lock').is_file():
        with contextlib.ExitStack() as probe:  # taken and dropped at once: is a live run there?
            probe.enter_context(lock_run_folder(out, write_pid=False))
    found = _results_in(out)
    if found:
        done = checkpoint.latest_epoch(out)
        if (out / 'model.params').is_file():
            what, go_on = 'a finished run', f'train it further with --resume {out} --epochs ' \
                f'{(done or 0) + 1}'
        else:
            what, go_on = 'an unfinished run', f'continue it with --resume {out}'
        raise ConfigError(f'--out {out} holds {what} ({found}); {go_on}, or pass --overwrite '
                          f'to start over there, or another --out', field='--out', path=out)


def clear_results(out: Path):
    """--overwrite: delete the results of the run there (the new run holds the folder's lock)."""
    for name in RESULTS:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


@contextlib.contextmanager
def lock_run_folder(out: Path, write_pid: bool = True):
    """Hold an exclusive flock on DIR/.lock while this run writes DIR; a second run there is
    refused. The kernel drops the lock when the process ends, however it ends: never stale; a
    run that lets go removes the file, so a finished folder holds only results.
    write_pid=False only probes: the lock is free now, or a ConfigError names its holder."""
    path = out / '.lock'
    while True:
        with open(path, 'a+') as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                pid = f.read().strip() or '?'
                raise ConfigError(f'--out {out} is in use by a live run (pid {pid}); wait for it '
                                  f'to end, or pass another --out', field='--out',
                                  path=out) from None
            if not _same_file(f, path):  # the holder removed it as we opened it: take anew
                continue
            if not write_pid:
                return (yield)
            f.truncate(0)  # the holder's pid, for the message above ('a+' appends at 0 now)
            f.write(f'{os.getpid()}\n')
            f.flush()
            try:
                yield
            finally:
                path.unlink(missing_ok=True)  # still held: no other run can be inside
            return


def _same_file(f, path: Path) -> bool:
    """Whether the open file f is still the one at path (not removed or replaced)."""
    try:
        return os.path.samestat(os.fstat(f.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def prepare_out(out: Path):
    """Create --out, or fail with a ConfigError saying why it cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / '.write-test'
        probe.write_text('')
        probe.unlink()
    except OSError as e:
        raise ConfigError(f'--out {out}: cannot write there ({e.strerror or e})',
                              field='--out', path=out) from None


def save_final_params(net, path: Path):
    """net.save_parameters through the one atomic writer: a model.params there is always
    complete; MXNet's own write errors become a WriteError naming it too."""
    with writing(path, MXNetError):
        write_atomic(path, lambda tmp: net.save_parameters(str(tmp)))
