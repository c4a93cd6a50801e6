"""d2l zh §5.6 (AlexNet), exercises 1-3. All three train on real data, sized for 2 CPU cores:
AlexNet sees 96x96 images (its 11x11/4 stem still fits; 224 trains 7x slower), a few thousand
training images and part of the test set."""
from functools import lru_cache

from mxnet.gluon import nn

from ..models import get_model
from ..trace import trace
from ._costs import PeakAbove, in_fresh_process, peak_rss_bytes
from ._registry import Answer, exercise
from ._training import fit

SIZE = 96          # AlexNet's input side here (the book: 224)
LIMIT = 2000       # training images
TEST_LIMIT = 1000  # test images, evaluated after every epoch


def _sized(log, limit, epochs, side=SIZE):
    log(f'(sized for 2 CPU cores: {limit:,} training images, {TEST_LIMIT:,} test images, '
        f'{epochs} epochs, {side}x{side} inputs for AlexNet; the book trains on 60,000 at 224)')


@lru_cache(maxsize=4)  # 5.6.1 and 5.6.2 share the AlexNet run
def _alexnet_run(limit: int, epochs: int, lr: float = 0.01, batch_size: int = 128) -> dict:
    return fit(get_model('alexnet'), lr, epochs, limit, TEST_LIMIT, batch_size, resize=SIZE,
               history=True)


def _curve(r) -> str:
    return ' '.join(f"{m['test_acc']:.2f}" for m in r['history']) or 'diverged'


@exercise('5.6.1', 'more epochs: AlexNet against LeNet, and why', kind='train',
          estimate='2-3 min')
