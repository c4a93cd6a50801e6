"""The 2nd edition's own code, unchanged and offline: `from d2l import mxnet as d2l` (d2l 1.0.3).

d2l en v1.0.3 ch.7-8 and d2l zh (2nd ed.) ch.6-7 import the `d2l` package as printed; gluon-cnn
changes nothing in the book's lines. When `d2l.mxnet` is first imported, the start-up hook
(_gluon_cnn_startup.py) calls `adopt(module)`, which

- makes Gluon's `FashionMNIST` (which both editions' data code builds, ignoring d2l's `root`)
  read the local IDX files: Debian's package, $GLUON_CNN_DATA or Gluon's cache; with none of
  them Gluon downloads as before (gluon_cnn.data.offline). Debian's recompressed files fail
  Gluon's sha1, so copying them into Gluon's cache would not do;
- with $GLUON_CNN_BOOK_QUICK set, cuts every training short without a line of the book changed
  (gluon_cnn.book2.quick), so CI can run every section.

The Chinese 2nd edition was written for d2l 0.17.6, whose function API (`load_data_fashion_mnist`,
`train_ch6`, `Animator`, `Accumulator`, `try_gpu`, `evaluate_accuracy_gpu`, ...) d2l 1.0.3 still
carries unchanged for these chapters, so one package serves both editions (tests/test_book2.py
runs each section of both). Figures need nothing: in Jupyter d2l draws through
matplotlib-inline, headless matplotlib falls back to Agg by itself.

`python -m gluon_cnn.book2` extracts and runs the book's MXNet cells section by section.
"""
from types import ModuleType

from ..data.offline import read_gluon_datasets_locally
from . import quick

__all__ = ['adopt']


def adopt(d2l: ModuleType) -> None:
    """Make the freshly imported `d2l.mxnet` run offline (and short, in quick mode). Idempotent."""
    limits = quick.limits()
    read_gluon_datasets_locally(limit=limits.examples if limits else None)
    if limits:
        quick.cut_short(d2l, limits)
