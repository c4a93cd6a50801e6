#!/usr/bin/env python
"""Train a registry model on Fashion-MNIST (or MNIST): `python train.py --help`.

A thin script over `gluon_cnn.app.train_command`, which is also installed as the
`gluon-cnn-train` command.
"""
import sys

try:
    from gluon_cnn.backend import compat  # noqa: F401  (first: the shims MXNet 1.9.1 needs)
except ModuleNotFoundError as e:
    if e.name not in ('mxnet', 'numpy'):
        raise
    # a Python without MXNet, usually not the checkout's .venv: gluon_cnn says which one to use
    sys.exit(print(f'error: {e}', file=sys.stderr) or 2)

from gluon_cnn.app.train_command import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
