"""MXNet runtime settings for small CNNs on a CPU, in one place, chosen by measurement.

Imported by `gluon_cnn/__init__.py` before anything imports mxnet, because MXNet reads most of
these once, at import (the engine type, the OpenMP thread count). `os.environ.setdefault` is used,
so a value you export yourself always wins. If your program imports mxnet before gluon_cnn,
these defaults come too late for the import-time ones: import gluon_cnn first.
Measurements behind each value: benchmarks/README.md (`make bench`).
"""
import os

__all__ = ['DEFAULTS', 'apply_defaults', 'describe']

DEFAULTS = {
    # One multi_sgd_update for all of LeNet's 10 parameters instead of one per 4 (MXNet's default).
    'MXNET_OPTIMIZER_AGGREGATION_SIZE': '60',
}


def apply_defaults() -> None:
    """Set every DEFAULTS entry the user has not set."""
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)


def describe() -> str:
    """The settings in effect, for benchmark reports."""
    keys = list(DEFAULTS) + [k for k in ('OMP_NUM_THREADS', 'MXNET_ENGINE_TYPE',
                                         'MXNET_CPU_WORKER_NTHREADS') if k not in DEFAULTS]
    return ', '.join(f'{k}={os.environ.get(k, "(unset)")}' for k in keys)


apply_defaults()
