"""A training run's settings (`TrainConfig`) and the named presets that reproduce papers/ rows.

`train.py` maps one flag to each field. A field not given comes from `--preset NAME`
(`PRESETS[NAME]`), else from the model's section (`model_defaults`: d2l zh v1 §5.6 trains AlexNet
at lr 0.01, batch 128, 224x224), else from the dataclass: the 1st edition's LeNet (d2l zh v1
§5.5), lr 0.9, batch 256, 5 epochs, Xavier. `--preset book-2nd` is the 2nd edition's (zh §6.6 /
en §7.6).
"""
import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Optional

from ..data.augment import AUGMENTS
from ..errors import ConfigError
from ..models.registry import model_info
from ..training import engine
from ..training.schedules import LR_SCHEDULES
from ..training.widen import WIDEN

__all__ = ['TrainConfig', 'PRESETS', 'BOOK_FIELDS', 'model_defaults', 'resolve', 'OPTIMIZERS',
           'KVSTORES', 'AMP_MODES', 'field_type_error']

OPTIMIZERS = tuple(engine.OPTIMIZERS)
KVSTORES = ('device', 'dist_sync', 'dist_async', 'dist_device_sync', 'horovod')
AMP_MODES = ('none', 'bf16')


def _flag(default, help: str):
    """A TrainConfig field with its flag's help: the one place each setting is explained
    (`train.py --help` reads it, `TrainConfig.help`)."""
    return field(default=default, metadata={'help': help})


