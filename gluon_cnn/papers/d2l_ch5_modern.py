"""papers/d2l-ch5.md, "Modern CNNs (§5.6-5.12)": shape tables, parameter counts and training
results.

Every shape, parameter and MAC count comes from `gluon_cnn.trace` at the model's own `input_shape`;
results come from papers/results/<name>.json of runs whose model is one of these (saved with
`gluon_cnn.sweep.save_result`: the run's metrics.json plus command, hardware, wall time). The book's
numbers (d2l zh 1st ed., GPU, full data) are quoted from its printed output.
"""
from . import load_result, section
from ..repo import results_dir
from ..models import get_model, model_info

__all__ = ['MODERN', 'models_table', 'results_table']

# registry name -> (book section, paper, the book's lr, epochs and last printed test accuracy)
MODERN = {
    'alexnet': ('§5.6', 'Krizhevsky et al. 2012', 0.01, 5, 0.867),
    'vgg11': ('§5.7', 'Simonyan & Zisserman 2015', None, None, None),
    'vgg11-small': ('§5.7', 'Simonyan & Zisserman 2015', 0.05, 5, 0.909),
    'nin': ('§5.8', 'Lin et al. 2014', 0.1, 5, 0.812),
    'googlenet': ('§5.9', 'Szegedy et al. 2015', 0.1, 5, 0.883),
    'resnet18': ('§5.11', 'He et al. 2016', 0.05, 5, 0.913),
    'densenet': ('§5.12', 'Huang et al. 2017', 0.1, 5, 0.879),
}


def _trace(name: str, depth=None):
    from ..trace import trace  # imports mxnet: only when rendering
    return trace(get_model(name), model_info(name).input_shape, depth=depth)


def _side(name: str) -> str:
    return 'x'.join(map(str, model_info(name).input_shape[2:]))


# ----------------------------------------------------------------------------- models
@section('ch5-modern-models')
def models_table() -> str:
    lines = ['| model | d2l zh | paper | input | params | trainable | MACs / image | book lr |',
             '|---|---|---|---|--:|--:|--:|--:|']
    for name, (sec, paper, lr, _, _) in MODERN.items():
        t = _trace(name)
        lines.append(f'| `{name}` | {sec} | {paper} | 1x{_side(name)} | {t.total_params:,} | '
                     f'{t.trainable_params:,} | {t.total_macs / 1e6:,.0f} M | {lr or "-"} |')
    lines.append('')
    lines.append('Counted by `gluon_cnn.trace` at each model\'s input size; '
                 'non-trainable parameters '
                 'are batch-norm running statistics. MACs include pooling, batch norm and '
                 'activations (see the trace conventions below).')
    return '\n'.join(lines)


def _shapes(name: str) -> str:
    """The book's shape printout for `name`: the children of `features` and `output`."""
    return _trace(name, depth=2).to_markdown()


# one generated block per model, so the note can put each next to its section's text
for _name in MODERN:
    section(f'ch5-trace-{_name}')(lambda _n=_name: _shapes(_n))


# ----------------------------------------------------------------------------- results
def _results() -> list:
    """(file stem, result) of every committed run of a model of this note, by model then name."""
    found = []
    for path in sorted(results_dir().glob('*.json')):
        result = load_result(path.stem)
        model = result.config.model
        if model in MODERN:
            found.append((list(MODERN).index(model), path.stem, result))
    return [(stem, result) for _, stem, result in sorted(found)]


@section('ch5-modern-results')
def results_table() -> str:
    lines = ['| run | model | input | train examples | epochs | lr | batch | test acc by epoch | '
             'last train acc | wall time | book (full data, GPU) | command |',
             '|---|---|---|--:|--:|--:|--:|--:|--:|--:|---|---|']
    hardware = set()
    for stem, r in _results():
        cfg, last = r.config, r.history[-1]
        side = cfg.resize or 28
        _, _, lr, book_epochs, book_acc = MODERN[cfg.model]
        book = f'{book_acc:.3f} after {book_epochs} epochs' if book_acc else '-'
        examples = f"{cfg.limit:,}" if cfg.limit else '60,000'
        by_epoch = ' → '.join(f"{e['test_acc']:.3f}" for e in r.history)
        hardware.add(r.extra.get('hardware', '?'))
        lines.append(f"| {stem} | `{cfg.model}` | {side}x{side} | {examples} | {last['epoch']} | "
                     f"{cfg.lr} | {cfg.batch_size} | {by_epoch} | "
                     f"{last['train_acc']:.3f} | {r.extra['wall_seconds'] / 60:.1f} min | {book} | "
                     f"`{r.extra['command']}` |")
    if len(lines) == 2:
        lines.append('| not run yet |' + ' |' * 11)
    lines.append('')
    lines.append(f"Test accuracy on all 10,000 test images after each epoch, one run (seed 0) on "
                 f"{'; '.join(sorted(hardware)) or '-'}, shared with other jobs, "
                 f"so wall times are upper bounds. "
                 f"Runs are shortened (fewer examples, smaller inputs, fewer epochs) to fit a "
                 f"2-core CPU: compare the trend, not the last digit, with the book's full runs.")
    return '\n'.join(lines)
