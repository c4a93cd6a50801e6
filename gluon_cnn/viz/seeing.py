"""The figures of docs/seeing.md from a run folder: fooling images, adversarial changes, dreams
and receptive fields (`python -m gluon_cnn.viz fool|dream|rf`). Each returns a Figure."""
from typing import Optional, Tuple

import numpy as np
from matplotlib.patches import Rectangle

from ..data import get_labels
from ..errors import ConfigError
from .dream import dream
from .fields import effective_field, theoretical_box
from .figures import new_figure
from .fooling import fool_from_noise, smallest_flip, softmax
from .probe import Run, find_layer, test_iter

__all__ = ['test_image', 'fool_figure', 'attack_figure', 'dream_figure', 'rf_figure']


def test_image(run: Run, index: int) -> Tuple[np.ndarray, int]:
    """Test image `index` (C, H, W), fed as in training, and its label."""
    it, test = test_iter(run, batch_size=index + 1, limit=index + 1)
    if not 0 <= index < len(test.labels):
        raise ConfigError(f'--image {index}: the test set has images 0..{len(test.labels) - 1}')
    return next(iter(it))[0].asnumpy()[index], int(test.labels[index])


def _names(run: Run, n: int = 10) -> list:
    return get_labels(run.cfg.dataset, range(n))


def _show(ax, img, title, vrange, cmap='gray'):
    ax.imshow(img, cmap=cmap, vmin=vrange[0], vmax=vrange[1], interpolation='nearest')
    ax.set_title(title, fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])


def fool_figure(run: Run, target: int, threshold: float = 0.99, steps: int = 500,
                seed: int = 0):
    """Nguyen et al. (2015): noise, the image softmax calls `target`, and its confidence."""
    shape = run.info.data_shape(run.cfg.resize)[1:]
    names = _names(run)
    if not 0 <= target < len(names):
        raise ConfigError(f'--target {target}: the classes are 0..{len(names) - 1}')
    f = fool_from_noise(run.net, target, shape, run.info.value_range, threshold, steps, seed=seed)
    fig = new_figure(8, 2.8)
    axes = fig.subplots(1, 3, width_ratios=[1, 1, 1.6])
    vr = run.info.value_range
    _show(axes[0], f.start[0], 'start: uniform noise', vr)
    p = softmax(run.net, f.image[None])[0]
    _show(axes[1], f.image[0], f'softmax({names[target]}) = {p[target]:.3f}', vr)
    axes[2].plot(f.confidence)
    axes[2].axhline(threshold, ls='--', c='gray', lw=1)
    axes[2].set(xlabel='step', ylabel=f'softmax({names[target]})', ylim=(0, 1.02))
    state = 'reached' if f.reached else 'not reached'
    fig.suptitle(f'{run.cfg.model}: an image it calls {names[target]} (softmax {threshold:g} '
                 f'{state} in {len(f.confidence) - 1} steps)', fontsize=10)
    return fig


def attack_figure(run: Run, image: int, max_eps: float = 0.25, target: Optional[int] = None,
                  seed: int = 0):
    """FGSM and PGD on test image `image`: the smallest L∞ change up to max_eps that flips it.

    Rows: FGSM (Goodfellow et al. 2015), PGD (Madry et al. 2018). Columns: the image, the
    change (red up, blue down, on ±eps), the changed image, softmax before and after.
    """
    x, label = test_image(run, image)
    names = _names(run)
    vr = run.info.value_range
    pred = int(softmax(run.net, x[None])[0].argmax())
    fig = new_figure(10, 5.2)
    axes = fig.subplots(2, 4, width_ratios=[1, 1, 1, 1.8])
    for row, method in zip(axes, ('fgsm', 'pgd')):
        a = smallest_flip(run.net, x, pred, max_eps, vr, method, seed=seed, target=target)
        _show(row[0], x[0], f'test #{image}: {names[label]}\npredicted {names[pred]}', vr)
        if a is None:
            for ax in row[1:]:
                ax.axis('off')
            row[1].text(0, 0.5, f'{method.upper()}: no eps <= {max_eps:g} flips it',
                        transform=row[1].transAxes)
            continue
        delta = a.image[0] - x[0]
        _show(row[1], delta, f'{method.upper()} change, eps = {a.eps:.3f}\n'
              f'max |change| = {np.abs(delta).max():.3f}', (-a.eps, a.eps), cmap='seismic')
        new = int(a.after.argmax())
        _show(row[2], a.image[0], f'now {names[new]}\n({a.after[new]:.2f})', vr)
        k = np.arange(len(names))
        row[3].bar(k - 0.2, a.before, 0.4, label='before')
        row[3].bar(k + 0.2, a.after, 0.4, label='after')
        row[3].set_xticks(k, [n[:7] for n in names], rotation=60, fontsize=7)
        row[3].set(ylim=(0, 1), ylabel='softmax')
        row[3].legend(fontsize=7)
    aim = f'to {names[target]}' if target is not None else 'to another class'
    fig.suptitle(f'{run.cfg.model}: the smallest L∞ change {aim} (pixels in [{vr[0]:g}, '
                 f'{vr[1]:g}])', fontsize=10)
    return fig


def dream_figure(run: Run, layer: str, image: int = 0, octaves: int = 3, steps: int = 20,
                 seed: int = 0):
    """Deep Dream on `layer` from test image `image`: the image, the dream, what changed."""
    target = find_layer(run.net, layer)
    x, label = test_image(run, image)
    vr = run.info.value_range
    d = dream(run.net, target, x, vr, octaves=octaves, steps=steps, seed=seed)
    fig = new_figure(9, 3.4)
    axes = fig.subplots(1, 3)
    _show(axes[0], x[0], f'test #{image}: {_names(run)[label]}\nenergy {d.objective[0]:.3g}', vr)
    _show(axes[1], d.image[0], f'dream, {octaves} octaves\nenergy {d.objective[-1]:.3g}', vr)
    change = d.image[0] - x[0]
    m = max(np.abs(change).max(), 1e-6)
    _show(axes[2], change, 'dream - image', (-m, m), cmap='seismic')
    fig.suptitle(f'{run.cfg.model}: raising mean(a²) of layer {target.label}', fontsize=10)
    return fig


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
    _show(axes[0], x[0], f'{what if image is not None else "test #0"}', vr)
    axes[1].imshow(heat, cmap='inferno', interpolation='nearest')
    axes[1].set_title(f'effective field |∂a/∂x| ({what})', fontsize=9)
    axes[1].set_xticks([]), axes[1].set_yticks([])
    for ax in axes:
        ax.add_patch(Rectangle((box.left - 0.5, box.top - 0.5), box.width, box.height,
                               fill=False, ec='cyan', lw=2))
    fig.suptitle(f'{run.cfg.model}: unit {unit[0]},{unit[1]} of layer {target.label}: '
                 f'receptive field {box.height}x{box.width} (the tracer\'s RF)', fontsize=10)
    return fig
