"""Fused small-channel convolutions as an MXNet custom-operator library (`mx.library.load`).

`fastops.cc` registers `fastops_conv`: pool(act(conv(x, w) + b)) and its backward (the gradients
of x, w and b in one pass), for NCHW float32 with any kernel, stride and padding, act sigmoid /
relu / tanh / none, max or average pooling (no padding, floor size) or none. It is written for
the few channels of LeNet, where MXNet 1.9.1's oneDNN falls back to im2col + GEMM and runs
activation, pooling and layout reorders as separate passes. Attributes beyond the layer's:
`keep=0` (set by `FastConv2D` outside `autograd.record`) runs forward only, and `layout` (1 flat,
2 output-channel vectors, 0 the one that wastes fewer lanes) lets the tests force each kernel.

    from gluon_cnn.backend import fastops
    fastops.load()          # builds on first use (g++), False with `fastops.reason()` if not
    net2 = fastops.fused(net)   # a view of net: Conv2D [+ pooling] pairs run as one operator

The library is compiled against the headers the mxnet wheel ships (mxnet/include/mxnet/lib_api.h,
mxnet/src/lib_api.cc) into a cache folder ($GLUON_CNN_CACHE or ~/.cache/gluon-cnn), named by a
hash of the source, the compiler flags and the mxnet version, so a changed source rebuilds.
Vector code: -mavx2 -mfma when this CPU has both (checked at build time), else baseline x86-64.

Beside the library lies `<name>.so.sha256` (its sha256 and size, written after the library, each
file atomically), and `load` checks it before `mx.library.load`: the dynamic loader maps the file,
so a truncated library in the cache would end the process with SIGBUS instead of an error. A
library that does not match (truncated, overwritten, no record) is rebuilt once.
"""
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mxnet as mx

from ... import durable
from ..cpu import flags as cpu_flags
from ...errors import WriteError

from .conv_block import FastConv2D, fused, fuse_pairs  # noqa: F401

__all__ = ['build', 'verify', 'load', 'available', 'reason', 'library_path', 'FastConv2D', 'fused',
           'fuse_pairs']

SOURCE = Path(__file__).resolve().parent / 'fastops.cc'
_state = {'loaded': False, 'reason': 'not loaded yet (call fastops.load())'}


def _mxnet_dir() -> Path:
    return Path(mx.__file__).resolve().parent


def _cache_dir() -> Path:
    root = os.environ.get('GLUON_CNN_CACHE') or Path.home() / '.cache' / 'gluon-cnn'
    return Path(root) / 'fastops'


def _compiler():
    return os.environ.get('CXX') or shutil.which('g++') or shutil.which('c++')


def compile_flags() -> list:
    """-O3 -fopenmp, plus AVX2/FMA when this CPU has them, and AVX-512F/VL (which give the
    256-bit code 32 vector registers) when it has those too: chosen per building machine, not
    -march=native, so a CI machine of the same family builds for what it has.
    The benchmarks' builds only: GLUON_CNN_FASTOPS_PROFILE=1 adds -DFASTOPS_PROFILE (per-phase
    times on stderr), GLUON_CNN_FASTOPS_BENCH=1 -DFASTOPS_BENCH (the `fastops_copy` operator that
    measures a custom operator call); the library users get has neither."""
    flags = ['-O3', '-std=c++17', '-shared', '-fPIC', '-fopenmp']
    cpu = cpu_flags()
    if {'avx2', 'fma'} <= cpu:
        flags += ['-mavx2', '-mfma']
        if {'avx512f', 'avx512vl'} <= cpu:
            flags += ['-mavx512f', '-mavx512vl', '-mprefer-vector-width=256']
    for name in ('PROFILE', 'BENCH'):
        if os.environ.get(f'GLUON_CNN_FASTOPS_{name}') == '1':
            flags.append(f'-DFASTOPS_{name}')
    return flags


def library_path() -> Path:
    """Where the library for this source, these flags and this mxnet lives (built or not)."""
    h = hashlib.sha256(SOURCE.read_bytes())
    h.update(' '.join(compile_flags()).encode())
    h.update(mx.__version__.encode())
    return _cache_dir() / f'libfastops-{h.hexdigest()[:12]}.so'


