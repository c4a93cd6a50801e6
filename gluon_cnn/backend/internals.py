"""Every use of MXNet 1.9.1's private attributes, in one audited place.

MXNet is frozen at 1.9.1 (the project moved to the Apache Attic in 2023), so these attributes
will not move under us; still, each one is named here once, with what it is for, and
tests/test_internals.py checks each against MXNet's public behaviour. Nothing else in gluon_cnn
reads or writes an underscore attribute of an MXNet object.

Sections: the block tree, layer settings, parameters, hybridized graphs, forward hooks, symbolic
shape inference, trainer states and hybridization. Numpy mode is `gluon_cnn.backend.npmode`'s.
"""
import ctypes
from collections import OrderedDict
from contextlib import contextmanager

import mxnet as mx
from mxnet import gluon
from mxnet.gluon import nn
from mxnet.gluon.nn.conv_layers import _Conv, _Pooling

from . import npmode

__all__ = ['ConvLayer', 'PoolingLayer', 'children', 'layer_kwargs', 'set_layer_kwargs', 'act_type',
           'conv_channels',
           'is_transposed', 'dense_units', 'dense_flattens', 'dropout_rate', 'set_dropout_rate',
           'is_initialized', 'zero_deferred_init', 'saved_param_symbols', 'clear_cached_graphs',
           'run_layer_by_layer', 'forward_hooks', 'swapped_hooks', 'infer_shapes', 'infer_types',
           'uses_kvstore_updates', 'init_kvstore', 'to_default_layout', 'has_default_layout',
           'optimizer_of', 'optimizer_state', 'set_optimizer_state', 'trainer_params',
           'swap_class',
           'is_hybridized', 'read_mnist_locally']


# ----------------------------------------------------------------------------- the block tree
ConvLayer = _Conv          # base of Conv1D/2D/3D and their Transpose
PoolingLayer = _Pooling    # base of Max/Avg/GlobalMax/GlobalAvg pooling, 1-3 D


def children(block: gluon.Block) -> 'OrderedDict[str, gluon.Block]':
    """A block's registered children by attribute name (Block._children), in order."""
    return block._children


# ----------------------------------------------------------------------------- layer settings
def layer_kwargs(block: gluon.Block) -> dict:
    """The operator arguments a Conv/Pooling/BatchNorm layer passes to its op (Block._kwargs):
    kernel, stride, pad, dilate, num_group, layout, no_bias, global_pool, use_global_stats..."""
    return block._kwargs


def set_layer_kwargs(block: gluon.Block, **changes) -> dict:
    """Change some of a layer's operator arguments; returns the previous dict to restore with
    `set_layer_kwargs(block, **previous)`. Cached graphs must be rebuilt afterwards."""
    previous = dict(block._kwargs)
    block._kwargs = {**block._kwargs, **changes}
    return previous


def act_type(activation: nn.Activation) -> str:
    """'relu', 'sigmoid', ... of an Activation block (Activation._act_type)."""
    return activation._act_type


def conv_channels(conv) -> int:
    """The number of output channels a Conv layer was built with (_Conv._channels)."""
    return conv._channels


def is_transposed(conv) -> bool:
    """True for Conv*DTranspose, whose op is Deconvolution (_Conv._op_name)."""
    return conv._op_name == 'Deconvolution'


def dense_units(dense: nn.Dense) -> int:
    """Output width of a Dense layer (Dense._units)."""
    return dense._units


def dense_flattens(dense: nn.Dense) -> bool:
    """Whether a Dense flattens all trailing axes (Dense._flatten), as the book's LeNet relies on.
    """
    return dense._flatten


def dropout_rate(dropout: nn.Dropout) -> float:
    return dropout._rate


def set_dropout_rate(dropout: nn.Dropout, rate: float) -> float:
    """Set a Dropout's rate; returns the previous one. Cached graphs must be rebuilt afterwards."""
    previous, dropout._rate = dropout._rate, rate
    return previous


# ----------------------------------------------------------------------------- parameters
def is_initialized(param: gluon.Parameter) -> bool:
    """True once a Parameter holds data; False while it waits for (deferred) initialization."""
    return param._data is not None


def zero_deferred_init(param: gluon.Parameter, ctx) -> None:
    """Make an uninitialized Parameter zeros, without drawing random numbers: a deferred one keeps
    its pending shape inference with Zero() as its initializer (Parameter._deferred_init).
    Callers restore the Parameter's __dict__ afterwards when the zeros are for one pass only."""
    if param._deferred_init:
        param._deferred_init = (mx.init.Zero(),) + tuple(param._deferred_init[1:])
    else:
        param.initialize(init=mx.init.Zero(), ctx=ctx)


