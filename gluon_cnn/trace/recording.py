"""Run a net once with recording hooks and return what each block call saw: the tracer's engine.

Two ways to run, both leaving the user's net as it was (no hooks, parameters, cached graphs or
autograd/training state changed):
- symbolic (the default, and the fast one): call the net on `mx.sym.var` inputs, exactly as
  `hybridize()` does to build its graph, and get every tensor's shape from one `infer_shape`.
  No parameter needs to exist, so a never-initialized deferred-init net traces as it is.
- imperative (the fallback for plain Blocks whose `forward` needs real NDArrays, such as the
  book's from-scratch layers): a real forward pass in predict mode. Missing parameters are made
  zeros for the pass only (zeros consume no random numbers), then every Block and Parameter gets
  its attribute dict back.
"""
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.symbol import Symbol

from ..backend import blocks, internals, npmode
from .layers import is_fused

__all__ = ['Call', 'Recording', 'RecordError', 'walk', 'params_under', 'record']


@dataclass
class Call:
    """One call of one block: where it sits in the tree and the tensors it took and gave."""
    block: gluon.Block
    path: str                    # attribute path from the net, '' for the net itself
    depth: int                   # 0 for the net, 1 for its children, ...
    parent: int                  # index of the calling block's Call, -1 for the net
    in_keys: list
    out_keys: list = field(default_factory=list)
    finished: bool = False       # False for a call that failed or came after a failure
    finish: int = -1             # rank in finishing order (a block finishes after its children)


@dataclass
class Recording:
    calls: List[Call]                      # in call order (pre-order)
    shapes: Dict[object, tuple]            # tensor key -> shape
    dtypes: Dict[object, np.dtype]         # tensor key -> dtype
    param_shapes: Dict[str, tuple]         # Parameter.name -> shape
    links: Dict[object, list]              # key made by a container's own op -> known upstream keys
    data_keys: list                        # keys of the net's inputs
    mode: str                              # 'symbolic' or 'imperative'


class RecordError(Exception):
    """The net refused the input; `calls` and shapes are what was recorded before the failure."""

    def __init__(self, reason: str, failing: Optional[int], partial: Recording):
        super().__init__(reason)
        self.reason, self.failing, self.partial = reason, failing, partial


# every registered block under net by id (first path wins for a block registered twice)
def walk(net: gluon.Block) -> 'OrderedDict[int, tuple]':
    return OrderedDict((id(b), (b, path)) for path, b in blocks.walk(net))


# the unique Parameters of a block and everything under it: collect_params() without its checks
def params_under(block: gluon.Block) -> list:
    found = {}
    for _, b in blocks.walk(block):
        for p in b.params.values():
            found.setdefault(id(p), p)
    return list(found.values())


# nested lists/tuples of outputs -> the flat list of tensors in them
def _flat(x) -> list:
    if isinstance(x, (list, tuple)):
        return [t for e in x for t in _flat(e)]
    return [x] if isinstance(x, (Symbol, mx.nd.NDArray)) else []


class _Hooks:
    """Record every call of the walked blocks; users' own hooks are set aside meanwhile."""

    def __init__(self, blocks: dict, key, skip_symbols: bool = False, mark=None):
        self.blocks, self.key, self.skip_symbols, self.mark = blocks, key, skip_symbols, mark
        self.calls, self.stack, self.n_finished = [], [], 0

    def pre(self, block, args):
        if self.skip_symbols and any(isinstance(t, Symbol) for t in _flat(args)):
            self.stack.append(None)  # Gluon's deferred shape inference, not the real pass
            return
        _, path = self.blocks[id(block)]
        parent = self.stack[-1] if self.stack else -1
        self.calls.append(Call(block, path, len(self.stack), parent, self.key(args)))
        self.stack.append(len(self.calls) - 1)

    def post(self, block, args, out):
        i = self.stack.pop()
        if i is None:
            return
        c = self.calls[i]
        if self.mark is not None and not internals.children(block):
            self.mark(out)  # a leaf's output: where the data flow of a container's ops ends
        c.out_keys, c.finished, c.finish = self.key(out), True, self.n_finished
        self.n_finished += 1

    def __enter__(self):
        self.swapped = internals.swapped_hooks([b for b, _ in self.blocks.values()], self.pre,
                                               self.post)
        self.swapped.__enter__()
        return self

    def __exit__(self, *exc):
        self.swapped.__exit__(*exc)


