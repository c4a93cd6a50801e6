"""Fashion-MNIST and MNIST from IDX files, offline, and fast in-memory minibatches.

d2l zh §3.5 loads Fashion-MNIST through Gluon's `FashionMNIST`, which downloads and checks sha1.
Debian's `dataset-fashion-mnist` ships the same images recompressed, so Gluon rejects them; we
read IDX ourselves (gz or raw), validating every header against the file size before allocating.

Where the files are looked for, in order (first hit wins):
  1. an explicit `data_dir` argument (`--data-dir`): only there, nothing else is tried
  2. `$GLUON_CNN_DATA` (the folder itself, or its `<dataset>/` subfolder)
  3. Gluon's cache, `$MXNET_HOME/datasets/<dataset>` (default `~/.mxnet/datasets/...`)
  4. `/usr/share/datasets/<dataset>` (Debian's dataset-fashion-mnist)
  5. Gluon's own download into its cache, for users with internet
"""
import contextlib
import gzip
import io
import math
import os
import struct
import zlib
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import mxnet as mx
import numpy as np

from .errors import DataError

__all__ = ['read_idx', 'find_data_dir', 'load_dataset', 'Split', 'ArrayIter',
           'load_data_fashion_mnist', 'DATASETS', 'FASHION_MNIST_LABELS', 'get_labels']

DATASETS = ('fashion-mnist', 'mnist')
FILES = {'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
         'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')}
FASHION_MNIST_LABELS = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat',
                        'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot']  # d2l zh §3.5
NUM_CLASSES = 10
DEBIAN_DIR = Path('/usr/share/datasets')

# IDX type byte -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT")
_IDX_DTYPES = {0x08: '>u1', 0x09: '>i1', 0x0B: '>i2', 0x0C: '>i4', 0x0D: '>f4', 0x0E: '>f8'}
_MAX_IDX_BYTES = 1 << 32  # 4 GiB; no MNIST-like file comes near it
_MAX_DEFLATE_RATIO = 1032  # deflate's best compression (a run of zeros): bounds gzip payloads


def get_labels(dataset: str, labels) -> list:
    """Text labels for numeric ones (d2l zh §3.5 `get_fashion_mnist_labels`)."""
    names = FASHION_MNIST_LABELS if dataset == 'fashion-mnist' else [str(i) for i in range(10)]
    return [names[int(i)] for i in labels]


# ----------------------------------------------------------------------------- IDX reader
def read_idx(path) -> np.ndarray:
    """Read one IDX file (gzip-compressed or raw) into a native-endian numpy array.

    The header is checked against the file's size before the payload is allocated, so a header
    claiming 10**9 images is refused at once. Any problem raises DataError naming the file.
    """
    path = Path(path)
    try:
        with open(path, 'rb') as raw:
            head = raw.read(4)
            gz = head[:2] == b'\x1f\x8b'
            if path.suffix == '.gz' and not gz and not _is_idx_magic(head):
                raise DataError(f'{path}: not a gzip file (it starts with {head!r}; a failed '
                                'download often saves an error page under the file name)')
            size = raw.seek(0, os.SEEK_END)
            raw.seek(0)
            f = gzip.GzipFile(fileobj=raw) if gz else raw
            dtype, shape = _read_header(f, path)
            need = math.prod(shape) * np.dtype(dtype).itemsize
            if gz:
                buf = _read_gzip_payload(f, need, size, shape, path)
            else:
                have = size - 4 - 4 * len(shape)
                if need != have:
                    what = 'truncated' if need > have else 'longer than its header says'
                    raise DataError(f'{path}: {what}: header {shape} needs {need:,} data bytes, '
                                    f'file holds {have:,}')
                buf = f.read(need)
                if len(buf) != need:
                    raise DataError(f'{path}: truncated: expected {need:,} data bytes, '
                                    f'read {len(buf):,}')
    except FileNotFoundError:
        raise DataError(f'{path}: no such file') from None
    except EOFError:  # gzip: "Compressed file ended before the end-of-stream marker was reached"
        raise DataError(f'{path}: truncated gzip file (the compressed stream ends early)') from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f'{path}: corrupt gzip stream ({e})') from None
    except OSError as e:
        raise DataError(f'{path}: cannot read ({e.strerror or e})') from None
    return np.frombuffer(buf, dtype=dtype).astype(np.dtype(dtype).newbyteorder('='), copy=False) \
        .reshape(shape)


def _is_idx_magic(head: bytes) -> bool:
    return len(head) == 4 and head[:2] == b'\0\0' and head[2] in _IDX_DTYPES and 1 <= head[3] <= 4


