"""The IDX reader against files we write ourselves and against the real Fashion-MNIST; the lookup
order; the in-memory iterators and the book's `load_data_fashion_mnist` contract."""
import gzip
import struct

import mxnet as mx
import numpy as np
import pytest
from mxnet import npx

from gluon_cnn import DataError
from gluon_cnn import data as gdata


def write_idx(path, array, compress=True):
    """An IDX file as the format defines it: magic (0, 0, type, ndim), big-endian dims, data."""
    code = {np.uint8: 0x08, np.int32: 0x0C, np.float32: 0x0D}[array.dtype.type]
    payload = (struct.pack('>HBB', 0, code, array.ndim)
               + struct.pack(f'>{array.ndim}I', *array.shape))
    payload += array.astype(array.dtype.newbyteorder('>')).tobytes()
    with (gzip.open if compress else open)(path, 'wb') as f:  # closed: Python 3.12's gzip buffers
        f.write(payload)
    return path


def write_dataset(folder, n_train=12, n_test=5, compress=True, seed=0):
    """A tiny fake dataset with the four standard file names."""
    rng = np.random.RandomState(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ext = '.gz' if compress else ''
    for split, n in (('train', n_train), ('test', n_test)):
        images_name, labels_name = gdata.FILES[split]
        write_idx(folder / (images_name + ext),
                  rng.randint(0, 256, (n, 28, 28)).astype(np.uint8), compress)
        write_idx(folder / (labels_name + ext), rng.randint(0, 10, n).astype(np.uint8), compress)
    return folder


@pytest.mark.parametrize('compress', [True, False], ids=['gz', 'raw'])
@pytest.mark.parametrize('array', [np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
                                   np.array([-5, 7, 1 << 20], dtype=np.int32),
                                   np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2)],
                         ids=['uint8-3d', 'int32-1d', 'float32-2d'])
def test_read_idx_roundtrip(tmp_path, array, compress):
    got = gdata.read_idx(write_idx(tmp_path / 'a.idx', array, compress))
    assert got.dtype == array.dtype and got.shape == array.shape
    np.testing.assert_array_equal(got, array)


def test_real_fashion_mnist():
    train, test = gdata.load_dataset('fashion-mnist', download=False)
    assert train.images.shape == (60_000, 28, 28) and test.images.shape == (10_000, 28, 28)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.uint8
    # Fashion-MNIST is balanced: 6,000 / 1,000 of each class 0-9
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert np.bincount(test.labels).tolist() == [1000] * 10
    # the first training labels as published (ankle boot, t-shirt, t-shirt, dress, t-shirt, ...)
    assert train.labels[:5].tolist() == [9, 0, 0, 3, 0]


def test_lookup_order(tmp_path, monkeypatch):
    explicit, env, cache, debian = (write_dataset(tmp_path / d / 'fashion-mnist', seed=i)
                                    for i, d in enumerate(['explicit', 'env', 'cache', 'debian']))
    monkeypatch.setattr(gdata.files, 'DEBIAN_DIR', tmp_path / 'debian')
    monkeypatch.setenv('MXNET_HOME', str(tmp_path / 'cache'))
    (tmp_path / 'cache' / 'datasets').mkdir()
    (tmp_path / 'cache' / 'fashion-mnist').rename(tmp_path / 'cache' / 'datasets' / 'fashion-mnist')
    cache = tmp_path / 'cache' / 'datasets' / 'fashion-mnist'
    monkeypatch.setenv('GLUON_CNN_DATA', str(tmp_path / 'env'))  # the parent works too
    assert gdata.find_data_dir('fashion-mnist', explicit, download=False) == explicit
    assert gdata.find_data_dir('fashion-mnist', download=False) == env
    monkeypatch.delenv('GLUON_CNN_DATA')
    assert gdata.find_data_dir('fashion-mnist', download=False) == cache
    monkeypatch.setenv('MXNET_HOME', str(tmp_path / 'nowhere'))
    assert gdata.find_data_dir('fashion-mnist', download=False) == debian


