"""A finished run folder, loaded: its net rebuilt with the trained weights, its config and
history, and its test images fed as in training.

A run folder (`gluon_cnn.app.run`'s --out) holds model.params and its run record, whose config
says how to rebuild the net (`get_model(config.model, **config.model_kwargs)`) and feed it test
images.
"""
import dataclasses
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
from mxnet import gluon

from .. import data as gdata
from ..errors import ConfigError
from ..models import ModelInfo, model_info
from ..models.arguments import build_model
from .checkpoint import load_params
from .config import TrainConfig
from .record import METRICS_FILE, read_record

__all__ = ['Run', 'load_run', 'test_iter', 'test_image']


@dataclasses.dataclass
class Run:
    dir: Path
    cfg: TrainConfig
    net: gluon.Block
    history: list

    @property
    def info(self) -> ModelInfo:
        return model_info(self.cfg.model)

    def class_names(self) -> list:
        """The names of classes 0..9 of the run's dataset ('T-shirt/top', ...; '0'.. for MNIST)."""
        return gdata.get_labels(self.cfg.dataset, range(gdata.NUM_CLASSES))


def load_run(run_dir, ctx=None) -> Run:
    """The trained net of a run folder (imperative, on ctx) with its config and epoch history."""
    run_dir = Path(run_dir)
    params = run_dir / 'model.params'
    record = read_record(run_dir)
    if not params.is_file():
        raise ConfigError(f'--run {run_dir}: no {params.name} there (the run has not finished); '
                          f'train with `python train.py --out {run_dir}` first')
    cfg = record.config
    net = build_model(cfg.model, cfg.model_kwargs, flag=f'{run_dir / METRICS_FILE}: model_kwargs')
    load_params(net, params, ctx, what=f'does not fit the {cfg.model} its {METRICS_FILE} '
                f'describes, or is damaged', fix=f'; retrain with `python train.py --out '
                f'{run_dir} --overwrite`')
    return Run(run_dir, cfg, net, record.history)


def test_iter(run: Run, batch_size: int = 500, limit: Optional[int] = None):
    """(iterator, raw test Split): test images fed as in training (pad, value range, resize)."""
    _, test = gdata.load_dataset(run.cfg.dataset, run.cfg.data_dir)
    it = gdata.ArrayIter(test, batch_size, limit=limit, resize=run.cfg.resize, pad=run.info.pad,
                         value_range=run.info.value_range)
    return it, test


def test_image(run: Run, index: int) -> Tuple[np.ndarray, int]:
    """Test image `index` (C, H, W), fed as in training, and its label."""
    it, test = test_iter(run, batch_size=index + 1, limit=index + 1)
    if not 0 <= index < len(test.labels):
        raise ConfigError(f'--image {index}: the test set has images 0..{len(test.labels) - 1}')
    return next(iter(it))[0].asnumpy()[index], int(test.labels[index])
