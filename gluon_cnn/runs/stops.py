"""How a run stops: SIGTERM as Ctrl-C, and every stop (an interrupt, a divergence, a failed write,
a closed stdout) saying where the last good checkpoint is and how to continue with --resume,
even before the first checkpoint."""
import contextlib
import signal
import threading
from pathlib import Path

from ..errors import DivergedError, WriteError
from . import checkpoint
from .record import METRICS_FILE

__all__ = ['sigterm_as_interrupt', 'explain_stop']


@contextlib.contextmanager
def sigterm_as_interrupt():
    """While training, SIGTERM (kill, a job scheduler) raises KeyboardInterrupt like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():  # signals reach it only
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt('SIGTERM')
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def explain_stop(out: Path, lr: float):
    """Add to a divergence, an interrupt or a closed stdout where the last good checkpoint is and
    how to go on."""
    try:
        yield
    except BrokenPipeError:  # `train.py | head`: the run stops; stderr says how to continue
        raise BrokenPipeError(f'stdout closed; {_last_checkpoint(out)}') from None
    except DivergedError as e:
        raise e.again(f'{e}; {_last_checkpoint(out, f" --lr {lr / 10:g}")}') from None
    except WriteError as e:
        raise e.again(f'{e}; {_last_checkpoint(out)}') from None
    except KeyboardInterrupt as e:
        raise KeyboardInterrupt(f'{str(e) or "Ctrl-C"}; {_last_checkpoint(out)}') from None


def _last_checkpoint(out: Path, flags: str = '') -> str:
    epoch = checkpoint.latest_epoch(out)
    if epoch is None and not (out / METRICS_FILE).is_file():
        return f'nothing was saved yet; run the same command again (--out {out} is still free)'
    if epoch is None:
        return (f'no checkpoint yet (one is written at the end of each epoch); continue with '
                f'python train.py --resume {out}, which starts from epoch 1 with the saved '
                f'settings')
    return (f'the last checkpoint is epoch {epoch} in {out / checkpoint.SUBDIR}; continue with '
            f'python train.py --resume {out}{flags}')