def test_not_found_lists_every_place(tmp_path, monkeypatch):
    monkeypatch.setattr(gdata.files, 'DEBIAN_DIR', tmp_path / 'debian')
    monkeypatch.setenv('MXNET_HOME', str(tmp_path / 'cache'))
    monkeypatch.setenv('GLUON_CNN_DATA', str(tmp_path / 'env'))
    with pytest.raises(DataError) as e:
        gdata.find_data_dir('mnist', download=False)
    msg = str(e.value)
    for place in ('env', 'cache', 'debian'):
        assert str(tmp_path / place) in msg
    assert '\n' not in msg and '--data-dir' in msg


def test_explicit_dir_is_the_only_place(tmp_path):
    for folder in (tmp_path / 'missing', tmp_path / 'empty'):  # absent, then without IDX files
        with pytest.raises(DataError) as e:
            gdata.find_data_dir('fashion-mnist', folder)
        assert e.value.path == folder and str(e.value).startswith(f'--data-dir {folder}: ')
        folder.mkdir()


def test_mnist_from_data_dir(tmp_path):
    folder = write_dataset(tmp_path / 'mnist', n_train=7, n_test=3, compress=False)
    train, test = gdata.load_dataset('mnist', folder)
    assert train.images.shape == (7, 28, 28) and test.labels.shape == (3,)


def test_array_iter_covers_each_example_once_per_epoch(tmp_path):
    train, _ = gdata.load_dataset('mnist', write_dataset(tmp_path / 'd', n_train=10))
    it = gdata.ArrayIter(train, batch_size=4, shuffle=True, seed=0)
    assert len(it) == 3
    # identify examples by their (unique) pixel sums: every one appears exactly once
    expected = sorted(train.images.reshape(10, -1).sum(1) / 255.0)
    epochs = []
    for _ in range(2):
        batches = list(it)
        # the last batch is kept, like the book
        assert [b[0].shape[0] for b in batches] == [4, 4, 2]
        sums = np.concatenate([X.asnumpy().reshape(len(X), -1).sum(1) for X, _ in batches])
        np.testing.assert_allclose(sorted(sums), expected, rtol=1e-5)
        # labels travel with their images
        for X, y in batches:
            for x_row, label in zip(X.asnumpy().reshape(len(X), -1), y.asnumpy()):
                i = int(np.argmin(np.abs(train.images.reshape(10, -1).sum(1) / 255.0
                                         - x_row.sum())))
                assert train.labels[i] == label
        epochs.append(sums)
    assert not np.allclose(epochs[0], epochs[1])  # reshuffled every epoch


def test_array_iter_pad_and_range():
    split = gdata.Split(np.full((3, 28, 28), 255, np.uint8), np.zeros(3, np.uint8))
    X, _ = next(iter(gdata.ArrayIter(split, 3, pad=2, value_range=(-0.1, 1.175))))
    X = X.asnumpy()
    assert X.shape == (3, 1, 32, 32)
    assert np.allclose(X[:, :, 2:30, 2:30], 1.175) and np.allclose(X[:, :, :2], -0.1)


def test_load_data_fashion_mnist_contract():
    """d2l zh §3.5: (train_iter, test_iter) of float32 (B, 1, H, W) batches in [0, 1]."""
    train_iter, test_iter = gdata.load_data_fashion_mnist(256)
    X, y = next(iter(test_iter))
    assert X.shape == (256, 1, 28, 28) and X.dtype == np.float32 and y.shape == (256,)
    assert 0 <= X.min().asscalar() and X.max().asscalar() <= 1
    assert len(train_iter) == 235 and len(test_iter) == 40
    train_iter, _ = gdata.load_data_fashion_mnist(8, resize=32)
    X, _ = next(iter(train_iter))
    assert X.shape == (8, 1, 32, 32)
    npx.set_np()
    try:
        X, y = next(iter(test_iter))
        assert isinstance(X, mx.np.ndarray) and isinstance(y, mx.np.ndarray)
    finally:
        npx.reset_np()


def test_an_unseeded_iterator_follows_numpys_global_seed():
    """The book seeds once (np.random.seed, or seed_everything): the shuffle must follow it."""
    split = gdata.Split(np.arange(40, dtype=np.uint8).reshape(10, 2, 2), np.arange(10) % 10)
    orders = []
    for seed in (0, 0, 1):
        np.random.seed(seed)
        it = gdata.ArrayIter(split, 10, shuffle=True)
        orders.append(next(iter(it))[1].asnumpy().tolist())
    assert orders[0] == orders[1] != orders[2]
