"""Receptive fields of one unit: the theoretical box (the tracer's RF and jump) and the
effective field |∂a/∂x| (Luo et al., 2016, "Understanding the effective receptive field in deep
convolutional neural networks"), which is smaller and peaked in the middle.

For nets that are one chain of layers (LeNet, VGG, AlexNet); the box comes from the tracer's
rows and `gluon_cnn.shapes.receptive_field_start`, so its side is the tracer's RF.
"""
from typing import NamedTuple, Optional, Tuple

import mxnet as mx
import numpy as np
from matplotlib.patches import Rectangle
from mxnet import gluon

from .. import shapes
from ..backend import npmode
from ..errors import ConfigError
from ..runs.load import Run, test_image, test_iter
from ..trace import trace
from .maximization import inference_gradients
from .plots import new_figure, show_image
from .probe import Layer, capture, find_layer

__all__ = ['Box', 'theoretical_box', 'effective_field', 'rf_figure']


class Box(NamedTuple):
    top: int        # first input row the unit sees (negative: in the padding)
    left: int
    height: int     # the receptive field, in input pixels: the tracer's RF
    width: int

    def clipped(self, h: int, w: int) -> Tuple[int, int, int, int]:
        """(top, left, bottom, right), inclusive, inside an h x w image."""
        return (max(self.top, 0), max(self.left, 0), min(self.top + self.height, h) - 1,
                min(self.left + self.width, w) - 1)


def theoretical_box(net: gluon.Block, layer: Layer, unit: Tuple[int, int],
                    shape: tuple) -> Box:
    """The input box that unit (i, j) of `layer`'s maps sees, for an input of shape (C, H, W)."""
    t = trace(net, (1,) + tuple(shape))
    rows = [r for r in t.rows if r.is_leaf]
    names = [r.name for r in rows]
    if layer.path not in names:
        raise ConfigError(f'--layer {layer.path}: the tracer has no row of that name')
    row = rows[names.index(layer.path)]
    if not row.receptive_field or row.output_shape is None or len(row.output_shape) != 4:
        raise ConfigError(f'--layer {layer.path} ({row.type}) has no spatial maps; pick a conv '
                          'or pooling layer (see `python -m gluon_cnn.viz layers`)')
    i, j = unit
    if not (0 <= i < row.output_shape[2] and 0 <= j < row.output_shape[3]):
        raise ConfigError(f'--unit {i},{j}: {layer.path} has maps of '
                          f'{row.output_shape[2]}x{row.output_shape[3]}')
    chain = [r for r in rows[:names.index(layer.path) + 1] if r.kernel]
    axes = []
    for a in (0, 1):
        rf, jump, start = shapes.receptive_field_start(
            [(r.kernel[a], r.stride[a], r.padding[a], r.dilation[a]) for r in chain])
        assert rf == row.receptive_field[a], 'the chain must be the whole path to the layer'
        axes.append((start + (i, j)[a] * jump, rf))
    return Box(axes[0][0], axes[1][0], axes[0][1], axes[1][1])


def effective_field(net: gluon.Block, layer: Layer, unit: Tuple[int, int], X: np.ndarray,
                    ctx=None) -> np.ndarray:
    """|∂(Σ_c a_c,i,j)/∂x| summed over input channels, averaged over the images X (N, C, H, W)."""
    X = npmode.array(np.asarray(X, dtype=np.float32), ctx=ctx or mx.cpu())
    X.attach_grad()
    i, j = unit
    with inference_gradients(net):
        a = capture(net, X, [layer])[0][0].output
        total = a[:, :, i, j].sum()
    total.backward()
    return np.abs(X.grad.asnumpy()).sum(axis=1).mean(axis=0)  # (N, C, H, W) -> (H, W)


# ----------------------------------------------------------------------------- figures
def rf_figure(run: Run, layer: str, unit: Tuple[int, int], image: Optional[int] = None,
              images: int = 16):
    """The tracer's receptive-field box of unit (i, j) of `layer` over the image, with the
    effective field |∂a/∂x| as a heat map (on test image `image`, or averaged over `images`)."""
    target = find_layer(run.net, layer)
    shape = run.info.data_shape(run.cfg.resize)[1:]
    box = theoretical_box(run.net, target, unit, shape)
    if image is None:
        it, _ = test_iter(run, batch_size=images, limit=images)
        X = next(iter(it))[0].asnumpy()
        x, what = X[0], f'mean over {len(X)} test images'
    else:
        x, _ = test_image(run, image)
        X, what = x[None], f'test #{image}'
    heat = effective_field(run.net, target, unit, X)
    fig = new_figure(8, 4)
    axes = fig.subplots(1, 2)
    vr = run.info.value_range
    show_image(axes[0], x[0], f'{what if image is not None else "test #0"}', vr)
    axes[1].imshow(heat, cmap='inferno', interpolation='nearest')
    axes[1].set_title(f'effective field |∂a/∂x| ({what})', fontsize=9)
    axes[1].set_xticks([]), axes[1].set_yticks([])
    for ax in axes:
        ax.add_patch(Rectangle((box.left - 0.5, box.top - 0.5), box.width, box.height,
                               fill=False, ec='cyan', lw=2))
    fig.suptitle(f'{run.cfg.model}: unit {unit[0]},{unit[1]} of layer {target.label}: '
                 f'receptive field {box.height}x{box.width} (the tracer\'s RF)', fontsize=10)
    return fig
