"""One self-contained HTML page that shows how a trained net sees one image (a CNN Explainer).

    python -m gluon_cnn.viz explain --run runs/lenet-book --image 7 --out lenet.html
    python -m gluon_cnn.viz explain --run runs/lenet-book --image shoe.jpg

In Jupyter, `explain(net, x)` returns an `Explained` whose `_repr_html_` shows the same page.

The page has no server, CDN or network access: the data is embedded as JSON and drawn by plain
JS on canvas. Every number comes from the net itself (forward hooks on its layers) and from
`gluon_cnn.trace` (the column headers, the shape formulas). Values the page does arithmetic with
(conv inputs, kernels, outputs) are embedded as exact float32 (base64 of little-endian bytes);
the maps of the overview only as uint8 images with their per-channel range, which keeps LeNet's
page well under a megabyte.
"""
import base64
import html
import json
import time
from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..errors import ConfigError, DataError
from ..backend import internals, npmode
from ..trace import trace
from .maximization import maximize

__all__ = ['Explained', 'explain', 'explain_run', 'preprocess_image', 'build_data', 'render']

TEMPLATE = 'explain.html.j2'
SIDE = 28                    # Fashion-MNIST's side, what an own image is turned into first
MAX_MAPS = 16                # channels drawn per column (and detailed per conv)
MAX_DETAIL_VALUES = 400_000  # exact float32 values embedded per conv detail (input + kernels)
MAX_DENSE_WEIGHTS = 400_000  # a Dense's weights are embedded (for its arithmetic) up to this
MAX_VECTOR = 1024            # units of a vector drawn in a column
MAX_PAGE_VALUES = 1_500_000  # exact float32 values on one page (about 8 MB of base64)
MAXIMIZE_SECONDS = 10.0      # time for the class images: fewer steps on a large net


# ----------------------------------------------------------------------------- encoding
class _Tensors:
    """The page's arrays, each stored once: exact float32 or display uint8, base64 encoded."""

    def __init__(self):
        self.items: list = []
        self.values = 0  # exact float32 values so far (the page budget)

    def f32(self, a) -> int:
        a = np.ascontiguousarray(np.asarray(a, dtype='<f4'))
        self.values += a.size
        return self._add({'dtype': 'f32', 'shape': list(a.shape),
                          'b64': base64.b64encode(a.tobytes()).decode('ascii')})

    def u8(self, a, lo=None, hi=None, per_channel: bool = True) -> int:
        """a (C, H, W) or (H, W) scaled to 0..255 per channel (or by lo, hi); lo/hi kept."""
        a = np.asarray(a, dtype=np.float64)
        if per_channel and a.ndim == 3:
            lo_, hi_ = a.min(axis=(1, 2)), a.max(axis=(1, 2))
        else:
            lo_ = np.array([a.min() if lo is None else lo])
            hi_ = np.array([a.max() if hi is None else hi])
        shape = (-1,) + (1,) * (a.ndim - 1) if per_channel and a.ndim == 3 else (1,) * a.ndim
        span = np.where(hi_ > lo_, hi_ - lo_, 1.0).reshape(shape)
        q = np.clip(np.rint((a - lo_.reshape(shape)) / span * 255), 0, 255).astype(np.uint8)
        return self._add({'dtype': 'u8', 'shape': list(q.shape), 'lo': lo_.tolist(),
                          'hi': hi_.tolist(),
                          'b64': base64.b64encode(q.tobytes()).decode('ascii')})

    def _add(self, item) -> int:
        self.items.append(item)
        return len(self.items) - 1


def decode(data: dict, tid: int) -> np.ndarray:
    """A tensor of the page's data back as numpy (exact for f32; 0..255 for u8)."""
    t = data['tensors'][tid]
    raw = base64.b64decode(t['b64'])
    return np.frombuffer(raw, dtype='<f4' if t['dtype'] == 'f32' else np.uint8).reshape(t['shape'])


# ----------------------------------------------------------------------------- the net's blocks
def _resolve(net: gluon.Block, path: str) -> gluon.Block:
    """The block at a tracer path ('features.4.0'): Sequential children by index, others by name.
    """
    block = net
    for key in path.split('.'):
        if key.isdigit() and isinstance(block, (gluon.nn.Sequential, gluon.nn.HybridSequential)):
            block = block[int(key)]
        else:
            block = getattr(block, key)
    return block


