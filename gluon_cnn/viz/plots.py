"""Plots from plain numpy arrays on matplotlib's Agg canvas: training curves, kernels, feature
maps, the confusion matrix, mistakes, image grids; and `save`, which writes a figure as a PNG.

We never import pyplot and never call `matplotlib.use()`: each figure is a `Figure` with its own
`FigureCanvasAgg`, as matplotlib recommends for servers. So nothing needs a display, and a Jupyter
session keeps its inline backend (a returned Figure still shows inline there).
"""
from pathlib import Path
from typing import Optional, Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..durable import write_atomic

__all__ = ['new_figure', 'save', 'show_image', 'plot_curves', 'plot_kernels', 'plot_feature_maps',
           'plot_confusion', 'plot_misclassified', 'plot_image_grid', 'tile']

DPI = 100


def new_figure(width: float, height: float, layout: Optional[str] = 'constrained') -> Figure:
    """A Figure of width x height inches on an Agg canvas (constrained layout unless layout=None).
    """
    # whole pixels (+0.01: Agg truncates, and 4.1 * 100 is 409.99...), so the PNG is as declared
    w, h = ((round(v * DPI) + 0.01) / DPI for v in (width, height))
    fig = Figure(figsize=(w, h), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path) -> Path:
    """Write `fig` as PNG at its own size (width * DPI x height * DPI pixels); returns the path.

    Through the atomic writer (the format named, since its temporary file has no .png suffix): an
    earlier file at `path` stays whole if the write fails.
    """
    return write_atomic(path, lambda tmp: fig.savefig(tmp, format='png', dpi=DPI,
                                                      facecolor='white'))


def show_image(ax, img: np.ndarray, title: str, vrange: tuple, cmap: str = 'gray'):
    """One image (H, W) in `ax` on the value range `vrange`, titled, without ticks."""
    ax.imshow(img, cmap=cmap, vmin=vrange[0], vmax=vrange[1], interpolation='nearest')
    ax.set_title(title, fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])


# ----------------------------------------------------------------------------- training curves
def plot_curves(history: Sequence[dict], title: str = '') -> Figure:
    """Loss, train and test accuracy per epoch in one plot, like the book's Animator (d2l §3.6)."""
    epochs = [m['epoch'] for m in history]
    fig = new_figure(6, 4)
    ax = fig.add_subplot()
    for key, label, style in (('loss', 'train loss', '-'), ('train_acc', 'train acc', '--'),
                              ('test_acc', 'test acc', '-.')):
        ax.plot(epochs, [m[key] for m in history], style, marker='o', ms=3, label=label)
    last = history[-1]
    ax.annotate(f"{last['test_acc']:.3f}", (last['epoch'], last['test_acc']),
                textcoords='offset points', xytext=(-4, 6), ha='right', fontsize=9)
    ax.set(xlabel='epoch', xlim=(min(epochs) - 0.2, max(epochs) + 0.2),
           title=title or f'{len(epochs)} epochs')
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


