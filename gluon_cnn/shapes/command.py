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


def tries(max_kernel: int, max_stride: int, transpose: bool) -> int:
    """How many windows a search tries: every (kernel, padding < kernel, stride) and, for a
    transposed conv, every output_padding below the stride too."""
    strides = max_stride * (max_stride + 1) // 2 if transpose else max_stride
    return strides * max_kernel * (max_kernel + 1) // 2


def _largest(bound: int, fits) -> int:
    """The largest v in 1..bound with fits(v) (fits falls as v grows), 0 if none."""
    lo, hi = 0, bound
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


def _too_costly(max_k: int, max_s: int, transpose: bool) -> str:
    """The refusal of a search over MAX_TRIES, advising limits that fit (and are accepted)."""
    n = tries(max_k, max_s, transpose)
    k = _largest(max_k, lambda v: tries(v, max_s, transpose) <= MAX_TRIES)
    s = _largest(max_s, lambda v: tries(max_k, v, transpose) <= MAX_TRIES)
    if k:
        advice = f'pass --max-kernel {k} or less (or a smaller --max-stride)'
    elif s:
        advice = f'pass --max-stride {s} or less'
    else:
        k = min(max_k, 11)
        advice = (f'pass --max-kernel {k} --max-stride '
                  f'{_largest(max_s, lambda v: tries(k, v, transpose) <= MAX_TRIES)} or less')
    windows = 'windows (with their output_padding)' if transpose else 'windows'
    return (f'--max-kernel {max_k} with --max-stride {max_s} would try {n:,} {windows}, over the '
            f'{MAX_TRIES:,} this answers in seconds; {advice}')


def _reaching(n_in: int, n_out: int, transpose: bool, max_k: int, max_s: int):
    """The cheapest (max_kernel, max_stride), at least the given ones, under which a window maps
    n_in to n_out (no padding, the smallest kernel per stride); None if none fits MAX_TRIES."""
    best = None
    for s in range(1, n_in + n_out + 1):
        for a in range(s):  # the output_padding, or the rows a stride leaves over
            k = n_out - (n_in - 1) * s - a if transpose else n_in - (n_out - 1) * s - a
            if k < 1:
                continue
            # the user's limits where they are affordable, else just large enough for (k, s)
            fits = [lim for lim in ((max(k, max_k), max(s, max_s)), (max(k, max_k), s), (k, s))
                    if tries(*lim, transpose) <= MAX_TRIES]
            if fits and (best is None or tries(*fits[0], transpose) < tries(*best, transpose)):
                best = fits[0]
    return best


def _no_window(n_in: int, n_out: int, transpose: bool, max_k: int, max_s: int) -> str:
    """Why nothing maps n_in to n_out, and flags that do (tried before they are advised)."""
    kind = 'transposed kernel' if transpose else 'kernel'
    said = f'no {kind} <= {max_k} and stride <= {max_s} maps {n_in} to {n_out}'
    for flip in (False, True):  # the same kind first; else the other (a growing size: upsample)
        kind_now = transpose != flip
        limits = _reaching(n_in, n_out, kind_now, max_k, max_s)
        if limits is None or not (solve_transposed if kind_now else solve)(
                n_in, n_out, max_kernel=limits[0], max_stride=limits[1]):
            continue
        flags = [f'--max-kernel {limits[0]}'] * (limits[0] != max_k) + \
            [f'--max-stride {limits[1]}'] * (limits[1] != max_s)
        if flip and kind_now:
            return (f'{said} (a transposed convolution grows a size); try '
                    f'{" ".join(["--transpose"] + flags)}')
        if flip:
            return (f'{said} (a convolution shrinks a size); drop --transpose'
                    + (f' and try {" ".join(flags)}' if flags else ''))
        return f'{said}; try {" ".join(flags)}'
    return f'{said}, nor within {MAX_TRIES:,} windows of any other'


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
        if tries(max_k, max_s, args.transpose) > MAX_TRIES:
            raise ConfigError(_too_costly(max_k, max_s, args.transpose))
        found = (solve_transposed if args.transpose else solve)(
            n_in, n_out, max_kernel=max_k, max_stride=max_s)
        if not found:
            raise ConfigError(_no_window(n_in, n_out, args.transpose, max_k, max_s))
        ways = f'{len(found)} way' + 's' * (len(found) != 1)
        print(f'{ways} to map {n_in} to {n_out} (padding per side, as Gluon takes it):')
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