def _is_sequential(block) -> bool:
    return type(block) in (gluon.nn.Sequential, gluon.nn.HybridSequential)


def _kind(block) -> str:
    name = type(block).__name__
    if isinstance(block, gluon.nn.Dense):
        return 'dense'
    if 'Conv' in name and hasattr(block, 'weight') and 'Transpose' not in name:
        return 'conv'
    if 'Pool' in name:
        return 'pool'
    return 'other'


def _kwargs(block) -> dict:
    """A conv or pooling layer's operator settings (kernel, stride, pad...); {} for others."""
    if isinstance(block, (internals.ConvLayer, internals.PoolingLayer)):
        return dict(internals.layer_kwargs(block))
    return {}


def _axes(v) -> str:
    return '' if not v else str(v[0]) if len(set(v)) == 1 else '×'.join(map(str, v))


def _header(row) -> dict:
    """The tracer row of a column as the page shows it."""
    ksp = ''
    if row.kernel and not row.note.startswith('flattens'):
        ksp = f'{_axes(row.kernel)}/{_axes(row.stride)}/{_axes(row.padding)}'
        if row.dilation and any(d != 1 for d in row.dilation):
            ksp += f'/d{_axes(row.dilation)}'
    rf = ''
    if row.receptive_field:
        rf = _axes(row.receptive_field)
        if row.jump and isinstance(row.output_shape, tuple) and len(row.output_shape) > 2:
            rf += f'/{_axes(row.jump)}'
    return {'name': row.name, 'type': row.type, 'activation': row.activation,
            'output_shape': list(row.output_shape) if row.output_shape else None,
            'params': row.params, 'ksp': ksp, 'macs': row.macs, 'rf': rf,
            'formula': row.formula, 'note': row.note, 'folded': row.folded}


class _Column(NamedTuple):
    row: object        # the tracer Row (folded for a unit)
    block: gluon.Block
    unit: bool         # a block with its own forward code (Residual, Inception)


def _columns(net, t) -> List[_Column]:
    """The layers the overview shows, in call order: leaves reached through plain Sequential
    containers, and blocks with their own forward code (residual units, Inception blocks) as one
    column each."""
    nodes, folds, cols = t.nodes, {}, []
    for i, r in enumerate(nodes):
        if r.depth == 0 or r.output_shape is None:
            continue
        chain, j = [], r.parent
        while j > 0:  # the root (index 0) is always looked into
            chain.append(nodes[j])
            j = nodes[j].parent
        try:
            blocks = [_resolve(net, a.name) for a in chain]
            block = _resolve(net, r.name)
        except (AttributeError, IndexError, TypeError):
            continue
        if not all(_is_sequential(b) for b in blocks):
            continue
        if r.is_leaf:
            cols.append(_Column(r, block, False))
        elif not _is_sequential(block):
            if r.depth not in folds:
                folds[r.depth] = {x.name: x for x in t.fold(r.depth).visible}
            cols.append(_Column(folds[r.depth].get(r.name, r), block, True))
    return cols


def _leaf_rows(t, unit_row) -> list:
    """The leaf rows inside a unit, in call order."""
    start = next(i for i, r in enumerate(t.nodes) if r.name == unit_row.name)
    inside, frontier = [], {start}
    for j in range(start + 1, len(t.nodes)):
        if t.nodes[j].parent in frontier:
            frontier.add(j)
            if t.nodes[j].is_leaf:
                inside.append(t.nodes[j])
    return inside


# ----------------------------------------------------------------------------- the data flow
def _graph_ops(net, shape) -> dict:
    """{operator node name: (op, [input node names])} of the net's symbolic graph, or {} for a
    net that cannot run on symbols. It says what a conv's input is when no layer made it."""
    if not isinstance(net, gluon.HybridBlock):
        return {}
    try:
        sym = net(mx.sym.var('data'))
        if isinstance(sym, (list, tuple)):
            sym = sym[0]
        graph = json.loads(sym.tojson())
    except Exception:  # noqa: BLE001 - a net with imperative-only code: no graph, no labels
        return {}
    nodes = graph['nodes']
    return {n['name']: (n['op'], [nodes[i[0]]['name'] for i in n['inputs']]) for n in nodes}


