"""Short real-data trainings for the exercises that need them (§5.6-§5.11 and 5.10.2-5.10.4).

They use the project's engine on the first `limit` Fashion-MNIST training images for a few
epochs, and the test set (or its first `test_limit` images): minutes on 2 cores, not hours.
"""
import math
import time

from mxnet import gluon, init

from .. import data as gdata
from ..training import engine
from ..training.seeding import seed_everything
from ..errors import DivergedError

__all__ = ['fit', 'TRAIN_DEFAULTS']

TRAIN_DEFAULTS = {'limit': 10000, 'epochs': 3}  # 30k example-passes per run: ~8 s on 2 cores


def fit(net, lr: float, epochs: int = 3, limit: int = 10000, test_limit: int = None,
        batch_size: int = 256, seed: int = 0, resize: int = None, history: bool = False) -> dict:
    """Initialize `net` (Xavier, as the book), train with SGD, return the last epoch's metrics.

    resize : side the 28x28 images are resized to (the book's 224 or 96), None to keep 28.
    history : also return every epoch's metrics under 'history'.
    A diverged run returns test_acc nan and diverged=True instead of raising.
    """
    seed_everything(seed)
    train, test = gdata.load_dataset()
    train_iter = gdata.ArrayIter(train, batch_size, shuffle=True, seed=seed, limit=limit,
                                 resize=resize)
    test_iter = gdata.ArrayIter(test, batch_size, limit=test_limit, resize=resize)
    net.initialize(init.Xavier())
    trainer = engine.make_trainer(net, 'sgd', lr)
    start = time.time()
    try:
        runs = engine.train(net, train_iter, test_iter, gluon.loss.SoftmaxCrossEntropyLoss(),
                           trainer, epochs, on_epoch=None)
    except DivergedError:
        return {'test_acc': math.nan, 'train_acc': math.nan, 'diverged': True,
                'wall': time.time() - start, **({'history': []} if history else {})}
    extra = {'history': runs} if history else {}
    return {**runs[-1], 'diverged': False, 'wall': time.time() - start, **extra}
