"""The package's layers (README, Development): each module imports only from its own layer or the
layers below it, and the application layer has no import cycles. Read from the source with ast,
so a new upward import fails here before it tangles the design."""
import ast
from pathlib import Path

import gluon_cnn

PACKAGE = Path(gluon_cnn.__file__).parent

# bottom to top; a module is in the layer of its longest matching prefix
LAYERS = [
    ('foundation', ['errors', 'fileio', 'compat', 'internals', 'paths', 'cli']),
    ('primitives', ['shapes', 'devices', 'data', 'augment', 'recipe', 'progress', 'config',
                    'scratch', 'convmat', 'widen', 'parallel', 'models', 'viz.figures']),
    ('analysis', ['trace', 'runrecord', 'checkpoint']),
    ('engine', ['engine']),
    ('application', ['run', 'launch', 'train_cli', 'book', 'viz', 'sweep', 'papers', 'exercises',
                     'topics']),
]
RANK = {prefix: i for i, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes}


def layer(module: str) -> int:
    """The layer index of 'gluon_cnn.a.b' by its longest listed prefix ('a.b', then 'a')."""
    parts = module.split('.')[1:]
    for n in range(len(parts), 0, -1):
        if '.'.join(parts[:n]) in RANK:
            return RANK['.'.join(parts[:n])]
    raise AssertionError(f'{module} is in no layer: add it to LAYERS in tests/test_layers.py')


def modules() -> dict:
    """{module name: set of gluon_cnn modules it imports}, for every module of the package."""
    graph = {}
    for path in sorted(PACKAGE.rglob('*.py')):
        parts = ('gluon_cnn',) + path.with_suffix('').relative_to(PACKAGE).parts
        name = '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)
        package = name if path.name == '__init__.py' else name.rsplit('.', 1)[0]
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
        graph[name] = {d for d in deps if d != 'gluon_cnn'}
    return graph


def test_every_module_imports_only_downward():
    upward = [f'{m} ({LAYERS[layer(m)][0]}) imports {d} ({LAYERS[layer(d)][0]})'
              for m, deps in modules().items() if m != 'gluon_cnn'
              for d in sorted(deps) if layer(d) > layer(m)]
    assert upward == []


def test_no_import_cycles_between_modules():
    graph = modules()
    graph = {m: {d for d in deps if d in graph or d.rsplit('.', 1)[0] in graph} for m, deps in
             graph.items()}
    state, cycles = {}, []

    def visit(m, path):
        state[m] = 'open'
        for d in graph.get(m, ()):
            d = d if d in graph else d.rsplit('.', 1)[0]
            if d == m or d == 'gluon_cnn' or m.startswith(d + '.'):
                continue  # a subpackage's own __init__ is its parent, not a cycle
            if state.get(d) == 'open':
                cycles.append(path + [d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = 'done'

    for m in graph:
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_the_layer_test_sees_an_upward_import():
    # the checker itself: engine importing run would be caught
    assert layer('gluon_cnn.engine') < layer('gluon_cnn.run')
    assert layer('gluon_cnn.viz.figures') < layer('gluon_cnn.viz.probe')
