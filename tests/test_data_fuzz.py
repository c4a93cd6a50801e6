"""Bad data files: every kind of corruption (missing, truncated, wrong magic, lying header, bad
gzip) is a DataError naming the file, and a property-based fuzz of `read_idx`: it returns the array
the bytes encode, or raises DataError.

The oracle is an IDX encoder and decoder written here from the format's definition
(http://yann.lecun.com/exdb/mnist/): magic (0, 0, type, ndim), big-endian uint32 dims, data.
"""
import gzip
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from gluon_cnn import DataError
from gluon_cnn import data as gdata

TYPES = {0x08: '>u1', 0x09: '>i1', 0x0B: '>i2', 0x0C: '>i4', 0x0D: '>f4', 0x0E: '>f8'}


def encode(array: np.ndarray, code: int = 0x08) -> bytes:
    return (struct.pack('>HBB', 0, code, array.ndim) + struct.pack(f'>{array.ndim}I', *array.shape)
            + array.astype(TYPES[code]).tobytes())


def decode(payload: bytes) -> np.ndarray:
    """The oracle: what a well-formed payload means (raises on anything else)."""
    zero, code, ndim = struct.unpack('>HBB', payload[:4])
    assert zero == 0 and 1 <= ndim
    shape = struct.unpack(f'>{ndim}I', payload[4:4 + 4 * ndim])
    return np.frombuffer(payload[4 + 4 * ndim:], TYPES[code]).reshape(shape)


IMAGES = np.random.RandomState(0).randint(0, 256, (5, 28, 28)).astype(np.uint8)
GOOD = encode(IMAGES)


def huge_header(n=10 ** 9, shape=(28, 28)) -> bytes:
    return struct.pack('>HBB', 0, 8, 1 + len(shape)) + struct.pack(f'>{1 + len(shape)}I', n, *shape)


# ----------------------------------------------------------------------------- each listed case
CASES = {  # name: (file name, bytes, what the message must say)
    'truncated raw': ('images', GOOD[:-100], 'truncated'),
    'truncated gz': ('images.gz', gzip.compress(GOOD)[:-30], 'truncated'),
    'truncated gz, half': ('images.gz', gzip.compress(GOOD)[:300], 'truncated'),
    'truncated header': ('images', GOOD[:9], 'truncated'),
    'empty file': ('images', b'', 'truncated'),
    'wrong magic': ('images', b'\x00\x00\x07\x03' + GOOD[4:], 'wrong magic number'),
    'magic of a PNG': ('images', b'\x89PNG\r\n\x1a\n' + GOOD, 'wrong magic number'),
    'header says more images': ('images',
                                encode(np.zeros((6, 28, 28), np.uint8))[:16] + IMAGES.tobytes(),
                                'needs 4,704 data bytes'),
    'header says fewer images': ('images',
                                 encode(np.zeros((4, 28, 28), np.uint8))[:16] + IMAGES.tobytes(),
                                 'longer than its header says'),
    'gz header says more': ('images.gz', gzip.compress(huge_header(6) + IMAGES.tobytes()),
                            'needs 4,704'),
    'gz header says fewer': ('images.gz', gzip.compress(huge_header(4) + IMAGES.tobytes()),
                             'longer than its header says'),
    '.gz that is HTML': ('images.gz', b'<!DOCTYPE html><html>404 Not Found</html>',
                         'not a gzip file'),
    '.gz with a corrupt body': ('images.gz', b'\x1f\x8b\x08\x00' + b'garbage' * 20, 'gzip'),
    '.gz with a bad CRC': ('images.gz',
                           gzip.compress(GOOD)[:-8] + b'\0\0\0\0' + gzip.compress(GOOD)[-4:],
                           'gzip'),
}


@pytest.mark.parametrize('case', CASES)
def test_bad_idx_file_is_a_data_error(tmp_path, case):
    name, payload, says = CASES[case]
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(DataError) as e:
        gdata.read_idx(path)
    assert e.value.path == path and says in str(e.value)


@pytest.mark.parametrize('gz', [False, True], ids=['raw', 'gz'])
@pytest.mark.parametrize('n, shape', [(10 ** 9, (28, 28)), (10 ** 9, ()), (10 ** 6, (28, 28))],
                         ids=['1e9 images', '1e9 labels', '1e6 images'])