@dataclass
class TrainConfig:
    """One flag of train.py per field; each field's help says what it is and why its default."""
    model: str = _flag('lenet', 'a name from gluon_cnn.list_models()')
    epochs: int = _flag(5, 'passes over the training set (d2l zh v1 §5.5 trains LeNet for 5; '
                           'the 2nd edition 10)')
    lr: float = _flag(0.9, 'learning rate; high because the sigmoid LeNet\'s gradients are small '
                           '(d2l zh §5.5)')
    batch_size: int = _flag(256, 'minibatch size')
    optimizer: str = _flag('sgd', 'sgd | momentum | nag | adam; momentum and nag use 0.9')
    wd: float = _flag(0.0, 'L2 weight decay, applied by the optimizer')
    seed: int = _flag(0, 'seeds numpy, mxnet and Python\'s random; same seed, same numbers')
    ctx: str = _flag('cpu', 'cpu, gpu, gpu:N, or a list for data parallelism over devices, e.g. '
                            'gpu:0,gpu:1 (cpu:0,cpu:1 runs the same code on one CPU)')
    dataset: str = _flag('fashion-mnist', 'fashion-mnist | mnist')
    data_dir: Optional[str] = _flag(None, 'folder with the four IDX files (default: look in '
                                          '$GLUON_CNN_DATA, Gluon\'s cache, /usr/share/datasets, '
                                          'then download)')
    out: Optional[str] = _flag(None, 'output folder (default runs/<model>-<timestamp>, made new)')
    hybridize: bool = _flag(True, 'compile net, loss and metrics to one static graph; off '
                                  '(--no-hybridize) runs imperatively, slower, easier to debug')
    limit: Optional[int] = _flag(None, 'train on the first N examples only (quick runs)')
    limit_test: Optional[int] = _flag(None, 'evaluate on the first N test examples only '
                                            '(default: all 10,000); with --limit, a quick run '
                                            'ends quickly')
    resize: Optional[int] = _flag(None, 'resize images to this side (default: the model\'s '
                                        'section\'s, e.g. 224 for AlexNet; else its input side; '
                                        '28x28 as they are for LeNet)')
    init: str = _flag('xavier', 'xavier (the book) or model: the model\'s own initializers, '
                                'MXNet\'s default Uniform(-0.07, 0.07) for plain layers')
    model_kwargs: dict = field(default_factory=dict, metadata={'help': (
        'JSON object of constructor arguments, e.g. \'{"act": "relu", "channels": [16, 32]}\' '
        '(exercise 5.5.1 sweep)')})
    lr_schedule: str = _flag('constant', 'constant (the book), cosine: per-update decay to 0 '
                                         '(SGDR, 2017), or lecun1998: the LeNet-5 paper\'s steps '
                                         'x1, x0.4 (epoch 3), x0.2 (6), x0.1 (9), x0.02 (13), '
                                         'scaled to --lr')
    warmup: float = _flag(0.0, 'epochs of linear lr warm-up, with --lr-schedule cosine (Goyal '
                               'et al., 2017)')
    augment: str = _flag('none', 'random 2-pixel shifts (crop) and/or horizontal flips of each '
                                 'training batch: none | crop | flip | crop-flip')
    label_smoothing: float = _flag(0.0, 'eps of label-smoothed cross-entropy (Szegedy et al., '
                                        '2016); 0 is the plain loss')
    widen: int = _flag(WIDEN, 'run conv pairs at channel counts rounded up to this multiple, '
                              'with the same math (oneDNN\'s fast kernels; '
                              'gluon_cnn.training.widen); 0: as built')
    fast_ops: bool = _flag(True, 'run each few-channel Conv2D and its pooling as one fused '
                                 'custom operator (gluon_cnn.backend.fastops, built with g++ by '
                                 'make setup; exact, faster on LeNet: docs/performance.md); '
                                 'where it does not apply, widened convolutions; without the '
                                 'library, MXNet\'s own operators after one note; '
                                 '--no-fast-ops: no attempt, no note')
    kvstore: str = _flag('device', 'how gradients are summed: device (in this process, over '
                                   '--ctx, d2l zh §8.5), or dist_sync/dist_async/dist_device_sync '
                                   'over workers started by python -m gluon_cnn.launch, or '
                                   'horovod under python -m gluon_cnn.launch --horovod')
    amp: str = _flag('none', 'mixed precision: bf16 runs MXNet AMP in bfloat16 (CPUs with '
                             'AVX512-BF16; opt-in)')

    @classmethod
    def help(cls, name: str, default: str = None) -> str:
        """The help of field `name` with its default ('(default 0.9)'); `default` words it when
        the dataclass's default is not the whole story (a model's section decides)."""
        f = cls.__dataclass_fields__[name]
        value = f.default if f.default is not dataclasses.MISSING else None
        shown = default if default is not None else value
        return f.metadata['help'] + ('' if shown is None else f' (default {shown})')

    def validate(self) -> 'TrainConfig':
        """Raise ConfigError on impossible values (the CLI shows it as one line, exit 2)."""
        for f in dataclasses.fields(self):
            wrong = field_type_error(f.name, getattr(self, f.name))
            if wrong:
                raise ConfigError(f'--{f.name.replace("_", "-")}: {wrong}',
                                  field=f'--{f.name.replace("_", "-")}')
        for name in ('epochs', 'batch_size'):
            if getattr(self, name) <= 0:
                raise ConfigError(f'--{name.replace("_", "-")} must be positive, '
                                  f'got {getattr(self, name)}', field=f'--{name.replace("_", "-")}')
        if not self.lr > 0:  # also catches NaN
            raise ConfigError(f'--lr must be positive, got {self.lr}', field='--lr')
        if self.wd < 0:
            raise ConfigError(f'--wd must be >= 0, got {self.wd}', field='--wd')
        for name in ('limit', 'limit_test'):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ConfigError(f'--{name.replace("_", "-")} must be positive, '
                                  f'got {getattr(self, name)}', field=f'--{name.replace("_", "-")}')
        if self.resize is not None and self.resize <= 0:
            raise ConfigError(f'--resize must be positive, got {self.resize}',
                              field='--resize')
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"unknown --lr-schedule {self.lr_schedule!r}; "
                              f"choose from {', '.join(LR_SCHEDULES)}", field='--lr-schedule')
        if not 0 <= self.warmup <= self.epochs:
            raise ConfigError(f'--warmup must be between 0 and --epochs ({self.epochs}), '
                              f'got {self.warmup}', field='--warmup')
        if self.warmup and self.lr_schedule != 'cosine':
            raise ConfigError('--warmup needs --lr-schedule cosine', field='--warmup')
        if self.augment not in AUGMENTS:
            raise ConfigError(f"unknown --augment {self.augment!r}; "
                              f"choose from {', '.join(AUGMENTS)}", field='--augment')
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f'--label-smoothing must be in [0, 1), got {self.label_smoothing}',
                              field='--label-smoothing')
        if not isinstance(self.model_kwargs, dict):
            raise ConfigError(f'--model-kwargs must be a JSON object, got {self.model_kwargs!r}',
                              field='--model-kwargs')
        if self.widen < 0:
            raise ConfigError(f'--widen must be >= 0 (0 turns it off), got {self.widen}',
                              field='--widen')
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown --optimizer {self.optimizer!r}; "
                              f"choose from {', '.join(OPTIMIZERS)}", field='--optimizer')
        if self.kvstore not in KVSTORES:
            raise ConfigError(f"unknown --kvstore {self.kvstore!r}; "
                              f"choose from {', '.join(KVSTORES)}", field='--kvstore')
        if self.kvstore == 'dist_async' and (self.optimizer != 'sgd'
                                             or self.lr_schedule != 'constant'):
            raise ConfigError('--kvstore dist_async updates on the servers, whose optimizer states '
                              'and lr schedule cannot be checkpointed; use --optimizer sgd with a '
                              'constant lr, or --kvstore dist_sync', field='--kvstore')
        if self.amp not in AMP_MODES:
            raise ConfigError(f"unknown --amp {self.amp!r}; choose from {', '.join(AMP_MODES)}",
                              field='--amp')
        return self

    def settings(self) -> str:
        """'lr 0.05, batch 256, 96x96, 5 epochs': what the run's first line says it trains with."""
        side = f', {self.resize}x{self.resize}' if self.resize else ''
        return f'lr {self.lr:g}, batch {self.batch_size}{side}, {self.epochs} epochs'

    def replace(self, **changes) -> 'TrainConfig':
        return dataclasses.replace(self, **changes)


