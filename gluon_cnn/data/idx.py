"""The IDX file format (MNIST's, "THE IDX FILE FORMAT" at yann.lecun.com/exdb/mnist), read
defensively: gzip or raw, every header checked against the file's size before anything is
allocated, and any problem a DataError naming the file."""
import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ['read_idx']

# IDX type byte -> big-endian numpy dtype
_IDX_DTYPES = {0x08: '>u1', 0x09: '>i1', 0x0B: '>i2', 0x0C: '>i4', 0x0D: '>f4', 0x0E: '>f8'}
_MAX_IDX_BYTES = 1 << 32  # 4 GiB; no MNIST-like file comes near it
_MAX_DEFLATE_RATIO = 1032  # deflate's best compression (a run of zeros): bounds gzip payloads


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
                                'download often saves an error page under the file name)',
                                path=path)
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
                                    f'file holds {have:,}', path=path)
                buf = f.read(need)
                if len(buf) != need:
                    raise DataError(f'{path}: truncated: expected {need:,} data bytes, '
                                    f'read {len(buf):,}', path=path)
    except FileNotFoundError:
        raise DataError(f'{path}: no such file', path=path) from None
    except EOFError:  # gzip: "Compressed file ended before the end-of-stream marker was reached"
        raise DataError(f'{path}: truncated gzip file (the compressed stream ends early)',
                        path=path) from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f'{path}: corrupt gzip stream ({e})', path=path) from None
    except OSError as e:
        raise DataError(f'{path}: cannot read ({e.strerror or e})', path=path) from None
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
                        f'{compressed:,} compressed bytes can hold: truncated, or a corrupt header',
                        path=path)
    buf = bytearray(need)
    view, got = memoryview(buf), 0
    while got < need:
        k = f.readinto(view[got:])
        if not k:
            raise DataError(f'{path}: truncated: header {shape} needs {need:,} data bytes, '
                            f'the stream holds {got:,}', path=path)
        got += k
    if f.read(1):
        raise DataError(f'{path}: longer than its header says: header {shape} needs {need:,} data '
                        'bytes, the stream holds more', path=path)
    return buf


def _read_header(f, path: Path):
    """Magic (0, 0, type, ndim) and the ndim big-endian uint32 dimensions."""
    magic = f.read(4)
    if len(magic) < 4:
        raise DataError(f'{path}: truncated: no IDX header', path=path)
    zero, code, ndim = struct.unpack('>HBB', magic)
    if zero != 0 or code not in _IDX_DTYPES or not 1 <= ndim <= 4:
        raise DataError(f'{path}: not an IDX file (wrong magic number 0x{magic.hex()})', path=path)
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataError(f'{path}: truncated: IDX header cut short', path=path)
    shape = struct.unpack(f'>{ndim}I', dims)
    if math.prod(shape) * np.dtype(_IDX_DTYPES[code]).itemsize >= _MAX_IDX_BYTES:
        raise DataError(f'{path}: header claims shape {shape}, over 4 GiB: a corrupt header',
                        path=path)
    return _IDX_DTYPES[code], shape