def _missing() -> str:
    """Why the library cannot be built here, or ''."""
    if not sys.platform.startswith('linux'):
        return f'fastops: built for Linux only (this is {sys.platform})'
    if _compiler() is None:
        return 'fastops: no C++ compiler (g++) on PATH; install g++ or set CXX'
    mxdir = _mxnet_dir()
    for need in ('include/mxnet/lib_api.h', 'src/lib_api.cc'):
        if not (mxdir / need).is_file():
            return f'fastops: the mxnet wheel has no {need} (needs mxnet >= 1.9 with lib_api)'
    return ''


def build(force: bool = False) -> Path:
    """Compile the library into the cache (unless it is there already); returns its path.
    Raises RuntimeError with a one-line reason when it cannot be built."""
    out = library_path()
    if out.is_file() and not force:
        return out
    why = _missing()
    if why:
        raise RuntimeError(why)
    mxdir = _mxnet_dir()
    records = []

    def compile_into(tmp: Path):
        cmd = [_compiler(), *compile_flags(), str(SOURCE), str(mxdir / 'src' / 'lib_api.cc'),
               '-I', str(mxdir / 'include'), '-o', str(tmp)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ['(no output)'])[-1]
            raise RuntimeError(f'fastops: {Path(cmd[0]).name} failed: {last}')
        records.append(_record_of(tmp))

    try:  # by rename: a concurrent build never loads a half-written file
        durable.write_atomic(out, compile_into)
        durable.write_text_atomic(_record_path(out), records[0])
    except WriteError as e:
        raise RuntimeError(f'fastops: {e}') from None
    return out


def _record_path(lib: Path) -> Path:
    return lib.with_name(lib.name + '.sha256')


def _record_of(lib: Path) -> str:
    """'<sha256 hex> <size in bytes>' of a file, as the record beside the library holds it."""
    data = lib.read_bytes()
    return f'{hashlib.sha256(data).hexdigest()} {len(data)}\n'


def verify(lib: Path) -> str:
    """'' when `lib` is the file its record describes (size and sha256), else why not."""
    try:
        want = _record_path(lib).read_text().split()
    except FileNotFoundError:
        return f'fastops: {lib.name} has no {_record_path(lib).name} beside it'
    if len(want) != 2 or not want[1].isdigit():
        return f'fastops: {_record_path(lib).name} is damaged'
    size = lib.stat().st_size
    if size != int(want[1]):
        return f'fastops: {lib.name} is {size} bytes, built as {want[1]} (truncated?)'
    if _record_of(lib).split()[0] != want[0]:
        return f'fastops: {lib.name} does not match the sha256 it was built with'
    return ''


def _one_line(e: BaseException) -> str:
    """The message of an error as one line: MXNet's errors start with a C++ traceback header
    ('Traceback (most recent call last):', '  File ...'), whose lines say nothing to a user."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(('Traceback (most recent', 'File "'))]
    lines = [ln[len('MXNetError: '):] if ln.startswith('MXNetError: ') else ln for ln in lines]
    return ': '.join(lines) or type(e).__name__


def load() -> bool:
    """Build if needed and load the operators into MXNet (once per process). True when loaded;
    False leaves the reason in `reason()`."""
    if _state['loaded']:
        return True
    if 'horovod.mxnet' in sys.modules:
        # MXNet 1.9.1 dies of SIGFPE in mx.library.load once Horovod's MXNet library is loaded
        _state['reason'] = ('fastops: Horovod is loaded in this process, and MXNet cannot load '
                            'a second operator library beside it')
        return False
    try:
        path = build()
        damaged = verify(path)
        if damaged:  # damaged or unrecorded: rebuild once, then it must match
            try:
                path = build(force=True)
            except RuntimeError as e:
                raise RuntimeError(f'{damaged}; rebuilding it failed: '
                                   f'{_one_line(e).removeprefix("fastops: ")}') from None
            why = verify(path)
            if why:
                raise RuntimeError(f'{why}, even after a rebuild')
        mx.library.load(str(path), verbose=False)
    except (RuntimeError, OSError, mx.base.MXNetError) as e:
        _state['reason'] = _one_line(e)
        return False
    _state.update(loaded=True, reason='')
    return True


def available() -> bool:
    """True when the operators are loaded or can be (builds and loads them)."""
    return load()


def reason() -> str:
    """Why the operators are not loaded ('' once they are)."""
    return _state['reason']

