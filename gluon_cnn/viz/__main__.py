"""python -m gluon_cnn.viz {all,maximize,layers,explain,fool,dream,rf,graph,shift} --run DIR:
figures of a trained run, as PNGs, and the explainer page; `style` needs no run (docs/seeing.md
shows each).

    python -m gluon_cnn.viz all --run runs/lenet-book            # 8 PNGs into the run folder
    python -m gluon_cnn.viz maximize --run runs/lenet-book --layer 2 --out conv.png
    python -m gluon_cnn.viz maximize --run runs/lenet-book --layer output --units 0,9 --l1 0.5
    python -m gluon_cnn.viz layers --run runs/lenet-book         # the names --layer accepts
    python -m gluon_cnn.viz explain --run runs/lenet-book --image 7 --out lenet.html
    python -m gluon_cnn.viz fool --run runs/lenet-book --target 1 --out fool.png
    python -m gluon_cnn.viz fool --run runs/lenet-book --from-image 0 --eps 0.25 --out adv.png
    python -m gluon_cnn.viz dream --run runs/lenet-book --layer 2 --image 0 --out dream.png
    python -m gluon_cnn.viz rf --run runs/lenet-book --layer 3 --unit 2,1 --out rf.png
    python -m gluon_cnn.viz graph --run runs/lenet-book --out graph.png
    python -m gluon_cnn.viz shift --run runs/lenet-book --max 6 --compare runs/lenet-strided \
        --out shift.png
    python -m gluon_cnn.viz style --content photo.jpg --style painting.jpg --out styled.png
"""
import argparse
import sys

from ..cli import ArgumentParser, run_cli
from ..errors import ConfigError
from . import figures, seeing, style
from .graph import write_graph
from .probe import layers, load_run
from .report import maximize_figure, write_all
from .shift import shift_figure


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
    _add_explain(sub, common)
    f = sub.add_parser('fool', parents=[common],
                       help='an input classified as --target from noise, or the smallest change '
                            'of a test image that flips its class (FGSM, PGD)')
    f.add_argument('--target', type=int, help='class index to reach (required from noise; with '
                   '--from-image a targeted attack)')
    f.add_argument('--from-image', type=int, help='test image to change instead of noise')
    f.add_argument('--eps', type=float, default=0.25, help='largest L∞ change tried, in pixel '
                   'units of the value range (default 0.25)')
    f.add_argument('--threshold', type=float, default=0.99,
                   help='softmax to reach from noise (default 0.99)')
    f.add_argument('--seed', type=int, default=0, help='noise and PGD start (default 0)')
    f.add_argument('--out', required=True, help='PNG file to write')
    d = sub.add_parser('dream', parents=[common],
                       help='Deep Dream: raise the energy of one layer from a test image')
    d.add_argument('--layer', required=True, help='layer path or name (see `layers`)')
    d.add_argument('--image', type=int, default=0, help='test image to start from (default 0)')
    d.add_argument('--octaves', type=int, default=3, help='scales, coarsest 2^(K-1) (default 3)')
    d.add_argument('--seed', type=int, default=0, help='jitter seed (default 0)')
    d.add_argument('--out', required=True, help='PNG file to write')
    r = sub.add_parser('rf', parents=[common],
                       help="one unit's receptive field: the tracer's box and |da/dx|")
    r.add_argument('--layer', required=True, help='a conv or pooling layer (see `layers`)')
    r.add_argument('--unit', required=True, help='I,J: the unit\'s row and column in its maps')
    r.add_argument('--image', type=int, help='one test image (default: the mean over 16)')
    r.add_argument('--out', required=True, help='PNG file to write')
    g = sub.add_parser('graph', parents=[common],
                       help="the run's network drawn by mx.viz.plot_network (needs Graphviz)")
    g.add_argument('--out', required=True, help='PNG file to write')
    h = sub.add_parser('shift', parents=[common], help='test accuracy against an input shift, and '
                       "each layer's change under a 1-pixel shift (weight sharing and pooling)")
    h.add_argument('--max', type=int, default=6, help='largest shift in pixels (default 6)')
    h.add_argument('--compare', metavar='DIR', help='a second run to draw alongside, e.g. one '
                   'trained with --model lenet-strided (no pooling)')
    h.add_argument('--images', type=int, default=1000,
                   help='test images for the accuracies (default 1000)')
    h.add_argument('--out', required=True, help='PNG file to write')
    _add_style(sub)
    return p.parse_args(argv)


def _add_style(sub):
    s = sub.add_parser('style', help="neural style transfer on Gluon's pretrained vgg19 "
                       '(d2l zh §9.11); needs no run')
    s.add_argument('--content', required=True, help='the content image (PNG or JPEG)')
    s.add_argument('--style', required=True, help='the style image (PNG or JPEG)')
    s.add_argument('--weights', help="model_zoo vgg19's .params file (default: $MXNET_HOME/models, "
                   'downloaded by Gluon if missing)')
    s.add_argument('--steps', type=int, default=500, help="Adam steps (default 500, the book's)")
    s.add_argument('--lr', type=float, default=0.01, help="Adam's learning rate, x 0.1 every 200 "
                   "steps (default 0.01, the book's)")
    s.add_argument('--size', default='150,225', help="H,W the images are resized to (default "
                   "150,225, the book's)")
    s.add_argument('--out', required=True, help='PNG file to write')
    s.add_argument('--debug', action='store_true',
                   help='show tracebacks instead of one-line errors')


