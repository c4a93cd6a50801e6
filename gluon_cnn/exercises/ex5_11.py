"""d2l zh §5.11 (ResNet), exercises 1-3. 5.11.1 and 5.11.2 count; 5.11.3 checks the
pre-activation block exactly, then trains both versions on real data (sized for 2 CPU cores)."""
import numpy as np
import mxnet as mx
from mxnet import autograd

from ..models import get_model, model_info
from ..models.resnet_imagenet import BasicBlock, Bottleneck, get_paper_resnet
from ..shapes import batchnorm_params, conv_macs, conv_params
from ..trace import trace
from ._registry import Answer, exercise
from ._training import fit

# He et al. (2016) Table 1, last row: multiply-adds ("FLOPs") in units of 10^9
RESNET_TABLE1_FLOPS = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}
# parameters in millions; not in the paper: torchvision's model docs for the same nets
RESNET_PARAMS_M = {18: 11.7, 34: 21.8, 50: 25.6, 101: 44.5, 152: 60.2}


@exercise('5.11.1', 'ResNet-18/34/50/101/152 from Table 1 of He et al. (2016)')
def resnet_table1(log=print) -> Answer:
    rows = {}
    log('3x224x224 input, 1000 classes; traced shapes, no forward pass:')
    log(f"  {'depth':>5} {'trainable params':>17} {'(docs)':>7} {'multiply-adds':>14} "
        f"{'(Table 1)':>9}")
    for depth, flops in RESNET_TABLE1_FLOPS.items():
        name = f'resnet{depth}-imagenet'
        t = trace(get_model(name), model_info(name).input_shape)
        rows[depth] = {'trainable_params': t.trainable_params, 'macs': t.total_macs}
        log(f"  {depth:>5} {t.trainable_params:>17,} {RESNET_PARAMS_M[depth]:>6}M "
            f"{rows[depth]['macs'] / 1e9:>13.2f}G {flops:>8}G")
    log('multiply-adds count each weight use of the convs and the dense layer once (bias, BN,')
    log('pooling and ReLU excluded), as Table 1 does; the bottleneck nets put the stride-2 on the')
    log("first 1x1 conv, as the paper's model did. BN's running mean and variance are state, not")
    log('trainable parameters, so they are left out of the counts, as in the usual tables.')
    worst = max(abs(r['macs'] / 1e9 / RESNET_TABLE1_FLOPS[d] - 1) for d, r in rows.items())
    return Answer(', '.join(f"{d}: {r['trainable_params'] / 1e6:.1f}M {r['macs'] / 1e9:.2f}G"
                            for d, r in rows.items())
                  + f' (Table 1 within {worst:.1%})', rows)


# trainable parameters of one block: the convs (no bias) and the BNs' gamma and beta
def _block_costs(block, in_shape) -> dict:
    t = trace(block, in_shape)
    return {'params': t.trainable_params, 'macs': t.total_macs}


