"""How a CNN is fooled: images it calls class C with 99% confidence, and the smallest change
of a real image that flips its class.

- From noise: Nguyen et al. (2015), "Deep neural networks are easily fooled", §3.3 (gradient
  ascent): raise log softmax_C(x) from uniform noise until softmax_C(x) >= 0.99. The images look
  like nothing to us.
- From a test image, inside an L∞ ball of radius eps: FGSM, x + eps sign(∇_x loss) (Goodfellow
  et al., 2015, "Explaining and harnessing adversarial examples"), and PGD, its iteration with a
  random start and a projection back into the ball (Madry et al., 2018, "Towards deep learning
  models resistant to adversarial attacks"). `smallest_flip` searches eps upwards for the
  smallest one that changes the class.
Pixels always stay in the run's value range. Same seed, same result.
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

__all__ = ['Fooled', 'Attack', 'softmax', 'fool_from_noise', 'fgsm', 'pgd', 'smallest_flip',
           'fool_figure', 'attack_figure']


class Fooled(NamedTuple):
    image: np.ndarray        # (C, H, W) the fooling image
    start: np.ndarray        # (C, H, W) the noise it started from
    confidence: np.ndarray   # softmax_C after each step, the first at the start
    reached: bool            # softmax_C(image) >= threshold


class Attack(NamedTuple):
    image: np.ndarray        # (C, H, W) x + delta, within the value range
    eps: float               # the L∞ radius used: max |delta| <= eps
    before: np.ndarray       # (classes,) softmax at x
    after: np.ndarray        # (classes,) softmax at x + delta
    method: str              # 'fgsm' | 'pgd'
    target: Optional[int] = None   # the class it was pushed to (None: any class but the first)

    @property
    def flipped(self) -> bool:
        """The prediction changed (to the target, when there is one)."""
        if self.target is not None:
            return int(self.after.argmax()) == self.target
        return int(self.before.argmax()) != int(self.after.argmax())


def softmax(net: gluon.Block, x: np.ndarray, ctx=None) -> np.ndarray:
    """softmax(net(x)) for a (K, C, H, W) batch, as numpy (K, classes), in predict mode."""
    out = net(npmode.array(np.asarray(x, dtype=np.float32), ctx=ctx or mx.cpu())).asnumpy()
    e = np.exp(out - out.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _log_softmax_grad(net, x: np.ndarray, classes, ctx) -> tuple:
    """log softmax_c(x_k) for class classes[k] of each image k, and its input gradient."""
    X = npmode.array(x.astype(np.float32), ctx=ctx)
    X.attach_grad()
    _, npx = npmode.namespaces()  # where log_softmax lives
    with inference_gradients(net):  # BatchNorm on running stats, dropout off
        out = net(X)                                             # (K, classes)
        onehot = np.eye(out.shape[1], dtype=np.float32)[list(classes)]
        picked = (npx.log_softmax(out, axis=1) * npmode.array(onehot, ctx=ctx)).sum(axis=1)
        total = picked.sum()                                     # (K,) -> ()
    total.backward()
    return picked.asnumpy(), X.grad.asnumpy()


def fool_from_noise(net: gluon.Block, target: int, shape: tuple, value_range=(0.0, 1.0),
                    threshold: float = 0.99, steps: int = 500, lr: float = 0.05, seed: int = 0,
                    ctx=None, tick: Optional[Callable[[], None]] = None) -> Fooled:
    """Gradient ascent on log softmax_target from uniform noise, until softmax >= threshold.

    shape : one input's (C, H, W). The steps are Adam's (Kingma & Ba, 2015; lucid's optimizer
    too) of lr * (hi - lo), each clipped to the value range. The pixels are bounded, so a small
    net's scores are too: for some classes no image reaches the threshold (`reached` False).
    """
    ctx = ctx or mx.cpu()
    lo, hi = value_range
    x = np.random.RandomState(seed).uniform(lo, hi, (1,) + tuple(shape)).astype(np.float32)
    start = x[0].copy()
    m, v = np.zeros_like(x), np.zeros_like(x)  # Adam's running first and second moments
    trace = []
    for t in range(1, steps + 2):
        logp, g = _log_softmax_grad(net, x, [target], ctx)
        trace.append(float(np.exp(logp[0])))
        if trace[-1] >= threshold or t > steps:
            break
        if tick:
            tick()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        step = (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        x = np.clip(x + lr * (hi - lo) * step, lo, hi).astype(np.float32)
    return Fooled(x[0], start, np.array(trace), trace[-1] >= threshold)


def _fgsm_step(net, x: np.ndarray, label: int, eps: float, value_range, ctx,
               grad: Optional[np.ndarray] = None, target: Optional[int] = None) -> np.ndarray:
    """x + eps * sign(∇_x loss), clipped; loss = -log softmax_label, or, with a target,
    log softmax_target. grad: that gradient of log p, if already known."""
    cls, sign = (label, -1.0) if target is None else (target, 1.0)
    if grad is None:
        _, grad = _log_softmax_grad(net, x, [cls], ctx)
    return np.clip(x + sign * eps * np.sign(grad), *value_range).astype(np.float32)


def _result(net, x, adv, eps, method, ctx, target) -> Attack:
    return Attack(adv[0], eps, softmax(net, x, ctx)[0], softmax(net, adv, ctx)[0], method, target)


def fgsm(net: gluon.Block, x: np.ndarray, label: int, eps: float, value_range=(0.0, 1.0),
         target: Optional[int] = None, ctx=None) -> Attack:
    """FGSM (Goodfellow et al. 2015): x + eps * sign(∇_x loss(x, label)), clipped to the range.

    x : one image (C, H, W); label : the class to move away from (the true or predicted one);
    target : a class to move towards instead (a targeted attack).
    """
    ctx, x = ctx or mx.cpu(), np.asarray(x, dtype=np.float32)[None]
    adv = _fgsm_step(net, x, label, eps, value_range, ctx, target=target)
    return _result(net, x, adv, eps, 'fgsm', ctx, target)


def pgd(net: gluon.Block, x: np.ndarray, label: int, eps: float, value_range=(0.0, 1.0),
        steps: int = 20, seed: int = 0, target: Optional[int] = None, ctx=None) -> Attack:
    """PGD (Madry et al. 2018): `steps` FGSM steps of eps/4 from a random start in the eps-ball,
    each projected back into the ball and the value range."""
    ctx, x = ctx or mx.cpu(), np.asarray(x, dtype=np.float32)[None]
    lo, hi = value_range
    rng = np.random.RandomState(seed)
    adv = np.clip(x + rng.uniform(-eps, eps, x.shape), lo, hi).astype(np.float32)
    for _ in range(steps):
        adv = _fgsm_step(net, adv, label, eps / 4, value_range, ctx, target=target)
        adv = np.clip(adv, x - eps, x + eps).astype(np.float32)  # project onto the eps-ball
    return _result(net, x, adv, eps, 'pgd', ctx, target)


def smallest_flip(net: gluon.Block, x: np.ndarray, label: int, max_eps: float,
                  value_range=(0.0, 1.0), method: str = 'pgd', tries: int = 32, steps: int = 20,
                  seed: int = 0, target: Optional[int] = None, ctx=None,
                  tick: Optional[Callable[[], None]] = None) -> Optional[Attack]:
    """The smallest radius up to max_eps whose attack changes the predicted class (None if none).

    FGSM is not monotone in eps (one long step can overshoot), so its radii are tried upwards on
    a grid of `tries`, from one gradient. PGD is searched by bisection (`tries` halvings at most,
    stopping at max_eps / 256), keeping the smallest radius that flips. tick: called after each
    radius tried.
    """
    tick = tick or (lambda: None)
    ctx, batch = ctx or mx.cpu(), np.asarray(x, dtype=np.float32)[None]
    if method == 'fgsm':
        _, grad = _log_softmax_grad(net, batch, [label if target is None else target], ctx)
        for eps in np.linspace(max_eps / tries, max_eps, tries):
            adv = _fgsm_step(net, batch, label, float(eps), value_range, ctx, grad, target)
            a = _result(net, batch, adv, float(eps), 'fgsm', ctx, target)
            tick()
            if a.flipped:
                return a
        return None
    best = pgd(net, x, label, max_eps, value_range, steps, seed, target, ctx)
    tick()
    if not best.flipped:
        return None
    lo, hi = 0.0, max_eps
    for _ in range(tries):
        if hi - lo <= max_eps / 256:
            break
        mid = (lo + hi) / 2
        a = pgd(net, x, label, mid, value_range, steps, seed, target, ctx)
        tick()
        if a.flipped:
            best, hi = a, mid
        else:
            lo = mid
    return best


# ----------------------------------------------------------------------------- figures
def fool_figure(run: Run, target: int, threshold: float = 0.99, steps: int = 500,
                seed: int = 0, tick: Optional[Callable[[], None]] = None):
    """Nguyen et al. (2015): noise, the image softmax calls `target`, and its confidence."""
    shape = run.info.data_shape(run.cfg.resize)[1:]
    names = run.class_names()
    if not 0 <= target < len(names):
        raise ConfigError(f'--target {target}: the classes are 0..{len(names) - 1}')
    f = fool_from_noise(run.net, target, shape, run.info.value_range, threshold, steps, seed=seed,
                        tick=tick)
    fig = new_figure(8, 2.8)
    axes = fig.subplots(1, 3, width_ratios=[1, 1, 1.6])
    vr = run.info.value_range
    show_image(axes[0], f.start[0], 'start: uniform noise', vr)
    p = softmax(run.net, f.image[None])[0]
    show_image(axes[1], f.image[0], f'softmax({names[target]}) = {p[target]:.3f}', vr)
    axes[2].plot(f.confidence)
    axes[2].axhline(threshold, ls='--', c='gray', lw=1)
    axes[2].set(xlabel='step', ylabel=f'softmax({names[target]})', ylim=(0, 1.02))
    state = 'reached' if f.reached else 'not reached'
    fig.suptitle(f'{run.cfg.model}: an image it calls {names[target]} (softmax {threshold:g} '
                 f'{state} in {len(f.confidence) - 1} steps)', fontsize=10)
    return fig


def attack_figure(run: Run, image: int, max_eps: float = 0.25, target: Optional[int] = None,
                  seed: int = 0, tick: Optional[Callable[[], None]] = None):
    """FGSM and PGD on test image `image`: the smallest L∞ change up to max_eps that flips it.

    Rows: FGSM (Goodfellow et al. 2015), PGD (Madry et al. 2018). Columns: the image, the
    change (red up, blue down, on ±eps), the changed image, softmax before and after.
    """
    x, label = test_image(run, image)
    names = run.class_names()
    vr = run.info.value_range
    pred = int(softmax(run.net, x[None])[0].argmax())
    fig = new_figure(10, 5.2)
    axes = fig.subplots(2, 4, width_ratios=[1, 1, 1, 1.8])
    for row, method in zip(axes, ('fgsm', 'pgd')):
        a = smallest_flip(run.net, x, pred, max_eps, vr, method, seed=seed, target=target,
                          tick=tick)
        show_image(row[0], x[0], f'test #{image}: {names[label]}\npredicted {names[pred]}', vr)
        if a is None:
            for ax in row[1:]:
                ax.axis('off')
            row[1].text(0, 0.5, f'{method.upper()}: no eps <= {max_eps:g} flips it',
                        transform=row[1].transAxes)
            continue
        delta = a.image[0] - x[0]
        show_image(row[1], delta, f'{method.upper()} change, eps = {a.eps:.3f}\n'
              f'max |change| = {np.abs(delta).max():.3f}', (-a.eps, a.eps), cmap='seismic')
        new = int(a.after.argmax())
        show_image(row[2], a.image[0], f'now {names[new]}\n({a.after[new]:.2f})', vr)
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
