"""Gluon's own dataset readers, made to read local files: `gluon.data.vision.FashionMNIST` and
`MNIST` as the book builds them (d2l zh §5.6), offline.

Nothing changes until `read_gluon_datasets_locally()` is called; `gluon_cnn.book` calls it when it
is imported, and gluon_cnn.book2 when the 2nd edition's `d2l.mxnet` is, so the book's code runs
as printed on a machine with the IDX files and no internet.
Each dataset's `root` is looked in first, then `gluon_cnn.data`'s usual places; with no local
files Gluon downloads as before, and a download that fails (offline) is one DataError saying
where to put the files. Everything else in gluon-cnn reads IDX files itself.
"""
from typing import Optional

from ..errors import DataError
from ..backend import internals
from .files import DATASETS, DEBIAN_DIR, FILES, find_data_dir
from .splits import load_dataset

__all__ = ['read_gluon_datasets_locally', 'folder_with']


# examples kept of each local split (None: all); the 2nd edition's quick mode sets it
_limit = [None]


def read_gluon_datasets_locally(limit: Optional[int] = None) -> None:
    """From now on, Gluon's MNIST and FashionMNIST read local IDX files where there are some.
    Idempotent. limit: keep the first `limit` examples of each split read locally (training cut
    short, gluon_cnn.book2's quick mode); a later call without it keeps the one set."""
    if limit is not None:
        _limit[0] = limit
    internals.read_mnist_locally(_local_split, _download_failed)


def _download_failed(dataset: str, root, error: Exception) -> DataError:
    """The one line for Gluon's failed download: what failed, and where to put the files."""
    why = str(error).strip().splitlines()[-1][:100] if str(error).strip() else ''
    files = ', '.join(f'{name}.gz' for split in FILES.values() for name in split)
    hint = (" (or 'apt-get install dataset-fashion-mnist')" if dataset == 'fashion-mnist'
            else '')
    return DataError(f'{dataset}: no local files and Gluon\'s download failed '
                     f'({type(error).__name__}{": " + why if why else ""}); put {files} in '
                     f'{root}, $GLUON_CNN_DATA or {DEBIAN_DIR / dataset}{hint}')


def folder_with(root, dataset: str = 'fashion-mnist'):
    """`root` if it holds the dataset's IDX files, else None (search the usual places)."""
    if root is None:
        return None
    try:
        return find_data_dir(dataset, root, download=False)
    except DataError:
        return None


def _local_split(dataset: str, train: bool, root):
    """(images, labels) of one split for Gluon's MNIST/FashionMNIST, or None to let it download."""
    if dataset not in DATASETS:
        return None
    try:
        splits = load_dataset(dataset, folder_with(root, dataset), download=False)
    except DataError:
        return None
    images, labels = splits[0] if train else splits[1]
    return (images, labels) if _limit[0] is None else (images[:_limit[0]], labels[:_limit[0]])
