#!/usr/bin/env python
"""Train a registry model on Fashion-MNIST (or MNIST): a thin CLI over gluon_cnn.engine.

    python train.py                               # the book's LeNet: lr 0.9, batch 256, 10 epochs
    python train.py --model lenet-bn --lr 1.0     # d2l zh §5.10
    python train.py --limit 2000 --epochs 2       # a quick run
"""
import argparse
import sys

from gluon_cnn import engine
from gluon_cnn.cli import run_cli
from gluon_cnn.config import OPTIMIZERS, PRESETS, TrainConfig


def parse_args(argv=None) -> argparse.Namespace:
    d = TrainConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--preset', choices=sorted(PRESETS), help='start from the flags of a papers/ row '
                   '(explicit flags still win); "book" is the defaults')
    p.add_argument('--model', help=f'registry name, see gluon_cnn.list_models() (default {d.model})')
    p.add_argument('--epochs', type=int, help=f'passes over the training set (default {d.epochs})')
    p.add_argument('--lr', type=float, help=f'learning rate (default {d.lr}, the book\'s)')
    p.add_argument('--batch-size', type=int, help=f'minibatch size (default {d.batch_size})')
    p.add_argument('--optimizer', choices=OPTIMIZERS, help=f'default {d.optimizer}; momentum/nag use 0.9')
    p.add_argument('--wd', type=float, help=f'weight decay (default {d.wd})')
    p.add_argument('--seed', type=int, help=f'random seed; same seed, same numbers (default {d.seed})')
    p.add_argument('--ctx', help='cpu, gpu or gpu:N (default cpu)')
    p.add_argument('--dataset', choices=['fashion-mnist', 'mnist'], help='default fashion-mnist')
    p.add_argument('--data-dir', help='folder with the four IDX files (default: look in '
                   '$GLUON_CNN_DATA, Gluon\'s cache, /usr/share/datasets, then download)')
    p.add_argument('--out', help='output folder (default runs/<model>-<timestamp>)')
    p.add_argument('--no-hybridize', dest='hybridize', action='store_const', const=False,
                   help='run imperatively (slower, easier to debug)')
    p.add_argument('--limit', type=int, help='train on the first N examples only (quick runs)')
    p.add_argument('--resize', type=int, help='resize images to this side, e.g. 224 for AlexNet')
    p.add_argument('--debug', action='store_true', help='show tracebacks instead of one-line errors')
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults, then the preset, then the flags given on the command line."""
    fields = {**PRESETS.get(args.preset or 'book', {}),
              **{k: v for k, v in vars(args).items() if v is not None and k in TrainConfig.__dataclass_fields__}}
    return TrainConfig(**fields)


def main(argv=None):
    args = parse_args(argv)
    return run_cli(lambda: engine.run(config_from_args(args)), debug=args.debug)


if __name__ == '__main__':
    sys.exit(main())
