"""d2l zh §5.9 (GoogLeNet), exercises 1-2. 5.9.1 traces the later Inceptions at their papers'
sizes and trains each briefly on real data (sized for 2 CPU cores); 5.9.2 counts."""
from ..models import get_model, model_info
from ..trace import trace
from ._registry import Answer, exercise
from ._training import fit

SUCCESSORS = ('inception-bn', 'inception-v3', 'inception-resnet-v1')


@exercise('5.9.1', 'the later Inceptions (BN, v3, Inception-ResNet): trace and train',
          kind='train', estimate='3-5 min')
def successors(log=print, limit: int = 1024, epochs: int = 2, side: int = 96,
               test_limit: int = 1000, lr: float = 0.1) -> Answer:
    rows = {}
    log('at their papers\' input size and 1000 classes (tracer, no forward pass):')
    for name in ('googlenet',) + SUCCESSORS:
        shape = (1, 3, 224, 224) if name == 'googlenet' else model_info(name).input_shape
        t = trace(get_model(name, classes=1000), shape)
        convs = sum(1 for r in t.rows if r.is_leaf and r.type == 'Conv2D')
        rows[name] = {'params': t.total_params, 'macs': t.total_macs, 'side': shape[-1],
                      'depth': convs}
        r = rows[name]
        log(f"  {name:<20} {shape[-1]}x{shape[-1]}  {r['depth']:>3} convs "
            f"{r['params'] / 1e6:6.1f}M params {r['macs'] / 1e9:5.2f}G multiply-adds  "
            f"({model_info(name).source})")
    log(f'(trained here sized for 2 CPU cores: {side}x{side} Fashion-MNIST, {limit:,} training '
        f'and {test_limit:,} test images, {epochs} epochs, lr {lr}, batch 64, 10 classes)')
    for name in rows:
        r = fit(get_model(name, classes=10), lr, epochs, limit, test_limit, 64, resize=side)
        rows[name].update(r)
        acc = 'diverged' if r['diverged'] else f"{r['train_acc']:.3f} / {r['test_acc']:.3f}"
        log(f"  {name:<20} train / test acc {acc}   {r['wall']:.0f} s")
    log('BN-Inception normalizes every conv and replaces 5x5 convs by two 3x3s; v3 factorizes')
    log('further (7x7 into 1x7 and 7x1) and widens at 299x299; Inception-ResNet adds each')
    log("module's output to its input. BN is what lets a deep Inception train at a large lr")
    bn_accs = [rows[n]['test_acc'] for n in SUCCESSORS if not rows[n]['diverged']]
    if bn_accs and not rows['googlenet']['diverged']:
        log(f"from the first steps: here GoogLeNet (no BN) {rows['googlenet']['test_acc']:.3f}, "
            f'the BN nets {min(bn_accs):.3f}-{max(bn_accs):.3f}.')
    best = max(rows, key=lambda n: -1 if rows[n]['diverged'] else rows[n]['test_acc'])
    return Answer(f'best after {epochs} short epochs: {best} ({rows[best]["test_acc"]:.3f}); '
                  + ', '.join(f"{n} {rows[n]['params'] / 1e6:.1f}M" for n in SUCCESSORS), rows)


@exercise('5.9.2', 'parameter sizes of AlexNet, VGG, NiN and GoogLeNet, and why')
def parameter_sizes(log=print) -> Answer:
    rows = {}
    for name in ('alexnet', 'vgg11', 'nin', 'googlenet'):
        t = trace(get_model(name), model_info(name).input_shape)
        leaves = [r for r in t.rows if r.is_leaf]
        dense = sum(r.params for r in leaves if r.type == 'Dense')
        rows[name] = {'params': t.total_params, 'dense': dense}
        log(f"  {name:<10} {t.total_params:>12,} params, "
            f"{dense / t.total_params:4.0%} in dense layers")
    log('AlexNet and VGG end in dense layers: flattening a 256x5x5 or 512x7x7 map into 4096 units')
    log('costs 26M or 103M weights, and 4096 -> 4096 another 17M. NiN and GoogLeNet have no such')
    log('layer: global average pooling turns each channel into one number, so at most one small')
    log('dense layer (GoogLeNet: 1024 -> 10) remains, and 1x1 convs shrink the channels before')
    log('each large conv (GoogLeNet) or replace dense layers per pixel (NiN).')
    ratio = rows['vgg11']['params'] / rows['googlenet']['params']
    return Answer(', '.join(f"{n} {r['params'] / 1e6:.1f}M" for n, r in rows.items())
                  + f'; no big dense layer, so NiN and GoogLeNet are {ratio:.0f}x smaller than VGG',
                  rows)
