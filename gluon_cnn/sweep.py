"""Exercise 5.5.1 (d2l zh §5.5): "a better LeNet", as a sweep over the book's LeNet.

Each row changes the book's configuration (`--preset book`: sigmoid LeNet, lr 0.9, Xavier) in one
or two ways: window size, channels, activation, pooling, dense widths, learning rate,
initialization, epochs; the last row is the best LeNet-scale model (`--preset best`). Every row is
a plain `train.py` command line (`command(row)`), and its run is stored as
papers/results/sweep-<row>.json; gluon_cnn/papers/sweep_table.py renders the table in
papers/d2l-ch5.md.

    python -m gluon_cnn.sweep              # every quick row, 3 epochs each on the full data
    python -m gluon_cnn.sweep --row relu   # one row
    python -m gluon_cnn.sweep --list       # the rows and their commands
"""
import argparse
import dataclasses
import json
import os
import platform
import shlex
import sys
import time
from typing import NamedTuple

from .app import run as runner
from .cli import ArgumentParser, run_cli
from .runs.config import PRESETS, TrainConfig
from .errors import ConfigError
from .models import get_model, model_info
from .repo import results_dir
from .runs.record import RunRecord, write_record
from .trace import trace

__all__ = ['Row', 'ROWS', 'EPOCHS', 'config', 'command', 'model_cost', 'result_name', 'run_row',
           'save_result', 'hardware']

EPOCHS = 3  # a few epochs per row: enough to rank the changes, affordable on 2 shared CPU cores


class Row(NamedTuple):
    name: str
    change: str              # what differs from the book, in words, for the table
    overrides: dict          # TrainConfig fields on top of `preset`
    preset: str = 'book'
    result: str = ''         # papers/results/<result>.json; '' means sweep-<name>
    quick: bool = True       # run by `python -m gluon_cnn.sweep` without --row


# ReLU rows use lr 0.1: the book's 0.9 is tuned for sigmoid's small gradients and is too large
# for ReLU.
ROWS = [
    Row('book', "the book's LeNet (sigmoid, 5x5, 6/16 channels, 120/84, max pool, lr 0.9, Xavier)",
        {}),
    Row('epochs-6', 'twice the epochs', {'epochs': 2 * EPOCHS}),
    Row('lr-0.3', 'learning rate 0.3', {'lr': 0.3}),
    Row('init-uniform', "MXNet's default init, Uniform(-0.07, 0.07), instead of Xavier",
        {'init': 'model'}),
    Row('kernel-3', '3x3 windows (16x5x5 map before the dense layers)',
        {'model_kwargs': {'kernel_size': 3}}),
    Row('channels-2x', 'channels 12/32', {'model_kwargs': {'channels': [12, 32]}}),
    Row('widths-2x', 'dense widths 240/168', {'model_kwargs': {'widths': [240, 168]}}),
    Row('relu', 'ReLU (lenet-relu), lr 0.1', {'model': 'lenet-relu', 'lr': 0.1}),
    Row('relu-k3-2x', 'ReLU, 3x3 windows, channels 12/32, lr 0.1',
        {'model': 'lenet-relu', 'lr': 0.1,
         'model_kwargs': {'kernel_size': 3, 'channels': [12, 32]}}),
    Row('best-15', 'lenet-best, the recipe below for 15 epochs', {'epochs': 15}, preset='best',
        result='best-15', quick=False),
    Row('best', 'lenet-best: four 3x3 conv-BN-ReLU; crops+flips, warm-up+cosine lr, nag, wd, '
        'label smoothing, 30 epochs',
        {}, preset='best', result='best', quick=False),
]
_BY_NAME = {r.name: r for r in ROWS}


def config(row: Row) -> TrainConfig:
    """The row's TrainConfig: the preset, `EPOCHS` for the book-based rows, then the overrides."""
    base = {'epochs': EPOCHS} if row.preset == 'book' else {}
    return TrainConfig(**{**PRESETS[row.preset], **base, **row.overrides})


def command(row: Row) -> str:
    """The row as a train.py command line: the preset plus one flag per field that differs from it.
    """
    cfg, preset = config(row), TrainConfig(**PRESETS[row.preset])
    args = ['python', 'train.py'] + (['--preset', row.preset] if row.preset != 'book' else [])
    for name in (f.name for f in dataclasses.fields(TrainConfig)):
        value = getattr(cfg, name)
        if value != getattr(preset, name):
            flag = '--' + name.replace('_', '-')
            args += [flag, json.dumps(value) if isinstance(value, dict) else str(value)]
    return shlex.join(args)


def model_cost(cfg: TrainConfig) -> tuple:
    """(trainable parameters, MACs per image) of the config's model, from gluon_cnn.trace."""
    t = trace(get_model(cfg.model, **cfg.model_kwargs), model_info(cfg.model).input_shape)
    return t.trainable_params, t.total_macs


def result_name(row: Row) -> str:
    return row.result or f'sweep-{row.name}'


def hardware() -> str:
    """One line naming the CPU and its core count, for papers/results/*.json."""
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            model = next(line.split(':', 1)[1].strip() for line in f
                         if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return f'{model}, {os.cpu_count()} cores, CPU only'


def save_result(record: RunRecord, name: str, command_line: str, wall_seconds: float,
                folder=None) -> str:
    """papers/results/NAME.json: a run record plus command, hardware, wall_seconds and date."""
    folder = folder or results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    extra = {'command': command_line, 'hardware': hardware(),
             'wall_seconds': round(wall_seconds, 1),
             'date': time.strftime('%Y-%m-%d', time.gmtime())}
    return str(write_record(dataclasses.replace(record, extra=extra), folder / f'{name}.json'))


def run_row(row: Row, log=print) -> str:
    """Train one row (into runs/sweep-<name>) and save its result; returns the result's path."""
    cfg = config(row).replace(out=f'runs/sweep-{row.name}')
    log(f'== {row.name}: {command(row)}')
    start = time.time()
    # runs/sweep-* is the sweep's scratch folder: its result is kept in papers/results
    record = runner.run(cfg, log=log, overwrite=True)
    return save_result(record, result_name(row), command(row), time.time() - start)


def main(argv=None) -> int:
    p = ArgumentParser(prog='python -m gluon_cnn.sweep', description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--row', action='append',
                   help='run only this row (repeatable); default: every quick '
                        'row (the "best" row, 30 epochs, runs only when named)')
    p.add_argument('--list', action='store_true',
                   help='print the rows and their commands, train nothing')
    p.add_argument('--debug', action='store_true',
                   help='show tracebacks instead of one-line errors')
    args = p.parse_args(argv)

    def go():
        unknown = [n for n in args.row or [] if n not in _BY_NAME]
        if unknown:
            raise ConfigError(f"unknown --row {', '.join(unknown)}; rows: {', '.join(_BY_NAME)}")
        rows = [_BY_NAME[n] for n in args.row] if args.row else [r for r in ROWS if r.quick]
        for row in rows:
            print(f'{row.name:14} {command(row)}') if args.list else print(f'saved {run_row(row)}')
    return run_cli(go, debug=args.debug)


if __name__ == '__main__':
    sys.exit(main())
