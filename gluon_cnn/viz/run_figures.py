"""The figures of `python -m gluon_cnn.viz all`, drawn from a run folder: training curves,
kernels, feature maps, confusion matrix, the most confident mistakes, and x* of the last conv
layer, the last hidden layer and the classes (`write_all(run_dir)`)."""
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from ..data import get_labels
from ..errors import ConfigError
from ..runs.load import Run, load_run, test_iter
from . import plots
from .fooling import softmax
from .maximization import maximize
from .probe import capture, confusion_matrix, find_layer, layers, predict

__all__ = ['kernels_figure', 'feature_maps_figure', 'test_set_figures', 'maximize_figure',
           'default_targets', 'write_all']


def _label(run: Run, k: int) -> str:
    return get_labels(run.cfg.dataset, [k])[0]


def kernels_figure(run: Run, layer: Optional[str] = None):
    """The kernels of `layer` (default: the first conv layer) on one red-blue scale."""
    convs = ([find_layer(run.net, layer)] if layer
             else [l for l in layers(run.net) if l.kind == 'conv'])
    if not convs or convs[0].kind != 'conv':
        raise ConfigError(f'{run.cfg.model}: {layer or "the net"} has no conv kernels to show')
    conv = convs[0]
    w = conv.block.weight.data().asnumpy()
    return plots.plot_kernels(w, title=f'{run.cfg.model} {conv.label}: {w.shape[0]} kernels '
                                          f'{w.shape[2]}x{w.shape[3]}')


def feature_maps_figure(run: Run, index: int = 0, max_channels: int = 16):
    """The maps of every conv and pool layer for test image `index`.

    Custom layers count too when they change the map's shape (LeNet-5's subsampling, C3);
    shape-keeping ones (activations, BatchNorm) would repeat the picture before them.
    """
    it, test = test_iter(run, batch_size=1, limit=index + 1)
    if not 0 <= index < len(test.labels):
        raise ConfigError(f'--image {index}: the test set has images 0..{len(test.labels) - 1}')
    X = list(it)[index][0]
    outs, y_hat = capture(run.net, X)
    true, pred = int(test.labels[index]), int(y_hat.asnumpy().argmax())
    caption = f'test #{index}\n{_label(run, true)}' + \
        ('' if pred == true else f'\npredicted {_label(run, pred)}')
    maps = [(c.layer.label, c.output.asnumpy()[0]) for c in outs if len(c.output.shape) == 4 and
            (c.layer.kind in ('conv', 'pool') or c.input_shape != tuple(c.output.shape))]
    return plots.plot_feature_maps(X.asnumpy()[0, 0], maps, caption, max_channels=max_channels)


