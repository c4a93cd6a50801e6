"""Print the layer-by-layer trace of a registry model, a run's model, or your own net.

    python -m gluon_cnn.trace lenet                      # its natural input, (1, 1, 28, 28)
    python -m gluon_cnn.trace runs/lenet-20261130-143240 # the run's model at the size it trained
    python -m gluon_cnn.trace mynet.py:build --input 1,1,28,28   # build() in your file
    python -m gluon_cnn.trace mypackage.nets:small_cnn   # a module importable from here
    python -m gluon_cnn.trace lenet --input 1,1,32,32
    python -m gluon_cnn.trace resnet18 --depth 2         # fold deeper blocks into one row each
    python -m gluon_cnn.trace lenet --explain            # each layer's output-size formula
    python -m gluon_cnn.trace lenet --markdown           # for papers/ and README
"""
import argparse
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from ..cli import ArgumentParser, run_cli
from ..errors import ConfigError
from ..models import get_model, list_models, model_info
from ..runs.record import METRICS_FILE, read_record
from . import trace

DEFAULT_INPUT = (1, 1, 28, 28)  # a net of your own: Fashion-MNIST's shape unless --input says


MIN_WIDTH = 40  # the narrowest table that still has room for a layer's name


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(prog='python -m gluon_cnn.trace', description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('model', help=f"a registry name ({', '.join(list_models())}), a run folder "
                   f"(its recorded model and --model-kwargs), or MODULE:FUNCTION, a function in "
                   f"your file (path/to/file.py:build) or in a module importable from the current "
                   f"folder that returns the net")
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


def resolve(spec: str):
    """(net, natural input shape, title) for a registry name, a run folder or MODULE:FUNCTION."""
    if spec in list_models():
        return get_model(spec), model_info(spec).input_shape, spec
    if Path(spec, METRICS_FILE).is_file():
        cfg = read_record(spec).config  # the net as the run built it, at the size it was fed
        return (get_model(cfg.model, **cfg.model_kwargs), model_info(cfg.model).data_shape(
            cfg.resize), f'{cfg.model} of {spec}')
    if ':' in spec:
        return _constructed(spec), DEFAULT_INPUT, spec
    if Path(spec).is_dir():
        raise ConfigError(f'{spec} is a folder without {METRICS_FILE}: not a run folder '
                          f'(train.py --out writes one)')
    model_info(spec)  # an unknown name: the registry's one line, listing the valid ones
    raise AssertionError('unreachable')


def _constructed(spec: str):
    """Call the function of 'module:function' or 'path/to/file.py:function'; returns its net."""
    where, _, name = spec.rpartition(':')
    if where.endswith('.py') or '/' in where:
        path = Path(where)
        if not path.is_file():
            raise ConfigError(f'{spec}: no file {where}')
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.path.insert(0, str(path.resolve().parent))  # its own imports of its neighbours
        try:
            module_spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(path.resolve().parent))
    else:
        sys.path.insert(0, '')  # `python -m` already has the current folder; an entry point not
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as e:
            raise ConfigError(f'{spec}: cannot import {where} ({e}); run from the folder that '
                              f'holds it, or give its path, e.g. path/to/{where}.py:{name}') \
                from None
        finally:
            sys.path.remove('')
    build = getattr(module, name, None)
    if not callable(build):
        raise ConfigError(f'{spec}: {where} has no function {name!r}')
    try:
        inspect.signature(build).bind()
    except TypeError as e:
        raise ConfigError(f'{spec}: trace calls {name}() without arguments, and it needs some '
                          f'({e}); wrap it in a function that takes none') from None
    except ValueError:  # a builtin without a signature: try it
        pass
    net = build()
    if not hasattr(net, 'collect_params'):
        raise ConfigError(f'{spec}: {name}() returned {type(net).__name__}, not a Gluon Block')
    return net


def main(argv=None) -> int:
    args = parse_args(argv)

    def run():
        if args.width < MIN_WIDTH:
            raise ConfigError(f'--width must be at least {MIN_WIDTH} columns, got {args.width}')
        if args.depth is not None and args.depth < 1:
            raise ConfigError(f'--depth must be at least 1 (the net\'s children), got '
                              f'{args.depth}')
        net, natural, title = resolve(args.model)
        shape = parse_shape(args.input) if args.input else natural
        t = trace(net, shape, depth=args.depth, explain=args.explain)
        t.title = f'{title} ({t.title})'  # the registry name says more than the class
        print(t.to_markdown() if args.markdown else t.to_text(args.width))
    return run_cli(run, debug=args.debug)


if __name__ == '__main__':
    sys.exit(main())
