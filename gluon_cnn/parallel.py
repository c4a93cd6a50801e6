"""Data parallelism: one global minibatch split over workers and devices (d2l zh §8.4-8.5).

Every worker reads the same shuffled global batch (same seed, same order) and takes its share,
`share(b, rank, num_workers)`; its share is split again over its devices with
`split_and_load`. Gradients are summed over devices (kvstore 'device') and over workers (ps-lite
`dist_*`), and `trainer.step(global batch)` divides by the global batch size, so a `dist_sync`
run computes the updates of one process with the same seed and batch size, up to float rounding.

A part that would be empty (a short last batch with fewer examples than parts) runs one example
with its loss multiplied by 0: every device still produces a fresh, exactly zero gradient, so the
kvstore sums the same number of gradients every step.

BatchNorm's running statistics are per device and per worker (as in d2l zh §8.5): evaluation
uses the first device of rank 0.
"""
import os
from typing import NamedTuple

import mxnet as mx
from mxnet import gluon

from .errors import ConfigError

__all__ = ['Workers', 'LOCAL', 'share', 'split_batch', 'connect', 'sum_over_workers',
           'make_kvstore_trainer', 'plain_layout']

_METRICS_KEY = 1_000_000  # a kvstore key no parameter uses (the Trainer keys parameters 0, 1, ...)


class Workers(NamedTuple):
    """This process's place among the workers of a run: rank, how many, and their kvstore."""
    rank: int = 0
    num_workers: int = 1
    kvstore: object = None   # the dist kvstore, passed to the Trainer; None in one process
    # True when the kvstore sums pushes (dist_sync): epoch metrics are global
    sums_metrics: bool = False


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


def connect(kvstore: str, num_ctxs: int = 1) -> Workers:
    """Join the run's workers for `kvstore` ('device' joins nobody). A dist kvstore connects to the
    ps-lite scheduler named by the DMLC_* environment that `python -m gluon_cnn.launch` sets."""
    if kvstore == 'device':
        return LOCAL
    if kvstore == 'horovod':
        raise ConfigError('--kvstore horovod is not supported by this version of gluon-cnn '
                          '(horovod is optional and not installed here); '
                          'use --kvstore dist_sync under python -m gluon_cnn.launch')
    if os.environ.get('DMLC_ROLE') != 'worker':
        raise ConfigError(f'--kvstore {kvstore} runs as workers of a launch: python -m '
                          f'gluon_cnn.launch -n 2 -- python train.py --kvstore {kvstore} ...')
    kv = mx.kv.create(kvstore)
    sums = 'async' not in kvstore  # dist_async's servers apply an optimizer to whatever is pushed
    if sums:  # collective: every worker initializes the metrics key, rank 0's value wins
        kv.init(_METRICS_KEY, mx.nd.zeros(3))
    return Workers(kv.rank, kv.num_workers, kv, sums)


def sum_over_workers(workers: Workers, values: list) -> list:
    """The sums of `values` (floats) over all workers, when the kvstore can sum; else values."""
    if not workers.sums_metrics:
        return values
    arr = mx.nd.array(values)
    workers.kvstore.pushpull(_METRICS_KEY, arr, out=arr)
    return [float(v) for v in arr.asnumpy()]


def plain_layout(net):
    """Rewrite every parameter in MXNet's default memory layout, in place, before the ps-lite
    kvstore reads it. An inference-mode forward pass (deferred initialization, evaluation) lets
    oneDNN reorder convolution weights in place into its blocked layout; ps-lite then ships the
    wrong bytes and the server aborts ('init 3 first'). Found here with mxnet 1.9.1."""
    for p in net.collect_params().values():
        p.set_data(p.data().copy())


def make_kvstore_trainer(params, optimizer: str, optimizer_params: dict, ctxs,
                         workers: Workers) -> gluon.Trainer:
    """A Trainer whose gradients are summed over `ctxs` and workers. Updates run locally
    (update_on_kvstore=False: faster here, and the optimizer states stay in the trainer where
    checkpoints read them), except under dist_async, whose servers must apply them."""
    if workers.kvstore is not None:
        local = workers.sums_metrics  # dist_sync / dist_device_sync
        return gluon.Trainer(params, optimizer, optimizer_params, kvstore=workers.kvstore,
                             update_on_kvstore=False if local else None)
    if len(ctxs) > 1:
        return gluon.Trainer(params, optimizer, optimizer_params, kvstore='device',
                             update_on_kvstore=False)
    return gluon.Trainer(params, optimizer, optimizer_params)
