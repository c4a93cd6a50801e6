"""python -m gluon_cnn.papers [--check]: regenerate the tables of papers/*.md, docs/*.md and
README.md from code."""
import sys

from ..cli import ArgumentParser, run_cli
from . import update


def main(argv=None) -> int:
    p = ArgumentParser(prog='python -m gluon_cnn.papers', description=__doc__)
    p.add_argument('--check', action='store_true', help='change nothing; exit 1 if a note is stale')
    p.add_argument('--debug', action='store_true',
                   help='show tracebacks instead of one-line errors')
    args = p.parse_args(argv)
    stale = []

    def go():
        stale.extend(update(check=args.check))
        for path in stale:
            print(f"{'stale' if args.check else 'updated'}: {path}")
    code = run_cli(go, debug=args.debug)
    return code or (1 if args.check and stale else 0)


if __name__ == '__main__':
    sys.exit(main())