# ----------------------------------------------------------------------------- image grids
# A grid is one image (a mosaic with blank gaps) in one axes, titles drawn as text: matplotlib
# takes seconds to lay out dozens of small axes, and milliseconds to draw one.
def tile(images: np.ndarray, ncols: int, gap: int = 1, top: int = 0) -> np.ndarray:
    """(N, H, W) -> one (rows * (H + gap + top), ncols * (W + gap)) mosaic; gaps are NaN (blank).

    top : extra blank rows above each image, room for its title.
    """
    n, h, w = images.shape
    rows = -(-n // ncols)
    out = np.full((rows * (h + gap + top), ncols * (w + gap)), np.nan, dtype=np.float64)
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        y, x = r * (h + gap + top) + top, c * (w + gap)
        out[y:y + h, x:x + w] = img
    return out


def _show(ax, mosaic, cmap, vrange):
    cm = matplotlib.colormaps[cmap].with_extremes(bad='white')  # NaN gaps stay white
    im = ax.imshow(mosaic, cmap=cm, vmin=vrange[0], vmax=vrange[1], interpolation='nearest')
    ax.set_axis_off()
    return im


def plot_image_grid(images: np.ndarray, titles: Sequence[str] = (), ncols: int = 8,
                    cmap: str = 'gray', vrange: Optional[tuple] = None, size: float = 1.3,
                    title: str = '', title_colors: Sequence[str] = (),
                    colorbar: bool = False) -> Figure:
    """Images (N, H, W) in a grid of `size`-inch cells, each with an optional title.

    vrange=None stretches each image to its own min..max; else all share vrange.
    """
    images = np.asarray(images, dtype=np.float64)
    if vrange is None:
        lo = images.min(axis=(1, 2), keepdims=True)
        images = (images - lo) / np.maximum(images.max(axis=(1, 2), keepdims=True) - lo, 1e-12)
        vrange = (0, 1)
    n, h, w = images.shape
    ncols = max(1, min(n, ncols))
    px = size / (w + 1)                                  # inches per image pixel
    lines = max((t.count('\n') + 1 for t in titles), default=0)
    top = int(np.ceil((0.04 + 0.14 * lines) / px))  # room for the titles' lines of 8 pt text
    mosaic = tile(images, ncols, gap=1, top=top)
    head, margin = (0.4 if title else 0.05), 0.08
    width = mosaic.shape[1] * px + 2 * margin + 0.9 * colorbar
    height = mosaic.shape[0] * px + head + margin
    fig = new_figure(width, height, layout=None)
    ax = fig.add_axes((margin / width, margin / height, mosaic.shape[1] * px / width,
                       mosaic.shape[0] * px / height))
    im = _show(ax, mosaic, cmap, vrange)
    for i, text in enumerate(titles):
        r, c = divmod(i, ncols)
        ax.text(c * (w + 1) + w / 2, r * (h + 1 + top) + top - 0.5, text, ha='center', va='bottom',
                fontsize=8, color=title_colors[i] if i < len(title_colors) else 'black')
    if title:
        fig.suptitle(title, y=1 - 0.08 / height, va='top', fontsize=11)
    if colorbar:
        cax = fig.add_axes((1 - 0.7 / width, 0.1, 0.15 / width, 0.75 * (1 - head / height)))
        fig.colorbar(im, cax=cax)
    return fig


def plot_kernels(weight: np.ndarray, title: str = '') -> Figure:
    """Conv kernels (O, I, kh, kw) as a grid on one symmetric red-blue scale (red: positive).

    One input channel: the O kernels in rows of 8. Several: one row per input channel.
    """
    o, i = weight.shape[:2]
    images = weight.transpose(1, 0, 2, 3).reshape(o * i, *weight.shape[2:])  # row = input channel
    m = float(np.abs(weight).max()) or 1.0
    return plot_image_grid(images, [str(k) for k in range(o)], ncols=min(o, 8) if i == 1 else o,
                           cmap='RdBu_r', vrange=(-m, m), size=0.9, title=title, colorbar=True)


def plot_feature_maps(image: np.ndarray, maps: Sequence[tuple], caption: str = '',
                      per_row: int = 8, max_channels: int = 16, cell: float = 0.85) -> Figure:
    """The input, then for each layer its first `max_channels` maps, `per_row` to a row.

    maps : (name, array (C, H, W)) pairs in forward order. Each layer has its own colour scale,
    and every map is drawn `cell` inches wide whatever its size, so small maps look blocky.
    """
    blocks = [('input', image[None], caption)] + \
        [(name, m[:max_channels], f'{m.shape[0]} x {m.shape[1]} x {m.shape[2]}' +
          (f', first {max_channels}' if m.shape[0] > max_channels else '')) for name, m in maps]
    heights = [-(-len(m) // per_row) * cell for _, m, _ in blocks]
    label, gap = 1.9, 0.3
    width, height = label + per_row * cell + 0.1, sum(heights) + gap * len(blocks) + 0.1
    fig = new_figure(width, height, layout=None)
    y = height - 0.05
    for (name, m, note), h in zip(blocks, heights):
        y -= h + gap
        k, mh, mw = m.shape
        ncols = min(k, per_row)
        ax = fig.add_axes((label / width, y / height, ncols * cell / width, h / height))
        g = max(1, mw // 12)
        _show(ax, tile(m, ncols, gap=g)[:-g, :-g], 'gray' if name == 'input' else 'viridis',
              (float(m.min()), float(m.max())))
        fig.text((label - 0.1) / width, (y + h) / height, f'{name}\n{note}', ha='right', va='top',
                 fontsize=8)
    return fig


# ----------------------------------------------------------------------------- test-set results
def plot_confusion(cm: np.ndarray, labels: Sequence[str], title: str = '') -> Figure:
    """Confusion matrix (rows: true class, columns: predicted), shaded by row share, with counts."""
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig = new_figure(7, 6)
    ax = fig.add_subplot()
    im = ax.imshow(share, cmap='Blues', vmin=0, vmax=1)
    for t, p in np.ndindex(cm.shape):
        if cm[t, p]:
            ax.text(p, t, f'{cm[t, p]:d}', ha='center', va='center', fontsize=7,
                    color='white' if share[t, p] > 0.6 else 'black')
    k = range(len(labels))
    ax.set_xticks(k, labels, rotation=45, ha='right')
    ax.set_yticks(k, labels)
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set(xlabel='predicted', ylabel='true',
           title=title or f'{cm.sum():,} test images, accuracy {acc:.3f}')
    fig.colorbar(im, ax=ax, shrink=0.8, label='share of the true class')
    return fig


def plot_misclassified(images: np.ndarray, true: Sequence[str], pred: Sequence[str],
                       confidence: Optional[Sequence[float]] = None, ncols: int = 8,
                       title: str = '') -> Figure:
    """Misclassified images titled 'true / predicted' (with the predicted probability if given)."""
    titles = [f'{t}\n→ {p}' + (f' {confidence[i]:.0%}' if confidence is not None else '')
              for i, (t, p) in enumerate(zip(true, pred))]
    return plot_image_grid(images, titles, ncols=ncols, vrange=(0, 255), size=1.45, title=title,
                           title_colors=['firebrick'] * len(titles))