def _read_gzip_payload(f, need: int, compressed: int, shape, path: Path) -> bytearray:
    """Exactly `need` decompressed bytes, then end of stream (which makes gzip check its CRC).

    The gzip trailer's size field cannot be trusted in a truncated file, so the size is bounded
    by deflate's best ratio instead: a header asking for more than that is refused unallocated.
    """
    if need > _MAX_DEFLATE_RATIO * compressed:
        raise DataError(f'{path}: header {shape} needs {need:,} data bytes, more than '
                        f'{compressed:,} compressed bytes can hold: truncated, or a corrupt header')
    buf = bytearray(need)
    view, got = memoryview(buf), 0
    while got < need:
        k = f.readinto(view[got:])
        if not k:
            raise DataError(f'{path}: truncated: header {shape} needs {need:,} data bytes, '
                            f'the stream holds {got:,}')
        got += k
    if f.read(1):
        raise DataError(f'{path}: longer than its header says: header {shape} needs {need:,} data '
                        'bytes, the stream holds more')
    return buf


def _read_header(f, path: Path):
    """Magic (0, 0, type, ndim) and the ndim big-endian uint32 dimensions."""
    magic = f.read(4)
    if len(magic) < 4:
        raise DataError(f'{path}: truncated: no IDX header')
    zero, code, ndim = struct.unpack('>HBB', magic)
    if zero != 0 or code not in _IDX_DTYPES or not 1 <= ndim <= 4:
        raise DataError(f'{path}: not an IDX file (wrong magic number 0x{magic.hex()})')
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataError(f'{path}: truncated: IDX header cut short')
    shape = struct.unpack(f'>{ndim}I', dims)
    if math.prod(shape) * np.dtype(_IDX_DTYPES[code]).itemsize >= _MAX_IDX_BYTES:
        raise DataError(f'{path}: header claims shape {shape}, over 4 GiB: a corrupt header')
    return _IDX_DTYPES[code], shape


# ----------------------------------------------------------------------------- lookup
def _files_in(folder: Path, split: str):
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
    return all(_files_in(folder, s) for s in FILES)


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
            raise DataError(f'--data-dir {folder}: no such directory')
        if not _complete(folder):
            missing = [s + '[.gz]' for split in FILES for s in FILES[split]
                       if not _files_in(folder, split)]
            raise DataError(f"--data-dir {folder}: no {dataset} IDX files there "
                            f"(need {', '.join(sorted(set(missing)))})")
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


# ----------------------------------------------------------------------------- arrays
class Split(NamedTuple):
    """One split in memory: images (N, 28, 28) uint8 and labels (N,) uint8."""
    images: np.ndarray
    labels: np.ndarray


def load_dataset(dataset: str = 'fashion-mnist', data_dir=None, download: bool = True):
    """(train, test) Splits of `dataset`, read from IDX and validated (counts, labels 0-9)."""
    folder = find_data_dir(dataset, data_dir, download)
    return tuple(_load_split(*_files_in(folder, split)) for split in ('train', 'test'))


@lru_cache(maxsize=4)
def _load_split(images_path: Path, labels_path: Path) -> Split:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f'{images_path}: expected uint8 images (N, H, W), got {images.dtype} '
                        f'{images.shape}')
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(f'{labels_path}: expected uint8 labels (N,), '
                        f'got {labels.dtype} {labels.shape}')
    if len(images) != len(labels):
        raise DataError(f'{images_path.parent}: {len(images):,} images in {images_path.name} but '
                        f'{len(labels):,} labels in {labels_path.name}')
    if len(labels) and labels.max() >= NUM_CLASSES:
        bad = int(np.argmax(labels >= NUM_CLASSES))
        raise DataError(f'{labels_path}: label {labels[bad]} at index {bad} is out of range 0-9')
    images.flags.writeable = labels.flags.writeable = False  # shared by the lru_cache
    return Split(images, labels)


# ----------------------------------------------------------------------------- iterators
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
        self.rng = np.random.RandomState(seed)

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
            if mx.util.is_np_array():  # d2l 1.x readers call npx.set_np()
                X, y = X.as_np_ndarray(), y.as_np_ndarray()
            yield X, y


def load_data_fashion_mnist(batch_size: int, resize=None, root=None, ctx=None,
                            dataset='fashion-mnist'):
    """The book's `load_data_fashion_mnist` (d2l zh §3.5), offline: (train_iter, test_iter).

    Batches are float32 (B, 1, H, W) in [0, 1] and labels (B,); the train iterator reshuffles
    every epoch. `root` is a data folder (see the module docstring for where we look otherwise).
    """
    train, test = load_dataset(dataset, root)
    return (ArrayIter(train, batch_size, shuffle=True, ctx=ctx, resize=resize),
            ArrayIter(test, batch_size, shuffle=False, ctx=ctx, resize=resize))
