"""MXNet runtime settings for small CNNs on a CPU, in one place, chosen by measurement.

Imported by `gluon_cnn/__init__.py` before anything imports mxnet, because MXNet reads most of
these once, at import (the engine type, the OpenMP thread count). `os.environ.setdefault` is used,
so a value you export yourself always wins. If your program imports mxnet before gluon_cnn,
these defaults come too late for the import-time ones: import gluon_cnn first.
Measurements behind each value: benchmarks/README.md (`make bench`).
"""
import os

__all__ = ['DEFAULTS', 'apply_defaults', 'describe']

# Empty by measurement: nothing tried beat MXNet's own defaults beyond the noise of a shared
# 2-core machine (benchmarks/README.md). Tried: MXNET_OPTIMIZER_AGGREGATION_SIZE=60 (one
# multi_sgd_update for all 10 LeNet parameters; MXNet's 4 is already as fast), OMP_NUM_THREADS=1
# and MXNET_ENGINE_TYPE=NaiveEngine (within run-to-run noise). Add a setting here, with its numbers.
DEFAULTS: dict = {}


def apply_defaults() -> None:
    """Set every DEFAULTS entry the user has not set."""
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)


def describe() -> str:
    """The settings in effect, for benchmark reports."""
    keys = list(DEFAULTS) + [k for k in ('OMP_NUM_THREADS', 'MXNET_ENGINE_TYPE', 'MXNET_CPU_WORKER_NTHREADS',
                                         'MXNET_OPTIMIZER_AGGREGATION_SIZE') if k not in DEFAULTS]
    return ', '.join(f'{k}={os.environ.get(k, "(unset)")}' for k in keys)


apply_defaults()
