"""Work d2l zh §5.2's output-size formula backwards: which windows map one size to another.

    python -m gluon_cnn.shapes solve 32 28                 # 5x5, no padding, stride 1 first
    python -m gluon_cnn.shapes solve 224 55 --max-kernel 11
    python -m gluon_cnn.shapes solve 4 28 --transpose --max-kernel 16   # upsampling (FCN)
"""
import argparse
import sys

from ..cli import ArgumentParser, run_cli
from ..errors import ConfigError
from . import out_size_formula, solve, solve_transposed, transposed_out_size_formula


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(prog='python -m gluon_cnn.shapes', description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='command', required=True)
    s = sub.add_parser('solve', help='every (kernel, padding, stride) that maps N_IN to N_OUT')
    s.add_argument('n_in', help='input height or width, e.g. 32')
    s.add_argument('n_out', help='wanted output height or width, e.g. 28')
    s.add_argument('--max-kernel', default='11', help='largest kernel to try (default 11)')
    s.add_argument('--max-stride', default='4', help='largest stride to try (default 4)')
    s.add_argument('--transpose', action='store_true',
                   help='a transposed convolution (Conv2DTranspose): every (kernel, padding, '
                        'stride, output_padding) with (N_IN - 1)s - 2p + k + output_padding '
                        '= N_OUT')
    p.add_argument('--debug', action='store_true',
                   help='show tracebacks instead of one-line errors')
    return p.parse_args(argv)


MAX_TRIES = 2_000_000  # about two seconds of solve(); the search is quadratic in --max-kernel


def _positive(name: str, text: str) -> int:
    """A positive int from the command line, else a ConfigError that says what to give."""
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise ConfigError(f'{name} must be a positive integer like 28, not {text!r}')
    return v


def main(argv=None) -> int:
    args = parse_args(argv)

    def run():
        n_in, n_out = _positive('N_IN', args.n_in), _positive('N_OUT', args.n_out)
        max_k = _positive('--max-kernel', args.max_kernel)
        max_s = _positive('--max-stride', args.max_stride)
        tries = max_s * max_k * (max_k + 1) // 2  # the (kernel, padding, stride) triples tried
        if tries > MAX_TRIES:
            biggest = int(((8 * MAX_TRIES / max_s + 1) ** 0.5 - 1) / 2)
            raise ConfigError(f'--max-kernel {max_k} with --max-stride {max_s} would try '
                              f'{tries:,} windows, over the {MAX_TRIES:,} this answers in '
                              f'seconds; pass --max-kernel {biggest} or less (or a smaller '
                              f'--max-stride)')
        found = (solve_transposed if args.transpose else solve)(
            n_in, n_out, max_kernel=max_k, max_stride=max_s)
        kind = 'transposed kernel' if args.transpose else 'kernel'
        if not found:
            raise ConfigError(f'no {kind} <= {max_k} and stride <= {max_s} maps {n_in} to '
                              f'{n_out}; try a larger --max-kernel or --max-stride')
        print(f'{len(found)} ways to map {n_in} to {n_out} (padding per side, as Gluon takes it):')
        if args.transpose:
            print(f"{'kernel':>6}  {'padding':>7}  {'stride':>6}  {'output_padding':>14}  "
                  'formula (Dumoulin & Visin 2016)')
            for k, p, s, a in found:
                holes = '   (k < s: some outputs get no input)' if k < s else ''
                print(f'{k:>6}  {p:>7}  {s:>6}  {a:>14}  '
                      f'{transposed_out_size_formula(n_in, k, 2 * p, s, 1, a)}{holes}')
            return
        print(f"{'kernel':>6}  {'padding':>7}  {'stride':>6}  formula (d2l zh §5.2)")
        for k, p, s in found:
            print(f'{k:>6}  {p:>7}  {s:>6}  {out_size_formula(n_in, k, 2 * p, s)}')
    return run_cli(run, debug=args.debug)


if __name__ == '__main__':
    sys.exit(main())
