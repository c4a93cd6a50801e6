"""Print the layer-by-layer trace of a registry model.

    python -m gluon_cnn.trace lenet                      # its natural input, (1, 1, 28, 28)
    python -m gluon_cnn.trace lenet --input 1,1,32,32
    python -m gluon_cnn.trace resnet18 --depth 2         # fold deeper blocks into one row each
    python -m gluon_cnn.trace lenet --explain            # each layer's output-size formula
    python -m gluon_cnn.trace lenet --markdown           # for papers/ and README
"""
import argparse
import sys

from ..app.terminal import ArgumentParser, run_cli
from ..errors import ConfigError
from ..models import get_model, list_models, model_info
from . import trace


MIN_WIDTH = 40  # the narrowest table that still has room for a layer's name


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(prog='python -m gluon_cnn.trace', description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('model', help=f"registry name: {', '.join(list_models())}")
    p.add_argument('--input', help='input shape with the batch, comma-separated, e.g. 1,1,28,28 '
                   '(default: the model\'s natural input)')
    p.add_argument('--depth', type=int, help='show nested blocks down to this level (default: all)')
    p.add_argument('--width', type=int, default=100, help='table width in columns (default 100)')
    p.add_argument('--explain', action='store_true', help='show under each conv, pooling and '
                   'flattening Dense how its output size comes about (d2l zh §5.2)')
    p.add_argument('--markdown', action='store_true', help='print a markdown table instead')
    p.add_argument('--debug', action='store_true',
                   help='show tracebacks instead of one-line errors')
    return p.parse_args(argv)


def parse_shape(text: str) -> tuple:
    """'1,1,28,28' -> (1, 1, 28, 28); anything else is a ConfigError."""
    try:
        shape = tuple(int(v) for v in text.replace('x', ',').split(','))
    except ValueError:
        raise ConfigError(f'--input {text!r}: give comma-separated sizes like 1,1,28,28') from None
    if not shape or any(v <= 0 for v in shape):
        raise ConfigError(f'--input {text!r}: sizes must be positive, like 1,1,28,28')
    return shape


def main(argv=None) -> int:
    args = parse_args(argv)

    def run():
        if args.width < MIN_WIDTH:
            raise ConfigError(f'--width must be at least {MIN_WIDTH} columns, got {args.width}')
        if args.depth is not None and args.depth < 1:
            raise ConfigError(f'--depth must be at least 1 (the net\'s children), got '
                              f'{args.depth}')
        net = get_model(args.model)
        shape = parse_shape(args.input) if args.input else model_info(args.model).input_shape
        t = trace(net, shape, depth=args.depth, explain=args.explain)
        t.title = f'{args.model} ({t.title})'  # the registry name says more than the class
        print(t.to_markdown() if args.markdown else t.to_text(args.width))
    return run_cli(run, debug=args.debug)


if __name__ == '__main__':
    sys.exit(main())
