"""The MXNet code cells of the 2nd edition's CNN chapters, read from a checkout of the book by
d2lbook's own tab rules (d2l-ai/d2l-book, d2lbook/notebook.py: get_tab_notebook,
_clean_if_branches; Apache-2.0).

- A code cell is a ```{.python .input ...} fence of the chapter's markdown.
- Its tabs are named by a `%%tab a, b` or `#@tab a, b` line; a cell without one belongs to the
  book's default tab, the first of config.ini's `tabs`: pytorch in d2l-en, mxnet in d2l-zh. So
  an English cell runs under MXNet only when tagged, a Chinese one when untagged or tagged.
  `all` is every tab; the cell that loads d2lbook.tab is dropped.
- The tab line is removed, and inside a cell `if tab.selected(...)` branches are resolved: a
  branch naming mxnet is kept, one level de-indented; any other is dropped.

Nothing is executed here. tests/book2/ holds what this extracts from d2l-en v1.0.3 and d2l-zh
(regenerate with `python -m gluon_cnn.book2 extract`).
"""
import configparser
import re
import subprocess
from pathlib import Path
from typing import Dict, List, NamedTuple

__all__ = ['BOOKS', 'Book', 'code_cells', 'mxnet_cells', 'default_tab', 'Section', 'sections']

FENCE = re.compile(r'^```\{\.python \.input[^}]*\}[ \t]*\n(.*?)^```[ \t]*$', re.M | re.S)
TAB_LINE = re.compile(r'(?:# *@tab|%%tab) +([\w, ]+)')  # d2lbook.common's two source patterns
TOC = re.compile(r'^```toc\n(.*?)^```', re.M | re.S)
TAB = 'mxnet'


class Book(NamedTuple):
    """One edition: its repository, the ref tested, and its CNN chapters' folders and numbers."""
    repo: str
    ref: str
    chapters: Dict[str, int]


BOOKS = {
    'en': Book('d2l-ai/d2l-en', 'v1.0.3', {'chapter_convolutional-neural-networks': 7,
                                           'chapter_convolutional-modern': 8}),
    'zh': Book('d2l-ai/d2l-zh', 'master', {'chapter_convolutional-neural-networks': 6,
                                           'chapter_convolutional-modern': 7}),
}


def cell_tabs(source: str, default: str) -> List[str]:
    """The tabs a code cell belongs to (d2lbook.notebook.get_cell_tab)."""
    match = TAB_LINE.search(source)
    return [t.strip() for t in match[1].split(',')] if match else [default]


def clean_if_branches(lines: List[str], tab: str = TAB) -> List[str]:
    """Keep the `if tab.selected(...)` branches that name `tab`, de-indented by 4; drop the
    others (d2lbook.notebook._clean_if_branches, the same line tests)."""
    mark = 'tab.selected'
    mode, indent, kept = 0, 0, []  # mode 1: in a matching branch, 2: in another, 0: outside
    for line in lines:
        if 'if' in line and mark in line:
            mode = 1 if f'"{tab}"' in line or f"'{tab}'" in line else 2
            indent = len(line) - len(line.lstrip())
            continue
        if mode and line.strip() and len(line) - len(line.lstrip()) <= indent:
            mode = 0
        if mode == 0:
            kept.append(line)
        elif mode == 1:
            kept.append(line[4:])
    return kept


def code_cells(markdown: str) -> List[str]:
    """Every code cell's source, in order."""
    return [m[1].rstrip('\n') for m in FENCE.finditer(markdown)]


def mxnet_cells(markdown: str, default: str) -> List[str]:
    """The cells d2lbook would put in the section's MXNet notebook, as it would write them."""
    cells = []
    for source in code_cells(markdown):
        tabs = cell_tabs(source, default)
        if not (tabs == ['all'] or TAB in tabs) or '%load_ext d2lbook.tab' in source:
            continue
        lines = [line for line in source.split('\n') if not TAB_LINE.search(line)]
        cells.append('\n'.join(clean_if_branches(lines)).strip('\n'))
    return [cell for cell in cells if cell.strip()]


def default_tab(config_ini: str) -> str:
    """The first of [build] tabs in the book's config.ini (d2lbook.config.Config.default_tab)."""
    config = configparser.ConfigParser()
    config.read_string(config_ini)
    return config['build']['tabs'].split(',')[0].strip().lower()


class Section(NamedTuple):
    number: str        # '7.6'
    path: str          # 'chapter_convolutional-neural-networks/lenet.md'
    title: str         # the first '# ' heading
    cells: List[str]


def _title(markdown: str) -> str:
    match = re.search(r'^# (.+)$', markdown, re.M)
    return match[1].strip() if match else ''


def sections(git_dir: Path, book: Book, ref: str) -> List[Section]:
    """Every section of the book's CNN chapters at `ref` of a git directory (a bare mirror is
    enough), numbered in its chapter's toc order."""
    def show(path: str) -> str:
        return subprocess.run(['git', '--git-dir', str(git_dir), 'show', f'{ref}:{path}'],
                              capture_output=True, text=True, check=True).stdout
    default = default_tab(show('config.ini'))
    found = []
    for folder, chapter in book.chapters.items():
        toc = TOC.search(show(f'{folder}/index.md'))[1]
        names = [line.strip() for line in toc.splitlines()
                 if line.strip() and not line.startswith(':')]
        for i, name in enumerate(names, 1):
            text = show(f'{folder}/{name}.md')
            found.append(Section(f'{chapter}.{i}', f'{folder}/{name}.md', _title(text),
                                 mxnet_cells(text, default)))
    return found


def commit_of(git_dir: Path, ref: str) -> str:
    return subprocess.run(['git', '--git-dir', str(git_dir), 'rev-parse', f'{ref}^{{commit}}'],
                          capture_output=True, text=True, check=True).stdout.strip()
