"""Seeds: the one place where a run's random generators are set."""
import random

import mxnet as mx
import numpy as np

__all__ = ['seed_everything', 'epoch_seed']


def seed_everything(seed: int):
    """The one place where a run is seeded: Python, numpy and MXNet's generators."""
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch `epoch` (0-based) of a run seeded `seed`: distinct, and < 2**31."""
    return (seed * 1_000_003 + epoch + 1) % (2 ** 31 - 1)
