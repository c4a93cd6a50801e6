"""The page's data for one net and one input, made by named stages over one `Build`:

    input     x as one (1, C, H, W) NDArray of the net's array kind
    trace     gluon_cnn.trace's rows: the column headers, shapes and formulas
    capture   one forward pass with hooks on every shown layer (backend.blocks.capture_io)
    sources   who made each tensor, so a layer can say what it reads
    columns   one column per layer: its maps with one colour scale, and its detail
    softmax   the class probabilities and the top 3
    learned   first-layer kernels and the seeded class images

Every number is the net's own (captured float32) or the tracer's; nothing is recomputed here.
"""
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon

from ...backend import blocks, internals, npmode
from ...errors import ConfigError
from ...trace import trace
from . import details as dt
from . import structure
from .encoding import Tensors
from .learned import learned

__all__ = ['Options', 'Build', 'STAGES', 'build_data', 'MAX_MAPS', 'MAX_VECTOR']

MAX_MAPS = 16     # channels drawn per column (and detailed per conv)
MAX_VECTOR = 1024  # units of a vector drawn in a column


@dataclass
class Options:
    """What the page shows besides the net's own numbers."""
    classes: Optional[Sequence[str]] = None  # class names (default '0', '1', ...)
    history: list = field(default_factory=list)  # epoch dicts of metrics.json, for the curves
    title: str = ''
    subtitle: str = ''
    value_range: Tuple[float, float] = (0.0, 1.0)  # the model input's range (the grey scale)
    steps: int = 30          # gradient steps of each class image; 0: none
    seed: int = 0            # the class images' starting noise
    max_maps: int = MAX_MAPS
    image: Optional[dict] = None       # how the input was made from a test image or a file
    loss_note: str = ''
    true_label: Optional[dict] = None  # {'k': class, 'name': name} when known
    marker: Optional[dict] = None      # {'command', 'run'}: which page this is, to overwrite it


@dataclass
class Build:
    """The state the stages fill in, in order."""
    net: gluon.Block
    x: object
    options: Options
    tensors: Tensors = field(default_factory=Tensors)
    X: object = None
    trace: object = None
    by_path: dict = field(default_factory=dict)
    cols: list = field(default_factory=list)
    inner: dict = field(default_factory=dict)    # unit path -> [(row, block)] inside it
    graph: dict = field(default_factory=dict)
    seen: dict = field(default_factory=dict)     # id(block) -> (input, output)
    logits: object = None
    makers: dict = field(default_factory=dict)   # id(tensor) -> 'the output of ...'
    labels: dict = field(default_factory=dict)   # Gluon name -> 'path (type)'
    columns: list = field(default_factory=list)
    details: dict = field(default_factory=dict)
    calc: list = field(default_factory=list)
    names: list = field(default_factory=list)
    probs: object = None
    learned: dict = field(default_factory=dict)


def _np(a) -> np.ndarray:
    return a.asnumpy() if hasattr(a, 'asnumpy') else np.asarray(a)


def _kind_text(row) -> str:
    return f'{row.type}, {row.activation}' if row.activation else row.type


# ----------------------------------------------------------------------------- stages
def stage_input(b: Build):
    x = b.x
    X = x if isinstance(x, mx.nd.NDArray) else mx.nd.array(np.asarray(x, dtype=np.float32))
    if X.ndim == 2:
        X = X.reshape((1, 1) + X.shape)
    elif X.ndim == 3:
        X = X.expand_dims(0)
    if X.ndim != 4 or X.shape[0] != 1:
        raise ConfigError(f'explain(net, x): x must be one image (1, C, H, W), got {X.shape}')
    b.X, = npmode.as_mode(X)