def test_huge_header_refused_without_allocating(tmp_path, gz, n, shape):
    """A header claiming far more data than the file holds is refused before allocating: the
    reader's peak memory stays under 1 MB although the claim is up to 784 GB."""
    payload = huge_header(n, shape) + bytes(1000)
    path = tmp_path / ('labels.gz' if gz else 'labels')
    path.write_bytes(gzip.compress(payload) if gz else payload)
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as e:
            gdata.read_idx(path)
        assert e.value.path == path
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def write_split(folder, images, labels, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    for split in ('train', 'test'):
        for stem, array in zip(gdata.FILES[split], (images, labels)):
            data = encode(array)
            (folder / (stem + ('.gz' if gz else ''))).write_bytes(
                gzip.compress(data) if gz else data)
    return folder


def test_label_out_of_range(tmp_path):
    labels = np.array([0, 9, 3, 10, 2], np.uint8)
    folder = write_split(tmp_path / 'd', IMAGES, labels)
    with pytest.raises(DataError) as e:
        gdata.load_dataset('fashion-mnist', folder)
    assert e.value.path == folder / 'train-labels-idx1-ubyte'
    assert str(e.value) == f'{e.value.path}: label 10 at index 3 is out of range 0-9'


def test_image_and_label_counts_differ(tmp_path):
    folder = write_split(tmp_path / 'd', IMAGES, np.arange(4, dtype=np.uint8), gz=True)
    with pytest.raises(DataError) as e:
        gdata.load_dataset('fashion-mnist', folder)
    assert e.value.path == folder
    assert str(e.value) == (f'{folder}: 5 images in train-images-idx3-ubyte.gz but 4 labels in '
                            f'train-labels-idx1-ubyte.gz')


def test_a_raw_idx_named_gz_is_still_read(tmp_path):
    """Lenient on purpose: the content decides, and a raw IDX under a .gz name is unambiguous."""
    path = tmp_path / 'images.gz'
    path.write_bytes(GOOD)
    np.testing.assert_array_equal(gdata.read_idx(path), IMAGES)


# ----------------------------------------------------------------------------- fuzzing
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def idx_arrays(draw):
    code = draw(st.sampled_from(sorted(TYPES)))
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=1, max_size=4)))
    n = int(np.prod(shape)) * np.dtype(TYPES[code]).itemsize
    raw = draw(st.binary(min_size=n, max_size=n))
    return code, np.frombuffer(raw, TYPES[code]).reshape(shape)


def mutate(data: bytes, draw) -> bytes:
    """Cut, flip, insert or delete bytes: the damage a bad download or disk does."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(['cut', 'flip', 'insert', 'delete']))
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == 'cut':
            del data[i:]
        elif op == 'flip' and data:
            data[i] ^= draw(st.integers(1, 255))
        elif op == 'insert':
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            del data[i:i + draw(st.integers(1, 8))]
    return bytes(data)


def check_read(path, payload_of):
    """read_idx returns exactly what the bytes encode, or raises DataError; nothing else."""
    try:
        got = gdata.read_idx(path)
    except DataError as e:
        assert e.path == path
        return None
    want = decode(payload_of(path.read_bytes()))
    assert (got.dtype.isnative and got.shape == want.shape
            and got.dtype == want.dtype.newbyteorder('='))
    np.testing.assert_array_equal(got, want)
    return got


@FUZZ
@given(array=idx_arrays(), gz=st.booleans())
def test_fuzz_roundtrip(tmp_path, array, gz):
    code, a = array
    path = tmp_path / 'f.gz'
    path.write_bytes(gzip.compress(encode(a, code)) if gz else encode(a, code))
    got = gdata.read_idx(path)
    np.testing.assert_array_equal(got, a)
    assert got.shape == a.shape


@FUZZ
@given(array=idx_arrays(), gz=st.booleans(), data=st.data())
def test_fuzz_damaged_files(tmp_path, array, gz, data):
    code, a = array
    good = encode(a, code)
    damaged = mutate(gzip.compress(good) if gz else good, data.draw)
    path = tmp_path / 'f'
    path.write_bytes(damaged)
    check_read(path, lambda b: gzip.decompress(b) if b[:2] == b'\x1f\x8b' else b)


@FUZZ
@given(blob=st.binary(max_size=64), gz=st.booleans())
def test_fuzz_arbitrary_bytes(tmp_path, blob, gz):
    path = tmp_path / 'f'
    path.write_bytes(gzip.compress(blob) if gz else blob)
    check_read(path, lambda b: gzip.decompress(b) if b[:2] == b'\x1f\x8b' else b)
