"""The project's own exception types: errors a user can cause, with messages that say what to do.

The CLI (`train.py`, `python -m gluon_cnn.*`) turns any `GluonCNNError` into one line on
stderr and exit code 2 (a `TargetMissedError`: 3); `--debug` shows the traceback instead.
"""

__all__ = ['GluonCNNError', 'DataError', 'ConfigError', 'CheckpointError', 'DivergedError',
           'TargetMissedError', 'TraceError', 'WriteError']


class GluonCNNError(Exception):
    """Base class: something the user can fix. `str(e)` is the one line the CLI prints."""

    exit_code = 2  # what the CLI exits with


class DataError(GluonCNNError):
    """Missing, truncated or corrupt dataset files (names the file and the problem)."""


class ConfigError(GluonCNNError):
    """An impossible flag or argument: unknown model, non-positive epochs, unwritable --out."""


class CheckpointError(GluonCNNError):
    """A checkpoint that is missing, incomplete or corrupt."""


class DivergedError(GluonCNNError):
    """The training loss became NaN or inf, or exploded."""


class TargetMissedError(GluonCNNError):
    """A finished run whose final test accuracy fell short of `--target-acc` (exit code 3, so that
    CI tells a missed replication from a usage error)."""

    exit_code = 3


class WriteError(GluonCNNError):
    """A file of a run could not be written: a full disk, a file size limit, an I/O error."""


class TraceError(GluonCNNError):
    """A layer refused its input while tracing.

    Fields, where the failure is located (else None): `layer`, the failing block's path in the
    net ('features.2'); `layer_type` ('Conv2D'); `incoming`, the shapes it was given; `reason`,
    MXNet's own one-line reason; `trace`, the table of the layers traced before the failure.
    """

    def __init__(self, message: str, layer=None, layer_type=None, incoming=None, reason=None,
                 trace=None):
        super().__init__(message)
        self.layer, self.layer_type, self.incoming = layer, layer_type, incoming
        self.reason, self.trace = reason, trace
