"""python -m gluon_cnn.papers [--check]: regenerate the tables of papers/*.md, docs/*.md and
README.md from code."""
import argparse
import sys

from . import update

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--check', action='store_true', help='change nothing; exit 1 if a note is stale')
    args = p.parse_args()
    stale = update(check=args.check)
    for path in stale:
        print(f"{'stale' if args.check else 'updated'}: {path}")
    sys.exit(1 if args.check and stale else 0)
