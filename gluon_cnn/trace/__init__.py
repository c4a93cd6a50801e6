"""Layer-by-layer shape tracer: `trace(net, x)`, the book's shape loop (d2l zh §5.5) for any net.

>>> t = trace(get_model('lenet'), (1, 1, 28, 28))   # no initialize() needed, none done
>>> t.rows[0].output_shape, t.total_params
((1, 6, 24, 24), 44426)
>>> t                                                # the table (str(t) is the same)

One row per leaf layer in execution order (a Conv2D/Dense with a fused `activation=` is one
leaf), nested blocks as a tree; `trace(..., depth=1)` folds deeper levels into summed rows. Per
row: shapes, parameters (trainable, shared), kernel/stride/padding, weight MACs (fvcore's
convention; torchinfo's, with bias uses, in the totals), pooling/activation/BatchNorm ops,
connections, receptive field and jump (along the data flow, through branches, merges and
flattening), activation bytes; implicit reshapes (a Dense flattening a 4-D input) are called out,
and `explain=True` shows d2l zh §5.2's output-size formula with each layer's numbers and how each
column is counted. Totals equal the unique parameters of `net.collect_params()`.

How: the net is called once on symbols with recording hooks, as `hybridize()` does, and one
`infer_shape` gives every shape (see `recording.py`); nets with plain Blocks that need real arrays
get one real forward pass in predict mode, under autograd's recording to see the data flow
between layers. Either way the net is left as it was: no hooks,
parameters, autograd or training mode changed. The formulas live in `gluon_cnn.shapes`.
Compared with what readers know: `Block.summary` refuses hybridized nets and needs an
initialized one; `mx.viz.print_summary` miscounts a Dense after a 4-D input (apache/mxnet#15192);
torchinfo counts Mult-Adds only for layers with weights and has no receptive field.
"""
import sys
import types
from math import prod
from typing import Optional, Sequence, Union

import mxnet as mx
import numpy as np
from mxnet import gluon

from .. import shapes as _shapes
from ..errors import TraceError
from ..backend import internals
from . import layers
from .recording import RecordError, Recording, params_under, record
from .table import CONVENTIONS, Row, Trace

__all__ = ['trace', 'Trace', 'Row', 'CONVENTIONS']

Input = Union[Sequence[int], object]  # a shape tuple (batch included) or an array


def trace(net: gluon.Block, *inputs: Input, depth: Optional[int] = None,
          mode: str = 'auto', explain: bool = False) -> Trace:
    """Trace `net` on one or more inputs, each a shape tuple (batch included) or an array.

    depth : show nested blocks down to this level only (1: the net's children).
    explain : under each conv and pooling row, d2l zh §5.2's output-size formula with its
        numbers per axis, e.g. '⌊(28 - 5 + 0 + 1) / 1⌋ = 24'; under a flattening Dense or
        Flatten, 'flatten: 16×4×4 = 256'; under the table, how each column is counted.
    mode : 'auto' (symbolic, imperative for plain Blocks that need arrays), 'symbolic' or
        'imperative'.
    Raises TraceError naming the layer that refused its input, its incoming shape and the table
    up to it (also on the exception's `.trace`).
    """
    if not inputs:
        raise TraceError('trace(net, x): give the input shape, e.g. (1, 1, 28, 28), or an array')
    if len(inputs) == 1 and isinstance(inputs[0], list) and inputs[0] and not _is_shape(inputs[0]):
        inputs = tuple(inputs[0])  # trace(net, [shape_a, shape_b])
    for x in inputs:
        if not (hasattr(x, 'shape') or _is_shape(x)):
            raise TraceError(f'trace(net, x): x must be a shape tuple like (1, 1, 28, 28) or an '
                             f'array, not {x!r}')
    if mode not in ('auto', 'symbolic', 'imperative'):
        raise TraceError(f"mode must be 'auto', 'symbolic' or 'imperative', not {mode!r}")
    for x in inputs:
        shape = tuple(x.shape) if hasattr(x, 'shape') else tuple(x)
        if any(int(v) <= 0 or int(v) > MAX_SIZE for v in shape):
            raise TraceError(f'input {shape}: every size must be between 1 and {MAX_SIZE:,} '
                             f'(2^31 - 1, the largest MXNet takes)')
    try:
        rec, failure = record(net, list(inputs), mode), None
    except RecordError as e:
        rec, failure = e.partial, e
    except mx.MXNetError as e:  # outside any layer, e.g. an input too large to allocate
        given = ', '.join(str(tuple(getattr(x, 'shape', x))) for x in inputs)
        raise TraceError(f'the net cannot take input {given}: {_mxnet_reason(e)}',
                         reason=_mxnet_reason(e)) from None
    t = _build(net, rec, depth, partial=failure is not None, explain=explain)
    if failure is not None:
        raise _trace_error(t, rec, failure)
    return t


MAX_SIZE = 2 ** 31 - 1  # MXNet's pip wheels are built without USE_INT64_TENSOR_SIZE


def _mxnet_reason(err) -> str:
    """MXNet's one useful line, made plain: '... larger than 2^31 elements ...'."""
    from .recording import _reason
    return _reason(err)


