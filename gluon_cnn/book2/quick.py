"""Quick mode: the 2nd edition's training sections, cut short without editing the book's lines.

    GLUON_CNN_BOOK_QUICK=1                              # 1 epoch of 5 batches of at most 16
    GLUON_CNN_BOOK_QUICK=epochs=2,batches=5,batch_size=32

Every training in d2l en ch.7-8 and zh ch.6-7 goes through one of three doors of d2l 1.0.3,
and each is narrowed here: `d2l.Trainer.fit` (en) trains at most `epochs` epochs,
`d2l.train_ch6` (zh) as well, and `d2l.FashionMNIST` (en) and `d2l.load_data_fashion_mnist` (zh)
batch at most `batch_size` examples; Gluon's FashionMNIST keeps the first batches * batch_size
examples of each split (gluon_cnn.data.offline). zh §6.6 trains with its own copy of `train_ch6`,
so only its data is cut there. d2l's `train_ch6` plots every num_batches // 5 batches, hence at
least 5 batches.
"""
import functools
import os
from types import ModuleType
from typing import NamedTuple, Optional

from ..errors import ConfigError

__all__ = ['ENV', 'Limits', 'limits', 'cut_short']

ENV = 'GLUON_CNN_BOOK_QUICK'


class Limits(NamedTuple):
    epochs: int = 1
    batches: int = 5  # d2l's train_ch6 divides by num_batches // 5
    batch_size: int = 16

    @property
    def examples(self) -> int:
        return self.batches * self.batch_size


def limits(text: Optional[str] = None) -> Optional[Limits]:
    """The limits $GLUON_CNN_BOOK_QUICK asks for (or `text`), None when quick mode is off."""
    text = os.environ.get(ENV, '') if text is None else text
    if text.strip() in ('', '0'):
        return None
    if text.strip() == '1':
        return Limits()
    given = {}
    for part in text.split(','):
        key, _, value = part.partition('=')
        if key.strip() not in Limits._fields or not value.strip().isdigit() or int(value) < 1:
            raise ConfigError(f'{ENV}={text!r}: give 1, or some of epochs=N,batches=N,'
                              f'batch_size=N with N >= 1')
        given[key.strip()] = int(value)
    found = Limits(**given)
    if found.batches < 5:
        raise ConfigError(f'{ENV}={text!r}: batches must be at least 5 (d2l.train_ch6 plots '
                          f'every num_batches // 5 batches)')
    return found


def cut_short(d2l: ModuleType, limits: Limits) -> None:
    """Narrow d2l's training and data doors to `limits` (once per module)."""
    if getattr(d2l, '_gluon_cnn_quick', None) is not None:
        return
    d2l._gluon_cnn_quick = limits
    fit = d2l.Trainer.fit

    @functools.wraps(fit)
    def short_fit(self, model, data):
        self.max_epochs = min(self.max_epochs, limits.epochs)
        return fit(self, model, data)
    d2l.Trainer.fit = short_fit

    fashion_init = d2l.FashionMNIST.__init__

    @functools.wraps(fashion_init)
    def small_batches(self, batch_size=64, resize=(28, 28)):
        fashion_init(self, batch_size=min(batch_size, limits.batch_size), resize=resize)
    d2l.FashionMNIST.__init__ = small_batches

    load = d2l.load_data_fashion_mnist

    @functools.wraps(load)
    def load_data_fashion_mnist(batch_size, resize=None):
        return load(min(batch_size, limits.batch_size), resize)
    d2l.load_data_fashion_mnist = load_data_fashion_mnist

    train_ch6 = d2l.train_ch6

    @functools.wraps(train_ch6)
    def short_train_ch6(net, train_iter, test_iter, num_epochs, lr, device):
        return train_ch6(net, train_iter, test_iter, min(num_epochs, limits.epochs), lr, device)
    d2l.train_ch6 = short_train_ch6
