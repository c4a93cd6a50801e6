"""gluon-cnn: LeNet and the CNN chapter of Dive into Deep Learning (d2l zh ch. 5) in MXNet Gluon.

>>> from gluon_cnn import get_model, list_models, trace
>>> trace(get_model('lenet'), (1, 1, 28, 28))      # shapes, params, MACs, receptive fields
"""
from .errors import GluonCNNError, DataError, ConfigError, CheckpointError, DivergedError
from .models import get_model, list_models

__version__ = '0.1.0'
__all__ = ['get_model', 'list_models', 'GluonCNNError', 'DataError', 'ConfigError',
           'CheckpointError', 'DivergedError']