def test_set_figures(run: Run, show: int = 32):
    """(confusion matrix, grid of the `show` most confident mistakes) over the test set."""
    it, test = test_iter(run)
    out, y = predict(run.net, it)
    pred = out.argmax(axis=1)
    classes = out.shape[1]
    cm = confusion_matrix(y, pred, classes)
    names = get_labels(run.cfg.dataset, range(classes))
    confusion = plots.plot_confusion(cm, names, title=f'{run.cfg.model}: {len(y):,} test images, '
                                       f'accuracy {np.trace(cm) / len(y):.3f}')
    # softmax confidence is meaningful only for nets trained with softmax cross-entropy
    p = np.exp(out - out.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    conf = p[np.arange(len(y)), pred]
    wrong = np.flatnonzero(pred != y)
    wrong = wrong[np.argsort(-conf[wrong], kind='stable')][:show]
    mistakes = plots.plot_misclassified(
        test.images[wrong], [names[t] for t in y[wrong]], [names[q] for q in pred[wrong]],
        None if run.info.loss else conf[wrong],
        title=f'{run.cfg.model}: the {len(wrong)} most confident of {int((pred != y).sum()):,} '
              f'mistakes (true → predicted)')
    return confusion, mistakes


def _input_shape(run: Run) -> tuple:
    it, _ = test_iter(run, batch_size=1, limit=1)
    return tuple(next(iter(it))[0].shape[1:])


def maximize_figure(run: Run, layer: Optional[str], units: Optional[Sequence[int]] = None,
                    l1s: Sequence[float] = (0.0,), steps: int = 200, spatial: str = 'center',
                    max_units: int = 16, tick: Optional[Callable[[], None]] = None):
    """x* for units of `layer` (None: the class scores), one row of images per L1 weight.

    Class images are titled with their score a (the logit maximized) and p, the softmax
    probability the net gives that image's class: a high score need not mean a confident net.
    """
    target = find_layer(run.net, layer) if layer else None
    n = _num_units(run, target)
    units = list(range(min(n, max_units)) if units is None else units)
    if not units or not all(0 <= u < n for u in units):
        raise ConfigError(f'--units {units}: {layer or "the output"} has units 0..{n - 1}')
    value_range = run.info.value_range
    shape = _input_shape(run)
    rows, titles = [], []
    for l1 in l1s:
        r = maximize(run.net, target, units, shape, value_range, steps=steps, l1=l1,
                     spatial=spatial, tick=tick)
        rows.append(r.images[:, 0])
        names = [_label(run, u) if target is None else f'{target.path}[{u}]' for u in units]
        row = f'L1 {l1:g}: ' if len(l1s) > 1 else ''
        values = [f'a = {a:.2f}' for a in r.final]
        if target is None:  # the softmax of its own class, computed from the net
            p = softmax(run.net, r.images)[np.arange(len(units)), units]
            values = [f'{v}, p = {q:.2f}' for v, q in zip(values, p)]
        titles += [f'{row if i == 0 else ""}{name}\n{v}'
                   for i, (name, v) in enumerate(zip(names, values))]
    what = 'class scores' if target is None else target.label + \
        (f' ({spatial} unit)' if target.kind != 'dense' else '')
    reg = f', L1 weight {l1s[0]:g}' if len(l1s) == 1 and l1s[0] else ''
    return plots.plot_image_grid(
        np.concatenate(rows), titles, ncols=len(units) if len(l1s) > 1 else min(len(units), 8),
        vrange=value_range, size=1.25,
        title=f'{run.cfg.model}: x* maximizing each unit a of {what}{reg}')


def _num_units(run: Run, target) -> int:
    """Channels or units of a layer's output (or the classes)."""
    it, _ = test_iter(run, batch_size=1, limit=1)
    X = next(iter(it))[0]
    outs, y = capture(run.net, X, [target] if target else [])
    return (outs[0].output if target else y).shape[1]


def default_targets(run: Run) -> dict:
    """{file stem: (layer, l1 weights)}: the last conv layer, the last hidden layer, the classes."""
    ls = layers(run.net)
    convs = [l for l in ls if l.kind == 'conv']
    dense = [l for l in ls[:-1] if l.kind == 'dense']  # the last layer makes the class scores
    targets = {}
    if convs:
        # a little L1 blanks the pixels outside the unit's receptive field, which get no gradient
        targets['maximize_conv'] = (convs[-1].path, (0.15,))
    if dense:
        targets['maximize_hidden'] = (dense[-1].path, (0.1,))
    targets['maximize_classes'] = (None, (0.0, 0.3))  # without and with an L1 penalty
    return targets


def write_all(run_dir, out_dir=None, image: int = 0, steps: int = 200,
              log: Callable = print) -> list:
    """Write curves, kernels, feature maps, confusion matrix, mistakes and x* images as PNGs."""
    run = load_run(run_dir)
    out = Path(out_dir or run_dir)
    written = []

    def put(stem, fig):
        written.append(plots.save(fig, out / f'{stem}.png'))
        log(f'wrote {written[-1]}')

    if run.history:
        put('curves', plots.plot_curves(run.history, title=f'{run.cfg.model}, lr {run.cfg.lr}, '
                                          f'batch {run.cfg.batch_size}'))
    put('filters', kernels_figure(run))
    put('feature_maps', feature_maps_figure(run, image))
    confusion, mistakes = test_set_figures(run)
    put('confusion', confusion)
    put('misclassified', mistakes)
    for stem, (layer, l1s) in default_targets(run).items():
        put(stem, maximize_figure(run, layer, l1s=l1s, steps=steps))
    return written