# ----------------------------------------------------------------------------- symbolic
def _nd_sym(s):
    return s.as_nd_ndarray() if type(s) is not Symbol else s


def _sym_keys(syms: dict):
    """A key function naming each output symbol ('conv0_fwd_output') and keeping the symbol."""
    def key(x):
        keys = []
        for s in _flat(x):
            s = _nd_sym(s)
            outs = s.list_outputs()
            for i, name in enumerate(outs):
                syms.setdefault(name, s if len(outs) == 1 else s[i])
                keys.append(name)
        return keys
    return key


def _infer(syms: list, shapes: dict, dtypes: dict):
    """(output shapes, output dtypes, {argument or aux name: shape}) of a group of symbols.

    A failure here is expected and reported as a TraceError (see internals.infer_shapes).
    """
    g = mx.sym.Group(syms)
    wanted = set(g.list_arguments())
    kw = {n: s for n, s in shapes.items() if n in wanted}
    args, outs, aux = internals.infer_shapes(g, False, **kw)
    if outs is None:  # a custom op left something unknown: keep what is known
        args, outs, aux = internals.infer_shapes(g, True, **kw)
    _, out_types, _ = internals.infer_types(g, **{n: t for n, t in dtypes.items() if n in wanted})
    pshapes = dict(zip(g.list_arguments(), args))
    pshapes.update(zip(g.list_auxiliary_states(), aux))
    types = [np.dtype(t) for t in out_types] if out_types else [np.dtype('float32')] * len(outs)
    return [tuple(s) if s is not None else None for s in outs], types, pshapes


def _links(syms: dict, known: set) -> dict:
    """For a tensor made by a container's own op (a residual add), the nearest known tensors."""
    memo = {}

    def up(s) -> list:
        name = s.list_outputs()[0]
        if name in known:
            return [name]
        if name not in memo:
            memo[name] = []
            kids = s.get_children()
            found = [k for c in (kids if kids is not None else []) for k in up(c)]
            memo[name] = list(dict.fromkeys(found))
        return memo[name]

    return {k: up(s) for k, s in syms.items() if k not in known}


def _record_symbolic(net, blocks, shapes: list, dtypes: list) -> Recording:
    names = ['data'] if len(shapes) == 1 else [f'data{i}' for i in range(len(shapes))]
    inputs = [mx.sym.var(n) for n in names]
    syms = {}
    params = params_under(net)
    with internals.saved_param_symbols(params), _Hooks(blocks, _sym_keys(syms)) as hooks:
        net(*npmode.as_mode(*inputs))
    calls = hooks.calls
    in_shapes, in_types = dict(zip(names, shapes)), dict(zip(names, dtypes))
    keys = list(syms)
    known = set(names) | {k for c in calls if not internals.children(c.block) for k in c.out_keys}
    rec = Recording(calls, dict(in_shapes), dict(in_types), {}, {}, names, 'symbolic')
    try:
        outs, types, pshapes = _infer([syms[k] for k in keys], in_shapes, in_types)
    except mx.MXNetError as e:
        raise _locate_failure(rec, syms, in_shapes, in_types, e) from None
    rec.shapes.update(zip(keys, outs))
    rec.dtypes.update(zip(keys, types))
    rec.param_shapes = {p.name: pshapes.get(p.name, p.shape) for p in params}
    rec.links = _links(syms, known)
    return rec


