"""docs/*.md's generated tables: the model registry, and the speeds `make bench` measured.

The registry table is traced (gluon_cnn.trace) at each model's own input size. The speed tables
are rendered from benchmarks/results/*.json, which `make bench` writes on the machine it runs
on; the page names that machine and the date, and a missing file says which command makes it.
"""
import json
import re

from . import section
from ..repo import repo_root

__all__ = ['models_table', 'bench_table', 'scale_out_table', 'floors_table', 'notebooks_table']

_TEST_ACC = re.compile(r'test acc ([\d.]+)')


@section('models')
def models_table() -> str:
    from ..models import get_model, list_models, model_info
    from ..trace import trace  # imports mxnet: only when rendering
    lines = ['| name | source | input | trainable params | MACs / image | what |',
             '|---|---|---|--:|--:|---|']
    for name in list_models():
        info = model_info(name)
        t = trace(get_model(name), info.input_shape)
        what = ' '.join((info.build.__doc__ or '').split()).split('. ')[0].rstrip('.') + '.'
        side = 'x'.join(str(d) for d in info.input_shape[1:])
        lines.append(f'| `{name}` | {info.source} | {side} | {t.trainable_params:,} | '
                     f'{t.total_macs / 1e6:,.2f}M | {what} |')
    lines += ['', 'Traced by `gluon_cnn.trace` at each model\'s input size (batch of 1); MACs: '
              "multiply-accumulates with weights, fvcore's convention (docs/tracing.md)."]
    return '\n'.join(lines)


def _bench(name: str):
    path = repo_root() / 'benchmarks' / 'results' / f'{name}.json'
    return json.loads(path.read_text()) if path.is_file() else None


def _measured(r: dict) -> str:
    return (f"Measured on {r['machine']} by `{r['command'].strip()}` (`make bench`), {r['date']}; "
            'the machine was shared with other jobs')


@section('performance-bench')
def bench_table() -> str:
    r = _bench('bench_train')
    if r is None:
        return 'Not measured yet: run `make bench` (it writes benchmarks/results/bench_train.json).'
    return '\n'.join([r['table'], '', *_fast_ops_line(r['results']),
                      f"{_measured(r)} (load average {r['load'][0]:.1f} at the "
                      f"start, {r['end_load'][0]:.1f} at the end); {r['versions']}; "
                      f"{r['settings']}. \\* not counting the 4 DataLoader worker processes. "
                      f"Peak RSS of `make train`'s command (train.py, 1 epoch): "
                      f"{r['rss'].get('make train', float('nan')):,.0f} MiB."])


def _fast_ops_line(results: dict) -> list:
    """One sentence: the --fast-ops arm's epoch against PyTorch's and the book pipeline's (the
    goals of the fused operators: 1.3x and 2.5x), when the run had those arms."""
    import statistics
    if 'fast' not in results:
        return []
    epoch = {name: statistics.median(r['epoch']) for name, r in results.items()}
    vs = [f'{epoch[name] / epoch["fast"]:.2f}x {label}' for name, label in
          (('torch', 'PyTorch eager'), ('d2l', "the book's pipeline"), ('ours', 'ours without it'))
          if name in epoch]
    return [f"With `--fast-ops` an epoch is {', '.join(vs)} (median epoch times of the same "
            'run).', '']


@section('scale-out')
def scale_out_table() -> str:
    r = _bench('scale_out')
    if r is None:
        return 'Not measured yet: run `make bench` (it writes benchmarks/results/scale_out.json).'
    return '\n'.join([r['table'], '', f"{_measured(r)}: {r['title']}."])


@section('floors')
def floors_table() -> str:
    """tests/test_layers.py's FLOORS, read from the test (the list the test enforces)."""
    import ast
    test = repo_root() / 'tests' / 'test_layers.py'
    tree = ast.parse(test.read_text())
    floors = next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                  and getattr(node.targets[0], 'id', '') == 'FLOORS')
    package = repo_root() / 'gluon_cnn'
    lines = ['| floor | step | folders and modules of gluon_cnn/ |', '|---|--:|---|']
    for name, steps in reversed(floors):
        for j, tops in reversed(list(enumerate(steps))):
            parts = [f'`{t}/`' if (package / t).is_dir() else f'`{t}.py`' for t in tops]
            lines.append(f"| {name} | {j} | {', '.join(parts)} |")
    return '\n'.join(lines + ['', 'Top to bottom; each folder imports only from the rows below '
                              'it: a lower floor, or an earlier step of its own floor; folders '
                              'of one row are peers, never a cycle (tests/test_layers.py).'])


@section('notebooks')
def notebooks_table() -> str:
    """Each notebook of notebooks/ and the last test accuracy its committed outputs print (saved
    executed by `make notebooks`; CI reruns them with `make notebooks-check`)."""
    folder = repo_root() / 'notebooks'
    lines = ['| notebook | ends at test acc |', '|---|--:|']
    for path in sorted(folder.glob('*.ipynb')):
        found = []
        for cell in json.loads(path.read_text()).get('cells', []):
            for out in cell.get('outputs', []):
                text = out.get('text') or out.get('data', {}).get('text/plain', '')
                found += _TEST_ACC.findall(''.join(text) if isinstance(text, list) else text)
        acc = found[-1] if found else '(trains nothing)'
        lines.append(f'| [{path.stem}](notebooks/{path.name}) | {acc} |')
    return '\n'.join(lines + ['', 'The last `test acc` each saved notebook prints; chance is '
                              '0.1.'])