def stage_trace(b: Build):
    shape = tuple(b.X.shape)
    b.trace = trace(b.net, shape, explain=True)
    b.by_path = dict(blocks.walk(b.net))
    b.cols = structure.columns(b.trace, b.by_path)
    b.inner = {c.row.name: [(r, b.by_path[r.name]) for r in structure.leaf_rows(b.trace, c.row)]
               for c in b.cols if c.unit}
    b.graph = structure.graph_ops(b.net, shape)


def stage_capture(b: Build):
    hooked = [c.block for c in b.cols] + [blk for rows in b.inner.values() for _, blk in rows]
    b.seen, out = blocks.capture_io(b.net, b.X, hooked)
    b.logits = _np(out).reshape(-1).astype(np.float32)


def stage_sources(b: Build):
    """Who made each tensor: the net input, a column's output or a layer's inside a unit."""
    b.makers = {id(b.X): 'the net input'}
    for c in b.cols:
        if id(c.block) in b.seen:
            merge = structure.unit_output(b.graph, c.block) if c.unit else None
            b.makers.setdefault(id(b.seen[id(c.block)][1]),
                                f'the output of {c.row.name} ({_kind_text(c.row)})'
                                + (f', which ends in {merge}' if merge else ''))
        b.labels[c.block.name] = f'{c.row.name} ({c.row.type})'
        for r, blk in b.inner.get(c.row.name, []):
            if id(blk) in b.seen:
                b.makers.setdefault(id(b.seen[id(blk)][1]),
                                    f'the output of {r.name} ({_kind_text(r)})')
            b.labels[blk.name] = f'{r.name} ({r.type})'


def _reads(b: Build, block) -> str:
    """Where a layer's input comes from, in words."""
    made = b.makers.get(id(b.seen[id(block)][0]))
    if made is not None:
        return made
    op = structure.describe_input(b.graph, block, b.labels)
    return (f'{op or "a tensor"}, computed in the forward code of the block around it (not by '
            f'a layer of its own)')


def _in_scale(b: Build, block) -> dict:
    x = b.seen[id(block)][0]
    if x is b.X:
        return dt.scale(_np(x), b.options.value_range)
    return dt.scale(_np(x))


def _calc_layer(b: Build, row):
    """The layer as the shape calculator loads it (2-D windows on (N, C, H, W) only)."""
    if row.kernel and len(row.kernel) == 2 and row.input_shape and not row.note and \
            isinstance(row.input_shape[0], int) and len(row.input_shape) == 4:
        kw = internals.layer_kwargs(b.by_path[row.name])
        b.calc.append({'name': row.name, 'type': row.type, 'n': int(row.input_shape[2]),
                       'k': int(row.kernel[0]), 'p': int(row.padding[0]),
                       's': int(row.stride[0]), 'd': int(row.dilation[0]),
                       'ceil': kw.get('pooling_convention') == 'full',
                       'out': int(row.output_shape[2])})


def _detail(b: Build, row, block) -> Optional[dict]:
    if id(block) not in b.seen:
        return None
    x_in, y_out = b.seen[id(block)]
    kind = blocks.layer_kind(block)
    base = {'path': row.name, 'label': f'{row.name} ({_kind_text(row)})'}
    if kind == 'conv':
        return dt.conv_detail(b.tensors, dict(base, reads=_reads(b, block)), row, block, x_in,
                              y_out, b.options.max_maps, _in_scale(b, block))
    if kind == 'pool' and row.kernel:
        return dt.pool_detail(b.tensors, dict(base, reads=_reads(b, block)), row, block, x_in,
                              y_out, b.options.max_maps, _in_scale(b, block))
    if kind == 'dense':
        return dt.dense_detail(b.tensors, base, row, block, x_in, y_out)
    return None


