"""A dataset's splits in memory, validated where they are loaded, and its class names."""
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import DataError
from .files import files_in, find_data_dir
from .idx import read_idx

__all__ = ['Split', 'load_dataset', 'get_labels', 'FASHION_MNIST_LABELS', 'NUM_CLASSES']

FASHION_MNIST_LABELS = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat',
                        'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot']  # d2l zh §3.5
NUM_CLASSES = 10


def get_labels(dataset: str, labels) -> list:
    """Text labels for numeric ones (d2l zh §3.5 `get_fashion_mnist_labels`)."""
    names = FASHION_MNIST_LABELS if dataset == 'fashion-mnist' else [str(i) for i in range(10)]
    return [names[int(i)] for i in labels]


class Split(NamedTuple):
    """One split in memory: images (N, 28, 28) uint8 and labels (N,) uint8."""
    images: np.ndarray
    labels: np.ndarray


def load_dataset(dataset: str = 'fashion-mnist', data_dir=None, download: bool = True):
    """(train, test) Splits of `dataset`, read from IDX and validated (counts, labels 0-9), and
    checked to be trainable: neither split empty, test images the size of the training images."""
    folder = find_data_dir(dataset, data_dir, download)
    paths = {split: files_in(folder, split) for split in ('train', 'test')}
    train, test = (_load_split(*paths[split]) for split in ('train', 'test'))
    for split, name in ((train, 'train'), (test, 'test')):
        if not len(split.labels):
            raise DataError(f'{paths[name][0]}: 0 images in the {name} split; nothing to '
                            f'{"train on" if name == "train" else "test on"} (a truncated or '
                            f'placeholder file? get the full {dataset} files)', path=paths[name][0])
    if train.images.shape[1:] != test.images.shape[1:]:
        (h, w), (th, tw) = train.images.shape[1:], test.images.shape[1:]
        raise DataError(f'{paths["test"][0]}: test images are {th}x{tw} but the training images '
                        f'in {paths["train"][0].name} are {h}x{w}; both splits must be of one '
                        f'size', path=paths['test'][0])
    return train, test


@lru_cache(maxsize=4)
def _load_split(images_path: Path, labels_path: Path) -> Split:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f'{images_path}: expected uint8 images (N, H, W), got {images.dtype} '
                        f'{images.shape}', path=images_path)
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(f'{labels_path}: expected uint8 labels (N,), '
                        f'got {labels.dtype} {labels.shape}', path=labels_path)
    if len(images) != len(labels):
        raise DataError(f'{images_path.parent}: {len(images):,} images in {images_path.name} but '
                        f'{len(labels):,} labels in {labels_path.name}', path=images_path.parent)
    if len(labels) and labels.max() >= NUM_CLASSES:
        bad = int(np.argmax(labels >= NUM_CLASSES))
        raise DataError(f'{labels_path}: label {labels[bad]} at index {bad} is out of range 0-9',
                        path=labels_path)
    images.flags.writeable = labels.flags.writeable = False  # shared by the lru_cache
    return Split(images, labels)
