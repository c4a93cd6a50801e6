"""d2l zh §5.7 (VGG), exercises 1-3. 5.7.2 trains on real data; 5.7.1 and 5.7.3 count."""
import time

import mxnet as mx

from ..models import get_model, model_info
from ..trace import trace
from ._registry import Answer, exercise
from ._training import fit

# Simonyan & Zisserman (2015) Table 2: parameters in millions of configurations D and E
VGG_TABLE2 = {'vgg16-imagenet': 138, 'vgg19-imagenet': 144}


# seconds per forward pass of a batch of `batch` images, after one warm-up pass
def _forward_seconds(name: str, side: int, batch: int = 2, repeat: int = 1) -> float:
    net = get_model(name)
    net.initialize(mx.init.Xavier())
    net.hybridize(static_alloc=True)
    x = mx.nd.random.uniform(shape=(batch, 1, side, side))
    net(x).wait_to_read()
    start = time.time()
    for _ in range(repeat):
        net(x).wait_to_read()
    return (time.time() - start) / repeat


@exercise('5.7.1', 'why VGG is slower and hungrier than AlexNet')
def vgg_cost(log=print) -> Answer:
    rows = {}
    for name in ('alexnet', 'vgg11'):
        t = trace(get_model(name), (1, 1, 224, 224))
        convs = [r for r in t.rows if r.is_leaf and r.type == 'Conv2D']
        rows[name] = {'params': t.total_params, 'macs': t.total_macs,
                      'activation_bytes': t.activation_bytes,
                      'first_convs': [(r.kernel, r.stride, r.output_shape[1:]) for r in convs[:2]],
                      'seconds': _forward_seconds(name, 224)}
    for name, r in rows.items():
        log(f"  {name:<8} {r['params'] / 1e6:6.1f}M params {r['macs'] / 1e9:6.2f}G multiply-adds "
            f"{r['activation_bytes'] / 2**20:6.1f} MiB outputs per image   forward of 2 images "
            f"{r['seconds']:.2f} s")
    a, v = rows['alexnet'], rows['vgg11']
    log(f"AlexNet's first conv is 11x11 with stride 4: it outputs {a['first_convs'][0][2]}, a")
    log(f"16x smaller map, at once. VGG's 3x3 convs keep the size ({v['first_convs'][0][2]}, then")
    log(f"{v['first_convs'][1][2]}) and only 2x2 pools halve it, so its early convs do their")
    log('multiply-adds on 224x224 and 112x112 maps, and every output there must be kept for the')
    log('backward pass: that is the memory. The parameters are alike (both mostly dense layers).')
    m, mem = v['macs'] / a['macs'], v['activation_bytes'] / a['activation_bytes']
    t = v['seconds'] / a['seconds']
    return Answer(f'VGG-11 does {m:.0f}x the multiply-adds and keeps {mem:.0f}x the activations '
                  f'of AlexNet at 224x224 (measured forward: {t:.0f}x the time)', rows)


@exercise('5.7.2', 'Fashion-MNIST at 96x96 instead of 224x224', kind='train', estimate='3-4 min')
def vgg_96(log=print, limit: int = 1024, epochs: int = 2, test_limit: int = 1000) -> Answer:
    log(f'(sized for 2 CPU cores: the book\'s 4x narrower VGG-11, {limit:,} training images, '
        f'{test_limit:,} test images, {epochs} epochs, lr 0.05, batch 64)')
    rows = {}
    for side in (224, 96):
        t = trace(get_model('vgg11-small'), (1, 1, side, side))
        r = fit(get_model('vgg11-small'), 0.05, epochs, limit, test_limit, 64, resize=side)
        rows[side] = {'params': t.total_params, 'macs': t.total_macs,
                      'activation_bytes': t.activation_bytes, 'last_map': _last_map(t), **r}
        log(f"  {side:>3}x{side:<3} last conv map {rows[side]['last_map']}  {t.total_params:>11,} "
            f"params {rows[side]['macs'] / 1e9:5.2f}G multiply-adds  test acc "
            f"{r['test_acc']:.3f}  {r['wall']:.0f} s")
    big, small = rows[224], rows[96]
    (c, h, w), (_, h2, w2) = big['last_map'], small['last_map']
    log('every map is (96/224)^2 = 0.18 the size, so the convs do ~5x fewer multiply-adds and')
    log(f'keep ~5x less memory; the five 2x2 pools leave a {h2}x{w2} map instead of {h}x{w}, so')
    log(f'the first dense layer has {c}*{h2 * w2} instead of {c}*{h * w} inputs: far fewer')
    log('parameters. Fashion-MNIST is 28x28: 96 already upsamples it 3.4x, so 224 adds no')
    log('information; an accuracy gap in so short a run comes from the changed net (bigger maps,')
    log(f"{big['params'] / small['params']:.1f}x the parameters) and costs "
        f"{big['wall'] / small['wall']:.1f}x the time.")
    return Answer(f"96x96: {big['macs'] / small['macs']:.1f}x fewer multiply-adds, "
                  f"{big['params'] / small['params']:.1f}x fewer parameters, "
                  f"{big['wall'] / small['wall']:.1f}x faster; test acc {small['test_acc']:.3f} "
                  f"against {big['test_acc']:.3f}", rows)


def _last_map(t) -> tuple:
    return [r.output_shape[1:] for r in t.rows if r.is_leaf and r.type == 'MaxPool2D'][-1]


@exercise('5.7.3', 'VGG-16 and VGG-19 from the paper\'s Table 1 (138M, 144M parameters)')
def vgg16_19(log=print) -> Answer:
    counts = {}
    for name, paper in VGG_TABLE2.items():
        t = trace(get_model(name), model_info(name).input_shape)  # shapes only, no forward pass
        counts[name] = t.total_params
        convs = sum(1 for r in t.rows if r.is_leaf and r.type == 'Conv2D')
        log(f'  {name:<15} {convs} convs + 3 dense layers: {t.total_params:>12,} parameters, '
            f'{t.total_macs / 1e9:.1f}G multiply-adds (Table 2: {paper}M)')
    log('configurations D and E add a third (fourth) 3x3 conv to blocks 3-5 of VGG-11 (A);')
    log('3x3 convs are cheap in parameters: the 102.8M weights of the 25088 -> 4096 dense layer')
    log('are still most of the net.')
    return Answer(', '.join(f'{n.split("-")[0]}: {c / 1e6:.1f}M (paper {VGG_TABLE2[n]}M)'
                            for n, c in counts.items()), counts)
