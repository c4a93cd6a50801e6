"""The model registry: one `ModelInfo` record per name, registered where the model is defined.

A record holds everything a consumer needs to know about a model besides its layers: the pure
constructor, the input it is meant for, how the data must be padded and scaled for it, its
training loss, and the book section or paper it follows (timm's `register_model`, gluon-cv's
model_zoo). Constructors build layers and nothing else: the caller initializes.
"""
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from ..cli import did_you_mean
from ..errors import ConfigError

__all__ = ['ModelInfo', 'BookTraining', 'register', 'register_depths', 'get_model', 'model_info',
           'list_models', 'IMAGE_SIDE']

IMAGE_SIDE = 28  # MNIST and Fashion-MNIST images are 28x28


@dataclass(frozen=True)
class BookTraining:
    """How the model's section trains it (d2l zh v1.0.0, §5.5-§5.12): `train.py --model NAME`
    uses these unless a flag says otherwise (gluon_cnn.runs.config.model_defaults)."""
    lr: float                     # plain SGD, no momentum or weight decay
    batch_size: int
    epochs: int = 5               # every section of the chapter trains 5 epochs
    resize: Optional[int] = None  # the side Fashion-MNIST is resized to; None: 28x28 as it is


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one model.

    name : registry name (`--model`).
    build : pure constructor; keyword arguments override the model's defaults (--model-kwargs).
    source : where it comes from, e.g. 'd2l zh §5.5' or 'LeCun et al. (1998)'.
    input_shape : the (1, C, H, W) input it is meant for (the book resizes to 224 or 96).
    classes : the outputs it is built with by default (10 for Fashion-MNIST, 1000 for ImageNet).
    pad : pixels of background the data is padded with on each side (LeNet-5: 28 -> 32).
    value_range : (background, foreground) the [0, 1] pixels are scaled to.
    loss : the training loss class; None is softmax cross-entropy.
    book : how its section trains it (BookTraining), or None when the book does not train it.
    """
    name: str
    build: Callable
    source: str
    input_shape: Tuple[int, int, int, int] = (1, 1, IMAGE_SIDE, IMAGE_SIDE)
    classes: int = 10
    pad: int = 0
    value_range: Tuple[float, float] = (0.0, 1.0)
    loss: Optional[Callable] = None
    book: Optional[BookTraining] = None

    def data_shape(self, resize: Optional[int] = None) -> tuple:
        """(1, 1, H, W) of one example as the data feeds it: padded, then resized if asked."""
        side = resize or IMAGE_SIDE + 2 * self.pad
        return (1, 1, side, side)

    def needs_resize(self) -> Optional[int]:
        """The side to resize Fashion-MNIST to for this model's input, or None if it fits."""
        side = self.input_shape[-1]
        return None if side == IMAGE_SIDE + 2 * self.pad else side


_REGISTRY: dict = {}


def register(name: str, source: str, **fields):
    """Decorator: record the decorated constructor under `name` with `fields` of ModelInfo."""
    def add(build):
        if name in _REGISTRY:
            raise ValueError(f'model {name!r} is registered twice')
        _REGISTRY[name] = ModelInfo(name=name, build=build, source=source, **fields)
        return build
    return add


def register_depths(name: str, source: str, build, depths, doc: str, **fields) -> tuple:
    """Register `build(depth, **kwargs)` once per depth of a paper's table, as `name.format(depth)`
    with the docstring `doc.format(depth)`; returns the constructors in the order of `depths`."""
    def one(depth):
        def constructor(**kwargs):
            return build(depth, **kwargs)
        constructor.__name__ = name.format(depth).replace('-', '_')
        constructor.__doc__ = doc.format(depth)
        return register(name.format(depth), source, **fields)(constructor)
    return tuple(one(d) for d in depths)


def list_models() -> list:
    """Sorted names of every registered model."""
    return sorted(_REGISTRY)


def model_info(name: str) -> ModelInfo:
    """The record of model `name`; an unknown name raises ConfigError listing the valid ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        hint = did_you_mean(str(name), list_models())
        raise ConfigError(f"unknown model {name!r}; valid names: {', '.join(list_models())}"
                          + (f'; did you mean {hint}?' if hint else ''), field='--model') from None


def get_model(name: str, **kwargs):
    """Build the registered model `name` (uninitialized)."""
    return model_info(name).build(**kwargs)
