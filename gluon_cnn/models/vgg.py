"""VGG as in the book: d2l zh §5.7, networks built from repeated `vgg_block`s.

Simonyan & Zisserman (2015), "Very deep convolutional networks for large-scale image
recognition", ICLR. A block is n 3x3 convs (padding 1, so the size is kept) and a 2x2/2 max pool
that halves it; the net is five blocks, then AlexNet's dense head. The book trains VGG-11
(configuration A of the paper's Table 1) and, because it is slow, a 4x narrower copy of it.
"""
from mxnet.gluon import nn

from .registry import BookTraining, register

__all__ = ['VGG', 'vgg_block', 'get_vgg', 'vgg11', 'vgg11_small', 'VGG_SPEC']


# ----------------------------------------------------------------------------- blocks
def vgg_block(num_convs: int, num_channels: int) -> nn.HybridSequential:
    """d2l zh §5.7: `num_convs` 3x3 convs with `num_channels` outputs, then a 2x2/2 max pool."""
    blk = nn.HybridSequential()
    for _ in range(num_convs):  # padding 1 keeps the size: (B, C, H, W) -> (B, c, H, W)
        blk.add(nn.Conv2D(num_channels, kernel_size=3, padding=1, activation='relu'))
    blk.add(nn.MaxPool2D(pool_size=2, strides=2))  # -> (B, c, H/2, W/2)
    return blk


# ----------------------------------------------------------------------------- net
class VGG(nn.HybridBlock):
    """The `vgg_block`s of `conv_arch` and two dense hidden layers (`features`), a dense head
    (`output`).

    Parameters
    ----------
    conv_arch : ((num_convs, num_channels), ...) per block; the book's VGG-11 is VGG_SPEC[11].
    classes : number of outputs.
    width : units of each of the two dense hidden layers (4096 in the paper and the book).
    dropout : dropout rate after each dense hidden layer.
    """

    def __init__(self, conv_arch, classes: int = 10, width: int = 4096, dropout: float = 0.5,
                 **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential()
            for num_convs, num_channels in conv_arch:  # 224 -> 112 -> 56 -> 28 -> 14 -> 7
                self.features.add(vgg_block(num_convs, num_channels))
            # the first Dense flattens (B, 512, 7, 7) -> (B, 25088) implicitly
            self.features.add(nn.Dense(width, activation='relu'), nn.Dropout(dropout),
                              nn.Dense(width, activation='relu'), nn.Dropout(dropout))
            self.output = nn.Dense(classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


# ----------------------------------------------------------------------------- specification
# depth -> conv_arch; configurations A, B, D, E of the paper's Table 1 (d2l zh §5.7 uses A)
VGG_SPEC = {
    11: ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),
    13: ((2, 64), (2, 128), (2, 256), (2, 512), (2, 512)),
    16: ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),
    19: ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),
}


# ----------------------------------------------------------------------------- constructors
def get_vgg(num_layers: int, ratio: int = 1, **kwargs) -> VGG:
    """VGG-`num_layers` from VGG_SPEC with every conv's channels divided by `ratio`."""
    return VGG([(n, c // ratio) for n, c in VGG_SPEC[num_layers]], **kwargs)


@register('vgg11', 'd2l zh §5.7', input_shape=(1, 1, 224, 224),
          book=BookTraining(lr=0.05, batch_size=128, resize=224))
def vgg11(**kwargs) -> VGG:
    """d2l zh §5.7 VGG-11 for 1x224x224 inputs: 8 convs, 3 dense layers. 128,806,154 parameters."""
    return get_vgg(11, **kwargs)


@register('vgg11-small', 'd2l zh §5.7', input_shape=(1, 1, 224, 224),
          book=BookTraining(lr=0.05, batch_size=128, resize=224))
def vgg11_small(**kwargs) -> VGG:
    """d2l zh §5.7 VGG-11 with 4x fewer channels (ratio 4), the one the book trains (lr 0.05).

    43,093,322 parameters: the dense head keeps its 4096 units, so it holds 98% of them.
    """
    return get_vgg(11, ratio=4, **kwargs)
