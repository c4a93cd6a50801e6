"""Looking inside a net: name its layers, capture their outputs, predict (a run folder is
loaded by `gluon_cnn.runs.load`).

Layers are named by their child path (`0`, `2`; `features.0` in a nested net), the names the
tracer prints (`python -m gluon_cnn.trace`), and also answer to Gluon's own names without the
model prefix (`conv0`, `pool1`, `dense2`).
"""
from typing import List, NamedTuple, Optional

import numpy as np
from mxnet import gluon
from mxnet.gluon import nn

from ..backend import internals
from ..errors import ConfigError
from ..runs.load import Run, load_run, test_iter  # noqa: F401  (the explainer imports them here)

__all__ = ['Layer', 'layers', 'find_layer', 'Captured', 'capture', 'predict', 'confusion_matrix']

# Blocks we treat as one layer even though Gluon gives them a child (the fused activation).
_UNITS = (internals.ConvLayer, internals.PoolingLayer, nn.Dense)


# ----------------------------------------------------------------------------- layers
class Layer(NamedTuple):
    name: str    # Gluon's name without the model prefix, e.g. 'conv1'
    path: str    # child path, as the tracer names it, e.g. '2' (LeNet's second conv)
    kind: str    # 'conv' | 'pool' | 'dense' | the class name of any other leaf
    block: gluon.Block

    @property
    def label(self) -> str:
        """'2 Conv2D': the tracer's name and type of the layer."""
        return f'{self.path} {type(self.block).__name__}'


def layers(net: gluon.Block) -> List[Layer]:
    """The layers of `net` in registration order: convs, pools, denses and other leaf blocks."""
    found = []

    def walk(block, path):
        for key, child in internals.children(block).items():
            p = f'{path}.{key}' if path else key
            if isinstance(child, _UNITS) or not internals.children(child):
                found.append(Layer(_short_name(net, child), p, _kind(child), child))
            else:
                walk(child, p)
    walk(net, '')
    return found


def _kind(block) -> str:
    for cls, kind in ((internals.ConvLayer, 'conv'), (internals.PoolingLayer, 'pool'),
                      (nn.Dense, 'dense')):
        if isinstance(block, cls):
            return kind
    return type(block).__name__


def _short_name(net, block) -> str:
    prefix = net.prefix
    return block.name[len(prefix):] if prefix and block.name.startswith(prefix) else block.name


def find_layer(net: gluon.Block, name: str) -> Layer:
    """The layer called `name` (short name, child path or full Gluon name)."""
    all_layers = layers(net)
    for layer in all_layers:
        if name in (layer.name, layer.path, layer.block.name):
            return layer
    raise ConfigError(f"no layer {name!r}; layers: {', '.join(l.path for l in all_layers)} "
                      f"(see python -m gluon_cnn.viz layers --run DIR)")


class Captured(NamedTuple):
    layer: Layer
    input_shape: tuple
    output: object   # the NDArray the layer returned


def capture(net: gluon.Block, X, wanted: Optional[list] = None) -> tuple:
    """Run `net(X)`: ([Captured] for every layer, or only `wanted`, in call order; net(X)).

    Forward hooks see the layers only when the net runs imperatively, so a hybridized net is
    switched back with `hybridize(False)`.
    """
    net.hybridize(False)
    targets = wanted if wanted is not None else layers(net)
    seen, handles = {}, []
    for layer in targets:
        def hook(block, inputs, output, layer=layer):
            # first call only (shared weights)
            seen.setdefault(layer.path, Captured(layer, tuple(inputs[0].shape), output))
        handles.append(layer.block.register_forward_hook(hook))
    try:
        out = net(X)
    finally:
        for h in handles:
            h.detach()
    return list(seen.values()), out


# ----------------------------------------------------------------------------- predictions
def predict(net: gluon.Block, data_iter) -> tuple:
    """(outputs (N, classes), labels (N,)) as numpy over a test iterator; prediction is argmax."""
    outs, ys = [], []
    for X, y in data_iter:
        outs.append(net(X).asnumpy())
        ys.append(y.asnumpy())
    return np.concatenate(outs), np.concatenate(ys).astype(np.int64)


def confusion_matrix(true: np.ndarray, pred: np.ndarray, classes: int) -> np.ndarray:
    """cm[t, p] = number of examples of class t predicted as p."""
    return np.bincount(true * classes + pred, minlength=classes * classes).reshape(classes, classes)
