"""Deep Dream on a trained CNN: gradient ascent from a real image on the energy of one layer's
activation, with jitter and octaves (Mordvintsev et al., 2015, "Inceptionism"; lucid's transforms,
Olah et al., 2017, "Feature visualization").

The net keeps its input size (LeNet's Dense layers need 28x28), so octaves are steps on coarse
versions of the gradient, coarsest first: at octave factor f the gradient is averaged over f x f
blocks and spread back, so early steps paint large shapes and later ones fine detail. Jitter
rolls the image by a few random pixels before each gradient, so the dream does not lock onto
one pixel grid.
"""
from typing import Callable, NamedTuple, Optional

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..backend import npmode
from ..errors import ConfigError
from ..runs.load import Run, test_image
from .maximization import inference_gradients
from .plots import new_figure, show_image
from .probe import Layer, capture, find_layer

__all__ = ['Dreamed', 'layer_energy', 'dream', 'dream_figure']


class Dreamed(NamedTuple):
    image: np.ndarray       # (C, H, W) the dream, within the value range
    start: np.ndarray       # (C, H, W) the image it started from
    objective: np.ndarray   # the energy at the start and after each octave (no jitter)


def _energy_grad(net, layer: Layer, x: np.ndarray, ctx) -> tuple:
    """mean(a^2) of `layer`'s output at x (1, C, H, W), and its input gradient."""
    X = npmode.array(x, ctx=ctx)
    X.attach_grad()
    with inference_gradients(net):
        a = capture(net, X, [layer])[0][0].output
        energy = (a * a).mean()
    energy.backward()
    return float(energy.asscalar()), X.grad.asnumpy()


def layer_energy(net: gluon.Block, layer: Layer, x: np.ndarray, ctx=None) -> float:
    """The dream's objective: the mean square of `layer`'s activation at image x (C, H, W)."""
    return _energy_grad(net, layer, np.asarray(x, np.float32)[None], ctx or mx.cpu())[0]


def _coarse(g: np.ndarray, f: int) -> np.ndarray:
    """g (1, C, H, W) averaged over f x f blocks and spread back to H x W."""
    if f == 1:
        return g
    n, c, h, w = g.shape
    blocks = g.reshape(n, c, h // f, f, w // f, f).mean(axis=(3, 5))
    return np.repeat(np.repeat(blocks, f, axis=2), f, axis=3)


def dream(net: gluon.Block, layer: Layer, x: np.ndarray, value_range=(0.0, 1.0),
          octaves: int = 3, steps: int = 20, lr: float = 0.01, jitter: int = 2, seed: int = 0,
          ctx=None, tick: Optional[Callable[[], None]] = None) -> Dreamed:
    """Gradient ascent on mean(a^2) of `layer` from image x (C, H, W).

    octaves : number of scales, factors 2^(octaves-1), ..., 2, 1; each must divide the image.
    steps : gradient steps per octave; each moves pixels by lr * (hi - lo) on average.
    jitter : largest random roll in pixels before each gradient (0: none).
    """
    ctx = ctx or mx.cpu()
    lo, hi = value_range
    x = np.asarray(x, dtype=np.float32)[None].copy()
    h, w = x.shape[2:]
    factors = [2 ** k for k in reversed(range(octaves))]
    if octaves < 1 or any(h % f or w % f for f in factors):
        raise ConfigError(f'--octaves {octaves}: octave factors {factors} must divide the '
                          f'{h}x{w} image; use fewer octaves')
    rng = np.random.RandomState(seed)
    start = x[0].copy()
    objective = [_energy_grad(net, layer, x, ctx)[0]]
    for f in factors:
        for _ in range(steps):
            dy, dx = rng.randint(-jitter, jitter + 1, size=2) if jitter else (0, 0)
            shifted = np.roll(x, (dy, dx), axis=(2, 3))
            _, g = _energy_grad(net, layer, shifted, ctx)
            g = _coarse(np.roll(g, (-dy, -dx), axis=(2, 3)), f)
            x = np.clip(x + lr * (hi - lo) * g / (np.abs(g).mean() + 1e-12), lo, hi)
            x = x.astype(np.float32)
            if tick:
                tick()
        objective.append(_energy_grad(net, layer, x, ctx)[0])
    return Dreamed(x[0], start, np.array(objective))


# ----------------------------------------------------------------------------- figures
def dream_figure(run: Run, layer: str, image: int = 0, octaves: int = 3, steps: int = 20,
                 seed: int = 0, tick: Optional[Callable[[], None]] = None):
    """Deep Dream on `layer` from test image `image`: the image, the dream, what changed."""
    target = find_layer(run.net, layer)
    x, label = test_image(run, image)
    vr = run.info.value_range
    d = dream(run.net, target, x, vr, octaves=octaves, steps=steps, seed=seed, tick=tick)
    fig = new_figure(9, 3.4)
    axes = fig.subplots(1, 3)
    show_image(axes[0], x[0], f'test #{image}: {run.class_names()[label]}\n'
               f'energy {d.objective[0]:.3g}', vr)
    show_image(axes[1], d.image[0], f'dream, {octaves} octaves\nenergy {d.objective[-1]:.3g}',
               vr)
    change = d.image[0] - x[0]
    m = max(np.abs(change).max(), 1e-6)
    show_image(axes[2], change, 'dream - image', (-m, m), cmap='seismic')
    fig.suptitle(f'{run.cfg.model}: raising mean(a²) of layer {target.label}', fontsize=10)
    return fig