def _floats(text: str, flag: str) -> list:
    try:
        return [float(v) for v in text.split(',')]
    except ValueError:
        raise ConfigError(f'{flag} {text!r}: expected comma-separated numbers') from None


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: _run(args), debug=args.debug)


def _run(args):
    if args.command == 'explain':  # --steps 0 is allowed there: no class images
        return _explain(args)
    if args.steps <= 0:
        raise ConfigError(f'--steps must be positive, got {args.steps}')
    if (getattr(args, 'image', None) or 0) < 0:  # rf's --image may be None: the mean of 16
        raise ConfigError(f'--image must be >= 0 (an index into the test set), got {args.image}')
    if args.command == 'all':
        write_all(args.run, args.out_dir, image=args.image, steps=args.steps)
    elif args.command == 'layers':
        for l in layers(load_run(args.run).net):
            print(f'{l.path:16s} {l.name:10s} {type(l.block).__name__}')
    elif args.command in _SEEING:
        path = _SEEING[args.command](args)
        print(f'wrote {path}')
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


# ----------------------------------------------------------------------------- explain
def _add_explain(sub, common):
    e = sub.add_parser('explain', parents=[common], help='one self-contained HTML page: every '
                       "layer's maps for one image, how each value is computed, a shape "
                       'calculator (works offline from file://)')
    # x* of the classes: enough to see a shape, and fast (fewer on a large net: 10 s at most)
    e.set_defaults(steps=30)
    e.epilog = '--steps here: 30 by default; 0 leaves the class images out'
    e.add_argument('--image', help='a test image index (default: the first test image the net '
                   'gets right) or a PNG/JPEG file of any size, converted to the model input as '
                   'the page shows')
    e.add_argument('--out', help='the HTML file to write (default: DIR/explain.html)')
    e.add_argument('--force', action='store_true', help='overwrite --out even when it is not '
                   "this run's explainer page (which is replaced without it)")
    e.add_argument('--maps', type=int, default=16,
                   help='channels drawn per layer (default 16)')
    e.add_argument('--screenshot', metavar='PNG',
                   help='also save a PNG of the page as headless Chromium draws it '
                        '(needs selenium, chromium and chromium-driver)')


def _explain(args):
    from pathlib import Path

    from .explainer import check_out, explain_run, marker
    if args.steps < 0 or args.maps <= 0:
        raise ConfigError('--steps must be >= 0 and --maps positive')
    out = Path(args.out) if args.out else Path(args.run) / 'explain.html'
    check_out(out, marker(args.run), args.force)  # refuse before the work, not after it
    page = explain_run(args.run, args.image, steps=args.steps, max_maps=args.maps)
    path, overwrote = page.save(out, force=args.force)
    size = path.stat().st_size
    print(f"{'overwrote' if overwrote else 'wrote'} {path} ({size / 1e6:.2f} MB)")
    if args.screenshot:
        from .browser import screenshot
        print(f'wrote {screenshot(path, args.screenshot)}')
def _fool(args):
    run = load_run(args.run)
    if args.from_image is not None:
        if not 0 < args.eps <= 1:
            raise ConfigError(f'--eps {args.eps}: give a radius in (0, 1] of the value range')
        span = run.info.value_range[1] - run.info.value_range[0]
        fig = seeing.attack_figure(run, args.from_image, args.eps * span, args.target,
                                   seed=args.seed)
    elif args.target is None:
        raise ConfigError('fool: give --target C (a class index), or --from-image N; see --help')
    else:
        fig = seeing.fool_figure(run, args.target, args.threshold, steps=max(args.steps, 500),
                                 seed=args.seed)
    return figures.save(fig, args.out)


def _unit(text: str) -> tuple:
    parts = text.split(',')
    if len(parts) != 2 or not all(p.strip().lstrip('-').isdigit() for p in parts):
        raise ConfigError(f'--unit {text!r}: expected I,J such as 2,1')
    return int(parts[0]), int(parts[1])


def _shift(args):
    if args.max < 0 or args.images <= 0:
        raise ConfigError(f'--max {args.max} --images {args.images}: give --max >= 0 and '
                          '--images > 0')
    compare = load_run(args.compare) if args.compare else None
    return figures.save(shift_figure(load_run(args.run), args.max, compare, args.images), args.out)


def _style(args):
    size = [int(v) for v in _floats(args.size, '--size')]
    if len(size) != 2 or min(size) < 32:
        raise ConfigError(f'--size {args.size}: expected H,W of at least 32 pixels each')
    content, painting = style.read_image(args.content), style.read_image(args.style)
    layers_used = style.STYLE_LAYERS + style.CONTENT_LAYERS
    net = style.feature_net(style.load_vgg19(args.weights), layers_used)
    result = style.transfer(net, style.preprocess(content, size), style.preprocess(painting, size),
                            steps=args.steps, lr=args.lr, log=lambda m: print(m, file=sys.stderr))
    fig = style.style_figure(content, painting, result, title=f'style transfer, {args.steps} '
                             f'steps at {size[0]}x{size[1]} (d2l zh §9.11, vgg19)')
    return figures.save(fig, args.out)


_SEEING = {
    'fool': _fool,
    'shift': _shift,
    'style': _style,
    'dream': lambda a: figures.save(seeing.dream_figure(
        load_run(a.run), a.layer, a.image, a.octaves, steps=min(a.steps, 50), seed=a.seed), a.out),
    'rf': lambda a: figures.save(seeing.rf_figure(load_run(a.run), a.layer, _unit(a.unit),
                                                  a.image), a.out),
    'graph': lambda a: write_graph(a.run, a.out),
}


if __name__ == '__main__':
    sys.exit(main())