def _locate_failure(rec: Recording, syms: dict, shapes: dict, dtypes: dict, err) -> RecordError:
    """The first call, in finishing order, whose outputs cannot be inferred: the failing layer.

    The recording keeps the calls before it (in call order) with their shapes; a failure inside
    a fused Conv2D/Dense (its activation child) is the Conv2D's.
    """
    failing = None
    for i in sorted(range(len(rec.calls)), key=lambda i: rec.calls[i].finish):
        c = rec.calls[i]
        try:
            outs, types, pshapes = _infer([syms[k] for k in c.out_keys], shapes, dtypes)
        except mx.MXNetError as e:
            failing, err = i, e
            break
        rec.shapes.update(zip(c.out_keys, outs))
        rec.dtypes.update(zip(c.out_keys, types))
        rec.param_shapes.update(pshapes)
    if failing is None:
        return RecordError(_reason(err), None, rec)
    failing = _owner(rec.calls, failing)
    c = rec.calls[failing]
    try:  # the incoming shapes of the failing layer
        outs, _, _ = _infer([syms[k] for k in c.in_keys], shapes, dtypes)
        rec.shapes.update(zip(c.in_keys, outs))
    except mx.MXNetError:
        pass
    c.finished = False
    rec.calls = rec.calls[:failing + 1]  # call order: all before it are done (or its ancestors)
    return RecordError(_reason(err), failing, rec)


# a call inside a fused Conv2D/Dense (its activation) stands for that layer
def _owner(calls: list, i: int) -> int:
    while calls[i].parent >= 0 and is_fused(calls[calls[i].parent].block):
        i = calls[i].parent
    return i


def _reason(err) -> str:
    """The useful line of an MXNet error: 'Check failed: ... : kernel size exceed input'."""
    text = str(err)
    for line in text.splitlines():
        if 'Check failed' in line or 'Error in operator' in line:
            line = re.sub(r'\[\d\d:\d\d:\d\d\] \S+:\d+: ', '', line)
            line = re.sub(r'^(MXNetError: )?Error in operator \S+: ', '', line)
            return line.strip()
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[-1].strip() if lines else type(err).__name__


# ----------------------------------------------------------------------------- imperative
class _Flow:
    """The data flow of an imperative pass, from autograd's record of it.

    Every net input and leaf output is made an autograd variable (on arrays of the pass only);
    a tensor made by a plain Block's own code, such as `nd.relu(Y + X)` in the book's Residual,
    then links to the variables its recorded graph starts from: the tensors it was made of.
    """

    def __init__(self):
        self.names, self.links = {}, {}  # autograd variable name -> key; key -> upstream keys
        self.marked = set()

    def mark(self, x):
        for t in _flat(x):
            if id(t) not in self.marked:
                t.attach_grad(grad_req='null')
                self.names[autograd.get_symbol(t).list_outputs()[0]] = id(t)
                self.marked.add(id(t))

    def link(self, t):
        if id(t) in self.marked or id(t) in self.links:
            return
        try:
            sym = autograd.get_symbol(t)
        except mx.MXNetError:  # made outside the recording (a constant): nothing upstream
            return
        memo = {}

        def up(s) -> list:
            name = s.list_outputs()[0]
            if name in self.names:
                return [self.names[name]]
            if name not in memo:
                memo[name] = []
                kids = s.get_children()
                memo[name] = list(dict.fromkeys(
                    k for c in (kids if kids is not None else []) for k in up(c)))
            return memo[name]

        self.links[id(t)] = up(sym)


