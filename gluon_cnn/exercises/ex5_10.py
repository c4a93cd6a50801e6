"""d2l zh §5.10 (batch normalization), exercises 1-5. 5.10.2-5.10.4 train on real data."""
import math

import numpy as np
from mxnet import autograd, nd
from mxnet.gluon import nn

from ..models.lenet import get_lenet
from ._registry import Answer, exercise
from ._training import TRAIN_DEFAULTS, fit


@exercise('5.10.1', 'can the bias before BN be removed? (outputs are equal)')
def bias_before_bn(log=print) -> Answer:
    rs = np.random.RandomState(0)
    X = nd.array(rs.randn(8, 5))
    with_bias, no_bias = nn.Dense(4, in_units=5), nn.Dense(4, use_bias=False, in_units=5)
    for layer in (with_bias, no_bias):
        layer.initialize()
    no_bias.weight.set_data(with_bias.weight.data())
    with_bias.bias.set_data(nd.array(rs.randn(4) * 3))  # a large bias, to be sure
    bn1, bn2 = nn.BatchNorm(in_channels=4), nn.BatchNorm(in_channels=4)
    bn1.initialize()
    bn2.initialize()
    with autograd.train_mode():
        Y1, Y2 = bn1(with_bias(X)), bn2(no_bias(X))
    diff = float((Y1 - Y2).abs().max().asscalar())
    log('Dense with bias b '
        f'(|b| up to {with_bias.bias.data().abs().max().asscalar():.1f}) then BN, '
        f'and the same Dense without bias then BN: max |Y1 - Y2| = {diff:.1e} (training mode)')
    log('BN subtracts the batch mean, and the mean of x + b is mean(x) + b: the bias cancels.')
    log("BN's own beta is the layer's shift, so the bias is a redundant parameter: remove it.")
    log('(in prediction mode the running mean must first absorb b, which it does during training)')
    return Answer(f'yes: the outputs are equal up to float32 rounding (max difference {diff:.1e}); '
                  "BN's beta does the bias's job", diff)


# the largest lr whose run reached `threshold` training accuracy: "it trains"
def _largest_ok(results: dict, threshold: float = 0.5):
    ok = [lr for lr, r in results.items()
          if not math.isnan(r['train_acc']) and r['train_acc'] >= threshold]
    return max(ok) if ok else None


def _acc(r) -> str:
    return 'diverged' if r['diverged'] else f"{r['test_acc']:.3f}"


def _accs(r) -> str:
    return 'diverged' if r['diverged'] else f"{r['train_acc']:.2f} / {r['test_acc']:.2f}"


@exercise('5.10.2', 'larger learning rates with BN than without', kind='train', estimate='2-6 min')
def larger_lr(log=print, limit: int = TRAIN_DEFAULTS['limit'], epochs: int = 2,
              lrs=(0.1, 0.3, 1.0, 3.0, 10.0), test_limit: int = None) -> Answer:
    nets = {'sigmoid': lambda: get_lenet(act='sigmoid'),
            'sigmoid + BN': lambda: get_lenet(act='sigmoid', batch_norm=True),
            'relu': lambda: get_lenet(act='relu'),
            'relu + BN': lambda: get_lenet(act='relu', batch_norm=True)}
    log(f'LeNet variants, SGD, {epochs} epochs on the first {limit:,} training images; '
        'train / test accuracy:')
    log(f"{'lr':>14}" + ''.join(f'{lr:>14g}' for lr in lrs))
    table = {}
    for name, make in nets.items():
        table[name] = {lr: fit(make(), lr, epochs, limit, test_limit) for lr in lrs}
        log(f'{name:>14}' + ''.join(f'{_accs(r):>14}' for r in table[name].values()))
    best = {name: _largest_ok(rows) for name, rows in table.items()}
    log(f'largest lr that trains (50% training accuracy): {best}')
    log('(BN nets test lower than they train after so few steps: the running statistics lag '
        'the fast-moving weights)')
    log('BN keeps every layer\'s input at zero mean and unit variance '
        'whatever the weights\' scale, so a')
    log('large step cannot blow activations up (or push sigmoids into saturation).')
    for act in ('sigmoid', 'relu'):
        plain, bn = best[act], best[act + ' + BN']
        verdict = ('yes' if bn is not None and (plain is None or bn > plain) else
                   'not in this run')
        log(f'  {act}: largest lr without BN {plain}, with BN {bn}: larger with BN? {verdict}')
    return Answer(f'largest lr that trains (50% train acc): {best}', {'table': table, 'best': best})


class _BNLeNet(nn.HybridSequential):
    """The book's sigmoid LeNet with BN placed `conv` / `dense` = 'before' | 'after' | None
    (relative to the activation), or on the `input`."""

    def __init__(self, conv='before', dense='before', input_bn=False, **kwargs):
        super().__init__(**kwargs)
        if input_bn:
            self.add(nn.BatchNorm())
        for c in (6, 16):
            self.add(*_layer(nn.Conv2D(c, kernel_size=5), conv), nn.MaxPool2D(2, 2))
        for w in (120, 84):
            self.add(*_layer(nn.Dense(w), dense))
        self.add(nn.Dense(10))


