"""Where the IDX files of a dataset are, in the order of `gluon_cnn.data`'s docstring, and
Gluon's own download for users with internet."""
import contextlib
import io
import os
from pathlib import Path

import mxnet as mx

from ..errors import DataError

__all__ = ['DATASETS', 'FILES', 'DEBIAN_DIR', 'find_data_dir', 'files_in']

DATASETS = ('fashion-mnist', 'mnist')
FILES = {'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
         'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')}
DEBIAN_DIR = Path('/usr/share/datasets')


def files_in(folder: Path, split: str):
    """The (images, labels) paths of `split` in `folder`, .gz preferred, or None if absent."""
    found = []
    for stem in FILES[split]:
        hit = next((folder / (stem + ext) for ext in ('.gz', '')
                    if (folder / (stem + ext)).is_file()),
                   None)
        if hit is None:
            return None
        found.append(hit)
    return tuple(found)


def _complete(folder: Path) -> bool:
    return all(files_in(folder, s) for s in FILES)


def _candidates(dataset: str):
    """(where, folder) pairs in lookup order 2-4 (the explicit folder is handled apart)."""
    env = os.environ.get('GLUON_CNN_DATA')
    if env:
        yield '$GLUON_CNN_DATA', Path(env)
        yield '$GLUON_CNN_DATA', Path(env) / dataset
    yield "Gluon's cache", Path(mx.base.data_dir()) / 'datasets' / dataset
    yield 'Debian', DEBIAN_DIR / dataset


def find_data_dir(dataset: str = 'fashion-mnist', data_dir=None, download: bool = True) -> Path:
    """The folder holding the four IDX files of `dataset`, in the module's lookup order."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    if data_dir is not None:
        folder = Path(data_dir).expanduser()
        if not folder.is_dir():
            raise DataError(f'--data-dir {folder}: no such directory', path=folder)
        if not _complete(folder):
            missing = [s + '[.gz]' for split in FILES for s in FILES[split]
                       if not files_in(folder, split)]
            raise DataError(f"--data-dir {folder}: no {dataset} IDX files there "
                            f"(need {', '.join(sorted(set(missing)))})", path=folder)
        return folder
    looked = []
    for where, folder in _candidates(dataset):
        if _complete(folder):
            return folder
        looked.append(f'{folder} ({where})')
    if download:
        folder, why = _gluon_download(dataset)
        if folder is not None:
            return folder
        looked.append(f'Gluon download ({why})')
    hint = ("'apt-get install dataset-fashion-mnist'" if dataset == 'fashion-mnist'
            else 'the four MNIST IDX files from yann.lecun.com/exdb/mnist')
    raise DataError(f"{dataset} not found; looked in: {'; '.join(looked)}. "
                    f"Get it with {hint} and/or pass --data-dir DIR or set GLUON_CNN_DATA")


def _gluon_download(dataset: str):
    """Let Gluon fetch the files into its cache; (folder, None) or (None, why it failed)."""
    cls = {'fashion-mnist': mx.gluon.data.vision.FashionMNIST,
           'mnist': mx.gluon.data.vision.MNIST}[dataset]
    root = Path(mx.base.data_dir()) / 'datasets' / dataset
    quiet = io.StringIO()  # Gluon prints a line per retry; our error message says it all
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            for train in (True, False):
                cls(root=str(root), train=train)
    except Exception as e:  # Gluon raises bare Exceptions, URLErrors and ConnectionErrors
        return None, f'{type(e).__name__}, no network?' if 'onnection' in repr(e) else str(e)[:100]
    return (root, None) if _complete(root) else (None, 'files missing after download')
