"""Minibatches from memory: the book's `load_data_fashion_mnist` (d2l zh §3.5), fast."""
import mxnet as mx
import numpy as np

from ..backend import npmode
from .splits import Split, load_dataset

__all__ = ['ArrayIter', 'load_data_fashion_mnist']


class ArrayIter:
    """Minibatches from arrays held in memory on `ctx`, as (X float32 (B, 1, H, W), y float32 (B,)).

    The whole split is normalized once into one float32 NDArray (188 MB for Fashion-MNIST train),
    so a batch costs one gather on the device and no Python-side copying. Like the book's
    DataLoader, the last batch may be short and training batches are reshuffled every epoch.

    pad : zero-pixels added on each side (2 turns 28x28 into LeNet-5's 32x32).
    value_range : (background, foreground) values for pixel 0 and 255; the book uses (0, 1).
    resize : side length to resize to per batch (bilinear), as the book's `Resize` transform.
    """

    def __init__(self, split: Split, batch_size: int, shuffle: bool = False, ctx=None, seed=None,
                 limit=None, pad: int = 0, value_range=(0.0, 1.0), resize=None):
        images, labels = split.images[:limit], split.labels[:limit]
        lo, hi = value_range
        x = images.astype(np.float32)[:, None] * ((hi - lo) / 255.0) + lo  # (N, 1, 28, 28)
        if pad:
            x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=lo)
        self.ctx = ctx or mx.cpu()
        self.X = mx.nd.array(x, ctx=self.ctx, dtype='float32')
        self.y = mx.nd.array(labels, ctx=self.ctx, dtype='float32')
        self.batch_size, self.shuffle, self.resize = batch_size, shuffle, resize
        # no seed: draw one from numpy's global generator, so that seeding once (seed_everything,
        # or the book's own np.random.seed) fixes the shuffle too
        self.rng = np.random.RandomState(np.random.randint(2 ** 31 - 1) if seed is None else seed)

    def __len__(self):
        return -(-len(self.y) // self.batch_size)

    @property
    def num_examples(self) -> int:
        return len(self.y)

    def __iter__(self):
        n, b = len(self.y), self.batch_size
        order = self.rng.permutation(n) if self.shuffle else None
        idx = mx.nd.array(order, ctx=self.ctx, dtype='int32') if order is not None else None
        for i in range(0, n, b):
            if idx is None:
                X, y = self.X[i:i + b], self.y[i:i + b]  # views, no copy
            else:
                X, y = mx.nd.take(self.X, idx[i:i + b]), mx.nd.take(self.y, idx[i:i + b])
            if self.resize:
                X = mx.nd.contrib.BilinearResize2D(X, height=self.resize, width=self.resize)
            yield npmode.as_mode(X, y)  # np arrays after npx.set_np(), as d2l 1.x readers use


def load_data_fashion_mnist(batch_size: int, resize=None, root=None, ctx=None,
                            dataset='fashion-mnist'):
    """The book's `load_data_fashion_mnist` (d2l zh §3.5), offline: (train_iter, test_iter).

    Batches are float32 (B, 1, H, W) in [0, 1] and labels (B,); the train iterator reshuffles
    every epoch. `root` is a data folder (see the module docstring for where we look otherwise).
    """
    train, test = load_dataset(dataset, root)
    return (ArrayIter(train, batch_size, shuffle=True, ctx=ctx, resize=resize),
            ArrayIter(test, batch_size, shuffle=False, ctx=ctx, resize=resize))
