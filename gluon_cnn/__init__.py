"""gluon-cnn: LeNet and the CNN chapter of Dive into Deep Learning (d2l zh ch. 5) in MXNet Gluon.

>>> from gluon_cnn import get_model, list_models, trace
>>> trace(get_model('lenet'), (1, 1, 28, 28))      # shapes, params, MACs, receptive fields
"""
from .backend import compat  # noqa: F401  (first: the numpy/Python shims MXNet 1.9.1 needs)
from .errors import (GluonCNNError, DataError, ConfigError, CheckpointError, DivergedError,
                     WriteError)
from .models import get_model, list_models, model_info
from . import trace  # the tracer package, callable as trace(net, shape)
from .trace import Trace

__version__ = '0.1.0'
__all__ = ['get_model', 'list_models', 'model_info', 'trace', 'Trace', 'GluonCNNError', 'DataError',
           'ConfigError', 'CheckpointError', 'DivergedError', 'WriteError']
