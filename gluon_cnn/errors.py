"""The project's own exception types: errors a user can cause, with messages that say what to do.

The CLI (`train.py`, `python -m gluon_cnn.*`) turns any `GluonCNNError` into one line on
stderr and exit code 2; `--debug` shows the traceback instead.
"""

__all__ = ['GluonCNNError', 'DataError', 'ConfigError', 'CheckpointError', 'DivergedError',
           'TraceError']


class GluonCNNError(Exception):
    """Base class: something the user can fix. `str(e)` is the one line the CLI prints."""


class DataError(GluonCNNError):
    """Missing, truncated or corrupt dataset files (names the file and the problem)."""


class ConfigError(GluonCNNError):
    """An impossible flag or argument: unknown model, non-positive epochs, unwritable --out."""


class CheckpointError(GluonCNNError):
    """A checkpoint that is missing, incomplete or corrupt."""


class DivergedError(GluonCNNError):
    """The training loss became NaN or inf."""


class TraceError(GluonCNNError):
    """A layer refused its input while tracing (names the layer and the incoming shape)."""
