"""python -m gluon_cnn.book2: run the 2nd edition's MXNet cells, or extract them from the book.

    python -m gluon_cnn.book2 list en                    # the sections and their cell counts
    python -m gluon_cnn.book2 run en 7.6 --quick         # §7.6 as printed, training cut short
    python -m gluon_cnn.book2 run zh all --quick         # every section of the Chinese 2nd ed.
    python -m gluon_cnn.book2 extract en --git d2l-en/.git   # rewrite cells/en.json from a clone
"""
import argparse
import json
import sys
import time
from pathlib import Path

from ..cli import ArgumentParser, run_cli
from ..durable import write_text_atomic
from ..errors import ConfigError
from . import extract, quick, sections

LICENCES = {
    'en': 'sample code of d2l-en: modified MIT licence (LICENSE-SAMPLECODE); text CC BY-SA 4.0',
    'zh': 'd2l-zh: Apache License 2.0 (LICENSE)',
}


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(prog='python -m gluon_cnn.book2', description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='command', required=True)
    ls = sub.add_parser('list', help='the sections of an edition')
    ls.add_argument('edition', choices=sorted(extract.BOOKS))
    run = sub.add_parser('run', help='run sections in a Jupyter kernel, as printed')
    run.add_argument('edition', choices=sorted(extract.BOOKS))
    run.add_argument('number', help="a section number such as 7.6, or 'all'")
    run.add_argument('--quick', action='store_true', help=f'cut training short ({quick.ENV}=1)')
    ex = sub.add_parser('extract', help='rewrite cells/EDITION.json from a git clone of the book')
    ex.add_argument('edition', choices=sorted(extract.BOOKS))
    ex.add_argument('--git', required=True, type=Path, help='the clone\'s git directory')
    ex.add_argument('--ref', help='the commit or tag to read (default: the edition\'s)')
    p.add_argument('--debug', action='store_true', help='show tracebacks')
    return p.parse_args(argv)


def write_cells(edition: str, git_dir: Path, ref: str) -> Path:
    book = extract.BOOKS[edition]
    record = {'repository': f'https://github.com/{book.repo}', 'ref': ref,
              'commit': extract.commit_of(git_dir, ref), 'licence': LICENCES[edition],
              'extracted_by': 'python -m gluon_cnn.book2 extract (d2lbook tab rules)',
              'sections': [s._asdict() for s in extract.sections(git_dir, book, ref)]}
    path = sections.CELLS / f'{edition}.json'
    return write_text_atomic(path, json.dumps(record, ensure_ascii=False, indent=1) + '\n')


def main(argv=None) -> int:
    args = parse_args(argv)

    def run():
        if args.command == 'extract':
            print(write_cells(args.edition, args.git, args.ref or extract.BOOKS[args.edition].ref))
        elif args.command == 'list':
            for s in sections.load_sections(args.edition):
                print(f'{s.number:5} {len(s.cells):3} cells  {s.path}  {s.title}')
        else:
            chosen = [s for s in sections.load_sections(args.edition) if s.cells and (
                args.number == 'all' or s.number == args.number)]
            if not chosen:
                raise ConfigError(f'{args.edition} has no section {args.number} with code '
                                  f'(python -m gluon_cnn.book2 list {args.edition})')
            for s in chosen:
                t0 = time.perf_counter()
                sections.run_section(s, env={quick.ENV: '1'} if args.quick else None)
                print(f'§{s.number} {s.title}: {len(s.cells)} cells ran in '
                      f'{time.perf_counter() - t0:.0f} s')
    return run_cli(run, debug=args.debug)


if __name__ == '__main__':
    sys.exit(main())