@contextmanager
def saved_param_symbols(params):
    """Parameter.var() caches a symbol in Parameter._var on first use; calling a net on symbols
    fills those caches. Put them back as they were afterwards."""
    saved = [(p, p._var) for p in params]
    try:
        yield
    finally:
        for p, v in saved:
            p._var = v


# ----------------------------------------------------------------------------- hybridized graphs
def clear_cached_graphs(net: gluon.Block) -> None:
    """Make every hybridized block of `net` rebuild its graph (HybridBlock._clear_cached_op):
    needed after a layer's settings changed."""
    net.apply(lambda b: b._clear_cached_op() if isinstance(b, gluon.HybridBlock) else None)


def run_layer_by_layer(block: gluon.Block) -> None:
    """Let a hybridized block run imperatively so every child's hooks fire (HybridBlock._active).
    Callers restore the block's __dict__ afterwards."""
    if isinstance(block, gluon.HybridBlock):
        block._active = False


def swap_class(obj, cls) -> type:
    """Give `obj` the class `cls`, returning the old one (to put back in a `finally`)."""
    previous, obj.__class__ = obj.__class__, cls
    return previous


# ----------------------------------------------------------------------------- forward hooks
def forward_hooks(block: gluon.Block) -> tuple:
    """(pre-forward hooks, forward hooks) registered on `block`, as dicts by handle id
    (Block._forward_pre_hooks/_forward_hooks; the public API can only add and detach them)."""
    return dict(block._forward_pre_hooks), dict(block._forward_hooks)


@contextmanager
def swapped_hooks(blocks, pre, post):
    """Within the block, every block of `blocks` calls only pre(block, args) and
    post(block, args, out) around its forward: the user's own hooks are set aside, then put back
    (Block._forward_pre_hooks/_forward_hooks, whose public API can add but not set aside)."""
    saved = [(b, b._forward_pre_hooks, b._forward_hooks) for b in blocks]
    try:
        for b in blocks:
            b._forward_pre_hooks = OrderedDict(trace=pre)
            b._forward_hooks = OrderedDict(trace=post)
        yield
    finally:
        for b, pre_hooks, post_hooks in saved:
            b._forward_pre_hooks, b._forward_hooks = pre_hooks, post_hooks


# ----------------------------------------------------------------------------- shape inference
def infer_shapes(sym, partial: bool, **shapes):
    """(argument, output, auxiliary) shapes of a symbol (Symbol._infer_shape_impl).

    Symbol.infer_shape wraps this and also prints its arguments to stdout on failure; the tracer
    expects failures (a net refusing an input) and reports them itself."""
    return sym._infer_shape_impl(partial, **shapes)


def infer_types(sym, **dtypes):
    """(argument, output, auxiliary) dtypes of a symbol (Symbol._infer_type_impl), quietly."""
    return sym._infer_type_impl(False, **dtypes)


# ----------------------------------------------------------------------------- trainer states
def uses_kvstore_updates(trainer: gluon.Trainer) -> bool:
    """True when the kvstore applies the updates (Trainer._update_on_kvstore): optimizer
    states then live in the kvstore, not in the trainer's updaters."""
    return bool(trainer._update_on_kvstore)


def init_kvstore(trainer: gluon.Trainer, batch_size: float) -> None:
    """Create the trainer's kvstore and send it the parameters now, as Trainer.step(batch_size)
    otherwise does on its first call (Trainer._check_and_rescale_grad, _init_kvstore,
    _init_params): a dist kvstore then reads the weights before any training pass can change their
    memory layout (see to_default_layout). The gradient scale comes first, as in step: with
    update_on_kvstore (dist_async) the servers get the optimizer with it, once and for all."""
    trainer._check_and_rescale_grad(trainer._scale / batch_size)
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    if trainer._params_to_init:
        trainer._init_params()


def optimizer_state(trainer: gluon.Trainer):
    """(optimizer, {param index: state}, {param index: update count}) of a trainer whose updates
    run locally (Trainer._optimizer, _updaters, Optimizer._index_update_count)."""
    opt = trainer._optimizer
    return opt, trainer._updaters[0].states, opt._index_update_count


def trainer_params(trainer: gluon.Trainer) -> list:
    """The trainer's Parameters by their index in its states (Trainer._params: the Parameters
    sorted by name when it was given a dict, so the order depends on how the net was named)."""
    return list(trainer._params)