def stage_columns(b: Build):
    o, t = b.options, b.tensors
    x0 = _np(b.X)[0]
    b.columns = [{'kind': 'input', 'label': 'input',
                  'header': structure.plain_header('input', b.X.shape, '1'),
                  'maps': t.u8(x0[:o.max_maps], *o.value_range), 'channels': int(x0.shape[0]),
                  'scale': dt.scale(x0, o.value_range), 'exact': t.f32(x0[:o.max_maps])}]
    for c in b.cols:
        col = {'kind': 'unit' if c.unit else blocks.layer_kind(c.block), 'label': c.row.name,
               'header': structure.header(c.row), 'path': c.row.name}
        b.columns.append(col)
        if id(c.block) not in b.seen:
            col['note'] = 'not called on this input'
            continue
        y = _np(b.seen[id(c.block)][1])
        col['scale'] = s = dt.scale(y[0])  # one scale over all channels, not only the drawn
        if y.ndim == 4:
            col.update(maps=t.u8(y[0, :o.max_maps], s['lo'], s['hi']), channels=int(y.shape[1]))
        else:
            v = y.reshape(-1)
            col.update(vector=t.f32(v[:MAX_VECTOR]), units=int(v.size))
        if c.unit:
            col['inner'] = []
            for r, blk in b.inner[c.row.name]:
                d = _detail(b, r, blk)
                if d is not None:
                    b.details[r.name] = d
                    _calc_layer(b, r)
                col['inner'].append({'header': structure.header(r),
                                     'detail': r.name if d else None})
            col['merge'] = structure.unit_output(b.graph, c.block)
        else:
            d = _detail(b, c.row, c.block)
            if d is not None:
                b.details[c.row.name] = d
                col['detail'] = c.row.name
            _calc_layer(b, c.row)


def stage_softmax(b: Build):
    z = b.logits
    e = np.exp(z.astype(np.float64) - z.max())
    b.probs = e / e.sum()
    classes = b.options.classes
    b.names = list(classes) if classes is not None and len(classes) == len(z) else \
        [str(k) for k in range(len(z))]
    b.columns.append({'kind': 'softmax', 'label': 'softmax',
                      'header': structure.plain_header('softmax', (1, len(z))),
                      'vector': b.tensors.f32(b.probs.astype(np.float32)), 'units': len(z)})


def stage_learned(b: Build):
    o = b.options
    b.learned = learned(b.net, b.tensors, tuple(b.X.shape), o.value_range, o.steps, b.names,
                        b.trace.total_macs, seed=o.seed)


STAGES: List[Tuple[str, Callable[[Build], None]]] = [
    ('input', stage_input), ('trace', stage_trace), ('capture', stage_capture),
    ('sources', stage_sources), ('columns', stage_columns), ('softmax', stage_softmax),
    ('learned', stage_learned)]


def assemble(b: Build) -> dict:
    """The page's data: what the template and its script read."""
    o, t, probs = b.options, b.trace, b.probs
    top = np.argsort(-probs, kind='stable')[:3]
    return {
        'title': o.title or type(b.net).__name__, 'subtitle': o.subtitle,
        'input_shape': list(b.X.shape), 'value_range': list(o.value_range), 'classes': b.names,
        'logits': [float(v) for v in b.logits], 'probs': [float(v) for v in probs],
        'top3': [{'k': int(k), 'name': b.names[k], 'p': float(probs[k])} for k in top],
        'true_label': o.true_label, 'loss_note': o.loss_note,
        'columns': b.columns, 'details': b.details, 'calc': {'layers': b.calc},
        'learned': b.learned, 'history': o.history or [], 'image': o.image,
        'trace': {'params': t.total_params, 'macs': t.total_macs, 'title': t.heading()},
        'trace_text': str(t), 'marker': o.marker, 'tensors': b.tensors.items,
    }


def build_data(net: gluon.Block, x, options: Optional[Options] = None) -> dict:
    """The page's data for `net` on one input x ((1, C, H, W), (C, H, W) or (H, W), as the net
    takes it): every stage of STAGES in turn, then `assemble`."""
    b = Build(net, x, options or Options())
    for _, stage in STAGES:
        stage(b)
    return assemble(b)
