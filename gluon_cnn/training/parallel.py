"""Data parallelism: one global minibatch split over workers and devices (d2l zh §8.4-8.5).

The pieces the placements (`gluon_cnn.training.placement`) share. Every worker reads the same
shuffled global batch (same seed, same order) and takes its share, `share(b, rank, num_workers)`;
its share is split again over its devices. Gradients are summed over devices (kvstore 'device')
and over workers (ps-lite `dist_*`, or Horovod's allreduce), and the step divides by the global
batch size, so a `dist_sync` or Horovod run computes the updates of one process with the same
seed and batch size, up to float rounding.

A part that would be empty (a short last batch with fewer examples than parts) runs one example
with its loss multiplied by 0: every device still produces a fresh, exactly zero gradient, so the
kvstore sums the same number of gradients every step.

BatchNorm's running statistics are per device and per worker (as in d2l zh §8.5): evaluation
uses the first device of rank 0.
"""
import os
from typing import NamedTuple

import mxnet as mx

from ..backend import internals
from ..errors import ConfigError

__all__ = ['Workers', 'LOCAL', 'share', 'split_batch', 'connect', 'horovod', 'sum_over_workers',
           'plain_layout']

_METRICS_KEY = 1_000_000  # a kvstore key no parameter uses (the Trainer keys parameters 0, 1, ...)


class Workers(NamedTuple):
    """This process's place among the workers of a run: rank, how many, and their kvstore."""
    rank: int = 0
    num_workers: int = 1
    kvstore: object = None   # the ps-lite kvstore, passed to the Trainer; else None
    name: str = 'device'     # the --kvstore that joined them

    @property
    def horovod(self) -> bool:
        return self.name == 'horovod'

    @property
    def distributed(self) -> bool:
        """True when other processes train with this one (ps-lite or Horovod)."""
        return self.kvstore is not None or self.horovod

    @property
    def sums_metrics(self) -> bool:
        """True when the workers can sum values, so that epoch metrics are global: dist_sync,
        dist_device_sync, Horovod (dist_async's servers apply an optimizer to what is pushed)."""
        return self.distributed and 'async' not in self.name


LOCAL = Workers()


def share(b: int, rank: int, num_workers: int) -> tuple:
    """(lo, hi): rank's examples of a batch of b, as np.array_split deals them (first ones larger).
    """
    q, r = divmod(b, num_workers)
    lo = rank * q + min(rank, r)
    return lo, lo + q + (rank < r)


def split_batch(X, y, ctxs, workers: Workers = LOCAL) -> list:
    """[(X_part, y_part, real)] for this worker's devices; real=False marks a one-example stand-in
    whose loss the caller multiplies by 0 (see the module docstring)."""
    lo, hi = share(X.shape[0], workers.rank, workers.num_workers)
    parts = []
    for k, ctx in enumerate(ctxs):
        a, b = share(hi - lo, k, len(ctxs))
        if b > a:
            parts.append((X[lo + a:lo + b].as_in_context(ctx),
                          y[lo + a:lo + b].as_in_context(ctx), True))
        else:   # nothing left for this device: one example, weighted 0
            parts.append((X[:1].as_in_context(ctx), y[:1].as_in_context(ctx), False))
    return parts


def connect(kvstore: str) -> Workers:
    """Join the run's workers for `kvstore` ('device' joins nobody). A dist kvstore connects to the
    ps-lite scheduler named by the DMLC_* environment that `python -m gluon_cnn.launch` sets;
    'horovod' joins the Horovod job (`python -m gluon_cnn.launch --horovod`, or horovodrun)."""
    if kvstore == 'device':
        return LOCAL
    if kvstore == 'horovod':
        hvd = horovod()
        hvd.init()
        return Workers(hvd.rank(), hvd.size(), None, 'horovod')
    if os.environ.get('DMLC_ROLE') != 'worker':
        raise ConfigError(f'--kvstore {kvstore} runs as workers of a launch: python -m '
                          f'gluon_cnn.launch -n 2 -- python train.py --kvstore {kvstore} ...',
                          field='--kvstore')
    kv = mx.kv.create(kvstore)
    workers = Workers(kv.rank, kv.num_workers, kv, kvstore)
    if workers.sums_metrics:  # collective: every worker initializes the metrics key
        kv.init(_METRICS_KEY, mx.nd.zeros(3))
    return workers


def horovod():
    """horovod.mxnet, or one line on how to get it: Horovod is optional."""
    try:
        import horovod.mxnet as hvd
    except ImportError as e:
        raise ConfigError(f'--kvstore horovod needs Horovod built for MXNet ({e}); `make horovod` '
                          'builds it into the venv (README, "Horovod")',
                          field='--kvstore') from None
    return hvd


def sum_over_workers(workers: Workers, values: list) -> list:
    """The sums of `values` (floats) over all workers, when the workers can sum; else values."""
    if not workers.sums_metrics:
        return values
    arr = mx.nd.array(values)
    if workers.horovod:
        arr = horovod().allreduce(arr, average=False, name='gluon_cnn.metrics')
    else:
        workers.kvstore.pushpull(_METRICS_KEY, arr, out=arr)
    return [float(v) for v in arr.asnumpy()]


def plain_layout(net):
    """Every parameter of `net` in MXNet's default memory layout, on every device, in place.

    ps-lite sends an array's raw bytes, and a forward pass may leave a weight in oneDNN's blocked
    layout: the convolution or dense operator, while it runs, queues an in-place reorder of its
    weight. So first wait for every queued operation (and the reorders they queue), then reorder
    each array back (internals.to_default_layout). Found here with mxnet 1.9.1: a blocked weight
    made the server abort ('init 3 first') or gave the workers different, scrambled weights."""
    mx.nd.waitall()
    for p in net.collect_params().values():
        for arr in p.list_data():
            internals.to_default_layout(arr)