@exercise('5.11.2', 'the bottleneck block')
def bottleneck(log=print) -> Answer:
    shape = (1, 256, 56, 56)  # conv2_x of ResNet-50: 256 channels at 56x56
    basic = _block_costs(BasicBlock(256), shape)
    neck = _block_costs(Bottleneck(256), shape)
    formula = {  # closed forms: two 3x3 256->256 convs, or 1x1 256->64, 3x3 64->64, 1x1 64->256
        'basic': (2 * conv_params(3, 3, 256, 256, bias=False) + 2 * batchnorm_params(256)[1],
                  2 * conv_macs(3, 3, 256, 256, 56, 56)),
        'bottleneck': (conv_params(1, 1, 256, 64, False) + conv_params(3, 3, 64, 64, False)
                       + conv_params(1, 1, 64, 256, False)
                       + 2 * batchnorm_params(64)[1] + batchnorm_params(256)[1],
                       conv_macs(1, 1, 256, 64, 56, 56) + conv_macs(3, 3, 64, 64, 56, 56)
                       + conv_macs(1, 1, 64, 256, 56, 56))}
    for name, r in (('basic', basic), ('bottleneck', neck)):
        log(f"  {name:<10} on 256@56x56: {r['params']:>9,} params (formula "
            f"{formula[name][0]:,}) {r['macs'] / 1e6:7.1f}M multiply-adds (formula "
            f"{formula[name][1] / 1e6:.1f}M)")
    narrow = _block_costs(BasicBlock(64), (1, 64, 56, 56))
    log('the bottleneck runs its 3x3 conv on 64 channels between two 1x1 convs (256 -> 64 -> 256):')
    log('the expensive 3x3 conv sees 16x fewer channel pairs than at 256. He et al. (Fig. 5) pair')
    log(f"it with a basic block on 64 channels: {narrow['macs'] / 1e6:.1f}M multiply-adds, about")
    log('the same cost, for a 4x wider output and one more layer: 50-152 layers stay affordable.')
    deep = {d: trace(get_paper_resnet(d), (1, 3, 224, 224)).total_macs for d in (34, 50)}
    log(f'ResNet-34 (basic): {deep[34] / 1e9:.2f}G, ResNet-50 (bottleneck, 16 more layers, 4x '
        f'wider outputs): {deep[50] / 1e9:.2f}G multiply-adds')
    return Answer(f"bottleneck: {basic['params'] / neck['params']:.1f}x fewer parameters and "
                  f"{basic['macs'] / neck['macs']:.1f}x fewer multiply-adds than two 3x3 convs "
                  'at 256 channels', {'basic': basic, 'bottleneck': neck, 'formula': formula,
                                      'basic64': narrow, 'deep': deep})


# the output of one block whose residual branch is switched off (its last weights zero)
def _zero_branch_output(version: int, x):
    blk = BasicBlock(8, version=version)
    blk.initialize(mx.init.Xavier())
    blk(x)  # finish deferred initialization
    last_conv = [p for n, p in blk.collect_params().items() if n.endswith('weight')][-1]
    last_conv.set_data(mx.nd.zeros(last_conv.shape))
    with autograd.predict_mode():
        return blk(x)


@exercise('5.11.3', 'the pre-activation block (He et al. 2016b), against the original',
          kind='train', estimate='1-2 min')
def preactivation(log=print, limit: int = 5000, epochs: int = 3, test_limit: int = 2000,
                  lr: float = 0.05) -> Answer:
    x = mx.nd.array(np.random.RandomState(0).randn(2, 8, 6, 6))
    gap = {v: float((_zero_branch_output(v, x) - x).abs().max().asscalar()) for v in (1, 2)}
    log('a block whose residual branch outputs 0 should pass x on unchanged:')
    log(f'  original (conv-BN-ReLU, ReLU after the sum):  max |out - x| = {gap[1]:.3f} '
        '(the ReLU clips every negative x)')
    log(f'  pre-activation (BN-ReLU-conv, nothing after): max |out - x| = {gap[2]:.1e}')
    log('so in a pre-activation net x_L = x_l + sum of branches: signal and gradient reach every')
    log('block through pure identities (He et al. 2016b, Eq. 4-5).')
    log(f'(trained here sized for 2 CPU cores: ResNet-18 on 28x28 Fashion-MNIST, {limit:,} '
        f'training and {test_limit:,} test images, {epochs} epochs, lr {lr})')
    runs = {}
    for v in (1, 2):
        runs[v] = fit(get_paper_resnet(18, version=v, classes=10), lr, epochs, limit, test_limit,
                      128, history=True)
        curve = ' '.join(f"{m['test_acc']:.3f}" for m in runs[v]['history']) or 'diverged'
        log(f"  version {v} ({'pre-activation' if v == 2 else 'original'}): test acc by epoch "
            f"{curve}   {runs[v]['wall']:.0f} s")
    gap_acc = runs[2]['test_acc'] - runs[1]['test_acc']
    log(f'pre-activation minus original after {epochs} epochs: {gap_acc:+.3f} test accuracy. The')
    log('paper reports its clearest gains at 100-1000 layers, where the identity path matters')
    log('most; at 18 layers and this short a run the difference is mostly speed of the start.')
    return Answer(f"zero branch: original changes x by up to {gap[1]:.2f}, pre-activation by "
                  f"{gap[2]:.0e}; test acc original {runs[1]['test_acc']:.3f}, pre-activation "
                  f"{runs[2]['test_acc']:.3f}", {'gap': gap, 'runs': runs})
