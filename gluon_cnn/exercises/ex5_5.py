"""d2l zh §5.5 (LeNet), exercise 1: a better LeNet, by a sweep. The sweep trains for minutes per
row, so this exercise shows the rows and their commands (`gluon_cnn.sweep`) and where the
results table is (the papers/ note that names exercise 5.5.1, papers/d2l-ch5.md)."""
import re

from ..repo import papers_dir
from ._registry import Answer, exercise


def sweep_note():
    """The papers/ note that holds the 5.5.1 sweep table, or None while it is not written."""
    for path in sorted(papers_dir().glob('*.md')):
        if re.search(r'\b5\.5\.1\b', path.read_text()):
            return path
    return None


@exercise('5.5.1', 'a better LeNet: window, channels, activation, widths, lr, init, epochs',
          how='python -m gluon_cnn.sweep   '
              '(one row: --row NAME; the best: python train.py --preset best)')
def better_lenet(log=print) -> Answer:
    from .. import sweep  # the sweep's rows: one train.py command each
    log('each row changes the book\'s LeNet in one or two ways and trains on all of Fashion-MNIST:')
    for row in sweep.ROWS:
        log(f'  {row.name:<14} {sweep.command(row)}')
    log('run them all: python -m gluon_cnn.sweep   (one: python -m gluon_cnn.sweep --row relu)')
    note = sweep_note()
    where = ('the table with every row\'s result and command: '
             f'{note.relative_to(papers_dir().parent)}'
             if note else 'the results table is not in papers/ yet')
    log(where)
    return Answer(f'{len(sweep.ROWS)} sweep rows, best: python train.py --preset best; {where}',
                  {'rows': [r.name for r in sweep.ROWS], 'note': str(note) if note else None})
