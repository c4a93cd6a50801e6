"""Looking inside a net: name its layers, capture their outputs, predict (a run folder is
loaded by `gluon_cnn.runs.load`).

Layers are named by their child path (`0`, `2`; `features.0` in a nested net), the names the
tracer prints (`python -m gluon_cnn.trace`), and also answer to Gluon's own names without the
model prefix (`conv0`, `pool1`, `dense2`).
"""
from typing import List, NamedTuple, Optional

import numpy as np
from mxnet import gluon

from ..backend import blocks
from ..errors import ConfigError

__all__ = ['Layer', 'layers', 'find_layer', 'Captured', 'capture', 'predict', 'confusion_matrix']



# ----------------------------------------------------------------------------- layers
class Layer(NamedTuple):
    name: str    # Gluon's name without the model prefix, e.g. 'conv1'
    path: str    # child path, as the tracer names it, e.g. '2' (LeNet's second conv)
    kind: str    # backend.blocks.layer_kind: 'conv', 'pool', 'dense', 'act', 'norm', ...
    block: gluon.Block

    @property
    def label(self) -> str:
        """'2 Conv2D': the tracer's name and type of the layer."""
        return f'{self.path} {type(self.block).__name__}'


def layers(net: gluon.Block) -> List[Layer]:
    """The layers of `net` in registration order: convs, pools, denses and other leaf blocks."""
    return [Layer(_short_name(net, b), p, blocks.layer_kind(b), b) for p, b in blocks.leaves(net)]


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
    targets = wanted if wanted is not None else layers(net)
    seen, out = blocks.capture_io(net, X, [layer.block for layer in targets])
    by_block = {}
    for layer in targets:
        by_block.setdefault(id(layer.block), layer)
    return [Captured(by_block[key], tuple(x.shape), y) for key, (x, y) in seen.items()], out


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
