"""Where a training step runs: one object per placement, siblings behind one small protocol, so
that the loop in `engine` reads the same for all of them (d2l zh §8.4-8.5).

- `OneDevice`: the book's step (d2l zh §5.5) on one context.
- `SeveralDevices`: one process, the batch split over several contexts, gradients summed by the
  'device' kvstore.
- `ParameterServer`: ps-lite workers (`--kvstore dist_sync`, `dist_device_sync`, `dist_async`),
  each taking its share of every global batch, started by `python -m gluon_cnn.launch`.
- `Horovod`: Horovod workers (`--kvstore horovod`), gradients allreduced.

The protocol (`Placement`): `make_trainer` (the Trainer that sums the gradients), `share_weights`
(before the first step: send rank 0's starting weights), `split` (this process's parts of a global
batch, one per device), `loss_weight` and `step_size` (how the losses are weighed and what
`trainer.step` divides by), and `totals` (an epoch's sums over the workers). What computes
(stock, widened or fused) is another question, `training.compute`'s; `runtime.for_run` decides
both, once.
"""
from typing import List, Protocol

import mxnet as mx
from mxnet import gluon

from ..backend import internals, npmode
from . import parallel

__all__ = ['Placement', 'OneDevice', 'SeveralDevices', 'ParameterServer', 'Horovod']


class Placement(Protocol):
    ctxs: List
    rank: int
    num_workers: int

    def make_trainer(self, params, optimizer: str, optimizer_params: dict) -> gluon.Trainer: ...

    def share_weights(self, net, trainer: gluon.Trainer, batch: int) -> None: ...

    def split(self, X, y) -> list: ...

    def loss_weight(self, b: int) -> float: ...

    def step_size(self, b: int) -> float: ...

    def totals(self, loss_sum, correct, n: int) -> tuple: ...


class _Placed:
    """What every placement holds: its contexts and its place among the workers."""
    rank, num_workers = 0, 1

    def __init__(self, ctxs):
        self.ctxs = list(ctxs)

    def __str__(self) -> str:
        return str(self.ctxs[0] if len(self.ctxs) == 1 else self.ctxs)

    def loss_weight(self, b: int) -> float:
        return 1.0

    def step_size(self, b: int) -> float:
        return b                         # the step averages the summed gradients over the batch

    def share_weights(self, net, trainer: gluon.Trainer, batch: int) -> None:
        """Send the starting weights to the other workers: there are none."""

    def totals(self, loss_sum, correct, n: int) -> tuple:
        """The epoch's sums over every worker: this process is all of them."""
        return loss_sum, correct, n


class OneDevice(_Placed):
    """One process on one context: the book's step (d2l zh §5.5)."""

    def __init__(self, ctx=None):
        super().__init__([ctx or mx.cpu()])

    def make_trainer(self, params, optimizer: str, optimizer_params: dict) -> gluon.Trainer:
        return gluon.Trainer(params, optimizer, optimizer_params)

    def split(self, X, y) -> list:
        return [(X, y, True)]


class SeveralDevices(_Placed):
    """One process, each batch split over several contexts (d2l zh §8.5); the 'device' kvstore
    sums the gradients and the step averages over the whole batch."""

    def make_trainer(self, params, optimizer: str, optimizer_params: dict) -> gluon.Trainer:
        return gluon.Trainer(params, optimizer, optimizer_params, kvstore='device',
                             update_on_kvstore=False)

    def split(self, X, y) -> list:
        return parallel.split_batch(X, y, self.ctxs)


class ParameterServer(_Placed):
    """ps-lite workers (d2l zh §8.5's kvstore, across processes): every worker reads the same
    shuffled global batch and takes its share (`parallel.share`); the servers sum the gradients.
    Under `dist_sync` this computes the updates of one process with the same seed and batch.

    dist_async's servers apply the optimizer themselves, dividing by the batch size of the first
    step; epoch metrics are summed where the kvstore can sum.
    """

    def __init__(self, workers: parallel.Workers, ctxs):
        super().__init__(ctxs)
        self.workers = workers
        self.rank, self.num_workers = workers.rank, workers.num_workers
        self.servers_update = 'async' in workers.name  # dist_async: the optimizer runs there
        self.full = None                 # the run's full global batch, from its first batch

    def __str__(self) -> str:
        return f'{super().__str__()} x {self.num_workers} workers ({self.workers.name})'

    def make_trainer(self, params, optimizer: str, optimizer_params: dict) -> gluon.Trainer:
        # dist_sync / dist_device_sync update here (faster, and the optimizer states stay in the
        # trainer where checkpoints read them); dist_async's servers must apply the updates
        return gluon.Trainer(params, optimizer, optimizer_params, kvstore=self.workers.kvstore,
                             update_on_kvstore=None if self.servers_update else False)

    def share_weights(self, net, trainer: gluon.Trainer, batch: int) -> None:
        """Rank 0's starting weights go to the servers before a training pass can reorder their
        layout (Trainer.step would send them after the first backward pass). With the optimizer
        goes the gradient scale of a full global batch, as Trainer.step would set it."""
        self.full = batch
        parallel.plain_layout(net)
        internals.init_kvstore(trainer, self.step_size(batch))

    def split(self, X, y) -> list:
        return parallel.split_batch(X, y, self.ctxs, self.workers)

    def loss_weight(self, b: int) -> float:
        # dist_async's servers divide by the first step's batch size: a short batch weights its
        # losses full / b so that the update still averages over its b examples
        return self.full / b if self.servers_update else 1.0

    def step_size(self, b: int) -> float:
        return self.full if self.servers_update else b  # the servers' scale is the first step's

    def totals(self, loss_sum, correct, n: int) -> tuple:
        """Each worker saw its share: the epoch's sums over the workers (dist_sync); dist_async
        keeps this worker's own."""
        return _summed(self.workers, loss_sum, correct, n)


class Horovod(_Placed):
    """Horovod workers, one device each: rank 0's weights are broadcast, gradients allreduced by
    Horovod's DistributedTrainer (which divides by the number of workers itself)."""

    def __init__(self, workers: parallel.Workers, ctxs):
        super().__init__(ctxs)
        self.workers = workers
        self.rank, self.num_workers = workers.rank, workers.num_workers

    def __str__(self) -> str:
        return f'{super().__str__()} x {self.num_workers} workers (horovod)'

    def make_trainer(self, params, optimizer: str, optimizer_params: dict) -> gluon.Trainer:
        return parallel.horovod().DistributedTrainer(params, optimizer, optimizer_params)

    def share_weights(self, net, trainer: gluon.Trainer, batch: int) -> None:
        parallel.plain_layout(net)       # Horovod's broadcast reads raw bytes too
        parallel.horovod().broadcast_parameters(net.collect_params(), root_rank=0)

    def split(self, X, y) -> list:
        return parallel.split_batch(X, y, self.ctxs, self.workers)

    def step_size(self, b: int) -> float:
        return b / self.num_workers

    def totals(self, loss_sum, correct, n: int) -> tuple:
        return _summed(self.workers, loss_sum, correct, n)


def _summed(workers: parallel.Workers, loss_sum, correct, n: int) -> tuple:
    """(loss sum, correct, n) summed over the workers, as device arrays where they were."""
    ctx = loss_sum.context
    l_tot, c_tot, n_tot = parallel.sum_over_workers(
        workers, [npmode.scalar(loss_sum), npmode.scalar(correct), n])
    return mx.nd.array([l_tot], ctx=ctx), mx.nd.array([c_tot], ctx=ctx), int(round(n_tot))
