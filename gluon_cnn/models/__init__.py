"""The model registry: a plain dict from name to a pure constructor (gluon-cv's model_zoo style).

Constructors build layers and nothing else: the caller initializes. Every test over models is
parametrized by `list_models()`.

>>> net = get_model('lenet')        # d2l zh §5.5
>>> net.initialize(); net(mx.nd.zeros((1, 1, 28, 28))).shape
(1, 10)
"""
from ..errors import ConfigError
from . import lenet
from . import lenet5
from . import lenet_best
from . import alexnet
from . import vgg
from . import nin
from . import googlenet
from . import resnet
from . import densenet

__all__ = ['get_model', 'list_models', 'default_input_shape']

# One line per family file; each file exports MODELS = {name: constructor}.
_MODELS = {
    **lenet.MODELS,
    **lenet5.MODELS,
    **lenet_best.MODELS,
    **alexnet.MODELS,
    **vgg.MODELS,
    **nin.MODELS,
    **googlenet.MODELS,
    **resnet.MODELS,
    **densenet.MODELS,
}


def list_models() -> list:
    """Sorted names of every registered model."""
    return sorted(_MODELS)


def get_model(name: str, **kwargs):
    """Build the registered model `name` (uninitialized). Unknown names raise ConfigError."""
    if name not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    return _MODELS[name](**kwargs)


def default_input_shape(name: str) -> tuple:
    """The (1, C, H, W) input a model is meant for: its constructor's `input_shape` attribute."""
    if name not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    return getattr(_MODELS[name], 'input_shape', (1, 1, 28, 28))
