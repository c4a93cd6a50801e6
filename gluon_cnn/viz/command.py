"""python -m gluon_cnn.viz {all,maximize,layers,explain,fool,dream,rf,graph,shift,style}: figures
of a trained run, as PNGs, and the explainer page; `style` needs no run (docs/seeing.md shows
each).

    python -m gluon_cnn.viz all --run runs/lenet-book            # 8 PNGs into the run folder
    python -m gluon_cnn.viz maximize --run runs/lenet-book --layer 2 --out conv.png
    python -m gluon_cnn.viz maximize --run runs/lenet-book --layer output --units 0,sneaker --l1 0.5
    python -m gluon_cnn.viz layers --run runs/lenet-book         # the names --layer accepts
    python -m gluon_cnn.viz explain --run runs/lenet-book --image 7 --out lenet.html
    python -m gluon_cnn.viz fool --run runs/lenet-book --target sneaker --out fool.png
    python -m gluon_cnn.viz fool --run runs/lenet-book --from-image 1 --eps 0.25 --out adv.png
    python -m gluon_cnn.viz dream --run runs/lenet-book --layer 2 --image 0 --out dream.png
    python -m gluon_cnn.viz rf --run runs/lenet-book --layer 3 --unit 2,1 --out rf.png
    python -m gluon_cnn.viz graph --run runs/lenet-book --out graph.png
    python -m gluon_cnn.viz shift --run runs/lenet-book --max 6 --compare runs/lenet-strided \\
        --out shift.png
    python -m gluon_cnn.viz style --content photo.jpg --style painting.jpg --out styled.png

--out is optional everywhere: a figure of a run goes into the run folder by default
(DIR/fool.png, DIR/explain.html, ...), next to the run it explains, as `all` puts its PNGs there;
`style`, which has no run, writes style.png in the current folder. A file that is replaced is
reported as `overwrote`, except the explainer page, which asks for --force.

Classes are given by number (0-9) or by name: t-shirt 0, trouser 1, pullover 2, dress 3, coat 4,
sandal 5, shirt 6, sneaker 7, bag 8, ankle boot 9 (Fashion-MNIST's; case, spaces and hyphens
do not matter: 'Ankle-Boot', tshirt). An MNIST run takes the digits.
"""
import argparse
import math
import re
import sys
from pathlib import Path
from typing import Callable

from ..cli import ArgumentParser, run_cli
from ..data import FASHION_MNIST_LABELS, NUM_CLASSES
from ..durable import check_out_path
from ..errors import ConfigError
from ..runs.load import load_run

__all__ = ['parse_args', 'main', 'parse_class']

# the largest values a flag takes: each bounds a run's cost before it starts
MAX_STEPS = 10_000        # gradient steps (maximize, fool, dream per octave, style)
MAX_IMAGE = 9_999         # test image indices: the test sets have 10,000 images
MAX_SEED = 2 ** 32 - 1    # numpy's RandomState takes 0..2^32-1
MAX_OCTAVES = 5           # 2^4 = 16: no larger factor divides a 28 or 32 pixel image anyway
MAX_UNITS = 64            # x* images in one figure
MAX_SIZE = 1024           # style's H and W: VGG-19 on 1024x1024 is already minutes a step


