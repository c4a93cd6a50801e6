"""gluon-cnn: LeNet and the CNN chapter of Dive into Deep Learning (d2l zh ch. 5) in MXNet Gluon.

>>> from gluon_cnn import get_model, list_models, trace
>>> trace(get_model('lenet'), (1, 1, 28, 28))      # shapes, params, MACs, receptive fields
"""
import importlib.util
import os
import sys


def _wrong_python(name: str) -> str:
    """What to say when this interpreter lacks MXNet (or numpy): which Python has them. The usual
    cause is a `python` that is not the checkout's .venv, which `make setup` builds."""
    venv = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '.venv')
    shown = os.path.relpath(venv)
    if shown.startswith(os.pardir):
        shown = venv
    if not os.path.isdir(venv):
        return (f'{name} is not installed in {sys.executable}; use the Python where gluon-cnn was '
                f'installed, or run make setup in the checkout to build .venv')
    return (f'{name} is not installed in {sys.executable}; use {shown}/bin/python (made by make '
            f'setup) or activate it: . {shown}/bin/activate')


try:
    from .backend import compat  # noqa: F401  (first: the numpy/Python shims MXNet 1.9.1 needs)
    from .errors import (GluonCNNError, DataError, ConfigError, CheckpointError, DivergedError,
                         WriteError)
    from .models import get_model, list_models, model_info
    from . import trace  # the tracer package, callable as trace(net, shape)
    from .trace import Trace
except ModuleNotFoundError as e:
    if e.name not in ('mxnet', 'numpy'):
        raise
    # lacking both, name the one a learner knows gluon-cnn needs
    missing = 'mxnet' if importlib.util.find_spec('mxnet') is None else e.name
    if sys.argv[:1] == ['-m']:  # `python -m gluon_cnn.X` (argv[0] is '-m' while X is located)
        print(f'error: {_wrong_python(missing)}', file=sys.stderr)
        raise SystemExit(2) from None
    # imported by a program or a REPL: an ImportError it can catch, with the same advice
    raise ModuleNotFoundError(_wrong_python(missing), name=missing) from None

__version__ = '0.1.0'
__all__ = ['get_model', 'list_models', 'model_info', 'trace', 'Trace', 'GluonCNNError', 'DataError',
           'ConfigError', 'CheckpointError', 'DivergedError', 'WriteError']