_OP_WORDS = {'elemwise_add': 'a sum', '_plus': 'a sum', 'broadcast_add': 'a sum',
             '_Plus': 'a sum', 'add_n': 'a sum', 'ElementWiseSum': 'a sum',
             'Concat': 'a concat', 'concat': 'a concat', '_npi_concatenate': 'a concat',
             'Activation': 'an activation', 'relu': 'a relu', 'sigmoid': 'a sigmoid'}


def _describe_input(graph: dict, block, layer_names: Optional[dict] = None) -> Optional[str]:
    """'a relu of the output of features.4.0.bn1 (BatchNorm)' / 'a relu of a sum' / 'a concat':
    what makes a layer's data input when no layer of the net does; None when unknown.

    layer_names : {Gluon block name: its label}, to name the layer an operator reads.
    """
    node = graph.get(f'{block.name}_fwd')
    if node is None or not node[1]:
        return None
    layer_names = layer_names or {}

    def what(name, depth=0):
        op, ins = graph.get(name, ('null', []))
        if op == 'null':
            return 'the net input' if name == 'data' else None
        if name.endswith('_fwd') and name[:-4] in layer_names:
            return f'the output of {layer_names[name[:-4]]}'
        word = _OP_WORDS.get(op, op)
        if op in ('Activation', 'relu', 'sigmoid', 'tanh') and ins and depth < 2:
            inner = what(ins[0], depth + 1)
            if inner:
                return f'{word} of {inner}'
        return word
    return what(node[1][0])


# ----------------------------------------------------------------------------- hooks
def _run_hooked(net, X, blocks) -> tuple:
    """net(X) with forward hooks on `blocks`: ({id(block): (input NDArray, output)}, net(X))."""
    net.hybridize(False)  # hooks see the layers only when the net runs imperatively
    seen, handles = {}, []
    for b in blocks:
        def hook(block, inputs, output, key=id(b)):
            seen.setdefault(key, (inputs[0] if inputs else None, output))  # first call only
        handles.append(b.register_forward_hook(hook))
    try:
        out = net(X)
    finally:
        for h in handles:
            h.detach()
    return seen, out


def _np(a) -> np.ndarray:
    return a.asnumpy() if hasattr(a, 'asnumpy') else np.asarray(a)


# ----------------------------------------------------------------------------- details
_ACTS = ('relu', 'sigmoid', 'tanh', 'softrelu', 'softsign')


def _conv_detail(tensors, path, label, row, block, x_in, y_out, reads, max_maps) -> dict:
    kw = _kwargs(block)
    if len(row.kernel or ()) != 2 or kw.get('layout', 'NCHW') != 'NCHW':
        return {'kind': 'conv', 'path': path, 'label': label,
                'unavailable': 'only 2-D convs in NCHW layout are worked out here'}
    x, y = _np(x_in)[0], _np(y_out)[0]                     # (Ci, H, W), (Co, Ho, Wo)
    w = block.weight.data().asnumpy()                      # (Co, Ci / groups, kh, kw)
    co = min(max_maps, y.shape[0])
    groups = int(kw.get('num_group', 1))
    size = x.size + co * w[0].size
    d = {'kind': 'conv', 'path': path, 'label': label, 'k': list(row.kernel),
         's': list(row.stride), 'p': list(row.padding), 'd': list(row.dilation),
         'groups': groups, 'act': row.activation, 'cin': x.shape[0], 'cout': y.shape[0],
         'in_hw': list(x.shape[1:]), 'out_hw': list(y.shape[1:]), 'shown': co, 'reads': reads}
    if row.activation and row.activation not in _ACTS:
        d['unavailable'] = f'activation {row.activation!r} is not worked out here'
        return d
    if size > MAX_DETAIL_VALUES:
        d['unavailable'] = (f'{size:,} input and kernel values: more than this page embeds per '
                            f'layer ({MAX_DETAIL_VALUES:,})')
        return d
    if tensors.values + size > MAX_PAGE_VALUES:
        d['unavailable'] = (f'the page already holds {tensors.values:,} exact values, its budget; '
                            f'the layers before this one are worked out')
        return d
    b = block.bias.data().asnumpy()[:co] if block.bias is not None else np.zeros(co, np.float32)
    d.update(input=tensors.f32(x), weight=tensors.f32(w[:co]), bias=[float(v) for v in b],
             has_bias=block.bias is not None, output=tensors.f32(y[:co]),
             input_maps=tensors.u8(x[:max_maps]))
    return d


