"""The generated parts of papers/*.md, docs/*.md, README.md and benchmarks/README.md: tables come
from code, never typed by hand.

A note marks each generated block as

    <!-- BEGIN generated: NAME -->
    ...
    <!-- END generated: NAME -->

and `python -m gluon_cnn.papers` (or `make papers`) rewrites every block from `SECTIONS[NAME]()`.
`--check` changes nothing and exits 1 when a note is stale; tests/test_papers.py runs it.
Result tables that need long training are rendered from the metrics.json files committed under
papers/results/ by the command each table names, so they too are regenerated, not typed.
"""
import re
from pathlib import Path

from ..durable import write_text_atomic
from ..repo import papers_dir, repo_root, results_dir
from ..runs.record import RunRecord, read_record

__all__ = ['SECTIONS', 'section', 'render', 'update', 'load_result', 'has_result',
           'rerun_command', 'pages']

SECTIONS = {}  # name -> function returning the block's markdown
_BLOCK = re.compile(r'(<!-- BEGIN generated: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)'
                    r'(<!-- END generated: (?P=name) -->)',
                    re.S)


def section(name: str):
    """Register the decorated function as the generator of block `name`."""
    def register(fn):
        assert name not in SECTIONS, f'duplicate generated section {name}'
        SECTIONS[name] = fn
        return fn
    return register


def render(text: str) -> str:
    """`text` with every generated block rewritten from its generator."""
    def fill(m):
        if m['name'] not in SECTIONS:
            raise KeyError(f"no generator for section {m['name']!r}")
        return m.group(1) + SECTIONS[m['name']]().rstrip('\n') + '\n' + m.group(4)
    return _BLOCK.sub(fill, text)


def pages() -> list:
    """The pages with generated blocks: papers/*.md, docs/*.md, README.md, benchmarks/README.md."""
    root = repo_root()
    return sorted(papers_dir().glob('*.md')) + sorted((root / 'docs').glob('*.md')) + \
        [root / 'README.md', root / 'benchmarks' / 'README.md']


def update(check: bool = False, folder: Path = None) -> list:
    """Rewrite (or with check=True only compare) every page (or every page in `folder`); returns
    the stale ones."""
    _load_generators()
    stale = []
    for path in (sorted(folder.glob('*.md')) if folder else pages()):
        old = path.read_text()
        new = render(old)
        if new != old:
            stale.append(path)
            if not check:
                write_text_atomic(path, new)
    return stale


def load_result(name: str) -> RunRecord:
    """A committed run record, papers/results/NAME.json."""
    return read_record(results_dir() / f'{name}.json')


def has_result(name: str) -> bool:
    return (results_dir() / f'{name}.json').is_file()


def rerun_command(record: RunRecord, target=None) -> str:
    """The record's command as it reruns today, checked against the row's `target` accuracy.

    A preset's epochs may have changed since the record was made, so an epoch count the preset no
    longer implies is spelled out; `--target-acc` makes the command fail (exit 3) when it falls
    short of the row's claim.
    """
    from ..runs.config import PRESETS, TrainConfig
    command = record.extra['command']
    preset = re.search(r'--preset (\S+)', command)
    if preset and '--epochs' not in command and preset[1] in PRESETS:
        if TrainConfig(**PRESETS[preset[1]]).epochs != len(record.history):
            command += f' --epochs {len(record.history)}'
    return command + (f' --target-acc {target:g}' if target else '')


def _load_generators():
    # Importing the note modules registers their sections (one module per note).
    import importlib
    import pkgutil
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith('_'):
            importlib.import_module(f'{__name__}.{mod.name}')
