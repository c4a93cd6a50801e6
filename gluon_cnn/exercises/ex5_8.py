"""d2l zh §5.8 (NiN), exercises 1-2. Both train on real data, sized for 2 CPU cores: 96x96
inputs (the 11x11/4 stem still fits; the book uses 224), a few thousand images, few epochs."""
from functools import lru_cache

from mxnet.gluon import nn

from ..backend.internals import children, layer_kwargs
from ..models import get_model
from ..trace import trace
from ._registry import Answer, exercise
from ._training import fit

SIZE, LIMIT, TEST_LIMIT = 96, 2048, 1000


def _sized(log, limit, epochs):
    log(f'(sized for 2 CPU cores: {limit:,} training images, {TEST_LIMIT:,} test images, '
        f'{epochs} epochs, {SIZE}x{SIZE} inputs; the book trains on 60,000 at 224)')


@lru_cache(maxsize=16)  # 5.8.2 reuses the book's setting from 5.8.1
def _nin_run(one_1x1: bool, lr: float, batch_size: int, limit: int, epochs: int) -> dict:
    net = get_model('nin')
    if one_1x1:
        drop_second_1x1(net)
    return fit(net, lr, epochs, limit, TEST_LIMIT, batch_size, resize=SIZE)


@exercise('5.8.1', 'tune hyperparameters to raise the accuracy', kind='train', estimate='3-5 min')
def tune(log=print, limit: int = LIMIT, epochs: int = 3,
         grid=((0.1, 128), (0.05, 128), (0.2, 128), (0.1, 64))) -> Answer:
    _sized(log, limit, epochs)
    rows = {}
    for lr, b in grid:  # the book's lr 0.1 and batch 128 first
        rows[(lr, b)] = _nin_run(False, lr, b, limit, epochs)
        r = rows[(lr, b)]
        acc = 'diverged' if r['diverged'] else f"{r['train_acc']:.3f} / {r['test_acc']:.3f}"
        log(f'  lr {lr:<5} batch {b:<4} train / test acc {acc}   ({r["wall"]:.0f} s)')
    best = max(rows, key=lambda k: -1 if rows[k]['diverged'] else rows[k]['test_acc'])
    log('NiN has no dense layer to absorb a bad start: all ten class maps come out of ReLU convs')
    log('and global pooling, and with a small learning rate or few steps it can sit at chance for')
    log('a while. With this budget the number of SGD steps matters most: a larger lr or a smaller')
    log('batch (more steps) helps, until the lr makes the ReLUs die or the run diverge.')
    base = rows[grid[0]]['test_acc']
    return Answer(f'best lr {best[0]}, batch {best[1]}: test acc {rows[best]["test_acc"]:.3f} '
                  f'(the book\'s lr 0.1, batch 128: {base:.3f})', {'rows': rows, 'best': best})


def drop_second_1x1(net: nn.HybridSequential) -> nn.HybridSequential:
    """Remove the last 1x1 conv of every nin_block of `net` (before initialization)."""
    for blk in _nin_blocks(net):
        conv, first_1x1 = blk[0], blk[1]
        children(blk).popitem()  # the last 1x1 conv: its parameters leave collect_params() too
        assert len(blk) == 2 and conv is blk[0] and first_1x1 is blk[1]
    return net


# every Sequential of a conv and two 1x1 convs, at any depth
def _nin_blocks(block) -> list:
    kids = list(children(block).values())
    if (isinstance(block, nn.HybridSequential) and len(kids) == 3
            and all(isinstance(k, nn.Conv2D) for k in kids)
            and all(layer_kwargs(k)['kernel'] == (1, 1) for k in kids[1:])):
        return [block]
    return [b for k in kids for b in _nin_blocks(k)]


@exercise('5.8.2', 'why two 1x1 convs in a NiN block: remove one', kind='train',
          estimate='1-2 min')
def one_1x1(log=print, limit: int = LIMIT, epochs: int = 3) -> Answer:
    _sized(log, limit, epochs)
    rows = {}
    for one in (False, True):
        net = get_model('nin')
        if one:
            drop_second_1x1(net)
        t = trace(net, (1, 1, SIZE, SIZE))
        rows['one 1x1' if one else 'two 1x1 (book)'] = {
            'params': t.total_params, 'macs': t.total_macs,
            **_nin_run(one, 0.1, 128, limit, epochs)}
    for name, r in rows.items():
        log(f"  {name:<15} {r['params']:>10,} params {r['macs'] / 1e6:7.1f}M multiply-adds  "
            f"train / test acc {r['train_acc']:.3f} / {r['test_acc']:.3f}")
    log('a 1x1 conv is a dense layer applied at every pixel; two of them, with a ReLU between,')
    log('make each block an MLP with a hidden layer (Lin et al. call it mlpconv): a nonlinear')
    log('function of each pixel\'s channels. With one, the block is conv + one linear map + ReLU,')
    log('less expressive per pixel, for little saving: the 1x1 convs are a small share of cost.')
    two, one_ = rows['two 1x1 (book)'], rows['one 1x1']
    return Answer(f"one 1x1: {1 - one_['params'] / two['params']:.0%} fewer params, "
                  f"{1 - one_['macs'] / two['macs']:.0%} fewer multiply-adds, test acc "
                  f"{one_['test_acc']:.3f} against {two['test_acc']:.3f}", rows)
