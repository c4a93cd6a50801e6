"""The ground under everything: MXNet 1.9.1's compatibility shims (`compat`), its private
attributes in one audited module (`internals`), and numpy mode decided in one place (`npmode`)."""
# bound here, so that gluon_cnn.backend.compat is an attribute even when the start-up hook
# (_gluon_cnn_startup.py) loaded the module before this package
from . import compat  # noqa: F401,E402
