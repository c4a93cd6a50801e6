"""The package's floors are its folders (docs/development.md, "Layers"): each folder imports only
from the folders below it, in the order FLOORS lists them, and no two modules or folders import
each other in a cycle. Read from the source with ast, so that a new upward import fails here
before it tangles the design.

A folder's `__main__` is a thin shim over its own folder's command module, so it stands where its
folder stands: a `__main__` that imported a higher folder would make its folder import upward.
"""
import ast
from pathlib import Path

import gluon_cnn

PACKAGE = Path(gluon_cnn.__file__).parent

# bottom to top: the top-level folders and modules of gluon_cnn/ on each floor. On the ground and
# application floors the folders are independent peers; the library floor is in its order, each
# folder importing only those listed before it (training knows no run folders, trace no viz).
FLOORS = [
    ('ground', [['errors', 'cli', 'repo', 'durable', 'backend', 'data', 'shapes', 'ops']]),
    ('library', [['models'], ['training'], ['runs'], ['trace'], ['viz']]),
    ('application', [['app', 'launch'], ['sweep'], ['papers'],
                     ['book', 'book2', 'exercises', 'design_choices']]),
]
# each top-level name's (floor, step): an import must go to a lower floor, or to an earlier step
# of the same floor, or stay in its own folder; peers in one step are checked for cycles below
PLACE = {top: (i, j) for i, (_, steps) in enumerate(FLOORS) for j, tops in enumerate(steps)
         for top in tops}
FLOOR = {top: place[0] for top, place in PLACE.items()}


def top(module: str) -> str:
    return module.split('.')[1]


def place(module: str) -> tuple:
    """(floor, step) of 'gluon_cnn.<top>...' by its top-level folder or module, `__main__` too."""
    name = top(module)
    assert name in PLACE, f'{module}: gluon_cnn/{name} is on no floor; add it to FLOORS'
    return PLACE[name]


def floor(module: str) -> int:
    return place(module)[0]


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
    """'a (floor) imports b (floor)' for every import of a higher floor, or of a later folder of
    the same floor's order."""
    def where(m):
        return FLOORS[floor(m)][0] + ('' if place(m)[1] == 0 else f' step {place(m)[1]}')
    return [f'{m} ({where(m)}) imports {d} ({where(d)})'
            for m, deps in graph.items() if m != 'gluon_cnn'
            for d in sorted(deps) if top(d) != top(m) and place(d) > place(m)]


def folder_cycles(graph: dict) -> list:
    """Cycles between top-level folders (peers of one step may import each other, not both
    ways round)."""
    folders = {}
    for m, deps in graph.items():
        if m != 'gluon_cnn':
            folders.setdefault(top(m), set()).update(top(d) for d in deps if top(d) != top(m))
    return cycles({f'gluon_cnn.{f}': {f'gluon_cnn.{d}' for d in ds} for f, ds in folders.items()})


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


def test_no_import_cycles_between_folders():
    assert folder_cycles(modules()) == []


def test_every_folder_is_on_a_floor():
    tops = {p.stem for p in PACKAGE.iterdir()
            if (p.suffix == '.py' and p.stem != '__init__') or (p / '__init__.py').is_file()}
    assert tops == set(FLOOR)


def test_the_checker_sees_an_upward_import_and_a_cycle():
    graph = {'gluon_cnn.data.idx': {'gluon_cnn.app.run'},        # ground importing the app
             'gluon_cnn.app.run': {'gluon_cnn.data.idx'},
             'gluon_cnn.viz.__main__': {'gluon_cnn.cli'},      # a command over the ground: fine
             'gluon_cnn.cli': set()}
    assert upward_imports(graph) == [
        'gluon_cnn.data.idx (ground) imports gluon_cnn.app.run (application)']
    assert cycles(graph) == [['gluon_cnn.data.idx', 'gluon_cnn.app.run', 'gluon_cnn.data.idx']]


def test_the_checker_sees_a_main_that_imports_upward():
    """A folder's command may not reach up: trace's __main__ importing the app is refused."""
    graph = {'gluon_cnn.trace.__main__': {'gluon_cnn.app.run', 'gluon_cnn.trace.command'},
             'gluon_cnn.trace.command': {'gluon_cnn.cli'}, 'gluon_cnn.app.run': set(),
             'gluon_cnn.cli': set()}
    assert upward_imports(graph) == [
        'gluon_cnn.trace.__main__ (library step 3) imports gluon_cnn.app.run (application)']


def test_the_checker_sees_the_library_order_and_a_folder_cycle():
    graph = {'gluon_cnn.training.engine': {'gluon_cnn.runs.config'},  # training under runs
             'gluon_cnn.runs.config': set(),
             'gluon_cnn.sweep': {'gluon_cnn.papers.paths'},           # a cycle of two folders,
             'gluon_cnn.papers.paths': set(),                         # through other modules
             'gluon_cnn.papers.sweep_table': {'gluon_cnn.sweep'}}
    assert upward_imports(graph) == [
        'gluon_cnn.training.engine (library step 1) imports gluon_cnn.runs.config (library step 2)',
        'gluon_cnn.sweep (application step 1) imports gluon_cnn.papers.paths '
        '(application step 2)']
    assert cycles(graph) == []
    assert folder_cycles(graph) == [['gluon_cnn.sweep', 'gluon_cnn.papers', 'gluon_cnn.sweep']]


def test_the_checker_reads_relative_imports(tmp_path):
    source = tmp_path / 'engine.py'
    source.write_text('from ..app import run\nfrom . import parallel\nfrom .. import data as d\n')
    assert imports(source, 'gluon_cnn.training') == {
        'gluon_cnn.app', 'gluon_cnn.training.parallel', 'gluon_cnn.data'}
