"""Which layers the page shows as columns, what their headers say, and where each layer's input
comes from, read from the tracer's rows and the net's symbolic graph."""
import json
from typing import List, NamedTuple, Optional

import mxnet as mx
from mxnet import gluon

from ...backend import blocks

__all__ = ['Column', 'columns', 'leaf_rows', 'header', 'graph_ops', 'describe_input',
           'unit_output']


def _axes(v) -> str:
    return '' if not v else str(v[0]) if len(set(v)) == 1 else '×'.join(map(str, v))


def header(row) -> dict:
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


def plain_header(name: str, shape, rf: str = '') -> dict:
    """The header of a column that is no layer of the net (the input, the softmax)."""
    return {'name': name, 'type': name, 'output_shape': list(shape), 'params': 0, 'ksp': '',
            'macs': 0, 'rf': rf, 'formula': None, 'note': '', 'activation': None, 'folded': 0}


class Column(NamedTuple):
    row: object        # the tracer Row (folded for a unit)
    block: gluon.Block
    unit: bool         # a block with its own forward code (Residual, Inception)


def columns(t, by_path: dict) -> List[Column]:
    """The layers the overview shows, in call order: leaves reached through plain Sequential
    containers, and blocks with their own forward code (residual units, Inception blocks) as one
    column each. by_path : {tracer path: block} (`dict(blocks.walk(net))`)."""
    nodes, folds, cols = t.nodes, {}, []
    for r in nodes:
        if r.depth == 0 or r.output_shape is None or r.name not in by_path:
            continue
        chain, j = [], r.parent
        while j > 0:  # the root (index 0) is always looked into
            chain.append(nodes[j])
            j = nodes[j].parent
        if not all(blocks.is_container(by_path.get(a.name)) for a in chain):
            continue
        block = by_path[r.name]
        if r.is_leaf:
            cols.append(Column(r, block, False))
        elif not blocks.is_container(block):
            if r.depth not in folds:
                folds[r.depth] = {x.name: x for x in t.fold(r.depth).visible}
            cols.append(Column(folds[r.depth].get(r.name, r), block, True))
    return cols


def leaf_rows(t, unit_row) -> list:
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
def graph_ops(net, shape) -> dict:
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


def describe_input(graph: dict, block, layer_names: Optional[dict] = None) -> Optional[str]:
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


def unit_output(graph: dict, block) -> Optional[str]:
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
