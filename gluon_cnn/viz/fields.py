"""Receptive fields of one unit: the theoretical box (the tracer's RF and jump) and the
effective field |∂a/∂x| (Luo et al., 2016, "Understanding the effective receptive field in deep
convolutional neural networks"), which is smaller and peaked in the middle.

For nets that are one chain of layers (LeNet, VGG, AlexNet); the box comes from the tracer's
rows and `gluon_cnn.shapes.receptive_field_start`, so its side is the tracer's RF.
"""
from typing import NamedTuple, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon

from .. import shapes
from ..errors import ConfigError
from ..backend import npmode
from ..trace import trace
from .maximization import inference_gradients
from .probe import Layer, capture

__all__ = ['Box', 'theoretical_box', 'effective_field']


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
