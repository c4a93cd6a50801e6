"""The run record: a run's config and per-epoch history, in one file of its run folder.

`DIR/metrics.json` is {"config": {...TrainConfig...}, "epochs": [{epoch, loss, train_acc,
test_acc, seconds, examples_per_sec}, ...]}. The run writes it at its start and after every
epoch (atomically), and it is the one place a saved config lives: resume, viz, sweep and papers
read it through `read_record`. papers/results/NAME.json files are run records with a few more
keys (command, hardware, wall_seconds, date), kept in `RunRecord.extra`.
"""
import dataclasses
import json
from pathlib import Path
from typing import Optional

from .checkpoint import has_checkpoints
from .config import TrainConfig, field_type_error
from ..errors import ConfigError
from ..durable import write_text_atomic

__all__ = ['METRICS_FILE', 'RunRecord', 'config_from_dict', 'read_record', 'write_record']

METRICS_FILE = 'metrics.json'


@dataclasses.dataclass
class RunRecord:
    config: TrainConfig
    history: list
    extra: dict = dataclasses.field(default_factory=dict)

    @property
    def out(self) -> Optional[Path]:
        return Path(self.config.out) if self.config.out else None

    def to_json(self) -> dict:
        return {'config': dataclasses.asdict(self.config), 'epochs': self.history, **self.extra}


def config_from_dict(saved: dict, where='the saved config') -> TrainConfig:
    """The TrainConfig of a saved config dict; keys this version does not know are ignored.
    A value of the wrong type is a ConfigError naming `where` and the field."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    known = {k: v for k, v in saved.items() if k in fields}
    for k, v in known.items():
        wrong = field_type_error(k, v)
        if wrong:
            raise ConfigError(f'{where}: config field "{k}": {wrong}', field=k,
                              path=where if isinstance(where, Path) else None)
    return TrainConfig(**known)


def read_record(path) -> RunRecord:
    """The run record of a run folder (its metrics.json) or of a record file itself."""
    path = Path(path)
    file = path / METRICS_FILE if path.is_dir() else path
    try:
        data = json.loads(file.read_text())
        if not isinstance(data, dict) or not isinstance(data.get('config'), dict):
            raise ValueError('no "config" object')
    except FileNotFoundError:
        if has_checkpoints(file.parent):
            raise ConfigError(f'{file}: missing, but the run\'s checkpoints are there; '
                              f'`python train.py --resume {file.parent}` rebuilds it from '
                              f'them', path=file) from None
        raise ConfigError(f'{path}: no {METRICS_FILE} there (not a run folder; train with '
                          f'`python train.py --out {path}` first)', path=path) from None
    except (OSError, ValueError) as e:  # UnicodeDecodeError is a ValueError
        hint = (f'; `python train.py --resume {file.parent}` rebuilds it from the checkpoints'
                if has_checkpoints(file.parent) else '')
        raise ConfigError(f'{file}: not a run record ({str(e)[:120]}){hint}', path=file) from None
    epochs = data.get('epochs', [])
    if not isinstance(epochs, list) or not all(isinstance(m, dict) for m in epochs):
        raise ConfigError(f'{file}: "epochs" must be a list of objects, one per epoch', path=file)
    extra = {k: v for k, v in data.items() if k not in ('config', 'epochs')}
    return RunRecord(config_from_dict(data['config'], file), list(epochs), extra)


def write_record(record: RunRecord, path=None) -> Path:
    """Write `record` atomically to `path` (default: metrics.json in its run folder)."""
    file = Path(path) if path is not None else record.out / METRICS_FILE
    write_text_atomic(file, json.dumps(record.to_json(), indent=1) + '\n')
    return file
