"""Durable file writes: what survives a crash at any moment (temp file, fsync, rename), and
what a failed write tells the user."""
import contextlib
import errno
import hashlib
import os
import resource
from pathlib import Path

from .errors import WriteError

__all__ = ['fsync_path', 'sha256', 'write_text_atomic', 'writing']


def fsync_path(path: Path):
    """fsync a file or a folder (a folder's fsync makes a rename inside it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def write_text_atomic(path: Path, text: str):
    """Write `text` to `path` atomically: temp file, fsync, rename, fsync the folder. A failed
    write leaves the old file as it was and no temp file behind."""
    path = Path(path)
    tmp = path.with_name(f'.{path.name}.tmp-{os.getpid()}')
    try:
        with open(tmp, 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


@contextlib.contextmanager
def writing(path, also=()):
    """Turn a failed write of `path` into a WriteError naming the file and the cause.

    also: exception types that mean a failed write too, e.g. MXNet's, whose "FileStream.Write
    incomplete" carries no errno, so the cause is worked out from the file and its disk.
    """
    try:
        yield
    except OSError as e:
        name = e.filename or path
        raise WriteError(f'could not write {name}: {_strerror(e.errno) if e.errno else e}',
                         path=Path(name)) from None
    except also as e:
        raise WriteError(f'could not write {path}: {_likely_cause(Path(path))}',
                         path=Path(path)) from e


def _strerror(code: int) -> str:
    return f'{os.strerror(code)} ({errno.errorcode.get(code, code)})'


def _likely_cause(path: Path) -> str:
    """Why a write without an errno failed: a file size limit reached, a full disk, or else EIO."""
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY:
        return f'{_strerror(errno.EFBIG)}, the file size limit (ulimit -f) is {limit} bytes'
    disk = os.statvfs(path.parent if path.parent.exists() else '.')
    if disk.f_bavail * disk.f_frsize < 64 << 20:  # under 64 MiB left: most likely the cause
        return _strerror(errno.ENOSPC)
    return _strerror(errno.EIO)
