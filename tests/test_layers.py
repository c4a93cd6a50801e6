"""The package's floors are its folders (docs/development.md, "Layers"): each folder imports only
from its own floor or the floors below, and no two modules import each other in a cycle. Read
from the source with ast, so that a new upward import fails here before it tangles the design.

A package's `__main__` is a command, so it sits on the application floor whatever its folder.
"""
import ast
from pathlib import Path

import gluon_cnn

PACKAGE = Path(gluon_cnn.__file__).parent

# bottom to top: the top-level folders and modules of gluon_cnn/ on each floor
FLOORS = [
    ('ground', ['errors', 'mx', 'data', 'shapes', 'ops']),
    ('library', ['models', 'trace', 'training', 'runs', 'viz']),
    ('application', ['app', 'book', 'book2', 'exercises', 'papers', 'sweep', 'topics', 'launch']),
]
FLOOR = {top: i for i, (_, tops) in enumerate(FLOORS) for top in tops}
APPLICATION = len(FLOORS) - 1


def floor(module: str) -> int:
    """The floor of 'gluon_cnn.<top>...' by its top-level folder or module."""
    parts = module.split('.')
    if parts[-1] == '__main__':
        return APPLICATION
    top = parts[1]
    assert top in FLOOR, f'{module}: gluon_cnn/{top} is on no floor; add it to FLOORS'
    return FLOOR[top]


def imports(path: Path, package: str) -> set:
    """The gluon_cnn modules that the file at `path`, in `package`, imports."""
    deps = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split('.')[:len(package.split('.')) - node.level + 1]
            if node.module:
                deps.add('.'.join(base + [node.module]))
            else:  # from . import a, b: each name may be a module
                deps.update('.'.join(base + [a.name]) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or '').startswith('gluon_cnn.'):
            deps.add(node.module)
        elif isinstance(node, ast.Import):
            deps.update(a.name for a in node.names if a.name.startswith('gluon_cnn.'))
    return {d for d in deps if d != 'gluon_cnn'}


def modules() -> dict:
    """{module name: set of gluon_cnn modules it imports}, for every module of the package."""
    graph = {}
    for path in sorted(PACKAGE.rglob('*.py')):
        parts = ('gluon_cnn',) + path.with_suffix('').relative_to(PACKAGE).parts
        name = '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)
        package = name if path.name == '__init__.py' else name.rsplit('.', 1)[0]
        graph[name] = imports(path, package)
    return graph


def upward_imports(graph: dict) -> list:
    """'a (floor) imports b (floor)' for every import of a higher floor."""
    return [f'{m} ({FLOORS[floor(m)][0]}) imports {d} ({FLOORS[floor(d)][0]})'
            for m, deps in graph.items() if m != 'gluon_cnn'
            for d in sorted(deps) if floor(d) > floor(m)]


def cycles(graph: dict) -> list:
    """Import cycles between modules (a package's __init__ importing its own modules is none)."""
    graph = {m: {d if d in graph else d.rsplit('.', 1)[0] for d in deps} for m, deps in
             graph.items()}
    state, found = {}, []

    def visit(m, path):
        state[m] = 'open'
        for d in graph.get(m, ()):
            if d == m or d == 'gluon_cnn' or m.startswith(d + '.') or d not in graph:
                continue  # a subpackage's own __init__ is its parent, not a cycle
            if state.get(d) == 'open':
                found.append(path + [d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = 'done'

    for m in graph:
        if m not in state:
            visit(m, [m])
    return found


def test_every_module_imports_only_downward():
    assert upward_imports(modules()) == []


def test_no_import_cycles_between_modules():
    assert cycles(modules()) == []


def test_every_folder_is_on_a_floor():
    tops = {p.stem for p in PACKAGE.iterdir()
            if (p.suffix == '.py' and p.stem != '__init__') or (p / '__init__.py').is_file()}
    assert tops == set(FLOOR)


def test_the_checker_sees_an_upward_import_and_a_cycle():
    graph = {'gluon_cnn.data.idx': {'gluon_cnn.app.run'},        # ground importing the app
             'gluon_cnn.app.run': {'gluon_cnn.data.idx'},
             'gluon_cnn.viz.__main__': {'gluon_cnn.app.terminal'},  # a command may
             'gluon_cnn.app.terminal': set()}
    assert upward_imports(graph) == [
        'gluon_cnn.data.idx (ground) imports gluon_cnn.app.run (application)']
    assert cycles(graph) == [['gluon_cnn.data.idx', 'gluon_cnn.app.run', 'gluon_cnn.data.idx']]


def test_the_checker_reads_relative_imports(tmp_path):
    source = tmp_path / 'engine.py'
    source.write_text('from ..app import run\nfrom . import parallel\nfrom .. import data as d\n')
    assert imports(source, 'gluon_cnn.training') == {
        'gluon_cnn.app', 'gluon_cnn.training.parallel', 'gluon_cnn.data'}