def _record_imperative(net, blocks, arrays: list, flow: bool = True) -> Recording:
    """One real pass in predict mode; with `flow`, under autograd.record to see the data flow."""
    params = params_under(net)
    ctx = _context(params, arrays)
    arrays = [a.as_in_context(ctx).copy() for a in arrays]  # marked below: not the user's arrays
    keep = []  # hold every recorded array so that id() keys stay unique
    data_flow = _Flow() if flow else None

    def key(x):
        ts = _flat(x)
        keep.extend(ts)
        if data_flow is not None:
            for t in ts:
                data_flow.link(t)
        return [id(t) for t in ts]

    b_state = [(b, dict(b.__dict__)) for b, _ in blocks.values()]
    p_state = [(p, dict(p.__dict__)) for p in params]
    hooks = _Hooks(blocks, key, skip_symbols=True,
                   mark=data_flow.mark if data_flow is not None else None)
    scope = autograd.record(train_mode=False) if flow else autograd.pause(train_mode=False)
    try:
        for b, _ in blocks.values():
            internals.run_layer_by_layer(b)  # so that every child's hooks fire
        for p in params:
            if not internals.is_initialized(p):  # zeros for this pass only: no random draws
                internals.zero_deferred_init(p, ctx)
        with hooks, scope:
            if data_flow is not None:
                data_flow.mark(arrays)
            try:
                net(*arrays)
            except Exception as e:  # noqa: BLE001 -- any refusal becomes a located TraceError
                open_calls = [i for i in hooks.stack if i is not None]
                failing = _owner(hooks.calls, open_calls[-1]) if open_calls else None
                if failing is not None:
                    hooks.calls[failing].finished = False
                    del hooks.calls[failing + 1:]
                rec = _imperative_recording(hooks.calls, keep, params, arrays, data_flow)
                raise RecordError(_reason(e) if isinstance(e, mx.MXNetError) else
                                  f'{type(e).__name__}: {e}', failing, rec) from None
        return _imperative_recording(hooks.calls, keep, params, arrays, data_flow)
    finally:
        for obj, state in b_state + p_state:
            obj.__dict__.clear()
            obj.__dict__.update(state)


def _imperative_recording(calls, keep, params, arrays, data_flow) -> Recording:
    return Recording(calls, {id(t): tuple(t.shape) for t in keep},
                     {id(t): np.dtype(t.dtype) for t in keep},
                     {p.name: tuple(p.shape) if p.shape else () for p in params},
                     data_flow.links if data_flow is not None else {},
                     [id(a) for a in arrays], 'imperative')


def _context(params, arrays):
    for p in params:
        if internals.is_initialized(p):
            return p.list_ctx()[0]
    return arrays[0].context if hasattr(arrays[0], 'context') else mx.cpu()


# ----------------------------------------------------------------------------- entry point
def record(net: gluon.Block, inputs: list, mode: str = 'auto') -> Recording:
    """Record one pass of net over inputs (shape tuples or arrays). Raises RecordError."""
    blocks = walk(net)
    shapes = [tuple(x.shape) if hasattr(x, 'shape') else tuple(x) for x in inputs]
    dtypes = [np.dtype(x.dtype) if hasattr(x, 'dtype') else np.dtype('float32') for x in inputs]
    if mode in ('auto', 'symbolic'):
        try:
            return _record_symbolic(net, blocks, shapes, dtypes)
        except RecordError:
            raise
        except Exception:  # noqa: BLE001 -- a plain Block needs real arrays: run imperatively
            if mode == 'symbolic':
                raise
    arrays = [_array(x, s, t) for x, s, t in zip(inputs, shapes, dtypes)]
    try:
        return _record_imperative(net, blocks, arrays)
    except RecordError:
        # a net that writes into arrays in place cannot run under autograd.record: run it as
        # it is; its receptive fields then follow the order of execution, not the data flow
        return _record_imperative(net, blocks, arrays, flow=False)


# an MXNet array for one input: the user's array, a NumPy array converted, or zeros of a shape
def _array(x, shape: tuple, dtype):
    F, _ = npmode.namespaces()
    if isinstance(x, np.ndarray):
        return F.array(x, dtype=x.dtype)
    return x if hasattr(x, 'shape') else F.zeros(shape, dtype=dtype)