_KINDS = {int: 'an integer', float: 'a number', str: 'a string', bool: 'true or false',
          dict: 'a JSON object'}


def field_type_error(name: str, value) -> Optional[str]:
    """Why `value` cannot be TrainConfig field `name` ("expected an integer, got '64'"), or None.
    A hand-edited metrics.json or a caller's TrainConfig(batch_size='64') ends here, not in a
    TypeError deep in training. Unknown names are not checked."""
    hints = typing.get_type_hints(TrainConfig)
    if name not in hints:
        return None
    kind, optional = hints[name], False
    if typing.get_origin(kind) is typing.Union:  # Optional[X]
        kind, optional = [a for a in typing.get_args(kind) if a is not type(None)][0], True
    if value is None and optional:
        return None
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float else
          isinstance(value, int) and not isinstance(value, bool) if kind is int else
          isinstance(value, kind))
    if ok:
        return None
    return (f'expected {_KINDS.get(kind, kind.__name__)}{" or null" if optional else ""}, '
            f'got {value!r}')


# Each preset reproduces a row of papers/; `--preset book` is the defaults.
PRESETS = {
    'book': {},  # d2l zh v1 §5.5 (1st edition): lenet, sgd lr 0.9, batch 256, 5 epochs, Xavier
    # the 2nd edition (d2l zh §6.6, d2l en §7.6): padding 2, average pooling, 10 epochs
    'book-2nd': {'model': 'lenet-en', 'epochs': 10},
    # papers/d2l-ch5.md, exercise 5.5.1: <= 100k parameters, >= 0.93 test accuracy
    # (papers/results/best.json)
    'best': {'model': 'lenet-best', 'epochs': 30, 'lr': 0.2, 'optimizer': 'nag', 'wd': 5e-4,
             'lr_schedule': 'cosine', 'warmup': 1.0, 'augment': 'crop-flip',
             'label_smoothing': 0.1},
    # d2l zh §5.10: BN allows a larger lr; papers/d2l-ch5.md
    'lenet-bn': {'model': 'lenet-bn', 'lr': 1.0},
    # papers/lecun1998-lenet5.md: 20 passes with the paper's step shape; momentum SGD stands in
    # for SDLM, so lr is ours (0.01 saturates the tanh units; 0.002 is x4 the paper's first SDLM lr)
    'lenet5-paper': {'model': 'lenet5', 'epochs': 20, 'lr': 0.002, 'optimizer': 'momentum',
                     'lr_schedule': 'lecun1998', 'init': 'model'},
}


# the fields a model's section decides (models.registry.BookTraining)
BOOK_FIELDS = ('lr', 'batch_size', 'epochs', 'resize')


def model_defaults(model: str) -> dict:
    """The settings `model`'s book section trains it with, {field: value} over BOOK_FIELDS; for
    a model the book does not train, only the resize its input needs (or nothing)."""
    info = model_info(model)
    if info.book is None:
        side = info.needs_resize()
        return {'resize': side} if side else {}
    return {name: getattr(info.book, name) for name in BOOK_FIELDS
            if getattr(info.book, name) is not None}


def resolve(given: dict) -> TrainConfig:
    """A config from the fields given (a preset's, then flags): what is not given comes from the
    model's section (model_defaults), then from TrainConfig's defaults."""
    model = given.get('model', TrainConfig.model)
    return TrainConfig(**{**model_defaults(model), **given})