def _layer(affine, where):
    act = nn.Activation('sigmoid')
    return {'before': [affine, nn.BatchNorm(), act], 'after': [affine, act, nn.BatchNorm()],
            None: [affine, act]}[where]


BN_PLACEMENTS = {
    'none': dict(conv=None, dense=None),
    'before activation (book)': dict(conv='before', dense='before'),
    'after activation': dict(conv='after', dense='after'),
    'conv layers only': dict(conv='before', dense=None),
    'dense layers only': dict(conv=None, dense='before'),
    'input only': dict(conv=None, dense=None, input_bn=True),
}


@exercise('5.10.3', 'BN in other positions of LeNet', kind='train', estimate='1-3 min')
def bn_positions(log=print, limit: int = TRAIN_DEFAULTS['limit'],
                 epochs: int = TRAIN_DEFAULTS['epochs'], lr: float = 1.0,
                 test_limit: int = None) -> Answer:
    log(f'sigmoid LeNet, lr {lr}, {epochs} epochs on the first {limit:,} training images:')
    results = {}
    for name, kw in BN_PLACEMENTS.items():
        results[name] = fit(_BNLeNet(**kw), lr, epochs, limit, test_limit)
        log(f"  {name:<26} train / test acc {_accs(results[name])}")
    ranked = sorted(results, key=lambda k: -_score(results[k]))
    log(f"best to worst (test acc): {', '.join(ranked)}")
    everywhere = max(_score(results[k]) for k in ('before activation (book)', 'after activation'))
    partial = max(_score(results[k])
                  for k in ('conv layers only', 'dense layers only', 'input only'))
    if everywhere > partial:
        log('BN after every layer, before or after the sigmoid, '
            'is what gets this net off the sigmoid')
        log('plateau within these few epochs; BN in only some layers (or on the input) helps less.')
    gap = [k for k, r in results.items() if r['train_acc'] - r['test_acc'] > 0.3]
    if gap:
        log(f"{', '.join(gap)}: trains but tests far worse. "
            "Training normalizes by each batch's statistics,")
        log('prediction by the running ones: '
            'for this net they differ enough to break it (see 5.10.5).')
    d = _score(results['after activation']) - _score(results['before activation (book)'])
    log('the book puts BN between the affine map and the activation; after the activation it does '
        + ('about as well' if abs(d) < 0.05 else 'better' if d > 0 else 'worse')
        + f' here ({d:+.3f}).')
    return Answer('; '.join(f'{k}: {_acc(v)}' for k, v in results.items()), results)


# test accuracy with NaN (diverged) ranked last
def _score(r) -> float:
    return -1.0 if math.isnan(r['test_acc']) else r['test_acc']


@exercise('5.10.4', 'frozen gamma and beta (grad_req="null")', kind='train', estimate='20-60 s')
def frozen_gamma_beta(log=print, limit: int = TRAIN_DEFAULTS['limit'],
                      epochs: int = TRAIN_DEFAULTS['epochs'], lr: float = 1.0,
                      test_limit: int = None) -> Answer:
    results = {}
    for frozen in (False, True):
        net = get_lenet(act='sigmoid', batch_norm=True)
        if frozen:  # gamma stays 1 and beta 0: every BN output is exactly standardized
            net.collect_params('.*gamma|.*beta').setattr('grad_req', 'null')
        results['frozen' if frozen else 'learned'] = fit(net, lr, epochs, limit, test_limit)
    for k, r in results.items():
        log(f'  gamma, beta {k:<8} train / test acc {_accs(r)}')
    gap = _score(results['learned']) - _score(results['frozen'])
    log('frozen, every BN output is standardized, so each sigmoid works on N(0, 1) inputs, its')
    log('near-linear range: the net cannot choose how saturated (how nonlinear) a unit is.')
    log(f'here learning gamma and beta changes test accuracy by {gap:+.3f}.')
    return Answer(f"learned {_acc(results['learned'])}, frozen {_acc(results['frozen'])}", results)


@exercise('5.10.5', 'use_global_stats: the running statistics in training too')
def use_global_stats(log=print) -> Answer:
    X = nd.array(np.random.RandomState(0).randn(16, 3) * 4 + 2)
    out = {}
    for flag in (False, True):
        bn = nn.BatchNorm(use_global_stats=flag)
        bn.initialize()
        with autograd.record():
            Y = bn(X)
        Y.backward()
        out[flag] = {'mean': float(Y.mean().asscalar()), 'std': float(np.std(Y.asnumpy())),
                     'running_mean': bn.running_mean.data().asnumpy().tolist()}
        log(f'use_global_stats={flag!s:<5}: training output mean {out[flag]["mean"]:.2f}, std '
            f'{out[flag]["std"]:.2f}; running mean after one step '
            f'{np.round(out[flag]["running_mean"], 2).tolist()}')
    log('with use_global_stats=True BN normalizes by the running mean/var even in training '
        'and never updates them: a fixed affine map.')
    log('use it to fine-tune a pretrained net with tiny batches (detection, segmentation), '
        'where batch')
    log('statistics would be noisy; nn.BatchNorm(use_global_stats=True) '
        'or net.collect_params() as usual.')
    return Answer('nn.BatchNorm(use_global_stats=True): '
                  'training uses (and keeps) the running statistics', out)