def _is_shape(x) -> bool:
    return isinstance(x, (tuple, list)) and all(isinstance(v, (int, np.integer)) for v in x)


def _trace_error(t: Trace, rec: Recording, failure: RecordError) -> TraceError:
    """'features.2 (Conv2D) cannot take its input (1, 6, 2, 2): ...' plus the table so far."""
    given = ', '.join(str(tuple(s)) for s in t.input_shapes)
    if failure.failing is None:
        return TraceError(f'the net cannot take input {given}: {failure.reason}\n'
                          f'layers traced before the failure:\n{t}', reason=failure.reason, trace=t)
    c = rec.calls[failure.failing]
    ins = [rec.shapes.get(k) for k in c.in_keys]
    layer, layer_type = c.path or type(c.block).__name__, type(c.block).__name__
    incoming = ', '.join(str(s) for s in ins if s is not None) or 'unknown'
    window = _window_too_large(c.block, ins[0] if len(ins) == 1 else None)
    if window:
        msg = f'layer {layer} ({layer_type} {window[0]}): {window[1]}'
    else:
        msg = (f'layer {layer} ({layer_type}) cannot take its input {incoming}: '
               f'{failure.reason}. The net input {given} is too small or of the wrong rank here')
    return TraceError(f'{msg}\nlayers traced before the failure:\n{t}', layer=layer,
                      layer_type=layer_type, incoming=[s for s in ins if s is not None],
                      reason=failure.reason, trace=t)


def _window_too_large(block, shape):
    """('5x5', 'input 4x4 is smaller than the kernel; needs at least 5x5') when a conv or
    pooling window does not fit its padded input, else None (another reason: MXNet's stands)."""
    if shape is None or not isinstance(block, (internals.ConvLayer, internals.PoolingLayer)):
        return None
    kw = internals.layer_kwargs(block)
    kernel = tuple(kw.get('kernel') or ())
    if not kernel or kw.get('global_pool') or len(shape) != len(kernel) + 2:
        return None
    pad = tuple(kw.get('pad') or (0,) * len(kernel))
    dilate = tuple(kw.get('dilate') or (1,) * len(kernel))
    if isinstance(block, internals.ConvLayer) and internals.is_transposed(block):
        return None
    spatial = shape[2:]
    needed = tuple((k - 1) * d + 1 - 2 * p for k, d, p in zip(kernel, dilate, pad))
    if all(n <= s for n, s in zip(needed, spatial)):
        return None
    what = 'kernel' if isinstance(block, internals.ConvLayer) else 'pooling window'
    padded = ' with its padding' if any(pad) else ''
    return ('x'.join(map(str, kernel)),
            f'input {"x".join(map(str, spatial))} is smaller than the {what}{padded}; needs at '
            f'least {"x".join(str(max(n, 1)) for n in needed)}')


# ----------------------------------------------------------------------------- building rows
def _build(net, rec: Recording, depth: Optional[int], partial: bool = False,
           explain: bool = False) -> Trace:
    calls = rec.calls
    child_calls = {c.parent for c in calls}
    leaf = [layers.is_fused(c.block) or i not in child_calls for i, c in enumerate(calls)]
    absorbed = [False] * len(calls)  # calls inside a leaf (a fused conv's activation)
    for i, c in enumerate(calls):
        absorbed[i] = c.parent >= 0 and (leaf[c.parent] or absorbed[c.parent])
    nsp = [len(rec.shapes.get(k) or ()) - 2 for k in rec.data_keys]
    rf = _Fields(rec, {k: ((1,) * n, (1,) * n) if n > 0 else None
                       for k, n in zip(rec.data_keys, nsp)})
    nodes, index, seen = [], {}, {}
    for i, c in enumerate(calls):
        if absorbed[i]:
            continue
        index[i] = len(nodes)
        nodes.append(_row(c, rec, rf, seen, index.get(c.parent, -1), container=not leaf[i]))
    for i, j in index.items():  # a container's field is known once its children have run
        if not leaf[i] and calls[i].finished and calls[i].out_keys:
            nodes[j].receptive_field, nodes[j].jump = rf.of(calls[i].out_keys[0])
    params = params_under(net)  # the unique parameters of net.collect_params()
    if partial:  # stopped at a failure: the totals cover the rows traced
        params = [p for p in params if id(p) in seen]
    count = {p.name: _count(rec.param_shapes.get(p.name, p.shape)) for p in params}
    unused = tuple(p.name for p in params if id(p) not in seen)
    done = calls and calls[0].finished
    out = _one([rec.shapes.get(k) for k in calls[0].out_keys]) if done else None
    return Trace(nodes, title=type(net).__name__,
                 input_shapes=[rec.shapes.get(k) for k in rec.data_keys], output_shape=out,
                 total_params=sum(count.values()),
                 trainable_params=sum(count[p.name] for p in params if p.grad_req != 'null'),
                 param_bytes=sum(count[p.name] * np.dtype(p.dtype).itemsize for p in params),
                 mode=rec.mode, depth=depth, unused=unused, explain=explain)


