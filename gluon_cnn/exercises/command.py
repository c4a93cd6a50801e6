"""python -m gluon_cnn.exercises [ID ...] [--train | --all] [--list]: run exercises and print
answers."""
import argparse
import sys
import time

from ..cli import ArgumentParser, run_cli
from ..errors import ConfigError, GluonCNNError
from . import get_exercise, list_exercises, run_exercise, select


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(prog='python -m gluon_cnn.exercises', description=__doc__)
    p.add_argument('ids', nargs='*', help='exercise ids such as 5.3.1, or a section such as 5.3 '
                   'for all of its exercises (default: every quick one)')
    p.add_argument('--train', action='store_true', help='run the exercises that train on real data')
    p.add_argument('--all', action='store_true', help='run every exercise, quick and training')
    p.add_argument('--list', action='store_true', help='list ids, kinds and titles, run nothing')
    p.add_argument('--limit', type=int, help='training exercises: use the first N training images')
    p.add_argument('--epochs', type=int, help='training exercises: epochs per run')
    p.add_argument('--debug', action='store_true',
                   help='show tracebacks instead of one-line errors')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)

    def go():
        for flag, value in (('--limit', args.limit), ('--epochs', args.epochs)):
            if value is not None and value < 1:
                raise ConfigError(f'{flag} must be positive, got {value}')
        if args.list:
            for i in list_exercises():
                e = get_exercise(i)
                print(f"{i:<18} {e.kind + (' ' + e.estimate if e.estimate else ''):<14} {e.title}"
                      + (f'\n{"":<33}run: {e.how}' if e.how else ''))
            return
        chosen = select(args.ids or list_exercises(None if args.all else 'train' if args.train
                                                   else 'quick'))  # unknown ids: before any runs
        overrides = {k: v for k, v in (('limit', args.limit), ('epochs', args.epochs))
                     if v is not None}
        start, failed = time.time(), []
        for e in chosen:
            try:
                run_exercise(e.id, **(overrides if e.kind == 'train' else {}))
            except GluonCNNError as err:  # e.g. no dataset: say so and go on with the others
                if args.debug:
                    raise
                print(f'error in {e.id}: {err}', file=sys.stderr)
                failed.append(e.id)
        if not args.ids and not (args.train or args.all):
            print('\ntraining exercises (real data, not run by default):')
            for i in list_exercises('train'):
                print(f'  python -m gluon_cnn.exercises {i:<8} # '
                      f'{get_exercise(i).title}, {get_exercise(i).estimate}')
            print('  python -m gluon_cnn.exercises --train   # all of them')
        exercises = 'exercise' if len(chosen) == 1 else 'exercises'
        print(f'\n{len(chosen)} {exercises} in {time.time() - start:.1f} s')
        if failed:
            raise GluonCNNError(f"{len(failed)} exercise(s) failed: {', '.join(failed)}")
    return run_cli(go, debug=args.debug)


if __name__ == '__main__':
    sys.exit(main())