# ----------------------------------------------------------------------------- flag types
def _int_in(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: an integer in lo..hi, else a usage error naming the range."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'{text!r} is not a whole number') from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f'{value} is outside {lo}-{hi}')
        return value
    parse.__name__ = 'integer'
    return parse


def _float_in(lo: float, hi: float, open_lo: bool = False,
              open_hi: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in the interval lo..hi (open at an end if asked)."""
    left, right = '(' if open_lo else '[', ')' if open_hi else ']'

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'{text!r} is not a number') from None
        if (not math.isfinite(value) or value < lo or value > hi or (open_lo and value == lo)
                or (open_hi and value == hi)):
            raise argparse.ArgumentTypeError(f'{text} is outside {left}{lo:g}, {hi:g}{right}')
        return value
    parse.__name__ = 'number'
    return parse


def _key(name: str) -> str:
    return re.sub(r'[^a-z0-9]', '', name.lower())


# each Fashion-MNIST class by its name without case, spaces or hyphens
_CLASS_NAMES = {_key(name): k for k, name in enumerate(FASHION_MNIST_LABELS)}
CLASS_LIST = ', '.join(f'{k} {name}' for k, name in enumerate(FASHION_MNIST_LABELS))


class ClassIndex(int):
    """A class number; `named` is True when the user gave a Fashion-MNIST name for it."""
    named = False


def parse_class(text: str) -> ClassIndex:
    """'7', 'sneaker', 'Ankle boot', 'ankle-boot', 'tshirt' -> the class number (0-9)."""
    text = text.strip()
    if re.fullmatch(r'[+-]?\d+', text):
        value = int(text)
        if not 0 <= value < NUM_CLASSES:
            raise argparse.ArgumentTypeError(f'class {value} is outside 0-{NUM_CLASSES - 1}')
        return ClassIndex(value)
    if _key(text) not in _CLASS_NAMES:
        raise argparse.ArgumentTypeError(f'{text!r} is no class; give 0-9 or one of '
                                         f'{", ".join(FASHION_MNIST_LABELS)}')
    found = ClassIndex(_CLASS_NAMES[_key(text)])
    found.named = True
    return found


def _units(text: str) -> list:
    """--units: comma-separated indices (classes by name too, for --layer output)."""
    parts = [p for p in text.split(',') if p.strip()]
    if not parts or len(parts) > MAX_UNITS:
        raise argparse.ArgumentTypeError(f'give 1-{MAX_UNITS} comma-separated indices')
    found = []
    for p in parts:
        if re.fullmatch(r'\s*\d+\s*', p):
            found.append(_int_in(0, 100_000)(p))
        else:
            found.append(parse_class(p))  # a name: a class of the output layer
    return found


def _l1s(text: str) -> list:
    parts = text.split(',')
    if len(parts) > 8:
        raise argparse.ArgumentTypeError('give at most 8 weights, one row each')
    return [_float_in(0, 100)(p) for p in parts]


def _pair(lo: int, hi: int, what: str) -> Callable[[str], tuple]:
    def parse(text: str) -> tuple:
        parts = text.split(',')
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(f'expected {what}, got {text!r}')
        return tuple(_int_in(lo, hi)(p.strip()) for p in parts)
    parse.__name__ = what
    return parse
CLASSES_EPILOG = f'classes: {CLASS_LIST} (Fashion-MNIST; names without case or hyphens work too)'


# ----------------------------------------------------------------------------- the parser
def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(prog='python -m gluon_cnn.viz', description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='command', required=True)
    debug = ArgumentParser(add_help=False)
    debug.add_argument('--debug', action='store_true',
                       help='show tracebacks instead of one-line errors')
    common = ArgumentParser(add_help=False, parents=[debug])
    common.add_argument('--run', required=True, help='a run folder from train.py --out '
                        '(holds model.params and metrics.json)')

    def steps(parser, default, what='gradient-ascent steps for x*', lo=1):
        parser.add_argument('--steps', type=_int_in(lo, MAX_STEPS), default=default,
                            help=f'{what} ({lo}-{MAX_STEPS}, default {default})')

    def out(parser, default):
        parser.add_argument('--out', help=f'the PNG file to write (default: {default}); a file '
                            'there is replaced, and the command says so')

    a = sub.add_parser('all', parents=[common], help='every figure, as PNGs next to the run')
    steps(a, 200)
    a.add_argument('--out-dir', help='where to write the PNGs (default: the run folder)')
    a.add_argument('--image', type=_int_in(0, MAX_IMAGE), default=0,
                   help=f'test image for the feature maps (0-{MAX_IMAGE}, default 0)')
    m = sub.add_parser('maximize', parents=[common],
                       help='x* = argmax_x a(x) for the units of one layer', epilog=CLASSES_EPILOG)
    m.add_argument('--layer', required=True,
                   help="layer: a path as the tracer prints it (2, or stage.0 in a nested net), "
                        "Gluon's name (conv1), or 'output' for the class scores; see the `layers` "
                        "command")
    steps(m, 200)
    out(m, 'DIR/maximize.png')
    m.add_argument('--units', type=_units,
                   help=f'comma-separated unit/channel indices, or classes (number or name) for '
                        f'--layer output; at most {MAX_UNITS} (default: the first 16)')
    m.add_argument('--l1', type=_l1s, default=[0.0],
                   help='L1 weight(s) on x in 0-100, comma-separated for one row each (at most 8; '
                        'default 0; try 0,0.5)')
    m.add_argument('--spatial', choices=['center', 'mean'], default='center',
                   help="conv layers: maximize the centre unit or the channel's mean "
                        "(default center)")
    sub.add_parser('layers', parents=[common], help='list the layer names --layer accepts')
    _add_explain(sub, common, steps)
    f = sub.add_parser('fool', parents=[common], epilog=CLASSES_EPILOG,
                       help='an input classified as --target from noise, or the smallest change '
                            'of a test image that flips its class (FGSM, PGD)')
    steps(f, 500, 'gradient steps from noise')
    f.add_argument('--target', type=parse_class, help='class to reach: 0-9 or a name such as '
                   'sneaker (required from noise; with --from-image a targeted attack)')
    f.add_argument('--from-image', type=_int_in(0, MAX_IMAGE),
                   help=f'test image (0-{MAX_IMAGE}) to change instead of starting from noise')
    f.add_argument('--eps', type=_float_in(0, 1, open_lo=True), default=0.25,
                   help='largest L∞ change tried, a fraction of the value range in (0, 1] '
                        '(default 0.25)')
    f.add_argument('--threshold', type=_float_in(0, 1, open_lo=True, open_hi=True), default=0.99,
                   help='softmax to reach from noise, in (0, 1) (default 0.99)')
    f.add_argument('--seed', type=_int_in(0, MAX_SEED), default=0,
                   help=f'noise and PGD start (0-{MAX_SEED}, default 0)')
    out(f, 'DIR/fool.png')
    d = sub.add_parser('dream', parents=[common],
                       help='Deep Dream: raise the energy of one layer from a test image')
    steps(d, 20, 'gradient steps per octave')
    d.add_argument('--layer', required=True, help='layer path or name (see `layers`)')
    d.add_argument('--image', type=_int_in(0, MAX_IMAGE), default=0,
                   help=f'test image to start from (0-{MAX_IMAGE}, default 0)')
    d.add_argument('--octaves', type=_int_in(1, MAX_OCTAVES), default=3,
                   help=f'scales, coarsest 2^(K-1); each must divide the image (1-{MAX_OCTAVES}, '
                        'default 3)')
    d.add_argument('--seed', type=_int_in(0, MAX_SEED), default=0,
                   help=f'jitter seed (0-{MAX_SEED}, default 0)')
    out(d, 'DIR/dream.png')
    r = sub.add_parser('rf', parents=[common],
                       help="one unit's receptive field: the tracer's box and |da/dx|")
    r.add_argument('--layer', required=True, help='a conv or pooling layer (see `layers`)')
    r.add_argument('--unit', required=True, type=_pair(0, 100_000, 'I,J'),
                   help="I,J: the unit's row and column in its maps (0 or more each)")
    r.add_argument('--image', type=_int_in(0, MAX_IMAGE),
                   help=f'one test image (0-{MAX_IMAGE}; default: the mean over 16)')
    out(r, 'DIR/rf.png')
    g = sub.add_parser('graph', parents=[common],
                       help="the run's network drawn by mx.viz.plot_network (needs Graphviz)")
    out(g, 'DIR/graph.png')
    h = sub.add_parser('shift', parents=[common], help='test accuracy against an input shift, and '
                       "each layer's change under a 1-pixel shift (weight sharing and pooling)")
    h.add_argument('--max', type=_int_in(0, 255), default=6,
                   help='largest shift in pixels, less than the image width (default 6)')
    h.add_argument('--compare', metavar='DIR', help='a second run to draw alongside, e.g. one '
                   'trained with --model lenet-strided (no pooling)')
    h.add_argument('--images', type=_int_in(1, MAX_IMAGE + 1), default=1000,
                   help=f'test images for the accuracies (1-{MAX_IMAGE + 1}, default 1000)')
    out(h, 'DIR/shift.png')
    _add_style(sub, debug, out)
    return p.parse_args(argv)


def _add_style(sub, debug, out):
    s = sub.add_parser('style', parents=[debug], help="neural style transfer on Gluon's pretrained "
                       'vgg19 (d2l zh §9.11); needs no run')
    s.add_argument('--content', required=True, help='the content image (PNG or JPEG)')
    s.add_argument('--style', required=True, help='the style image (PNG or JPEG)')
    s.add_argument('--weights', help="model_zoo vgg19's .params file (default: $MXNET_HOME/models, "
                   'downloaded by Gluon if missing)')
    s.add_argument('--steps', type=_int_in(1, MAX_STEPS), default=500,
                   help=f"Adam steps (1-{MAX_STEPS}, default 500, the book's)")
    s.add_argument('--lr', type=_float_in(0, 10, open_lo=True), default=0.01,
                   help="Adam's learning rate in (0, 10], x 0.1 every 200 steps (default 0.01, "
                        "the book's)")
    s.add_argument('--size', type=_pair(32, MAX_SIZE, 'H,W'), default=(150, 225),
                   help=f"H,W the images are resized to, 32-{MAX_SIZE} each (default 150,225, the "
                        "book's)")
    out(s, 'style.png in the current folder')


# ----------------------------------------------------------------------------- running
def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: _run(args), debug=args.debug)


def _run(args):
    if args.command == 'explain':
        return _explain(args)
    if args.command == 'all':
        if args.out_dir:
            check_out_path(Path(args.out_dir) / 'curves.png', '--out-dir')
        from .run_figures import write_all
        write_all(args.run, args.out_dir, image=args.image, steps=args.steps)
        return
    if args.command == 'layers':
        from .probe import layers
        for l in layers(load_run(args.run).net):
            print(f'{l.path:16s} {l.name:10s} {type(l.block).__name__}')
        return
    default = Path(args.run) if args.command != 'style' else Path('.')
    out = check_out_path(args.out or default / f'{args.command}.png', suffixes=('.png',))
    existed = out.exists()
    path = _FIGURES[args.command](args, out)
    print(f"{'overwrote' if existed else 'wrote'} {path}")


def _bar(total: int, desc: str):
    """A progress bar on stderr that counts finished steps (hidden when stderr is no terminal)."""
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, disable=None,
                dynamic_ncols=True, unit='step')


def _progress(total: int, desc: str, draw):
    """draw(tick) under a bar of `total` steps; the bar closes however draw ends."""
    bar = _bar(total, desc)
    try:
        return draw(lambda: bar.update(1))
    finally:
        bar.close()


def _check_dataset(run, *classes):
    """A class given by its Fashion-MNIST name is refused for a run on another dataset."""
    if run.cfg.dataset != 'fashion-mnist' and any(getattr(c, 'named', False) for c in classes):
        raise ConfigError(f'class names are Fashion-MNIST\'s; --run {run.dir} is on '
                          f'{run.cfg.dataset}: give class numbers 0-9')


def _maximize(args, out: Path):
    from .plots import save
    from .probe import layers
    from .run_figures import maximize_figure
    run = load_run(args.run)
    output = (args.layer in ('output', 'logits')
              and args.layer not in {l.name for l in layers(run.net)})
    if args.units and not output and any(getattr(u, 'named', False) for u in args.units):
        raise ConfigError('--units: class names are units of --layer output only')
    _check_dataset(run, *(args.units or ()))
    n = len(args.units or range(16))
    fig = _progress(args.steps * len(args.l1), f'maximize {n} units', lambda tick: maximize_figure(
        run, None if output else args.layer, args.units, l1s=args.l1, steps=args.steps,
        spatial=args.spatial, tick=tick))
    return save(fig, out)


def _fool(args, out: Path):
    from .fooling import attack_figure, fool_figure
    from .plots import save
    run = load_run(args.run)
    _check_dataset(run, args.target)
    if args.from_image is not None:
        span = run.info.value_range[1] - run.info.value_range[0]
        # FGSM tries 32 radii; PGD one attack, then at most 8 halvings (down to eps / 256)
        fig = _progress(32 + 9, 'fool: FGSM and PGD radii', lambda tick: attack_figure(
            run, args.from_image, args.eps * span, args.target, seed=args.seed, tick=tick))
    elif args.target is None:
        raise ConfigError('fool: give --target C (a class 0-9 or name), or --from-image N')
    else:
        fig = _progress(args.steps, f'fool: towards class {args.target}', lambda tick: fool_figure(
            run, args.target, args.threshold, steps=args.steps, seed=args.seed, tick=tick))
    return save(fig, out)


def _dream(args, out: Path):
    from .dream import dream_figure
    from .plots import save
    run = load_run(args.run)
    fig = _progress(args.octaves * args.steps, 'dream', lambda tick: dream_figure(
        run, args.layer, args.image, args.octaves, steps=args.steps, seed=args.seed, tick=tick))
    return save(fig, out)


def _rf(args, out: Path):
    from .fields import rf_figure
    from .plots import save
    return save(rf_figure(load_run(args.run), args.layer, args.unit, args.image), out)


def _graph(args, out: Path):
    from .graph import write_graph
    return write_graph(args.run, out)


def _shift(args, out: Path):
    from .plots import save
    from .shift import shift_figure
    runs = [load_run(args.run)] + ([load_run(args.compare)] if args.compare else [])
    for run in runs:
        width = run.info.data_shape(run.cfg.resize)[-1]
        if args.max >= width:
            raise ConfigError(f'--max {args.max}: the images of {run.dir} are {width} pixels '
                              f'wide; give at most {width - 1}')
    total = len(runs) * 2 * (args.max + 1)
    fig = _progress(total, 'shift: accuracies', lambda tick: shift_figure(
        runs[0], args.max, runs[1] if args.compare else None, args.images, tick=tick))
    return save(fig, out)


def _style(args, out: Path):
    from . import style
    from .plots import save
    content, painting = style.read_image(args.content), style.read_image(args.style)
    layers_used = style.STYLE_LAYERS + style.CONTENT_LAYERS
    net = style.feature_net(style.load_vgg19(args.weights), layers_used)
    result = _progress(args.steps, 'style', lambda tick: style.transfer(
        net, style.preprocess(content, args.size), style.preprocess(painting, args.size),
        steps=args.steps, lr=args.lr, tick=tick))
    h, w = args.size
    fig = style.style_figure(content, painting, result, title=f'style transfer, {args.steps} '
                             f'steps at {h}x{w} (d2l zh §9.11, vgg19)')
    return save(fig, out)


_FIGURES = {'maximize': _maximize, 'fool': _fool, 'dream': _dream, 'rf': _rf, 'graph': _graph,
            'shift': _shift, 'style': _style}


# ----------------------------------------------------------------------------- explain
def _add_explain(sub, common, steps):
    e = sub.add_parser('explain', parents=[common], help='one self-contained HTML page: every '
                       "layer's maps for one image, how each value is computed, a shape "
                       'calculator (works offline from file://)')
    steps(e, 30, 'gradient steps for the class images x*; 0 leaves them out', lo=0)
    e.add_argument('--image', help=f'a test image index (0-{MAX_IMAGE}; default: the first test '
                   'image the net gets right) or a PNG/JPEG file of any size, converted to the '
                   'model input as the page shows')
    e.add_argument('--out', help='the HTML file to write (default: DIR/explain.html)')
    e.add_argument('--force', action='store_true', help='overwrite --out even when it is not '
                   "this run's explainer page (which is replaced without it)")
    e.add_argument('--maps', type=_int_in(1, 256), default=16,
                   help='channels drawn per layer (1-256, default 16)')
    e.add_argument('--screenshot', metavar='PNG',
                   help='also save a PNG of the page as headless Chromium draws it '
                        '(needs selenium, chromium and chromium-driver)')


def _explain(args):
    from .explainer import check_out, explain_run, marker
    out = check_out_path(args.out or Path(args.run) / 'explain.html', suffixes=('.html', '.htm'))
    if args.screenshot:
        check_out_path(args.screenshot, '--screenshot', suffixes=('.png',))
    check_out(out, marker(args.run), args.force)  # refuse before the work, not after it
    page = explain_run(args.run, args.image, steps=args.steps, max_maps=args.maps)
    path, overwrote = page.save(out, force=args.force)
    size = path.stat().st_size
    print(f"{'overwrote' if overwrote else 'wrote'} {path} ({size / 1e6:.2f} MB)")
    if args.screenshot:
        from .browser import screenshot
        print(f'wrote {screenshot(path, args.screenshot)}')

