"""python -m gluon_cnn.viz {all,maximize,layers} --run DIR: figures of a trained run, as PNGs.

    python -m gluon_cnn.viz all --run runs/lenet-book            # 8 PNGs into the run folder
    python -m gluon_cnn.viz maximize --run runs/lenet-book --layer 2 --out conv.png
    python -m gluon_cnn.viz maximize --run runs/lenet-book --layer output --units 0,9 --l1 0.5
    python -m gluon_cnn.viz layers --run runs/lenet-book         # the names --layer accepts
"""
import argparse
import sys

from ..app.terminal import ArgumentParser, run_cli
from ..errors import ConfigError
from . import figures
from .probe import layers, load_run
from .report import maximize_figure, write_all


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(prog='python -m gluon_cnn.viz', description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='command', required=True)
    common = ArgumentParser(add_help=False)
    common.add_argument('--run', required=True, help='a run folder from train.py --out '
                        '(holds model.params and metrics.json)')
    common.add_argument('--steps', type=int, default=200,
                        help='gradient-ascent steps for x* (default 200)')
    common.add_argument('--debug', action='store_true',
                        help='show tracebacks instead of one-line errors')
    a = sub.add_parser('all', parents=[common], help='every figure, as PNGs next to the run')
    a.add_argument('--out-dir', help='where to write the PNGs (default: the run folder)')
    a.add_argument('--image', type=int, default=0,
                   help='test image for the feature maps (default 0)')
    m = sub.add_parser('maximize', parents=[common],
                       help='x* = argmax_x a(x) for the units of one layer')
    m.add_argument('--layer', required=True,
                   help="layer: a path as the tracer prints it (2, or stage.0 in a nested net), "
                        "Gluon's name (conv1), or 'output' for the class scores; see the `layers` "
                        "command")
    m.add_argument('--out', required=True, help='PNG file to write')
    m.add_argument('--units',
                   help='comma-separated unit/channel/class indices (default: the first 16)')
    m.add_argument('--l1', default='0', help='L1 weight(s) on x, comma-separated for one row each '
                   '(default 0; try 0,0.5)')
    m.add_argument('--spatial', choices=['center', 'mean'], default='center',
                   help="conv layers: maximize the centre unit or the channel's mean "
                        "(default center)")
    sub.add_parser('layers', parents=[common], help='list the layer names --layer accepts')
    return p.parse_args(argv)


def _floats(text: str, flag: str) -> list:
    try:
        return [float(v) for v in text.split(',')]
    except ValueError:
        raise ConfigError(f'{flag} {text!r}: expected comma-separated numbers') from None


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: _run(args), debug=args.debug)


def _run(args):
    if args.steps <= 0:
        raise ConfigError(f'--steps must be positive, got {args.steps}')
    if getattr(args, 'image', 0) < 0:
        raise ConfigError(f'--image must be >= 0 (an index into the test set), got {args.image}')
    if args.command == 'all':
        write_all(args.run, args.out_dir, image=args.image, steps=args.steps)
    elif args.command == 'layers':
        for l in layers(load_run(args.run).net):
            print(f'{l.path:16s} {l.name:10s} {type(l.block).__name__}')
    else:
        run = load_run(args.run)
        output = (args.layer in ('output', 'logits')
                  and args.layer not in {l.name for l in layers(run.net)})
        units = [int(u) for u in _floats(args.units, '--units')] if args.units else None
        if units and min(units) < 0:
            raise ConfigError(f'--units {args.units!r}: indices must be >= 0')
        fig = maximize_figure(run, None if output else args.layer, units,
                              l1s=_floats(args.l1, '--l1'), steps=args.steps, spatial=args.spatial)
        print(f'wrote {figures.save(fig, args.out)}')


if __name__ == '__main__':
    sys.exit(main())
