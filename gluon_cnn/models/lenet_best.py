"""The best LeNet-scale model: the answer to exercise 5.5.1 (d2l zh §5.5) carried to the end.

Under 100,000 parameters, >= 0.93 Fashion-MNIST test accuracy with `python train.py --preset best`.
LeNet's outline (conv stages that halve the image, then a classifier on the small map) with the
tools of the chapter's later sections:
- stacked 3x3 convolutions instead of 5x5 (Simonyan & Zisserman (2014), "Very deep convolutional
  networks", VGG): more depth and nonlinearity for fewer parameters (d2l zh §5.7);
- batch normalization after every conv (Ioffe & Szegedy (2015); d2l zh §5.10), so the conv
  needs no bias and ReLU trains at a large learning rate;
- padding 1 keeps 28 -> 14 -> 7 -> 3 exact under 2x2 max pooling;
- the classifier is one Dense on the flattened (B, C, 3, 3) map: a 3x3 map still says where things
  are (a sleeve, a heel), which global average pooling would throw away. Width and depth are spent
  where the image is small: one conv each at 28x28 and 14x14, where MACs cost most, two at 7x7 (4.7M
  MACs per image by gluon_cnn.trace; under a minute per epoch on 2 cores).
"""
from mxnet.gluon import nn

from .registry import register

__all__ = ['get_lenet_best', 'lenet_best']

# ----------------------------------------------------------------------------- specification
# Channels per 3x3 conv, 'M' a 2x2 max pool: (B, 1, 28, 28) -> ... -> (B, 96, 3, 3).
BEST_SPEC = (16, 'M', 32, 'M', 64, 96, 'M')


# ----------------------------------------------------------------------------- net
def get_lenet_best(spec=BEST_SPEC, classes: int = 10, **kwargs) -> nn.HybridSequential:
    """Conv-BN-ReLU stages from `spec`, then Dense(classes): one plain HybridSequential, like the
    book's LeNet, so `for layer in net` prints every layer's output."""
    # a fixed prefix: the layers are lenet_best_conv0, ... in every net, whatever was built
    # before (the book's loop prints these names)
    net = nn.HybridSequential(**{'prefix': 'lenet_best_', **kwargs})
    with net.name_scope():
        for s in spec:
            if s == 'M':  # (B, C, H, W) -> (B, C, H//2, W//2)
                net.add(nn.MaxPool2D(pool_size=2, strides=2))
            else:  # (B, C, H, W) -> (B, s, H, W); BN's beta stands in for the conv's bias
                net.add(nn.Conv2D(s, 3, padding=1, use_bias=False), nn.BatchNorm(),
                        nn.Activation('relu'))
        net.add(nn.Dense(classes))  # flattens (B, 96, 3, 3) -> (B, 864) -> (B, 10)
    return net


# ----------------------------------------------------------------------------- constructors
@register('lenet-best', 'd2l zh §5.5, exercise 5.5.1')
def lenet_best(**kwargs):
    """get_lenet_best with BEST_SPEC: 87,546 trainable parameters (87,962 with BN's moving
    statistics), 4.7M MACs per image; trained by `python train.py --preset best`."""
    return get_lenet_best(**kwargs)