def _pool_detail(tensors, path, label, row, block, x_in, y_out, max_maps) -> dict:
    kw = _kwargs(block)
    x, y = _np(x_in)[0], _np(y_out)[0]
    if x.ndim != 3 or len(row.kernel or ()) != 2 or kw.get('layout', 'NCHW') != 'NCHW':
        return {'kind': 'pool', 'path': path, 'label': label,
                'unavailable': 'only 2-D pooling in NCHW layout is worked out here'}
    c = min(max_maps, y.shape[0])
    mode = kw.get('pool_type', 'max')
    d = {'kind': 'pool', 'path': path, 'label': label, 'mode': mode, 'k': list(row.kernel),
         's': list(row.stride), 'p': list(row.padding),
         'ceil': kw.get('pooling_convention') == 'full', 'global': bool(kw.get('global_pool')),
         'count_include_pad': kw.get('count_include_pad', True) is not False,
         'cin': x.shape[0], 'in_hw': list(x.shape[1:]), 'out_hw': list(y.shape[1:]), 'shown': c,
         'input': tensors.f32(x[:c]), 'output': tensors.f32(y[:c])}
    if mode not in ('max', 'avg'):
        d['unavailable'] = f'{mode} pooling is not worked out here'
    return d


def _dense_detail(tensors, path, label, row, block, x_in, y_out) -> dict:
    x, y = _np(x_in), _np(y_out)
    flat = x.reshape(x.shape[0], -1)[0]
    w = block.weight.data().asnumpy()
    d = {'kind': 'dense', 'path': path, 'label': label, 'act': row.activation,
         'in_shape': list(x.shape), 'n_in': int(flat.size), 'units': int(y.shape[-1]),
         'flatten': row.formula, 'input': tensors.f32(flat), 'output': tensors.f32(y[0])}
    if x.ndim > 2:  # d2l zh §5.2's shape rule, flattened: every (c, h, w) value is one input
        d['flatten_terms'] = [int(v) for v in x.shape[1:]]
    if row.activation and row.activation not in _ACTS:
        d['unavailable'] = f'activation {row.activation!r} is not worked out here'
    elif w.size <= MAX_DENSE_WEIGHTS and w.shape[1] == flat.size:
        b = block.bias.data().asnumpy() if block.bias is not None else np.zeros(w.shape[0])
        d.update(weight=tensors.f32(w), bias=[float(v) for v in b])
    else:
        d['unavailable'] = f'{w.size:,} weights: more than this page embeds per layer'
    return d


# ----------------------------------------------------------------------------- own images
class Prepared(NamedTuple):
    image: np.ndarray      # (28, 28) uint8, light item on black, as in Fashion-MNIST
    steps: list            # [(title, uint8 array (H, W) or (H, W, 3), note)]
    inverted: bool
    note: str


def _thumb(img, side: int = 112):
    im = img.copy()
    im.thumbnail((side, side))
    return im


