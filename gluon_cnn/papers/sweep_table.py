"""papers/d2l-ch5.md, "Exercise 5.5.1: a better LeNet": the sweep table of gluon_cnn.sweep.

Rendered from papers/results/sweep-<row>.json (and best.json for the last row), written by
`python -m gluon_cnn.sweep` and `python train.py --preset best`; rows not run yet say so.
"""
from . import has_result, load_result, section
from .. import sweep

# row -> the test accuracy its command must reach (`--target-acc`): the best entry under 100k
# parameters of the public Fashion-MNIST benchmark, which `--preset best` claims to beat. The other
# rows explore and claim nothing.
TARGETS = {'best': 0.925}

__all__ = ['sweep_table']


def _cell(x, fmt):
    return fmt.format(x) if x is not None else '-'


@section('ex-5.5.1-sweep')
def sweep_table() -> str:
    lines = ['| row | change from the book | trainable params | MACs | epochs | test acc | '
             'target | train acc | sec/epoch | command |',
             '|---|---|--:|--:|--:|--:|--:|--:|--:|---|']
    hardware = set()
    for row in sweep.ROWS:
        name = sweep.result_name(row)
        target = TARGETS.get(row.name)
        cmd = f"`{sweep.command(row)}{f' --target-acc {target:g}' if target else ''}`"
        params, macs = sweep.model_cost(sweep.config(row))
        params = f'{params:,} | {macs / 1e6:.2f}M'
        if not has_result(name):
            lines.append(f'| {row.name} | {row.change} | {params} | - | not run yet | '
                         f"{target or '-'} | - | - | {cmd} |")
            continue
        result = load_result(name)
        last = result.history[-1]
        secs = sum(e['seconds'] for e in result.history) / len(result.history)
        hardware.add(result.extra.get('hardware', '?'))
        lines.append(f"| {row.name} | {row.change} | {params} | {last['epoch']} | "
                     f"{_cell(last['test_acc'], '{:.3f}')} | {target or '-'} | "
                     f"{_cell(last['train_acc'], '{:.3f}')} | "
                     f"{secs:.1f} | {cmd} |")
    lines.append('')
    where = '; '.join(sorted(hardware)) or '-'
    lines.append('MACs: multiply-accumulates with weights per 28x28 image (gluon_cnn.trace, '
                 "fvcore's convention). "
                 f'Accuracies after the last epoch, one run each (seed 0), on {where}, '
                 'shared with other jobs (so sec/epoch is an upper bound). '
                 'Regenerate the rows with `python -m gluon_cnn.sweep` (one: `--row NAME`) '
                 'and this table with `make papers`.')
    return '\n'.join(lines)
