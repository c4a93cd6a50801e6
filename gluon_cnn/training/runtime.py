"""How a run runs, decided once and passed down: where its steps run (a `Placement`), what
computes them (`compute.view`: stock, widened or fused), whether graphs are compiled, the array
mode, and this process's part (rank; whether it leads, i.e. prints and writes the run folder,
and whether it evaluates). `for_run` is the one place that decides; nothing below it tests a
mode, a rank or a kvstore again.
"""
import dataclasses
from typing import List

import mxnet as mx
from mxnet import gluon

from ..backend import npmode
from ..errors import ConfigError
from . import parallel
from .compute import COMPUTE, NetAndLoss, settle_shapes, view
from .placement import Horovod, OneDevice, ParameterServer, Placement, SeveralDevices
from .widen import WIDEN

__all__ = ['Runtime', 'for_run', 'as_runtime']


@dataclasses.dataclass(frozen=True)
class Runtime:
    """A run's placement and compute, with everything that follows from them."""
    placement: Placement
    compute: str = 'widened'             # COMPUTE: what the step computes with
    widen: int = WIDEN                   # the widened view's channel multiple
    hybridize: bool = True               # net, loss and metrics as one static graph
    np_mode: bool = dataclasses.field(default_factory=npmode.is_np_mode)  # npx.set_np() arrays

    def __post_init__(self):
        assert self.compute in COMPUTE, self.compute

    @property
    def ctx(self):
        """Where batches, metrics and evaluation live: the first device."""
        return self.placement.ctxs[0]

    @property
    def rank(self) -> int:
        return self.placement.rank

    @property
    def leads(self) -> bool:
        """Whether this process prints and writes the run folder (rank 0; every rank trains)."""
        return self.placement.rank == 0

    @property
    def evaluates(self) -> bool:
        """Whether this process measures test accuracy: the leader alone."""
        return self.leads

    def __str__(self) -> str:
        return str(self.placement)

    def make_trainer(self, params, optimizer: str, optimizer_params: dict) -> gluon.Trainer:
        return self.placement.make_trainer(params, optimizer, optimizer_params)

    def prepare(self, net, loss, trainer: gluon.Trainer, X) -> NetAndLoss:
        """The graph that trains, built on the run's first (augmented) batch X: the initial
        weights drawn where the book's first forward pass draws them, shared with the other
        workers, then net + loss + metrics over the run's view of the net (one view for the
        whole run: rebuilding graphs every epoch grows the memory pool)."""
        settle_shapes(net, X)
        self.placement.share_weights(net, trainer, X.shape[0])
        graph = NetAndLoss(view(net, self.compute, self.widen, self.np_mode), loss)
        if self.hybridize:               # also compiles the view for evaluation on its own
            graph.hybridize(static_alloc=True, static_shape=True)
        return graph


def for_run(ctxs: List, kvstore: str = 'device', compute: str = 'widened', widen: int = WIDEN,
            hybridize: bool = True) -> Runtime:
    """The runtime of a run with these contexts and `--kvstore`: the one place that decides.
    A dist kvstore or Horovod joins the other workers first (blocks until every role is up)."""
    if kvstore == 'horovod' and len(ctxs) > 1:
        raise ConfigError('--kvstore horovod runs one device per process (Horovod sums the '
                          'first device\'s gradients only): start one process per device')
    workers = parallel.connect(kvstore)
    if workers.horovod:
        placement = Horovod(workers, ctxs)
    elif workers.distributed:
        placement = ParameterServer(workers, ctxs)
    elif len(ctxs) > 1:
        placement = SeveralDevices(ctxs)
    else:
        placement = OneDevice(ctxs[0])
    return Runtime(placement, compute, widen, hybridize)


def as_runtime(given=None, hybridize: bool = True) -> Runtime:
    """A runtime from what a caller passes: a Runtime as it is, a context (one device) or a list
    of contexts (several devices, one process), or None for cpu()."""
    if isinstance(given, Runtime):
        return given
    if isinstance(given, (list, tuple)):
        return for_run(list(given), hybridize=hybridize)
    return Runtime(OneDevice(given or mx.cpu()), hybridize=hybridize)
