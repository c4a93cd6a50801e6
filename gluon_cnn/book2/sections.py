"""The book's MXNet cells, section by section: read from gluon_cnn/book2/cells/ and run in a
Jupyter kernel (nbclient), as a reader runs the section's notebook top to bottom.

cells/en.json and cells/zh.json are what gluon_cnn.book2.extract reads from d2l-ai/d2l-en at
v1.0.3 and d2l-ai/d2l-zh's master (each file names its repository, commit and licence): the
book's sample code, copied unchanged, so that CI runs the real book without internet.
"""
import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..errors import ConfigError, GluonCNNError
from .extract import Section

__all__ = ['CELLS', 'load_sections', 'section', 'notebook', 'run_section', 'printed',
           'SectionFailed']

CELLS = Path(__file__).resolve().parent / 'cells'
CELL_TIMEOUT = 900  # seconds; a full (not quick) training section on a CPU takes minutes


class SectionFailed(GluonCNNError):
    """A book cell raised: which section, which cell, and the error's last line."""

    def __init__(self, number: str, cell: int, error: str):
        super().__init__(f'§{number}, cell {cell}: {error}')
        self.number, self.cell, self.error = number, cell, error


def load_sections(edition: str) -> List[Section]:
    """Every section of one edition ('en' or 'zh') with its MXNet cells."""
    path = CELLS / f'{edition}.json'
    if not path.is_file():
        raise ConfigError(f'no edition {edition!r}: give en (d2l en v1.0.3) or zh (d2l zh 2nd ed.)')
    record = json.loads(path.read_text(encoding='utf-8'))
    return [Section(s['number'], s['path'], s['title'], s['cells']) for s in record['sections']]


def section(edition: str, number: str) -> Section:
    """One section by its number, e.g. section('en', '7.6')."""
    found = {s.number: s for s in load_sections(edition)}
    if number not in found:
        raise ConfigError(f'{edition} has no section {number}; its sections are '
                          f'{", ".join(found)}')
    return found[number]


def notebook(cells: Sequence[str]):
    """A notebook of code cells, in order."""
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3',
                                 'language': 'python'}
    return nb


def run_section(sec: Section, before: Sequence[str] = (), after: Sequence[str] = (),
                env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None):
    """Run `before`, the section's cells, then `after` in a fresh kernel of this interpreter;
    returns the executed notebook. A failing book cell is a SectionFailed.
    env: variables added to this process's for the kernel (GLUON_CNN_BOOK_QUICK, say)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    nb = notebook([*before, *sec.cells, *after])
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name='python3',
                            resources={'metadata': {'path': str(cwd or Path.cwd())}})
    try:
        client.execute(env={**os.environ, **(env or {})})
    except CellExecutionError as e:
        index = next(i for i, c in enumerate(nb.cells)
                     if any(o.get('output_type') == 'error' for o in c.get('outputs', [])))
        raise SectionFailed(sec.number, index - len(before) + 1,
                            f'{e.ename}: {e.evalue}'.splitlines()[0][:300]) from None
    return nb


def printed(cell) -> str:
    """What a cell printed (its stream outputs)."""
    return ''.join(o.get('text', '') for o in cell.get('outputs', [])
                   if o.get('output_type') == 'stream' and o.get('name') == 'stdout')
