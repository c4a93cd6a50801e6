"""Activation maximization: the input a unit "wants to see", x* = argmax_x a(x), by gradient ascent.

Erhan et al. (2009), "Visualizing higher-layer features of a deep network", maximize one unit's
activation over the input; Simonyan et al. (2014), "Deep inside convolutional networks", do the
same for a class score (the logit, before softmax). Unregularized class images look like noise,
so we optionally subtract an L1 penalty on x (measured from the background value), which keeps
only the pixels the unit really needs.

The units are optimized together as one batch, one image per unit: in inference mode the
examples of a batch do not interact, so d(sum_k a_k(x_k))/dx_k = da_k/dx_k.
"""
from contextlib import contextmanager
from typing import Callable, NamedTuple, Optional, Sequence

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon import nn

from ..backend import internals, npmode
from ..backend.internals import clear_cached_graphs
from .probe import Layer, capture

__all__ = ['Maximized', 'inference_gradients', 'maximize']


class Maximized(NamedTuple):
    images: np.ndarray       # (K, C, H, W): x*, one per unit, within the value range
    start: np.ndarray        # (K,): a_k at the starting image
    final: np.ndarray        # (K,): a_k at x*


def _array(x: np.ndarray, ctx):
    """An NDArray of the kind the net expects (d2l 1.x readers run in npx.set_np() mode)."""
    return npmode.array(x, ctx=ctx)


@contextmanager
def inference_gradients(net: gluon.Block):
    """Record with autograd in train mode, with the net's inference behaviour: BatchNorm on its
    running statistics (and leaving them alone), Dropout off.

    Why not simply autograd.record(train_mode=False): in mxnet 1.9.1 that gives wrong input
    gradients. oneDNN max pooling run with is_train=False keeps no workspace, and its backward
    reads whatever is in that memory (different on every call; the apache/mxnet#10994 family).
    BatchNorm's backward differentiates through batch statistics that the forward did not use.
    tests/test_viz.py checks this against central differences and BatchNorm's closed form.
    """
    saved = []

    def freeze(block):
        if isinstance(block, nn.BatchNorm):  # scale and shift by the running stats
            previous = internals.set_layer_kwargs(block, use_global_stats=True)
            saved.append(lambda: internals.set_layer_kwargs(block, **previous))
        elif isinstance(block, nn.Dropout):
            rate = internals.set_dropout_rate(block, 0.0)
            saved.append(lambda: internals.set_dropout_rate(block, rate))

    net.apply(freeze)
    if saved:
        clear_cached_graphs(net)  # a hybridized block baked the old settings into its graph
    try:
        with autograd.record(train_mode=True):
            yield
    finally:
        for restore in saved:
            restore()
        if saved:
            clear_cached_graphs(net)


def _activations(net, layer: Optional[Layer], units: Sequence[int], X, spatial: str):
    """a_k(x_k) for each k as a (K,) array in the graph: unit k of sample k's output."""
    if layer is None:
        out = net(X)                                 # class scores (K, classes)
    else:
        out = capture(net, X, [layer])[0][0].output
    if len(out.shape) == 4:                          # conv/pool maps (K, C, H, W)
        h, w = out.shape[2] // 2, out.shape[3] // 2
        # the centre unit sees a whole receptive field; the mean is a texture over the image
        out = out[:, :, h, w] if spatial == 'center' else out.mean(axis=(2, 3))  # -> (K, C)
    else:
        out = out.reshape((out.shape[0], -1))        # (K, units)
    onehot = np.zeros(out.shape, dtype=np.float32)
    onehot[np.arange(len(units)), units] = 1
    return (out * _array(onehot, X.context)).sum(axis=1)  # (K,)


def maximize(net: gluon.Block, layer: Optional[Layer], units: Sequence[int], shape: tuple,
             value_range: tuple = (0.0, 1.0), steps: int = 200, lr: float = 0.05, l1: float = 0.0,
             spatial: str = 'center', seed: int = 0, x0: Optional[np.ndarray] = None,
             ctx=None, tick: Optional[Callable[[], None]] = None) -> Maximized:
    """Gradient ascent on the input for each unit in `units` of `layer` (None: the net's output).

    shape : one input's (C, H, W).
    lr : first step size as a fraction of the value range; each step's gradient is scaled to mean
        magnitude 1 per image, so the same lr suits sigmoid and ReLU nets.
    l1 : weight of the penalty l1 * |x - background|, relative to that unit-magnitude gradient,
        applied as a proximal (soft-threshold) step, so pixels the unit cares little about become
        exactly background; 0 turns it off.
    spatial : 'center' maximizes a conv channel's centre unit, 'mean' its mean over the map.
    x0 : starting images (K, C, H, W); default mid-grey with a little noise (seeded by `seed`).
    tick : called after each finished step (a progress bar's update).

    Each unit keeps its own step size with backtracking: a step that does not raise
    J = a(x) / s - l1 * sum|x - background| (s: the mean |da/dx| at the start) is undone and the
    step halved; one that does is kept and the step grows a little. So J rises monotonically:
    J(x*) >= J(x0), and without L1 a(x*) > a(x0) wherever the gradient at x0 is not zero.
    (Fixed steps are not enough: a centre conv unit's gradient lives on its receptive field only,
    so the mean-|g| scaling makes large per-pixel steps there, and they overshoot the max-pool
    switches.)
    """
    ctx = ctx or mx.cpu()
    lo, hi = value_range
    units = list(units)
    rng = np.random.RandomState(seed)
    # start from a mid-grey image with a little noise, so no unit starts at a flat spot
    x = (lo + (hi - lo) * np.clip(0.5 + 0.1 * rng.randn(len(units), *shape), 0, 1) if x0 is None
         else x0)
    x = np.clip(np.asarray(x, dtype=np.float32), lo, hi)

    def evaluate(x):
        """a (K,) and da/dx (K, C, H, W) at x, as numpy."""
        X = _array(x, ctx)
        X.attach_grad()
        with inference_gradients(net):  # BatchNorm running stats, no dropout
            a = _activations(net, layer, units, X, spatial)
            total = a.sum()
        total.backward()
        return a.asnumpy(), X.grad.asnumpy()

    a, g = evaluate(x)
    start, scale = a.copy(), np.maximum(np.abs(g).mean(axis=(1, 2, 3)), 1e-12)
    # the objective J = a / scale - l1 * sum|x - background|, with the start's gradient scale
    objective = lambda x, a: a / scale - l1 * np.abs(x - lo).sum(axis=(1, 2, 3))  # noqa: E731
    j = objective(x, a)
    step = np.full(len(units), lr * (hi - lo), dtype=np.float32)  # per unit
    for _ in range(steps):
        s = step[:, None, None, None]
        direction = g / (np.abs(g).mean(axis=(1, 2, 3), keepdims=True) + 1e-12)  # mean |.| = 1
        trial = x + s * direction                 # ascent on a
        if l1:  # proximal step for l1 * |x - background|: shrink towards it, stop there (ISTA)
            trial = lo + np.sign(trial - lo) * np.maximum(np.abs(trial - lo) - s * l1, 0)
        trial = np.clip(trial, lo, hi).astype(np.float32)
        a_t, g_t = evaluate(trial)
        j_t = objective(trial, a_t)
        up = j_t > j                               # keep the step where J rose, undo it elsewhere
        x[up], a[up], g[up], j[up] = trial[up], a_t[up], g_t[up], j_t[up]
        step = np.where(up, np.minimum(step * 1.25, 4 * lr * (hi - lo)), step * 0.5)
        if tick:
            tick()
    return Maximized(x, start, a)
