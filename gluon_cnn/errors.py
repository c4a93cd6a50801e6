"""The project's own exception types: errors a user can cause, with messages that say what to do.

The CLI (`train.py`, `python -m gluon_cnn.*`) turns any `GluonCNNError` into one line on
stderr and exit code 2 (a `TargetMissedError`: 3); `--debug` shows the traceback instead.
"""

__all__ = ['GluonCNNError', 'DataError', 'ConfigError', 'CheckpointError', 'DivergedError',
           'TargetMissedError', 'TraceError', 'WriteError']


class GluonCNNError(Exception):
    """Base class: something the user can fix. `str(e)` is the one line the CLI prints; the
    subclass's `fields` say what is at fault in a form code (and tests) can read, so nothing has
    to parse the English. A field the raiser does not know is None."""

    exit_code = 2  # what the CLI exits with
    fields: tuple = ()

    def __init__(self, message: str = '', **fields):
        unknown = set(fields) - set(self.fields)
        if unknown:
            raise TypeError(f'{type(self).__name__} has no field {", ".join(sorted(unknown))}')
        super().__init__(message)
        for name in self.fields:
            setattr(self, name, fields.get(name))

    def again(self, message: str) -> 'GluonCNNError':
        """The same error with another message (say, a hint appended); the fields travel along."""
        return type(self)(message, **{name: getattr(self, name) for name in self.fields})


class DataError(GluonCNNError):
    """Missing, truncated or corrupt dataset files (names the file and the problem).

    Field: `path`, the file or folder at fault.
    """

    fields = ('path',)


class ConfigError(GluonCNNError):
    """An impossible flag or argument: unknown model, non-positive epochs, unwritable --out.

    Fields: `field`, the flag or setting at fault as the user writes it ('--lr', '--model-kwargs',
    or a run record's 'batch_size'); `path`, the file or folder involved, if any.
    """

    fields = ('field', 'path')


class CheckpointError(GluonCNNError):
    """A checkpoint that is missing, incomplete or corrupt.

    Field: `path`, the file or folder at fault (the damaged file, or the run folder).
    """

    fields = ('path',)


class DivergedError(GluonCNNError):
    """The training loss became NaN or inf, or exploded.

    Fields: `epoch` and `batch` (1-based) where it was caught, `batches` in that epoch, `loss` the
    value that gave it away, and `lr` the learning rate it diverged at.
    """

    fields = ('epoch', 'batch', 'batches', 'loss', 'lr')


class TargetMissedError(GluonCNNError):
    """A finished run whose final test accuracy fell short of `--target-acc` (exit code 3, so that
    CI tells a missed replication from a usage error)."""

    exit_code = 3


class WriteError(GluonCNNError):
    """A file of a run could not be written: a full disk, a file size limit, an I/O error.

    Field: `path`, the file that could not be written.
    """

    fields = ('path',)


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