def _count(shape) -> int:
    """Number of values of a parameter shape; 0 while a dimension is still unknown."""
    return prod(shape) if shape and all(d > 0 for d in shape) else 0


def _one(shapes: list):
    return None if not shapes else shapes[0] if len(shapes) == 1 else tuple(shapes)


def _row(c, rec: Recording, rf: '_Fields', seen: dict, parent: int, container: bool) -> Row:
    """The row of one call: a container (own parameters only) or a leaf with all its numbers."""
    block = c.block
    ins = [rec.shapes.get(k) for k in c.in_keys]
    outs = [rec.shapes.get(k) for k in c.out_keys] if c.finished else []
    own = params_under(block) if not container else \
        list({id(p): p for p in block.params.values()}.values())
    n = {id(p): _count(rec.param_shapes.get(p.name, p.shape)) for p in own}
    name = c.path or type(block).__name__
    shared = next((seen[id(p)] for p in own if id(p) in seen), None)
    for p in own:
        seen.setdefault(id(p), name)
    row = Row(name=name, type=type(block).__name__, depth=c.depth, input_shape=_one(ins),
              output_shape=_one(outs), params=sum(n.values()),
              trainable_params=sum(n[id(p)] for p in own if p.grad_req != 'null'),
              shared=shared, is_leaf=not container, parent=parent,
              activation=layers.fused_activation(block))
    if container or not c.finished or not ins or ins[0] is None or not outs or outs[0] is None:
        if container:
            if own:  # a container computing with its own weights: the tracer cannot count it
                _set_counts(row, _UNCOUNTED)
        else:  # the layer that refused its input (a partial trace)
            _set_counts(row, _UNCOUNTED)
            row.note = 'stopped here: cannot take this input'
        return row
    _set_counts(row, layers.counts(block, ins[0], outs[0], size=lambda p: n.get(id(p), 0)))
    row.activation_bytes = sum(prod(s) * rec.dtypes.get(k, np.dtype('float32')).itemsize
                               for k, s in zip(c.out_keys, outs) if s)
    geo = layers.geometry(block, ins[0], outs[0])
    if geo is not None:
        if not geo.flatten:  # a flattening window is the whole map, not a k/s/p anyone chose
            row.kernel, row.stride = geo.kernel, geo.stride
            row.padding, row.dilation = geo.padding, geo.dilation
        elif not isinstance(block, _FLATTEN):  # nn.Flatten says so in its own name
            row.note = f'flattens its {ins[0]} input to ({ins[0][0]}, {prod(ins[0][1:])})'
        row.formula = layers.formula(block, geo, ins[0])
    row.receptive_field, row.jump = rf.step(c, geo, block, ins[0], outs[0], bool(own))
    return row


_FLATTEN = gluon.nn.Flatten
_UNCOUNTED = layers.Counts(None, None, None, None, None, None, None)


def _set_counts(row: Row, c: 'layers.Counts') -> None:
    row.macs, row.bias_adds, row.torchinfo = c.macs, c.bias_adds, c.torchinfo
    row.pool_ops, row.act_ops, row.norm_ops = c.pool_ops, c.act_ops, c.norm_ops
    row.connections = c.connections


class _Fields:
    """Receptive field and jump per tensor, through branches: a merge takes the larger field."""

    def __init__(self, rec: Recording, start: dict):
        self.rec, self.map, self.last = rec, dict(start), next(iter(start.values()), None)

    def of(self, key):
        if key in self.map:
            v = self.map[key]
        elif key in self.rec.links:
            found = [self.of(k) for k in self.rec.links[key]]
            v = None if not found or any(f is None for f in found) else \
                max(found, key=lambda f: sum(f[0]))  # a merge takes the larger field
        else:
            v = self.last  # imperative runs have no graph: follow the order of execution
        return v if v is not None else (None, None)

    def step(self, c, geo, block, in_shape, out_shape, has_params):
        field, jump = self.of(c.in_keys[0])
        if field is not None:
            if geo is not None and len(geo.kernel) == len(field):
                step = (_shapes.transposed_receptive_field_step if geo.transposed
                        else _shapes.receptive_field_step)
                pairs = [step(r, j, k, s, d) for r, j, k, s, d in zip(field, jump, geo.kernel,
                                                                      geo.stride, geo.dilation)]
                field, jump = tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)
            elif geo is not None or (not isinstance(block, layers.KNOWN) and
                                     (has_params or in_shape[2:] != out_shape[2:])):
                field = jump = None  # a window the tracer does not know: stop tracking
        v = (field, jump) if field is not None else None
        for k in c.out_keys:
            self.map[k] = v
        self.last = v
        return v if v is not None else (None, None)


class _CallablePackage(types.ModuleType):
    """This package is callable: `gluon_cnn.trace(net, x)` is `gluon_cnn.trace.trace(net, x)`.
    So `from gluon_cnn import trace` gives the function the book's readers call and the package
    (`trace.Row`, `python -m gluon_cnn.trace`) under one name, and no function hides a package."""

    def __call__(self, net: gluon.Block, *inputs: Input, **kwargs) -> Trace:
        return trace(net, *inputs, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
