"""What weight sharing and pooling buy: accuracy under shifted inputs, and how much each layer's
maps change when the input moves by a pixel (`python -m gluon_cnn.viz shift`).

A convolution is equivariant: shifting the input by s shifts a map of cumulative stride (jump) j
by s / j, when j divides s, so undoing that shift leaves the maps unchanged away from the border.
Pooling makes the maps after it coarser, so a small shift changes them less; a net whose convs are
strided instead of pooled (`lenet-strided`) subsamples with no such averaging, which is why Go
nets do without pooling: "subsampling destroys the pattern" (Hung-yi Lee, ML lecture: CNN).
"""
from typing import Callable, List, NamedTuple, Optional, Sequence

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..backend import npmode
from ..trace import trace
from ..runs.load import Run, test_iter
from .plots import new_figure
from .probe import capture

__all__ = ['shift', 'shift_accuracy', 'LayerChange', 'layer_changes', 'test_arrays',
           'shift_figure']


def shift(X: np.ndarray, dy: int, dx: int, fill: float = 0.0) -> np.ndarray:
    """X (..., H, W) moved down by dy and right by dx pixels (negative: up, left); the pixels that
    come in take `fill` (the background), the ones pushed out are lost."""
    out = np.full_like(X, fill)
    h, w = X.shape[-2:]
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        X[..., max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def _outputs(net: gluon.Block, X: np.ndarray, batch_size: int = 500, ctx=None) -> np.ndarray:
    """net(X) as numpy (N, classes), in batches."""
    ctx = ctx or mx.cpu()
    return np.concatenate([net(npmode.array(X[i:i + batch_size], ctx=ctx)).asnumpy()
                           for i in range(0, len(X), batch_size)])


def shift_accuracy(net: gluon.Block, X: np.ndarray, y: np.ndarray, shifts: Sequence[int],
                   axis: str = 'x', fill: float = 0.0,
                   tick: Optional[Callable[[], None]] = None) -> np.ndarray:
    """Accuracy on X (N, C, H, W) moved by each of `shifts` pixels along axis 'x' (right) or 'y'
    (down), background-filled: one accuracy per shift."""
    acc = []
    for s in shifts:
        moved = shift(X, s, 0, fill) if axis == 'y' else shift(X, 0, s, fill)
        acc.append(float((_outputs(net, moved).argmax(axis=1) == y).mean()))
        if tick:
            tick()
    return np.array(acc)


class LayerChange(NamedTuple):
    label: str       # the tracer's name and type, '2 Conv2D'
    jump: int        # cumulative stride of its maps (1 for Dense layers: nothing to undo)
    undone: int      # the map shift undone before comparing (s / jump when jump divides s)
    change: float    # ||a(shift x), realigned - a(x)|| / ||a(x)||, over the batch


def _jumps(net: gluon.Block, shape: tuple) -> dict:
    """{layer path: horizontal jump} from the tracer, for the layers with maps."""
    rows = trace(net, (1,) + tuple(shape)).rows
    return {r.name: r.jump[1] for r in rows if r.is_leaf and r.jump}


def layer_changes(net: gluon.Block, X: np.ndarray, pixels: int = 1, fill: float = 0.0,
                  ctx=None) -> List[LayerChange]:
    """The relative L2 change of every layer's output when X (N, C, H, W) moves `pixels` right.

    Where the layer's jump j divides the shift, its maps move by pixels / j: that shift is undone
    and the maps compared where both are defined, so an equivariant layer shows (close to) 0.
    Elsewhere (after pooling or a stride, and Dense layers) the outputs are compared as they are.
    """
    ctx = ctx or mx.cpu()
    jumps = _jumps(net, X.shape[1:])
    before, _ = capture(net, npmode.array(X, ctx=ctx))
    after, _ = capture(net, npmode.array(shift(X, 0, pixels, fill), ctx=ctx))
    found = []
    for b, a in zip(before, after):
        b, a, layer = b.output.asnumpy(), a.output.asnumpy(), b.layer
        jump = jumps.get(layer.path, 1) if b.ndim == 4 else 1
        k = pixels // jump if b.ndim == 4 and pixels % jump == 0 else 0
        if k:  # a(shift x)[..., j] = a(x)[..., j - k] for j >= k
            a, b = a[..., k:], b[..., :-k]
        found.append(LayerChange(layer.label, jump, k,
                                 float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))))
    return found


def test_arrays(run: Run, limit: int) -> tuple:
    """The first `limit` test images fed as in training (N, C, H, W) and their labels (N,)."""
    it, _ = test_iter(run, batch_size=500, limit=limit)
    Xs, ys = zip(*[(X.asnumpy(), y.asnumpy()) for X, y in it])
    return np.concatenate(Xs), np.concatenate(ys).astype(np.int64)


def shift_figure(run: Run, max_shift: int = 6, compare: Optional[Run] = None,
                 images: int = 1000, pixels: int = 1, tick: Optional[Callable[[], None]] = None):
    """Left: test accuracy against a horizontal and a vertical shift of 0..max_shift pixels.
    Right: each layer's relative change under a `pixels` shift. For the run and `compare`.
    tick: called after each accuracy curve point (2 (max_shift + 1) per run)."""
    runs = [run] + ([compare] if compare is not None else [])
    fig = new_figure(11, 4.2)
    acc_ax, change_ax = fig.subplots(1, 2, width_ratios=[1, 1.2])
    shifts = np.arange(max_shift + 1)
    bars, ticks = [], []
    for n, (r, color) in enumerate(zip(runs, ('tab:blue', 'tab:orange'))):
        X, y = test_arrays(r, images)
        fill = r.info.value_range[0]
        for axis, style in (('x', '-'), ('y', '--')):
            acc = shift_accuracy(r.net, X, y, shifts, axis, fill, tick)
            acc_ax.plot(shifts, acc, style, marker='o', ms=3, color=color,
                        label=f"{r.cfg.model}, {'right' if axis == 'x' else 'down'}")
        changes = [c for c in layer_changes(r.net, X[:200], pixels, fill)
                   if c.label.split()[1] not in ('Flatten', 'Activation')]
        for c in changes:
            bars.append((c.change, color))
            how = (f', {c.undone} px undone' if c.undone else
                   f', jump {c.jump}' if 'Dense' not in c.label else '')
            ticks.append(f'{r.cfg.model} {c.label}{how}')
        if n == 0 and compare is not None:
            bars.append((np.nan, 'white')), ticks.append('')
    acc_ax.set(xlabel='shift (pixels, background-filled)',
               ylabel=f'test accuracy ({len(y)} images)', ylim=(0, 1), xticks=shifts)
    acc_ax.grid(alpha=0.3)
    acc_ax.legend(fontsize=8)
    k = np.arange(len(bars))[::-1]
    values = [b for b, _ in bars]
    change_ax.barh(k, values, color=[c for _, c in bars])
    for y_, v in zip(k, values):
        if np.isfinite(v):
            change_ax.text(v, y_, f' {v:.3f}', va='center', fontsize=7)
    change_ax.set_yticks(k, ticks, fontsize=7)
    change_ax.set(xlabel=f'relative L2 change of the layer output, input {pixels} px right')
    change_ax.grid(alpha=0.3, axis='x')
    vs = f' vs {compare.cfg.model}' if compare is not None else ''
    fig.suptitle(f'{run.cfg.model}{vs}: what weight sharing and pooling buy under shifts',
                 fontsize=10)
    return fig
