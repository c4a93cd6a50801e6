"""Durable file writes: what survives a crash at any moment (temp file, fsync, rename), and
what a failed write tells the user.

`write_atomic` is the one writer for everything a command leaves for the user (PNGs, pages, JSON):
the bytes go to a temporary file in the same folder, are fsynced, and are renamed over the final
name, so the final name holds the old file or the whole new one and never half of either. A full
disk, an I/O error, Ctrl-C, SIGTERM or SIGHUP during the write removes the temporary file and
keeps the old one.
"""
import contextlib
import errno
import hashlib
import os
import resource
import signal
import tempfile
import threading
from pathlib import Path
from typing import Callable

from .errors import WriteError

__all__ = ['fsync_path', 'sha256', 'write_atomic', 'write_bytes_atomic', 'write_text_atomic',
           'writing', 'check_out_path']

NAME_MAX = 255  # bytes in one path component on ext4, xfs, btrfs, tmpfs (POSIX: PC_NAME_MAX)


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


def check_out_path(path, flag: str = '--out', suffixes=None) -> Path:
    """`path` as a Path, or a WriteError naming what is wrong with it before any work is done: a
    component longer than the file system allows, a suffix other than `suffixes` (e.g. ('.png',)),
    or a folder that is missing, not a folder or not writable."""
    path = Path(path)
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise WriteError(f'{flag}: a path component is {len(os.fsencode(part))} bytes long; '
                             f'the file system allows {NAME_MAX}')
    if suffixes and path.suffix.lower() not in suffixes:
        raise WriteError(f'{flag} {path}: give a file name ending in {" or ".join(suffixes)}')
    if path.is_dir():
        raise WriteError(f'{flag} {path} is a folder; give a file name')
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the folders that do not exist yet are made on writing
    if not folder.is_dir():
        raise WriteError(f'{flag} {path}: {folder} is not a folder')
    if not os.access(folder, os.W_OK | os.X_OK):
        raise WriteError(f'{flag} {path}: {folder} is not writable ({_strerror(errno.EACCES)})')
    return path


def write_atomic(path, write: Callable[[Path], object]) -> Path:
    """Make `path` by calling `write(tmp)`, which writes the whole file at `tmp`, a temporary file
    in the same folder; then fsync it, rename it to `path` and fsync the folder. Returns `path`.

    Any failure (a WriteError naming `path` and the cause for an OSError), Ctrl-C, SIGTERM or
    SIGHUP removes the temporary file and leaves an earlier `path` as it was. Missing folders
    are made.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # a short prefix: the temporary name must fit NAME_MAX even when `path`'s name does
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name[:64]}.', suffix='.tmp')
    except OSError as e:
        raise _write_error(path, e) from None
    os.close(fd)
    tmp = Path(name)
    try:
        with _signals_interrupt(path):
            write(tmp)
            with open(tmp, 'rb+') as f:
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a saved file is not secret
            os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise _write_error(path, e) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)
    return path


def write_bytes_atomic(path, data: bytes) -> Path:
    """`write_atomic` of `data`."""
    return write_atomic(path, lambda tmp: tmp.write_bytes(data))


def write_text_atomic(path, text: str) -> Path:
    """`write_atomic` of `text` (UTF-8)."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding='utf-8'))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _signals_interrupt(path: Path):
    """SIGTERM and SIGHUP raise KeyboardInterrupt while `path` is written (their default is to
    end the process at once, leaving the temporary file), so the write unwinds and cleans up."""
    if threading.current_thread() is not threading.main_thread():  # signals reach it only
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f'{signal.Signals(signum).name} while writing {path}; '
                                'it was left as it was')
    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _write_error(path: Path, e: OSError) -> WriteError:
    return WriteError(f'could not write {path}: {_strerror(e.errno) if e.errno else e}')


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