def set_optimizer_state(trainer: gluon.Trainer, states: dict, counts: dict, num_update: int):
    """Put optimizer states and update counters into every updater of `trainer`."""
    opt = trainer._optimizer
    for updater in trainer._updaters:  # one per context (Trainer._contexts), each with its own
        updater.states = {k: _copy_state(v) for k, v in states.items()}  # copy: updated in place
        updater.states_synced = dict.fromkeys(states, False)  # moved to the weight's ctx lazily
    # Adam's bias correction reads these; the optimizer keeps one dict per device id
    opt._all_index_update_counts = {c.device_id: dict(counts) for c in trainer._contexts}
    opt._all_index_update_counts.setdefault(0, dict(counts))
    opt._index_update_count = opt._all_index_update_counts[trainer._contexts[0].device_id]
    opt.num_update = num_update


def _copy_state(state):
    """A copy of an optimizer state: None, an NDArray, or nested tuples of them."""
    if isinstance(state, (tuple, list)):
        return tuple(_copy_state(s) for s in state)
    return None if state is None else state.copy()


def optimizer_of(trainer: gluon.Trainer):
    """The trainer's Optimizer (Trainer._optimizer), e.g. to read its class."""
    return trainer._optimizer


# ----------------------------------------------------------------------------- oneDNN layouts
def to_default_layout(arr: mx.nd.NDArray) -> None:
    """Put `arr` in MXNet's default memory layout, in place, after its pending writes.

    A forward pass lets oneDNN reorder a convolution or dense weight in place, asynchronously,
    into a blocked layout. Copies handle that, but ps-lite sends an array's raw bytes: a blocked
    weight reaches the other workers scrambled. The C API's MXNDArrayGetData is the one call that
    reorders such an array back (Reorder2DefaultAsync, then WaitToRead); Python's NDArray has none.
    """
    ptr = ctypes.c_void_p()
    mx.base.check_call(mx.base._LIB.MXNDArrayGetData(arr.handle, ctypes.byref(ptr)))


def has_default_layout(arr: mx.nd.NDArray) -> bool:
    """False while `arr` is in a oneDNN blocked layout (after its pending writes): the DLPack
    export reads NDArray::data(), which refuses such an array."""
    arr.wait_to_read()
    try:
        mx.nd.to_dlpack_for_read(arr)
    except mx.base.MXNetError:
        return False
    return True


# ----------------------------------------------------------------------------- hybridization state
def is_hybridized(block: gluon.Block) -> bool:
    """True when `block` is a HybridBlock that runs as a cached graph (HybridBlock._active)."""
    return isinstance(block, gluon.HybridBlock) and bool(block._active)


# ----------------------------------------------------------------------------- Gluon's MNIST reader
def read_mnist_locally(local_split, download_failed=None) -> None:
    """Make Gluon's MNIST and FashionMNIST read local IDX files instead of downloading.

    Their constructors call MNIST._get_data(), which downloads unless the files under `root` have
    Gluon's sha1 (Debian's recompressed copies do not). The replacement asks
    local_split(dataset, train, root) for (images (N, 28, 28) uint8, labels (N,) uint8), reading
    the dataset's name, split and root from MNIST._namespace, _train and _root, and fills
    _data and _label as Gluon does; when it returns None, Gluon's own _get_data runs (it
    downloads), and if that raises, download_failed(dataset, root, error) is raised instead.
    Idempotent: a second call changes nothing but the download_failed hook.
    """
    from mxnet.gluon.data.vision import datasets
    original = datasets.MNIST._get_data
    if getattr(original, 'reads_locally', False):
        original.download_failed[0] = download_failed
        return
    failed = [download_failed]

    def _get_data(self):
        found = local_split(self._namespace, self._train, self._root)
        if found is None:
            try:
                return original(self)
            except Exception as e:  # noqa: BLE001 -- Gluon raises bare Exceptions offline
                if failed[0] is None:
                    raise
                raise failed[0](self._namespace, self._root, e) from None
        images, labels = found
        # (N, 28, 28, 1) and int32 labels, as Gluon's own reader leaves them
        self._data = npmode.array(images[..., None], dtype=images.dtype)
        labels = labels.astype('int32')
        self._label = npmode.in_mode(labels, dtype=labels.dtype)

    _get_data.reads_locally = True
    _get_data.download_failed = failed
    datasets.MNIST._get_data = _get_data