def more_epochs(log=print, limit: int = LIMIT, epochs: int = 8) -> Answer:
    _sized(log, limit, epochs)
    runs = {'LeNet (lr 0.9, 28x28)': fit(get_model('lenet'), 0.9, epochs, limit, TEST_LIMIT, 128,
                                         history=True),
            f'AlexNet (lr 0.01, {SIZE}x{SIZE})': _alexnet_run(limit, epochs)}
    for name, r in runs.items():
        log(f'  {name:<24} test acc by epoch: {_curve(r)}   ({r["wall"]:.0f} s)')
    (lenet, alex) = runs.values()
    log('AlexNet has ~500x the parameters (at 96x96) and the book trains it at a 90x smaller lr,')
    log('so its first epochs are slow; with more epochs its capacity (and ReLU instead of')
    log("LeNet's sigmoid) lets it keep improving, while dropout keeps its test accuracy close to")
    log('its training accuracy. Each of its epochs costs far more time.')
    gain = {n: r['history'][-1]['test_acc'] - r['history'][len(r['history']) // 2]['test_acc']
            for n, r in runs.items() if r['history']}
    if gain:
        log('gain over the second half of the epochs: '
            + ', '.join(f'{n.split()[0]} {g:+.3f}' for n, g in gain.items()))
    ahead = alex['test_acc'] > lenet['test_acc']
    return Answer(f"after {epochs} epochs LeNet {lenet['test_acc']:.3f}, AlexNet "
                  f"{alex['test_acc']:.3f} ({'AlexNet' if ahead else 'LeNet'} ahead); AlexNet took "
                  f"{alex['wall'] / max(lenet['wall'], 1e-9):.0f}x the time", runs)


class SmallAlexNet(nn.HybridSequential):
    """AlexNet's shape at Fashion-MNIST's 28x28: three conv stages (5x5, 3x3, 3x3 pairs), max
    pools, one 512-wide dropout layer. No resize: ~400x fewer multiply-adds than AlexNet."""

    def __init__(self, classes: int = 10, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.add(nn.Conv2D(32, 5, padding=2, activation='relu'),   # (B, 1, 28, 28) -> 32@28
                     nn.MaxPool2D(2, 2),                                # -> 32@14
                     nn.Conv2D(64, 3, padding=1, activation='relu'),   # -> 64@14
                     nn.MaxPool2D(2, 2),                                # -> 64@7
                     nn.Conv2D(96, 3, padding=1, activation='relu'),   # -> 96@7
                     nn.Conv2D(64, 3, padding=1, activation='relu'),   # -> 64@7
                     nn.MaxPool2D(3, 2),                                # -> 64@3
                     nn.Dense(512, activation='relu'), nn.Dropout(0.5),
                     nn.Dense(classes))


@exercise('5.6.2', 'a simplified AlexNet: much faster, about as accurate', kind='train',
          estimate='1-2 min')
def simplified(log=print, limit: int = LIMIT, epochs: int = 8) -> Answer:
    _sized(log, limit, epochs)
    costs = {}
    for name, net, shape in (('AlexNet', get_model('alexnet'), (1, 1, SIZE, SIZE)),
                             ('small AlexNet', SmallAlexNet(), (1, 1, 28, 28))):
        t = trace(net, shape)
        costs[name] = (t.total_params, t.total_macs)
    runs = {'AlexNet': _alexnet_run(limit, epochs),
            'small AlexNet': fit(SmallAlexNet(), 0.1, epochs, limit, TEST_LIMIT, 128)}
    for name, r in runs.items():
        p, m = costs[name]
        log(f'  {name:<14} {p:>11,} params {m / 1e6:>7.1f}M multiply-adds/image   test acc '
            f"{r['test_acc']:.3f}   {r['wall']:.0f} s")
    log('the small net keeps AlexNet\'s pattern (wide convs, pooling, dropout-regularized dense')
    log('layer) but works on the 28x28 images as they are, with 4096 -> 512 dense units.')
    speed = runs['AlexNet']['wall'] / runs['small AlexNet']['wall']
    drop = runs['AlexNet']['test_acc'] - runs['small AlexNet']['test_acc']
    return Answer(f'small AlexNet: {speed:.0f}x faster to train, test accuracy {-drop:+.3f} '
                  'against AlexNet', {'runs': runs, 'costs': costs})


# one training run in a fresh process: accuracy and how much memory the run added
def _run_batch(batch_size: int, limit: int, epochs: int) -> dict:
    from .. import data as gdata
    gdata.load_dataset()             # the dataset's own memory is not the batch's
    with PeakAbove() as m:
        r = fit(get_model('alexnet'), 0.01, epochs, limit, TEST_LIMIT, batch_size, resize=SIZE)
    return {**r, 'peak_bytes': peak_rss_bytes(), 'added_bytes': m.added}


@exercise('5.6.3', 'batch size against accuracy and peak memory', kind='train',
          estimate='2-3 min')
def batch_size_memory(log=print, limit: int = LIMIT, epochs: int = 2,
                      batch_sizes=(32, 128, 512)) -> Answer:
    _sized(log, limit, epochs)
    t = trace(get_model('alexnet'), (1, 1, SIZE, SIZE))
    log(f'AlexNet at {SIZE}x{SIZE}: {t.param_bytes / 2**20:.0f} MiB of parameters; '
        f'{t.activation_bytes / 2**20:.1f} MiB of layer outputs per image (tracer)')
    rows = {}
    for b in batch_sizes:  # each in its own process: a peak reading must not see the others
        rows[b] = in_fresh_process(_run_batch, b, limit, epochs)
        r = rows[b]
        log(f'  batch {b:>4}: {len(range(0, limit, b)) * epochs:>4} steps, test acc '
            f"{r['test_acc']:.3f}, memory added by training {r['added_bytes'] / 2**20:>6.0f} MiB "
            f"(formula: outputs kept for backward {b * t.activation_bytes / 2**20:.0f} MiB)")
    log('memory grows with the batch: every layer output is kept for the backward pass, per')
    log('example; parameters, gradients and the optimizer cost the same at any batch size.')
    log('with the same epochs, a larger batch takes fewer SGD steps; at a fixed learning rate that')
    small, large = rows[min(rows)], rows[max(rows)]
    log('usually costs accuracy (the lr would have to grow with the batch): here batch '
        f"{min(rows)} {small['test_acc']:.3f}, batch {max(rows)} {large['test_acc']:.3f}.")
    mem = {b: round(r['added_bytes'] / 2**20) for b, r in rows.items()}
    acc = {b: round(r['test_acc'], 3) for b, r in rows.items()}
    return Answer(f'MiB added by batch size {mem}; test acc {acc}', rows)
