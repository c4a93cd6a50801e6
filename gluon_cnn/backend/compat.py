"""What MXNet 1.9.1, the last release (2022), needs from newer numpy and Python, and the one default
of its own that it gets wrong.

Loaded before MXNet, which reads these names when it is imported: by the start-up hook that pip
installs with the package (gluon_cnn-startup.pth, _gluon_cnn_startup.py), on the first `import
mxnet` of any program, and by `gluon_cnn/__init__.py` and `train.py` where the package runs from
a checkout without being installed. This module never imports mxnet itself.

- numpy 1.24 removed the alias `np.bool` (apache/mxnet#21165; the fix was never released).
  MXNet 1.9.1 uses it in its dtype tables, so on numpy 1.24-1.26 it is restored as the builtin
  `bool`, exactly what numpy <= 1.23 had. numpy 2 has its own `np.bool` (`np.bool_`); it is kept.
- numpy 2.0 removed more names that `mxnet.numpy` re-exports at import (`PZERO`, `alltrue`, ...),
  and the stubs numpy 1.x kept for its financial functions (`np.mirr`, ...). They are restored
  with numpy 1.26's meanings; `np.compat.basestring` (used by `mxnet.np.pad`) likewise.
- Python 3.12 removed `distutils`; MXNet imports `distutils.version`. setuptools provides it (a
  dependency on 3.12+); if it is missing this module says so in one line instead of MXNet's
  traceback.
- Without `OMP_NUM_THREADS`, MXNet 1.9.1 takes `omp_get_num_procs()` and halves it on every x86
  build, for hyper-threads the CPU may not have (`src/engine/openmp.cc`): on 2 cores without SMT
  every operator runs on one thread. `MXNET_OMP_MAX_THREADS`, which only MXNet reads, is set to
  the physical cores this process may run on (`physical_cores`), unless the user has set it or
  `OMP_NUM_THREADS`. Where the cores cannot be counted, MXNet keeps its own default.

A name numpy still has is never replaced. `RESTORED` lists what was added in this process.
"""
import importlib.util
import os
import sys
import types
import warnings

import numpy as np

__all__ = ['NUMPY_NAMES', 'RESTORED', 'apply', 'physical_cores', 'set_threads']


# numpy 1.x's deprecated spellings: a function of their own that calls the current name, as in
# numpy 1.26 (not the same object: MXNet registers each one for __array_function__ dispatch)
def _alias(name: str, target: str):
    def alias(*args, **kwargs):
        return getattr(np, target)(*args, **kwargs)
    alias.__name__ = alias.__qualname__ = name
    alias.__doc__ = f'np.{name}, removed from NumPy 2: np.{target} under its old name.'
    return alias


# numpy 1.x's stand-in for a function it removed under NEP 32: it raises when called
def _expired(name: str):
    def expired(*args, **kwargs):
        raise RuntimeError(f'np.{name} was removed from NumPy 1.20 (NEP 32); '
                           'use the numpy_financial package')
    expired.__name__ = expired.__qualname__ = name
    return expired


# np.in1d is np.isin on the flattened first argument (numpy 1.26's definition)
def _in1d(ar1, ar2, assume_unique=False, invert=False, **kwargs):
    return np.isin(np.ravel(ar1), ar2, assume_unique=assume_unique, invert=invert, **kwargs)


# np.msort sorts along the first axis (numpy 1.26's definition)
def _msort(a):
    return np.sort(a, axis=0)


# np.compat held Python 2/3 helpers; mxnet.np.pad reads np.compat.basestring
_compat = types.ModuleType('numpy.compat', "numpy 1.x's np.compat, as far as MXNet 1.9.1 reads it")
_compat.basestring = str

# name -> what numpy <= 1.26 had under it, for every numpy name MXNet 1.9.1 reads when imported
# or on the code paths gluon-cnn uses (from grepping mxnet/ for np.<name>; mxnet/test_utils.py,
# MXNet's own test helpers, is not covered). Where it is read is in the comment.
NUMPY_NAMES: dict = {
    'bool': bool,                         # removed in 1.24; ndarray/ndarray.py dtype tables
    'PZERO': 0.0, 'NZERO': -0.0,          # removed in 2.0 (all of the rest); numpy/utils.py
    'PINF': float('inf'), 'NINF': float('-inf'),
    'NAN': float('nan'), 'NaN': float('nan'),
    'Inf': float('inf'),                  # gluon/contrib/estimator default arguments
    'alltrue': _alias('alltrue', 'all'),  # numpy/fallback.py
    'in1d': _in1d,
    'msort': _msort,
    'trapz': _alias('trapz', 'trapezoid'),
    'sometrue': _alias('sometrue', 'any'),  # numpy_dispatch_protocol.py
    'product': _alias('product', 'prod'),
    'round_': _alias('round_', 'round'),
    'compat': _compat,                    # ndarray/numpy/_op.py pad
    # numpy 1.x answered these with stubs that raise; numpy/fallback.py re-exports them
    **{name: _expired(name) for name in ('mirr', 'npv', 'pmt', 'ppmt', 'pv', 'rate')},
}

RESTORED: list = []


def _has(module, name: str) -> bool:
    # numpy 1.x answers some removed names through a module __getattr__ that warns
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return hasattr(module, name)


def apply() -> list:
    """Add each NUMPY_NAMES entry numpy lacks; check distutils. Idempotent; returns RESTORED."""
    for name, value in NUMPY_NAMES.items():
        if not _has(np, name):
            setattr(np, name, value)
            RESTORED.append(name)
    if importlib.util.find_spec('distutils') is None:
        raise ImportError(f'MXNet 1.9.1 imports distutils, which Python {sys.version_info[0]}.'
                          f'{sys.version_info[1]} no longer has: pip install setuptools')
    return RESTORED


def physical_cores(sysfs: str = '/sys/devices/system/cpu',
                   cpu_max: str = '/sys/fs/cgroup/cpu.max') -> 'int | None':
    """How many physical cores the CPUs this process may run on belong to (Linux: its affinity
    mask and sysfs topology; a core's hyper-threads count once), capped by a cgroup v2 CPU quota;
    None when unknown."""
    try:
        cpus = os.sched_getaffinity(0)
        cores = set()
        for cpu in cpus:
            topology = os.path.join(sysfs, f'cpu{cpu}', 'topology')
            with open(os.path.join(topology, 'physical_package_id')) as package, \
                    open(os.path.join(topology, 'core_id')) as core:
                cores.add((package.read().strip(), core.read().strip()))
    except (AttributeError, OSError):  # no sched_getaffinity (macOS) or no sysfs topology
        return None
    count = len(cores)
    try:  # a container limited to N CPUs' worth of time: "max 100000" or "200000 100000"
        with open(cpu_max) as f:
            quota, period = f.read().split()[:2]
        if quota != 'max':
            count = min(count, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return count or None


def set_threads(environ=os.environ) -> 'str | None':
    """Give MXNet one OpenMP thread per physical core, unless the user chose (see the module
    docstring); returns MXNET_OMP_MAX_THREADS as it now stands. Must run before `import mxnet`."""
    if 'OMP_NUM_THREADS' not in environ and 'MXNET_OMP_MAX_THREADS' not in environ:
        cores = physical_cores()
        if cores:
            environ['MXNET_OMP_MAX_THREADS'] = str(cores)
    return environ.get('MXNET_OMP_MAX_THREADS')


apply()
set_threads()
