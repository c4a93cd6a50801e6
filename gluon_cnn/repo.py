"""Where the repository's own folders are: found, not guessed.

The package is run from a clone of the repository (`pip install -e .`, as `make` does). The
repository root is the nearest folder above this package that holds both `setup.cfg` and
`papers/`; an installed copy without the repository has none, and says so.
"""
from pathlib import Path

from .errors import ConfigError

__all__ = ['repo_root', 'papers_dir', 'results_dir']


def repo_root() -> Path:
    here = Path(__file__).resolve().parent
    for folder in here.parents:
        if (folder / 'setup.cfg').is_file() and (folder / 'papers').is_dir():
            return folder
    raise ConfigError(f'no gluon-cnn repository above {here}: papers/ lives in a clone of the '
                      'repository (install with `pip install -e .` from it)')


def papers_dir() -> Path:
    return repo_root() / 'papers'


def results_dir() -> Path:
    """papers/results/: the committed run records that papers/ tables are rendered from."""
    return papers_dir() / 'results'
