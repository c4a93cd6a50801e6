"""papers/d2l-ch5.md, "LeNet (d2l zh §5.5)" and "BatchNorm LeNet (§5.10)": our runs next to the book's.

The book's numbers: d2l zh §5.5 prints test acc about 0.82-0.84 after 10 epochs of sigmoid LeNet
at lr 0.9 (it varies run to run); apache/d2l-en#1660 reports 0.841 (max-pool LeNet) and 0.849
(BN-LeNet). Our runs are papers/results/d2l-lenet*.json, saved by `gluon_cnn.sweep.save_result`.
"""
from . import RESULTS_DIR, load_result, section

# result stem -> (book section, model, what the book reports)
BOOK = {'d2l-lenet': ('§5.5', 'sigmoid, max pool, lr 0.9', '0.82-0.84 (§5.5 printout); 0.841 (d2l-en#1660)'),
        'd2l-lenet-bn': ('§5.10', 'sigmoid + BatchNorm, lr 1.0', '0.849 (d2l-en#1660)')}


def _params(model: str) -> int:
    from ..models import get_model
    from ..trace import trace  # imports mxnet: only when rendering
    return trace(get_model(model), (1, 1, 28, 28)).trainable_params


@section('d2l-lenet-results')
def results_table() -> str:
    lines = ['| section | model | trainable params | epochs | test acc by epoch | our test acc | '
             'book | wall time | command |', '|---|---|--:|--:|---|--:|---|--:|---|']
    hardware = set()
    for stem, (sec, what, book) in BOOK.items():
        if not (RESULTS_DIR / f'{stem}.json').is_file():
            lines.append(f'| {sec} | {what} | | | not run yet | | {book} | | |')
            continue
        r = load_result(stem)
        cfg, hist = r['config'], r['epochs']
        hardware.add(r.get('hardware', '?'))
        by_epoch = ' '.join(f"{e['test_acc']:.3f}" for e in hist)
        lines.append(f"| {sec} | `{cfg['model']}`: {what} | {_params(cfg['model']):,} | {len(hist)} | "
                     f"{by_epoch} | **{hist[-1]['test_acc']:.3f}** | {book} | "
                     f"{r['wall_seconds'] / 60:.1f} min | `{r['command']}` |")
    lines += ['', f"Full Fashion-MNIST (60,000 / 10,000), batch 256, seed 0, on "
              f"{'; '.join(sorted(hardware)) or '-'}, shared with other jobs."]
    return '\n'.join(lines)