def preprocess_image(path, side: int = SIDE) -> Prepared:
    """A PNG/JPEG of any size as a Fashion-MNIST-like image: grayscale, square, side x side,
    light on black (inverted when its border is light, as a photo on a white table is)."""
    from PIL import Image, UnidentifiedImageError  # matplotlib's own dependency

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            img = im.copy()
    except FileNotFoundError:
        raise DataError(f'--image {path}: no such file') from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f'--image {path}: cannot read it as an image ({type(e).__name__}: '
                        f'{str(e)[:80]})') from None
    steps = []
    if img.mode in ('RGBA', 'LA', 'PA') or (img.mode == 'P' and 'transparency' in img.info):
        rgba = img.convert('RGBA')
        flat = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(flat, rgba)  # transparent parts count as a white background
    rgb = img.convert('RGB')
    steps.append((f'your image {img.width}×{img.height}', np.asarray(_thumb(rgb)),
                  f'{path.name}, mode {img.mode}'))
    gray = rgb.convert('L')  # ITU-R 601 luma: L = 0.299 R + 0.587 G + 0.114 B
    g = np.asarray(gray, dtype=np.uint8)
    steps.append(('grayscale', np.asarray(_thumb(gray)), 'L = 0.299 R + 0.587 G + 0.114 B'))
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    fill = int(np.median(border))
    w, h = gray.size
    n = max(w, h)
    square = Image.new('L', (n, n), fill)
    square.paste(gray, ((n - w) // 2, (n - h) // 2))
    small = np.asarray(square.resize((side, side), Image.Resampling.LANCZOS), dtype=np.uint8)
    steps.append((f'resized to {side}×{side}', small,
                  f'padded to a {n}×{n} square with its border colour, then Lanczos'))
    light = float(np.mean(border)) > 127.5
    if light:
        small = 255 - small
        note = (f'inverted: the border is light (mean {np.mean(border):.0f}/255) and '
                f'Fashion-MNIST items are light on black')
    else:
        note = (f'not inverted: the border is already dark (mean {np.mean(border):.0f}/255), as '
                f'in Fashion-MNIST (light items on black)')
    steps.append(('polarity', small, note))
    return Prepared(small, steps, light, note)


# ----------------------------------------------------------------------------- the page data
def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z.astype(np.float64) - z.max())
    return e / e.sum()


def build_data(net: gluon.Block, x, *, classes: Optional[Sequence[str]] = None,
               history: Optional[list] = None, title: str = '', subtitle: str = '',
               value_range=(0.0, 1.0), steps: int = 30, max_maps: int = MAX_MAPS,
               image: Optional[dict] = None, loss_note: str = '', true_label=None) -> dict:
    """The page's data for `net` on one input x (1, C, H, W): every column, detail and panel."""
    X = x if isinstance(x, (mx.nd.NDArray,)) else mx.nd.array(np.asarray(x, dtype=np.float32))
    if X.ndim == 2:
        X = X.reshape((1, 1) + X.shape)
    elif X.ndim == 3:
        X = X.expand_dims(0)
    if X.ndim != 4 or X.shape[0] != 1:
        raise ConfigError(f'explain(net, x): x must be one image (1, C, H, W), got {X.shape}')
    X, = npmode.as_mode(X)
    shape = tuple(X.shape)
    t = trace(net, shape, explain=True)
    cols = _columns(net, t)
    graph = _graph_ops(net, shape)
    tensors = _Tensors()

    # every block whose input or output the page shows: the columns and the layers in units
    inner = {}
    for c in cols:
        if c.unit:
            inner[c.row.name] = [(r, _resolve(net, r.name)) for r in _leaf_rows(t, c.row)]
    hooked = [c.block for c in cols] + [b for rows in inner.values() for _, b in rows]
    seen, out = _run_hooked(net, X, hooked)
    logits = _np(out).reshape(-1).astype(np.float32)

    # who made each tensor: the net input, a column's output or a layer's inside a unit
    makers = {id(X): 'the net input'}
    for c in cols:
        if id(c.block) in seen:
            merge = _unit_output(graph, c.block) if c.unit else None
            kind = f'{c.row.type}, {c.row.activation}' if c.row.activation else c.row.type
            makers.setdefault(id(seen[id(c.block)][1]), f'the output of {c.row.name} ({kind})'
                              + (f', which ends in {merge}' if merge else ''))
        for r, b in inner.get(c.row.name, []):
            if id(b) in seen:
                kind = f'{r.type}, {r.activation}' if r.activation else r.type
                makers.setdefault(id(seen[id(b)][1]), f'the output of {r.name} ({kind})')

    names = {}  # Gluon name -> 'path (type)' of every layer the page knows
    for c in cols:
        names[c.block.name] = f'{c.row.name} ({c.row.type})'
        for r, b in inner.get(c.row.name, []):
            names[b.name] = f'{r.name} ({r.type})'

    def reads(block) -> str:
        """Where a layer's input comes from, in words."""
        made = makers.get(id(seen[id(block)][0]))
        if made is not None:
            return made
        op = _describe_input(graph, block, names)
        return (f'{op or "a tensor"}, computed in the forward code of the block around it (not by '
                f'a layer of its own)')

    columns = [{'kind': 'input', 'label': 'input', 'header': {
        'name': 'input', 'type': 'input', 'output_shape': list(shape), 'params': 0, 'ksp': '',
        'macs': 0, 'rf': '1', 'formula': None, 'note': '', 'activation': None, 'folded': 0}}]
    x0 = _np(X)[0]
    columns[0].update(maps=tensors.u8(x0[:max_maps], *value_range, per_channel=False),
                      channels=int(x0.shape[0]), exact=tensors.f32(x0[:max_maps]))
    details, calc_layers = {}, []

    def add_calc(row, name):
        if row.kernel and len(row.kernel) == 2 and row.input_shape and not row.note and \
                isinstance(row.input_shape[0], int) and len(row.input_shape) == 4:
            kwb = _kwargs(_resolve(net, name))
            calc_layers.append({'name': name, 'type': row.type, 'n': int(row.input_shape[2]),
                                'k': int(row.kernel[0]), 'p': int(row.padding[0]),
                                's': int(row.stride[0]), 'd': int(row.dilation[0]),
                                'ceil': kwb.get('pooling_convention') == 'full',
                                'out': int(row.output_shape[2])})

    def detail_of(row, block):
        if id(block) not in seen:
            return None
        x_in, y_out = seen[id(block)]
        kind = _kind(block)
        label = f'{row.name} ({row.type}' + (f', {row.activation})' if row.activation else ')')
        if kind == 'conv':
            return _conv_detail(tensors, row.name, label, row, block, x_in, y_out, reads(block),
                                max_maps)
        if kind == 'pool' and row.kernel:
            d = _pool_detail(tensors, row.name, label, row, block, x_in, y_out, max_maps)
            d['reads'] = reads(block)
            return d
        if kind == 'dense':
            return _dense_detail(tensors, row.name, label, row, block, x_in, y_out)
        return None

    for i, c in enumerate(cols, 1):
        col = {'kind': 'unit' if c.unit else _kind(c.block), 'label': c.row.name,
               'header': _header(c.row), 'path': c.row.name}
        if id(c.block) not in seen:
            col['note'] = 'not called on this input'
            columns.append(col)
            continue
        y = _np(seen[id(c.block)][1])
        if y.ndim == 4:
            col.update(maps=tensors.u8(y[0, :max_maps]), channels=int(y.shape[1]))
        else:
            v = y.reshape(-1)
            col.update(vector=tensors.f32(v[:MAX_VECTOR]), units=int(v.size))
        if c.unit:
            col['inner'] = []
            for r, b in inner[c.row.name]:
                d = detail_of(r, b)
                if d is not None:
                    details[r.name] = d
                    add_calc(r, r.name)
                col['inner'].append({'header': _header(r), 'detail': r.name if d else None})
            col['merge'] = _unit_output(graph, c.block)
        else:
            d = detail_of(c.row, c.block)
            if d is not None:
                details[c.row.name] = d
                col['detail'] = c.row.name
            add_calc(c.row, c.row.name)
        columns.append(col)

    probs = _softmax(logits)
    names = list(classes) if classes is not None and len(classes) == len(logits) else \
        [str(k) for k in range(len(logits))]
    top = np.argsort(-probs, kind='stable')[:3]
    columns.append({'kind': 'softmax', 'label': 'softmax', 'header': {
        'name': 'softmax', 'type': 'softmax', 'output_shape': [1, len(logits)], 'params': 0,
        'ksp': '', 'macs': 0, 'rf': '', 'formula': None, 'note': '', 'activation': None,
        'folded': 0}, 'vector': tensors.f32(probs.astype(np.float32)), 'units': len(logits)})

    learned = _learned(net, cols, seen, tensors, shape, value_range, steps, len(logits), names)
    total = {'params': t.total_params, 'macs': t.total_macs, 'title': t.heading()}
    return {
        'title': title or type(net).__name__, 'subtitle': subtitle, 'input_shape': list(shape),
        'value_range': list(value_range), 'classes': names,
        'logits': [float(v) for v in logits], 'probs': [float(v) for v in probs],
        'top3': [{'k': int(k), 'name': names[k], 'p': float(probs[k])} for k in top],
        'true_label': true_label, 'loss_note': loss_note,
        'columns': columns, 'details': details, 'calc': {'layers': calc_layers},
        'learned': learned, 'history': history or [], 'image': image, 'trace': total,
        'trace_text': str(t), 'tensors': tensors.items,
    }


def _unit_output(graph: dict, block) -> Optional[str]:
    """What a unit's forward code ends with ('a relu of a sum', 'a concat'), from the graph."""
    if not graph:
        return None
    prefix = block.name + '_'
    own = [name for name in graph if name.startswith(prefix) and graph[name][0] != 'null']
    if not own:
        return None
    used = {i for name in own for i in graph[name][1]}
    last = [name for name in own if name not in used]
    if not last:
        return None
    op, ins = graph[last[-1]]
    word = _OP_WORDS.get(op, op)
    if op in ('Activation', 'relu') and ins:
        inner = _OP_WORDS.get(graph.get(ins[0], ('', []))[0])
        if inner in ('a sum', 'a concat'):
            return f'{word} of {inner}'
    return word


def _learned(net, cols, seen, tensors, shape, value_range, steps, n_classes, names) -> dict:
    """First-layer filters and the activation-maximization image of every class."""
    out = {}
    first = next((c for c in _all_convs(net) if hasattr(c, 'weight')), None)
    if first is not None:
        w = first.weight.data().asnumpy()[:64]
        m = float(np.abs(w).max()) or 1.0
        out['filters'] = {'name': first.name, 'shape': list(first.weight.shape),
                          'tensor': tensors.f32(w), 'scale': m}
    if steps > 0:
        # one evaluation for one class first: its time says how many steps of all classes fit
        # in MAXIMIZE_SECONDS (a step costs about one evaluation per class, and one more at the
        # start)
        units = list(range(n_classes))
        start = time.perf_counter()
        maximize(net, None, units[:1], shape[1:], tuple(value_range), steps=0)
        per = max(time.perf_counter() - start, 1e-6) * n_classes
        fit = int(MAXIMIZE_SECONDS / per) - 1
        used = max(0, min(steps, fit))
        if used:
            r = maximize(net, None, units, shape[1:], tuple(value_range), steps=used)
            lo, hi = value_range
            out['maximized'] = {
                'steps': used, 'images': tensors.u8(r.images[:, 0], lo, hi, per_channel=False),
                'a': [float(v) for v in r.final], 'start': [float(v) for v in r.start],
                'names': list(names),
                'note': '' if used == steps else f'{used} of {steps} steps: one step takes '
                f'{per:.1f} s on this net, and the page gives them {MAXIMIZE_SECONDS:.0f} s'}
        else:
            out['maximized_note'] = (f'no class images: one gradient step takes {per:.1f} s on '
                                     f'this net (more than the {MAXIMIZE_SECONDS:.0f} s budget)')
    return out


def _all_convs(net):
    found = []

    def walk(b):
        if _kind(b) == 'conv':
            found.append(b)
        for child in internals.children(b).values():
            walk(child)
    walk(net)
    return found


# ----------------------------------------------------------------------------- rendering
def _json_for_script(data: dict) -> str:
    """JSON safe inside <script>: no '</' (ends the element) and no U+2028/2029 line breaks."""
    try:
        text = json.dumps(data, separators=(',', ':'), allow_nan=False, ensure_ascii=False)
    except ValueError:  # NaN or inf, which JSON cannot hold
        raise DataError('the net computes NaN or inf on this image (a diverged run?): no page '
                        'to draw') from None
    return text.replace('</', '<\\/').replace('\u2028', '\\u2028').replace('\u2029', '\\u2029')


def render(data: dict) -> str:
    """The page: the Jinja2 template with the data embedded."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader('gluon_cnn.viz', 'templates'),
                             autoescape=jinja2.select_autoescape(['html', 'j2']))
    return env.get_template(TEMPLATE).render(data=data, data_json=_json_for_script(data))


class Explained:
    """The page for one net and one input: `.html`, `.data`, `.save(path)`; Jupyter shows it."""

    def __init__(self, data: dict):
        self.data = data
        self.html = render(data)

    def save(self, path, force: bool = False) -> tuple:
        """Write the page; (path, overwrote). An existing file is refused unless force."""
        path = Path(path)
        existed = path.exists()
        if existed and not force:
            raise ConfigError(f'--out {path} exists; pass --force to overwrite it')
        if existed and path.is_dir():
            raise ConfigError(f'--out {path} is a folder; give a file name like page.html')
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.html, encoding='utf-8')
        except OSError as e:
            raise ConfigError(f'--out {path}: cannot write it ({e.strerror or e})') from None
        return path, existed

    def _repr_html_(self) -> str:
        # the page's script and ids stay in their own document: an iframe keeps them apart from
        # the notebook's (and from a second page in the same notebook)
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
                f'style="width:100%;height:900px;border:1px solid #ccc"></iframe>')


def explain(net: gluon.Block, x, *, classes: Optional[Sequence[str]] = None,
            history: Optional[list] = None, title: str = '', value_range=(0.0, 1.0),
            steps: int = 30, max_maps: int = MAX_MAPS) -> Explained:
    """The explainer page for `net` on input x ((1, C, H, W), (C, H, W) or (H, W), as the net
    takes it: no preprocessing is applied); in Jupyter the result shows inline.

    classes : class names (default '0', '1', ...); history : epoch dicts for the curves.
    steps : gradient-ascent steps of the class images (0: none).
    """
    return Explained(build_data(net, x, classes=classes, history=history, title=title,
                                value_range=value_range, steps=steps, max_maps=max_maps))


def explain_run(run_dir, image=0, steps: int = 30, max_maps: int = MAX_MAPS) -> Explained:
    """The page for a run folder and a test image index, or an image file (PNG/JPEG)."""
    from ..data import ArrayIter, Split, get_labels, load_dataset
    from .probe import load_run

    run = load_run(run_dir)
    info = run.info
    names = get_labels(run.cfg.dataset, range(info.classes)) if info.classes == 10 else None
    if isinstance(image, str) and image.lstrip('-').isdigit():
        image = int(image)
    if isinstance(image, int):
        _, test = load_dataset(run.cfg.dataset, run.cfg.data_dir)
        if not 0 <= image < len(test.labels):
            raise ConfigError(f'--image {image}: the test set has images 0..{len(test.labels) - 1}')
        raw = test.images[image]
        label = int(test.labels[image])
        true = {'k': label, 'name': names[label] if names else str(label)}
        img_info = {'kind': 'test', 'index': image, 'label': true['name'],
                    'steps': [], 'note': f'test image #{image} of {run.cfg.dataset}'}
    else:
        prep = preprocess_image(image)
        raw, true = prep.image, None
        img_info = {'kind': 'file', 'name': Path(image).name, 'note': prep.note,
                    'inverted': prep.inverted, 'steps': []}
        for title_, arr, note in prep.steps:
            img_info['steps'].append({'title': title_, 'note': note, 'shape': list(arr.shape),
                                      'b64': base64.b64encode(np.ascontiguousarray(
                                          arr, dtype=np.uint8).tobytes()).decode('ascii')})
    it = ArrayIter(Split(raw[None], np.zeros(1, np.uint8)), 1, pad=info.pad,
                   value_range=info.value_range, resize=run.cfg.resize)
    X = next(iter(it))[0]
    feed = [f'{SIDE}×{SIDE} uint8 → value range {tuple(info.value_range)}']
    if info.pad:
        feed.append(f'padded by {info.pad} on each side')
    if run.cfg.resize:
        feed.append(f'bilinear resize to {run.cfg.resize}×{run.cfg.resize}')
    img_info['feed'] = ', '.join(feed) + f' → model input {tuple(X.shape)}'
    img_info['raw'] = base64.b64encode(np.ascontiguousarray(raw, np.uint8).tobytes()).decode()
    loss_note = '' if info.loss is None else (
        f'{run.cfg.model} is trained with {getattr(info.loss, "__name__", "its own loss")}, not '
        f'softmax cross-entropy: the softmax of its scores is shown for reference only')
    acc = run.history[-1]['test_acc'] if run.history else None
    sub = f'run {run.dir} · {info.source} · {len(run.history)} epochs' + \
        (f' · test acc {acc:.3f}' if acc is not None else '')
    data = build_data(run.net, X, classes=names, history=run.history, title=run.cfg.model,
                      subtitle=sub, value_range=info.value_range, steps=steps, max_maps=max_maps,
                      image=img_info, loss_note=loss_note, true_label=true)
    return Explained(data)
