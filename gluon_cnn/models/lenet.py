"""LeNet as in the book: d2l zh §5.5 (max pooling, no padding) and d2l en §7.6 (padding 2,
average pooling), plus ReLU and batch-norm (d2l zh §5.10) variants, and one without pooling
(each conv strided instead) for `python -m gluon_cnn.viz shift`.

All follow LeCun et al. (1998), "Gradient-based learning applied to document recognition", in
outline only: two 5x5 conv + pooling stages and three dense layers. The faithful paper model is
in `lenet5.py`.
"""
from mxnet.gluon import nn

from .registry import BookTraining, register

__all__ = ['get_lenet', 'lenet', 'lenet_en', 'lenet_relu', 'lenet_bn',
           'lenet_strided']


# ----------------------------------------------------------------------------- net
def get_lenet(act='sigmoid', pool='max', padding=0, batch_norm=False, channels=(6, 16),
          kernel_size=5, widths=(120, 84), classes=10, **kwargs) -> nn.HybridSequential:
    """The book's layers in the book's order in one plain HybridSequential (d2l zh §5.5, §5.10),
    so that `for layer in net`, `net[0]` and `net[1].gamma` work as in the book. Not a subclass:
    widening and checkpoints rebuild and reload plain containers (gluon_cnn.training.widen).

    Parameters
    ----------
    act : activation of every hidden layer ('sigmoid' in the book, 'relu' for lenet-relu).
    pool : 'max' (d2l zh) or 'avg' (d2l en, closer to the paper's subsampling), or 'none': no
        pooling layer, each conv takes stride 2 instead (the same map sizes for 28x28 inputs).
    padding : padding of the first conv; 2 turns 28x28 into the paper's 32x32 geometry.
    batch_norm : BatchNorm between each hidden layer and its activation (d2l zh §5.10).
    channels, kernel_size, widths : the book's (6, 16), 5 and (120, 84); exercise 5.5.1 varies them.
    classes : number of outputs.
    """
    Pool = {'max': nn.MaxPool2D, 'avg': nn.AvgPool2D, 'none': None}[pool]
    stride = 1 if Pool else 2
    # a fixed prefix: the layers are lenet_conv0, ... in every net, whatever was built
    # before (the book's loop prints these names)
    net = nn.HybridSequential(**{'prefix': 'lenet_', **kwargs})
    with net.name_scope():
        for i, c in enumerate(channels):
            pad = padding if i == 0 else 0
            # (B, C, H, W) -> (B, c, H + 2p - k + 1, W + 2p - k + 1) -> pooling halves H, W
            net.add(*_hidden(lambda a: nn.Conv2D(c, kernel_size, stride, pad, activation=a),
                             act, batch_norm))
            if Pool:
                net.add(Pool(pool_size=2, strides=2))
        for w in widths:
            # the first Dense flattens (B, 16, 4, 4) -> (B, 256) implicitly
            net.add(*_hidden(lambda a: nn.Dense(w, activation=a), act, batch_norm))
        net.add(nn.Dense(classes))  # (B, 84) -> (B, classes)
    return net


def _hidden(make, act, batch_norm):
    """One hidden layer built by `make(activation)`; with BN: layer, BatchNorm, activation."""
    if batch_norm:  # the book normalizes the affine output, before the nonlinearity
        return [make(None), nn.BatchNorm(), nn.Activation(act)]
    return [make(act)]


# ----------------------------------------------------------------------------- constructors
# Each sets the book's choices as defaults that --model-kwargs may override (exercise 5.5.1).
@register('lenet', 'd2l zh §5.5', book=BookTraining(lr=0.9, batch_size=256))
def lenet(**kwargs):
    """d2l zh §5.5 LeNet: 28x28 input, sigmoid, max pooling. 44,426 parameters."""
    return get_lenet(**{'act': 'sigmoid', 'pool': 'max', 'padding': 0, **kwargs})


@register('lenet-en', 'd2l en §7.6')
def lenet_en(**kwargs):
    """d2l en §7.6 LeNet: padding 2, sigmoid, average pooling. 61,706 parameters."""
    return get_lenet(**{'act': 'sigmoid', 'pool': 'avg', 'padding': 2, **kwargs})


@register('lenet-relu', 'd2l zh §5.5')
def lenet_relu(**kwargs):
    """lenet with ReLU activations (and max pooling): trains at much smaller learning rates."""
    return get_lenet(**{'act': 'relu', 'pool': 'max', 'padding': 0, **kwargs})


@register('lenet-bn', 'd2l zh §5.10', book=BookTraining(lr=1.0, batch_size=256))
def lenet_bn(**kwargs):
    """d2l zh §5.10 LeNet with batch normalization after every conv and dense layer (lr 1.0)."""
    return get_lenet(**{'act': 'sigmoid', 'pool': 'max', 'padding': 0, 'batch_norm': True,
                        **kwargs})


@register('lenet-strided', 'Hung-yi Lee, ML lecture: CNN (no pooling)')
def lenet_strided(**kwargs):
    """lenet without pooling: each conv has stride 2 (28 -> 12 -> 4, as with pooling), like Go
    nets, where subsampling would destroy the pattern. 44,426 parameters."""
    return get_lenet(**{'act': 'sigmoid', 'pool': 'none', 'padding': 0, **kwargs})
