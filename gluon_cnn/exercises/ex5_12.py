"""d2l zh §5.12 (DenseNet), exercises 1-3. 5.12.1 and 5.12.3 count; 5.12.2 measures peak
memory of training steps in fresh processes."""
import mxnet as mx
from mxnet import autograd, gluon

from ..models import get_model, model_info
from ..models.densenet_imagenet import DENSENET_TABLE1
from ..shapes import batchnorm_params, conv_params, dense_params
from ..trace import trace
from ._costs import PeakAbove, in_fresh_process
from ._registry import Answer, exercise

# Huang et al. (2017) Sec. 4.4: "a DenseNet-201 with 20M parameters"; the other depths'
# counts are only plotted (Fig. 3), so they are checked against the closed form below
DENSENET_PAPER_PARAMS_M = {201: 20}


def densenet_bc_params(layers, growth: int = 32, classes: int = 1000, in_channels: int = 3) -> int:
    """Trainable parameters of a DenseNet-BC (Huang et al. 2017 Table 1), by formula."""
    bn = lambda c: batchnorm_params(c)[1]  # noqa: E731  gamma and beta
    c = 2 * growth
    n = conv_params(7, 7, in_channels, c, bias=False) + bn(c)                       # stem
    for i, num in enumerate(layers):
        for _ in range(num):  # BN-ReLU-1x1 conv to 4k, BN-ReLU-3x3 conv to k
            n += bn(c) + conv_params(1, 1, c, 4 * growth, False)
            n += bn(4 * growth) + conv_params(3, 3, 4 * growth, growth, False)
            c += growth
        if i != len(layers) - 1:  # transition: BN-ReLU-1x1 conv to half the channels
            n += bn(c) + conv_params(1, 1, c, c // 2, False)
            c //= 2
    return n + bn(c) + dense_params(c, classes)                                   # BN, classifier


@exercise('5.12.1', 'why DenseNet has fewer parameters than ResNet')
def fewer_params(log=print) -> Answer:
    rows = {}
    for name in ('densenet', 'resnet18', 'densenet121-imagenet', 'resnet50-imagenet'):
        t = trace(get_model(name), model_info(name).input_shape)
        convs = [r for r in t.rows if r.is_leaf and r.type == 'Conv2D' and r.kernel == (3, 3)]
        rows[name] = {'params': t.trainable_params,
                      'widest_3x3_out': max(r.output_shape[1] for r in convs)}
        log(f"  {name:<22} {t.trainable_params:>12,} trainable params; widest 3x3 conv output "
            f"{rows[name]['widest_3x3_out']} channels")
    log('a ResNet conv maps c channels to c (up to 512 in ResNet-18): 9c^2 weights per 3x3 conv.')
    log('a DenseNet conv reads everything before it but writes only the growth rate k = 32')
    log('channels: 9 * c_in * 32 weights, and features are reused by concatenation, not')
    log('recomputed. Transition layers halve the channels between blocks, and the bottleneck')
    log('1x1 convs (DenseNet-BC) cut the 3x3 convs\' input to 4k = 128 channels.')
    r = rows
    return Answer(f"book nets: DenseNet {r['densenet']['params'] / 1e6:.2f}M against ResNet-18 "
                  f"{r['resnet18']['params'] / 1e6:.1f}M; ImageNet: DenseNet-121 "
                  f"{r['densenet121-imagenet']['params'] / 1e6:.1f}M against ResNet-50 "
                  f"{r['resnet50-imagenet']['params'] / 1e6:.1f}M (similar accuracy)", rows)


# one SGD training step's peak memory in a fresh process (batch of random images)
def _step_peak(name: str, side: int, batch: int) -> dict:
    net = get_model(name)
    net.initialize(mx.init.Xavier())
    x = mx.nd.random.uniform(shape=(batch, 1, side, side))
    y = mx.nd.zeros((batch,))
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.01})
    net(x[:1]).wait_to_read()  # deferred initialization, outside the measured step
    with PeakAbove() as m:
        with autograd.record():
            loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(x), y)
        loss.backward()
        trainer.step(batch)
        mx.nd.waitall()
    return {'added_bytes': m.added}


@exercise('5.12.2', "DenseNet's memory at 224x224, measured", kind='train', estimate='1 min')
def densenet_memory(log=print, batch: int = 32) -> Answer:
    log(f'one training step of a batch of {batch} random images, each configuration in a fresh '
        'process; "added" is the peak resident memory beyond the initialized net')
    rows = {}
    for name, side in (('densenet', 96), ('densenet', 224), ('resnet18', 224)):
        t = trace(get_model(name), (1, 1, side, side))
        m = in_fresh_process(_step_peak, name, side, batch)
        rows[(name, side)] = {'params': t.total_params, 'formula_bytes': batch * t.activation_bytes,
                              **m}
        log(f"  {name:<9} {side:>3}x{side:<3} {t.total_params / 1e6:5.2f}M params  layer outputs "
            f"(tracer) {batch * t.activation_bytes / 2**20:6.0f} MiB  measured added "
            f"{m['added_bytes'] / 2**20:6.0f} MiB")
    d96, d224, r224 = (rows[k]['added_bytes'] for k in rows)
    log('the memory is the layer outputs kept for the backward pass, and it grows with the image')
    log('area ((224/96)^2 = 5.4x). DenseNet\'s concatenations copy every earlier feature map into')
    log('each new input, so its outputs take more memory per parameter than ResNet\'s: the')
    log('criticism is about activations, not weights (memory-efficient implementations share')
    log('one buffer for the concatenations; Pleiss et al. 2017).')
    return Answer(f'measured: DenseNet {d96 / 2**20:.0f} MiB at 96, {d224 / 2**20:.0f} MiB at '
                  f'224 ({d224 / max(d96, 1):.1f}x), ResNet-18 at 224 {r224 / 2**20:.0f} MiB with '
                  f"{rows[('resnet18', 224)]['params'] / rows[('densenet', 224)]['params']:.0f}x "
                  'the parameters', rows)


@exercise('5.12.3', 'DenseNet-121/169/201/264 from Table 1 of Huang et al. (2017)')
def densenet_table1(log=print) -> Answer:
    rows = {}
    for depth, layers in DENSENET_TABLE1.items():
        name = f'densenet{depth}-imagenet'
        t = trace(get_model(name), model_info(name).input_shape)
        formula = densenet_bc_params(layers)
        rows[depth] = {'trainable_params': t.trainable_params, 'formula': formula}
        paper = DENSENET_PAPER_PARAMS_M.get(depth)
        log(f'  DenseNet-{depth:<4} blocks {layers}: {t.trainable_params:>11,} trainable params, '
            f'formula {formula:,}' + (f', paper "{paper}M"' if paper else ''))
    log('Table 1 gives the layers per dense block (k = 32, bottleneck layers, transitions keeping')
    log('half the channels); the paper states only DenseNet-201\'s size in its text (20M). Depth')
    log('counts the convs and the dense layer: 121 = 1 + 2 * (6 + 12 + 24 + 16) + 3 + 1.')
    return Answer(', '.join(f"{d}: {r['trainable_params'] / 1e6:.1f}M" for d, r in rows.items())
                  + ' (traced = formula for all four)', rows)
