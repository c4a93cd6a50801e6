"""docs/*.md's generated tables: the model registry, and the speeds `make bench` measured.

The registry table is traced (gluon_cnn.trace) at each model's own input size. The speed tables
are rendered from benchmarks/results/*.json, which `make bench` writes on the machine it runs
on; the page names that machine and the date, and a missing file says which command makes it.
"""
import json
import re

from . import section
from ..repo import repo_root

__all__ = ['models_table', 'bench_table', 'bench_rows', 'bench_summary', 'modern_table',
           'goal_line', 'rss_line', 'scale_out_table', 'floors_table', 'notebooks_table']

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
    """Where, how and when a report was measured, with its load average when it has one."""
    return (f"Measured on {r['machine']} by `{r['command'].strip()}` (`make bench`), {r['date']}"
            + _load(r))


def _load(r: dict) -> str:
    # the load average includes the benchmark's own processes: 1-2 on 2 cores is the run alone
    if 'load' not in r:
        return ''
    if 'end_load' not in r:
        return f" (load average {r['load'][0]:.1f})"
    return f" (load average {r['load'][0]:.1f} at the start, {r['end_load'][0]:.1f} at the end)"


# bench_train.py's arms, in table order, and what each row is called
ARM_LABELS = {'ours': 'ours, train.py default (fused operators)',
              'stock': "ours, MXNet's own operators (--no-fast-ops)",
              'd2l': 'd2l train_ch6 + DataLoader', 'plain': 'plain hybridized Gluon',
              'torch': 'PyTorch eager', 'compile': 'PyTorch torch.compile (inductor)'}
# issue 32's goals: train.py's default epoch at least this many times faster than the arm's
GOALS = {'torch': 2.0, 'compile': 1.3, 'd2l': 3.0}


def _medians(results: dict) -> dict:
    import statistics
    return {a: {k: statistics.median(r[k]) for k in ('train', 'epoch', 'eval', 'cpu')}
            for a, r in results.items()}


def bench_rows(r: dict) -> str:
    """bench_train.py's table from its JSON report: medians per arm, images/s against the
    machine's limit (peak FLOP/s over the FLOP one trained image costs), how many times faster
    train.py's default epoch is, test accuracy, peak RSS of one epoch in a child process."""
    med, rss, lim = _medians(r['results']), r['rss'], r['limit']
    limit = lim['peak_flops'] / lim['flop_per_image']
    ours = med.get('ours')
    rows = ['| pipeline | train images/s | of the limit | epoch s | eval images/s | epoch CPU-s | '
            'default vs it (epoch) | test acc | peak RSS MiB |', '|---|' + '--:|' * 8]
    for a in [a for a in ARM_LABELS if a in med]:
        m = med[a]
        ratio = f"{m['epoch'] / ours['epoch']:.2f}x" if ours else '-'
        star = '\\*' if a == 'd2l' else ''  # its 4 DataLoader worker processes are not counted
        mib = f'{rss[a]:,.0f}' if a in rss else '-'
        rows.append(f"| {ARM_LABELS[a]} | {m['train']:,.0f} | {m['train'] / limit:.1%} | "
                    f"{m['epoch']:.2f} | {m['eval']:,.0f} | {m['cpu']:.2f}{star} | {ratio} | "
                    f"{r['results'][a]['acc']:.3f} | {mib} |")
    rows += ['', f"The limit: {limit:,.0f} images/s = {lim['peak_flops'] / 1e9:,.1f} GFLOP/s "
             f"({lim['how']}) / {lim['flop_per_image'] / 1e6:.2f} MFLOP per trained image "
             '(3 x 2 x the conv and dense layers\' multiply-accumulates, traced).']
    return '\n'.join(rows)


def goal_line(results: dict) -> str:
    """train.py's default epoch against each peer, with issue 32's goal beside it."""
    med = _medians(results)
    if 'ours' not in med:
        return ''
    parts = [f"{med[a]['epoch'] / med['ours']['epoch']:.2f}x {ARM_LABELS[a]}"
             + (f' (goal {GOALS[a]:g}x)' if a in GOALS else '')
             for a in ARM_LABELS if a in med and a != 'ours']
    return f"train.py's default epoch is {', '.join(parts)}: median epoch times of one run."


def rss_line(rss: dict) -> str:
    if 'make train --no-fast-ops' not in rss:
        return ''
    return (f"Peak RSS of `make train`'s command (train.py, 1 epoch): "
            f"{rss['make train']:,.0f} MiB with the fused default, "
            f"{rss['make train --no-fast-ops']:,.0f} MiB with --no-fast-ops.")


@section('performance-bench')
def bench_table() -> str:
    r = _bench('bench_train')
    if r is None:
        return 'Not measured yet: run `make bench` (it writes benchmarks/results/bench_train.json).'
    if 'limit' not in r:  # a report from before the limit and the torch.compile arm
        return '\n'.join([r['table'], '', f"{_measured(r)}; {r['versions']}."])
    return '\n'.join([bench_rows(r), '', goal_line(r['results']), '',
                      f"{_measured(r)}; {r['versions']}; "
                      f"{r['settings']}. \\* not counting the 4 DataLoader worker processes. "
                      + rss_line(r['rss'])])


@section('performance-summary')
def bench_summary() -> str:
    """README's short table: each arm's epoch and images/s, and how many times faster
    train.py's default is, from the same report as docs/performance.md's."""
    r = _bench('bench_train')
    if r is None or 'limit' not in r:
        return 'Not measured yet: run `make bench` (it writes benchmarks/results/bench_train.json).'
    med = _medians(r['results'])
    rows = ['| pipeline | s/epoch | train images/s | train.py default vs it | goal |',
            '|---|--:|--:|--:|--:|']
    for a in [a for a in ARM_LABELS if a in med]:
        goal = f'{GOALS[a]:g}x' if a in GOALS else ''
        rows.append(f"| {ARM_LABELS[a]} | {med[a]['epoch']:.2f} | {med[a]['train']:,.0f} | "
                    f"{med[a]['epoch'] / med['ours']['epoch']:.2f}x | {goal} |")
    return '\n'.join(rows + ['', f"`lenet-en`, batch 256, one process, arms interleaved. "
                              f"{_measured(r)}. "
                              + rss_line(r['rss']) + ' Details: docs/performance.md.'])


@section('performance-modern')
def modern_table() -> str:
    r = _bench('bench_modern')
    if r is None:
        return ('Not measured yet: run `make bench` (it writes '
                'benchmarks/results/bench_modern.json).')
    return '\n'.join([r['table'], '', f"{_measured(r)}; "
                      f"{r['title']}."])


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
