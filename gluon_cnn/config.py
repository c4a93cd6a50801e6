"""A training run's settings (`TrainConfig`) and the named presets that reproduce papers/ rows.

`train.py` maps one flag to each field; `--preset NAME` starts from `PRESETS[NAME]` and explicit
flags override it. The defaults are the book's (d2l zh §5.5): lenet, lr 0.9, batch 256, 10 epochs.
"""
import dataclasses
from dataclasses import dataclass, field
from typing import Optional

from .errors import ConfigError

__all__ = ['TrainConfig', 'PRESETS', 'OPTIMIZERS']

OPTIMIZERS = ('sgd', 'momentum', 'nag', 'adam')


@dataclass
class TrainConfig:
    model: str = 'lenet'                 # a name from gluon_cnn.list_models()
    epochs: int = 10                     # the book trains LeNet for 10 epochs
    lr: float = 0.9                      # high because sigmoid LeNet's gradients are small (d2l zh §5.5)
    batch_size: int = 256
    optimizer: str = 'sgd'               # sgd | momentum | nag | adam; momentum/nag use 0.9
    wd: float = 0.0                      # L2 weight decay, applied by the optimizer
    seed: int = 0                        # seeds numpy, mxnet and Python's random, once
    ctx: str = 'cpu'                     # cpu | gpu | gpu:N
    dataset: str = 'fashion-mnist'       # fashion-mnist | mnist
    data_dir: Optional[str] = None       # None: look in the usual places (see gluon_cnn.data)
    out: Optional[str] = None            # None: runs/<model>-<timestamp>
    hybridize: bool = True               # compile to a static graph; off to debug imperatively
    limit: Optional[int] = None          # train on the first N examples only, for quick runs
    resize: Optional[int] = None         # resize images to this side (d2l zh §5.6+ uses 224 / 96)
    init: str = 'xavier'                 # xavier (the book) | model (the model's own initializer)
    model_kwargs: dict = field(default_factory=dict)  # extra constructor arguments

    def validate(self) -> 'TrainConfig':
        """Raise ConfigError on impossible values (the CLI shows it as one line, exit 2)."""
        for name in ('epochs', 'batch_size'):
            if getattr(self, name) <= 0:
                raise ConfigError(f'--{name.replace("_", "-")} must be positive, got {getattr(self, name)}')
        if not self.lr > 0:  # also catches NaN
            raise ConfigError(f'--lr must be positive, got {self.lr}')
        if self.wd < 0:
            raise ConfigError(f'--wd must be >= 0, got {self.wd}')
        if self.limit is not None and self.limit <= 0:
            raise ConfigError(f'--limit must be positive, got {self.limit}')
        if self.resize is not None and self.resize <= 0:
            raise ConfigError(f'--resize must be positive, got {self.resize}')
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown --optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
        return self

    def replace(self, **changes) -> 'TrainConfig':
        return dataclasses.replace(self, **changes)


# Each preset reproduces a row of papers/; `--preset book` is the defaults.
PRESETS = {
    'book': {},
}
