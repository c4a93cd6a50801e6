"""Continuing a run (`train.py --resume DIR`): from which checkpoint, with which settings, and
what a resumed run may change."""
import dataclasses
import json
from pathlib import Path

from ..errors import CheckpointError, ConfigError
from . import checkpoint
from .config import TrainConfig
from .record import METRICS_FILE, config_from_dict, read_record

__all__ = ['resume_config', 'resume_point', 'check_epochs_left', 'record_readable',
           'RESUMABLE_CHANGES']

# the fields a resumed run may change; the rest must match the checkpoint
RESUMABLE_CHANGES = ('epochs', 'lr', 'ctx', 'data_dir', 'hybridize', 'limit_test')


def resume_config(run_dir, overrides: dict) -> TrainConfig:
    """The saved config of the run in run_dir, with `overrides` of the fields a resumed run may
    change. Its checkpoint must be intact (or an older one: see checkpoint.load_checkpoint),
    or the run must have stopped before its first; a missing or damaged metrics.json is rebuilt
    from the checkpoint's copy of the config."""
    run_dir = Path(run_dir)
    ckpt = resume_point(run_dir)  # refuse a folder without a good checkpoint first
    try:
        saved = dataclasses.asdict(read_record(run_dir).config)
    except ConfigError as e:
        if ckpt is None or _parses(run_dir / METRICS_FILE):  # a value to fix, not a lost file
            raise
        if ckpt.config is None:
            raise ConfigError(f'{run_dir / METRICS_FILE} is missing or damaged and {ckpt.path} '
                              f'is older than checkpoints that keep the config; restore '
                              f'{METRICS_FILE} by hand or start over with --overwrite') from e
        where = ckpt.path / 'meta.json'
        saved = dataclasses.asdict(config_from_dict(ckpt.config, where))
    saved['out'] = str(run_dir)
    fixed = sorted(k for k, v in overrides.items()
                   if k not in RESUMABLE_CHANGES and saved.get(k) != v)
    if fixed:
        flags = ', '.join('--' + k.replace('_', '-') for k in fixed)
        allowed = ', '.join('--' + k.replace('_', '-') for k in RESUMABLE_CHANGES)
        raise ConfigError(f'--resume continues {run_dir} as it was configured; {flags} cannot '
                          f'change (only {allowed} can)', field=flags.split(', ')[0],
                          path=run_dir)
    return TrainConfig(**{**saved, **overrides})


def resume_point(out: Path):
    """The checkpoint to resume `out` from, or None to start at epoch 1: allowed only when the
    run stopped before its first checkpoint, with no epochs recorded."""
    if checkpoint.has_checkpoints(out):
        return checkpoint.load_checkpoint(out)
    if not out.is_dir():
        raise CheckpointError(f'--resume {out}: no such directory', path=out)
    if not (out / METRICS_FILE).is_file():
        raise CheckpointError(f'--resume {out}: no checkpoint there and no {METRICS_FILE}, so no '
                              f'run to continue (a run writes {METRICS_FILE} as it starts and a '
                              f'checkpoint at the end of each epoch)', path=out)
    done = len(read_record(out).history)
    if done:
        raise CheckpointError(f'--resume {out}: {METRICS_FILE} records {done} epochs but no '
                              f'checkpoint is there ({out / checkpoint.SUBDIR} is missing); '
                              f'start over with --out {out} --overwrite', path=out)
    return None


def check_epochs_left(out: Path, ckpt, epochs: int):
    """Refuse a resume with nothing to do, before anything is written. At epochs done and no
    model.params newer than the checkpoint, the run stopped while writing its outputs: allowed,
    it writes them."""
    params = out / 'model.params'
    written = (ckpt.path / 'meta.json').stat().st_mtime
    finished = params.exists() and params.stat().st_mtime >= written
    if epochs < ckpt.epoch or (epochs == ckpt.epoch and finished):
        raise ConfigError(f'--resume {out}: the run has done {ckpt.epoch} epochs already, so '
                          f'--epochs {epochs} leaves nothing to train; pass --epochs '
                          f'{ckpt.epoch + 1} or more to train on', field='--epochs', path=out)


def _parses(record_file: Path) -> bool:
    """Whether the record file is there and a JSON object with a "config" object."""
    try:
        data = json.loads(record_file.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get('config'), dict)


def record_readable(out: Path) -> bool:
    try:
        read_record(out)
        return True
    except ConfigError:
        return False
