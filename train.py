#!/usr/bin/env python
"""Train a registry model on Fashion-MNIST (or MNIST): `python train.py --help`.

A thin script over `gluon_cnn.app.train_command`, which is also installed as the
`gluon-cnn-train` command.
"""
from gluon_cnn.backend import compat  # noqa: F401  (first: the numpy/Python shims MXNet 1.9.1 needs)
import sys

from gluon_cnn.app.train_command import main

if __name__ == '__main__':
    sys.exit(main())
