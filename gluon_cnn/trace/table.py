"""The result of a trace: `Row` (plain data per layer) and `Trace` (rows, totals and renderings).

`str(t)` / `repr(t)` is an aligned table of at most 100 columns whose layer names are never cut
(a long one gets a line of its own), `t._repr_html_()` serves Jupyter and `t.to_markdown()`
serves papers/. `t.fold(depth)` shows nested blocks only down to `depth`, each deeper subtree
summed into one row. A trace made with `explain=True` shows each layer's output-size formula
and, under the table, how each column is counted (`CONVENTIONS`).
"""
import html
import textwrap
from dataclasses import dataclass, replace
from typing import List, Optional, Tuple

__all__ = ['Row', 'Trace', 'CONVENTIONS']

CONVENTIONS = ('Params: unique parameters of collect_params(), a shared one counted once; '
               'BatchNorm running statistics are not trainable. Counts are for the traced batch. '
               'MACs: multiply-accumulates with weights (conv, dense), as fvcore counts them; '
               'bias adds, pooling, activations and BatchNorm are not MACs. torchinfo: its '
               'Mult-Adds, MACs plus one per bias use (and BatchNorm\'s scale and shift once per '
               'example). Pool/act/BN: one op per pooling window element, per activation output '
               '(fused ones too) and per BatchNorm output. Connections: one per weight use plus '
               'one per bias use (LeCun et al. 1998). RF/jump: receptive field and cumulative '
               'stride in input pixels, along the data flow (Araujo et al. 2019).')

# the per-layer counts a folded row sums (None if any layer in it cannot be counted)
_COUNTS = ('macs', 'bias_adds', 'pool_ops', 'act_ops', 'norm_ops', 'torchinfo', 'connections')


@dataclass
class Row:
    """One traced layer call (or a container, or a folded subtree). Shapes include the batch."""
    name: str                       # attribute path, e.g. 'features.0'
    type: str                       # class name, e.g. 'Conv2D'
    depth: int                      # 1 for the net's children, 2 for theirs, ...
    input_shape: Optional[tuple]    # a tuple of shapes when the layer takes several inputs
    output_shape: Optional[tuple]   # a tuple of shapes when it returns several
    params: int
    trainable_params: int
    shared: Optional[str] = None    # name of the earlier row whose parameters this one reuses
    kernel: Optional[tuple] = None
    stride: Optional[tuple] = None
    padding: Optional[tuple] = None   # per side, as Gluon takes it
    dilation: Optional[tuple] = None
    activation: Optional[str] = None  # a fused activation= of Conv2D/Dense
    macs: Optional[int] = 0           # weight multiply-accumulates; None: cannot be counted
    bias_adds: Optional[int] = 0      # one per bias use
    pool_ops: Optional[int] = 0       # one per pooling window element
    act_ops: Optional[int] = 0        # one per activation output
    norm_ops: Optional[int] = 0       # one per BatchNorm (or other norm) output
    torchinfo: Optional[int] = 0      # torchinfo's Mult-Adds for this layer
    connections: Optional[int] = 0
    receptive_field: Optional[tuple] = None  # per spatial axis; None off the spatial path
    jump: Optional[tuple] = None
    activation_bytes: int = 0
    note: str = ''                    # e.g. an implicit reshape
    formula: Optional[str] = None     # how the output size comes about (d2l zh §5.2)
    is_leaf: bool = True
    folded: int = 0                   # how many layers this row sums (depth folding)
    parent: int = -1                  # index in Trace.nodes of the enclosing container

    @property
    def other_ops(self) -> Optional[int]:
        """Pooling window elements, activation and BatchNorm outputs: the ops that are not MACs."""
        ops = (self.pool_ops, self.act_ops, self.norm_ops)
        return None if any(v is None for v in ops) else sum(ops)


def _shape(s) -> str:
    if s is None:
        return '?'
    if s and isinstance(s[0], tuple):
        return ' '.join(_shape(x) for x in s)
    return '(' + ', '.join(map(str, s)) + ')'


def _int(n: Optional[int]) -> str:
    if n is None:
        return '?'
    if n >= 10 ** 9:
        return f'{n / 1e9:.2f}G'
    if n >= 10 ** 7:  # keep the columns narrow; the totals below stay exact
        return f'{n / 1e6:.1f}M'
    return f'{n:,}'


def _axes(v: tuple) -> str:
    return str(v[0]) if len(set(v)) == 1 else 'x'.join(map(str, v))


def _bytes(n: int) -> str:
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if n < 1024 or unit == 'GiB':
            return f'{n:.0f} {unit}' if unit == 'B' else f'{n:.1f} {unit}'
        n /= 1024


class Trace:
    """What `gluon_cnn.trace(net, x)` returns: rows in execution order and totals.

    `t.rows[i]` are the leaf layers (folded at `depth`), `t.nodes` every node of the call tree
    including containers. Totals: `total_params`, `trainable_params`, `total_macs` (weight
    MACs, fvcore's convention), `torchinfo_macs` (torchinfo's Mult-Adds), `total_bias_adds`,
    `total_pool_ops`, `total_act_ops`, `total_norm_ops`, `total_connections`, `param_bytes`,
    `activation_bytes`.
    """

    def __init__(self, nodes: List[Row], *, title: str, input_shapes: list, output_shape,
                 total_params: int, trainable_params: int, param_bytes: int, mode: str,
                 depth: Optional[int] = None, unused: Tuple[str, ...] = (),
                 explain: bool = False):
        self.nodes, self.title = nodes, title
        self.input_shapes, self.output_shape = input_shapes, output_shape
        self.total_params, self.trainable_params = total_params, trainable_params
        self.non_trainable_params = total_params - trainable_params
        self.param_bytes, self.mode, self.depth, self.unused = param_bytes, mode, depth, unused
        self.explain = explain
        leaves = [r for r in nodes if r.is_leaf]
        self.total_macs = sum(r.macs or 0 for r in leaves)
        self.total_bias_adds = sum(r.bias_adds or 0 for r in leaves)
        self.torchinfo_macs = sum(r.torchinfo or 0 for r in leaves)
        self.total_pool_ops = sum(r.pool_ops or 0 for r in leaves)
        self.total_act_ops = sum(r.act_ops or 0 for r in leaves)
        self.total_norm_ops = sum(r.norm_ops or 0 for r in leaves)
        self.total_connections = sum(r.connections or 0 for r in leaves)
        self.activation_bytes = sum(r.activation_bytes for r in leaves)
        self.uncounted = [r.name for r in leaves if r.macs is None and r.output_shape is not None]
        self.visible = self._fold(depth)
        self.rows = [r for r in self.visible if r.is_leaf]

    # ------------------------------------------------------------------ folding
    def fold(self, depth: Optional[int]) -> 'Trace':
        """The same trace shown down to `depth` (None: every level)."""
        return Trace(self.nodes, title=self.title, input_shapes=self.input_shapes,
                     output_shape=self.output_shape, total_params=self.total_params,
                     trainable_params=self.trainable_params, param_bytes=self.param_bytes,
                     mode=self.mode, depth=depth, unused=self.unused, explain=self.explain)

    def _fold(self, depth) -> List[Row]:
        if depth is None:
            return list(self.nodes)
        out = []
        for i, r in enumerate(self.nodes):
            if r.depth > depth:
                continue
            if r.depth == depth and not r.is_leaf:
                out.append(self._summed(i))
            else:
                out.append(r)
        return out

    def _summed(self, i: int) -> Row:
        """Container i as one row: its leaves' numbers added up (parameters counted once)."""
        inside = self._descendants(i)
        leaves = [self.nodes[j] for j in inside if self.nodes[j].is_leaf]
        r = self.nodes[i]
        own = [r] + [self.nodes[j] for j in inside if not self.nodes[j].shared]
        sums = {k: None if any(getattr(x, k) is None for x in leaves)
                else sum(getattr(x, k) for x in leaves) for k in _COUNTS}
        # the container's own field is the data flow's (set by the tracer); else its last leaf's
        last = r if r.receptive_field else leaves[-1] if leaves else r
        return replace(r, is_leaf=True, folded=len(leaves),
                       params=sum(x.params for x in own),
                       trainable_params=sum(x.trainable_params for x in own),
                       activation_bytes=sum(x.activation_bytes for x in leaves),
                       receptive_field=last.receptive_field, jump=last.jump, **sums)

    def _descendants(self, i: int) -> list:
        found, frontier = [], {i}
        for j in range(i + 1, len(self.nodes)):
            if self.nodes[j].parent in frontier:
                frontier.add(j)
                found.append(j)
        return found

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, i) -> Row:
        return self.rows[i]

    # ------------------------------------------------------------------ rendering
    _HEAD = ('Layer (type)', 'Output shape', 'Params', 'k/s/p', 'MACs', 'Pool/act/BN', 'RF/jump')

    def _cells(self) -> List[Tuple[tuple, Optional[str]]]:
        """Per visible row: a tuple of strings (containers get only a name and a shape) and the
        formula to show under it (None unless explain)."""
        self._notes = []
        lines = []
        for r in self.visible:
            if r.depth == 0 and len(self.visible) > 1:
                continue  # the net itself is the title line
            local = r.name.rsplit('.', 1)[-1] if r.name else r.type
            kind = f'{r.type}, {r.activation}' if r.activation else r.type
            label = f"{'  ' * max(r.depth - 1, 0)}{local} ({kind})"
            if r.folded:
                label = label[:-1] + f', {r.folded} layers)'
            marks = []
            if r.note:
                self._notes.append(f'{r.name}: {r.note}')
                marks.append(str(len(self._notes)))
            if r.shared:
                marks.append('*')
            if marks:
                label += ' [' + ','.join(marks) + ']'
            if not r.is_leaf:
                lines.append(((label, _shape(r.output_shape)) + ('',) * 5, None))
                continue
            ksp = ''
            if r.kernel:
                ksp = f'{_axes(r.kernel)}/{_axes(r.stride)}/{_axes(r.padding)}'
                if any(d != 1 for d in r.dilation):
                    ksp += f'/d{_axes(r.dilation)}'
            rf = ''
            if r.receptive_field:
                spatial = r.output_shape is not None and not isinstance(r.output_shape[0], tuple) \
                    and len(r.output_shape) > 2
                rf = _axes(r.receptive_field) + (f'/{_axes(r.jump)}' if spatial else '')
            formula = r.formula if self.explain and not r.folded else None
            lines.append(((label, _shape(r.output_shape), _int(r.params), ksp, _int(r.macs),
                           _int(r.other_ops), rf), formula))
        return lines

    def _footer(self) -> List[str]:
        batch = self.input_shapes[0][0] if self.input_shapes and self.input_shapes[0] else '?'
        lines = [(f'Params: {self.total_params:,} (trainable {self.trainable_params:,}, '
                  f'non-trainable {self.non_trainable_params:,}), {_bytes(self.param_bytes)}'),
                 (f'MACs: {self.total_macs:,} (fvcore)   torchinfo: {self.torchinfo_macs:,} '
                  f'(with {self.total_bias_adds:,} bias adds)   (batch of {batch})'),
                 (f'Pool/act/BN: pooling window elements {self.total_pool_ops:,}, activation '
                  f'outputs {self.total_act_ops:,}, BatchNorm outputs {self.total_norm_ops:,}'),
                 (f'Connections: {self.total_connections:,}   Activations: '
                  f'{_bytes(self.activation_bytes)} (every layer output, batch included)')]
        if self.uncounted:
            lines.append('? not counted (a custom layer without trace_counts): '
                         + ', '.join(self.uncounted))
        if any(r.shared for r in self.visible):
            lines.append('* reuses the parameters of an earlier row; counted once in the totals')
        if self.unused:
            lines.append('never called, counted in Params only: ' + ', '.join(self.unused))
        lines += [f'[{i}] {n}' for i, n in enumerate(self._notes, 1)]
        return lines

    def _conventions(self) -> List[str]:
        """How each column is counted: a paragraph, shown with the formulas (explain=True)."""
        return [CONVENTIONS] if self.explain else []

    def heading(self) -> str:
        """The table's first line: the net's title and its input and output shapes."""
        shapes = ' '.join(_shape(s) for s in self.input_shapes)
        return f'{self.title}: {shapes} -> {_shape(self.output_shape)}'

    def to_text(self, width: int = 100) -> str:
        """The aligned table, `width` columns at most.

        Names are never cut: a label wider than its column gets a line of its own, and the
        row's numbers follow on the next line.
        """
        cells = self._cells()
        rows = [self._HEAD] + [c for c, _ in cells]
        widths = [max(len(c[j]) for c in rows) for j in range(len(self._HEAD))]
        gaps = len(widths) - 1
        sep = '  ' if sum(widths) + 2 * gaps <= width else ' '  # one space before a line break
        over = sum(widths) + len(sep) * gaps - width
        if over > 0:
            sep = '  '
            widths[0] = max(len(self._HEAD[0]), widths[0] - over - gaps)

        def fmt(c) -> List[str]:
            lead = []
            if len(c[0]) > widths[0]:
                lead, c = [c[0]], ('',) + tuple(c[1:])
            parts = [c[0].ljust(widths[0]), c[1].ljust(widths[1])] + \
                [v.rjust(w) for v, w in zip(c[2:], widths[2:])]
            parts[3] = c[3].center(widths[3])
            line = sep.join(parts).rstrip()
            return lead + ([line] if line.strip() else [])

        rule = '-' * min(width, sum(widths) + len(sep) * gaps)
        body = []
        for c, formula in cells:
            body += fmt(c)
            if formula:
                indent = len(c[0]) - len(c[0].lstrip()) + 4
                body += textwrap.wrap(formula, width, initial_indent=' ' * indent,
                                      subsequent_indent=' ' * (indent + 2))
        foot = [w for line in self._footer() + self._conventions()
                for w in textwrap.wrap(line, width, subsequent_indent='  ')]
        return '\n'.join([self.heading(), rule, fmt(self._HEAD)[0], rule] + body + [rule] + foot)

    def __str__(self) -> str:
        return self.to_text()

    __repr__ = __str__  # the REPL shows the table once: trace() itself prints nothing

    def to_markdown(self) -> str:
        """A GitHub-flavoured markdown table (papers/), the footer as plain lines below it."""
        cells = self._cells()
        head = '| ' + ' | '.join(self._HEAD) + ' |\n|' + '|'.join(
            ['---', '---'] + ['---:'] * 5) + '|\n'

        def esc(s):
            return s.replace('|', '\\|').replace('  ', '&nbsp;&nbsp;')
        body = ''
        for c, formula in cells:
            body += '| ' + ' | '.join(esc(v) for v in c) + ' |\n'
            if formula:
                body += f'| &nbsp;&nbsp;&nbsp;&nbsp;{esc(formula)} |' + ' |' * 6 + '\n'
        foot = '  \n'.join(self._footer())
        return f'**{self.heading()}**\n\n' + head + body + '\n' + foot + '\n'

    def _repr_html_(self) -> str:
        cells = self._cells()
        th = ''.join(f'<th>{html.escape(h)}</th>' for h in self._HEAD)
        trs = ''
        for c, formula in cells:
            trs += '<tr>' + ''.join(
                f'<td style="text-align:{"left" if j < 2 else "right"};white-space:pre">'
                f'{html.escape(v)}</td>' for j, v in enumerate(c)) + '</tr>'
            if formula:
                trs += (f'<tr><td colspan="{len(c)}" style="text-align:left;padding-left:3em;'
                        f'white-space:pre"><i>{html.escape(formula)}</i></td></tr>')
        foot = '<br>'.join(html.escape(line) for line in self._footer() + self._conventions())
        return (f'<div><b>{html.escape(self.heading())}</b><table><thead><tr>{th}</tr></thead>'
                f'<tbody>{trs}</tbody></table><small>{foot}</small></div>')
