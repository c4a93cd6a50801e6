"""DenseNet as in the book: d2l zh §5.12, `DenseBlock`s joined by `transition_block`s, for 96x96.

Huang, Liu, van der Maaten & Weinberger (2017), "Densely connected convolutional networks", CVPR.
Where a Residual block adds its input to its output, each `conv_block` of a dense block
concatenates them, so a block of n convs with growth rate g adds n * g channels. A transition
block (1x1 conv, 2x2/2 average pool) halves both the channels and the size. The book's net is
ResNet's stem, four dense blocks of 4 convs with growth rate 32, and three transitions.
"""
from mxnet.gluon import nn

from ..backend.npmode import concat_channels
from .registry import BookTraining, register

__all__ = ['DenseNet', 'DenseBlock', 'conv_block', 'transition_block', 'densenet']


# ----------------------------------------------------------------------------- blocks
def conv_block(num_channels: int) -> nn.HybridSequential:
    """d2l zh §5.12: batch norm, ReLU, then a 3x3 conv (the "pre-activation" order of ResNet v2)."""
    blk = nn.HybridSequential()
    blk.add(nn.BatchNorm(), nn.Activation('relu'),
            nn.Conv2D(num_channels, kernel_size=3, padding=1))
    return blk


class DenseBlock(nn.HybridBlock):
    """d2l zh §5.12 dense block: `num_convs` conv_blocks, each fed the concatenation of all
    before it.

    The output has C + num_convs * num_channels channels (`num_channels` is the growth rate).
    """

    def __init__(self, num_convs: int, num_channels: int, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.net = nn.HybridSequential()
            for _ in range(num_convs):
                self.net.add(conv_block(num_channels))

    def hybrid_forward(self, F, X):
        for blk in self.net:
            Y = blk(X)                        # (B, C, H, W) -> (B, g, H, W)
            X = concat_channels(F, X, Y)     # -> (B, C + g, H, W)
        return X


def transition_block(num_channels: int) -> nn.HybridSequential:
    """d2l zh §5.12: batch norm, ReLU, a 1x1 conv to `num_channels`, a 2x2/2 average pool."""
    blk = nn.HybridSequential()
    blk.add(nn.BatchNorm(), nn.Activation('relu'),
            nn.Conv2D(num_channels, kernel_size=1),   # (B, C, H, W) -> (B, c, H, W)
            nn.AvgPool2D(pool_size=2, strides=2))     # -> (B, c, H/2, W/2)
    return blk


# ----------------------------------------------------------------------------- net
class DenseNet(nn.HybridBlock):
    """Stem, dense and transition blocks, BN-ReLU-global pooling (`features`), a dense head
    (`output`).

    Parameters
    ----------
    num_convs_in_dense_blocks : conv_blocks per dense block (the book's [4, 4, 4, 4]).
    growth_rate : channels each conv_block adds (32).
    num_channels : channels of the stem (64).
    classes : number of outputs.
    """

    def __init__(self, num_convs_in_dense_blocks=(4, 4, 4, 4), growth_rate: int = 32,
                 num_channels: int = 64, classes: int = 10, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential()
            # ResNet's stem: (B, 1, 96, 96) -> (B, 64, 48, 48) -> (B, 64, 24, 24)
            self.features.add(nn.Conv2D(num_channels, kernel_size=7, strides=2, padding=3),
                              nn.BatchNorm(), nn.Activation('relu'),
                              nn.MaxPool2D(pool_size=3, strides=2, padding=1))
            last = len(num_convs_in_dense_blocks) - 1
            for i, num_convs in enumerate(num_convs_in_dense_blocks):
                self.features.add(DenseBlock(num_convs, growth_rate))
                # 64 -> 192; 96 -> 224; 112 -> 240; 120 -> 248
                num_channels += num_convs * growth_rate
                if i != last:  # halve channels and size between dense blocks: 24 -> 12 -> 6 -> 3
                    num_channels //= 2
                    self.features.add(transition_block(num_channels))
            self.features.add(nn.BatchNorm(), nn.Activation('relu'),
                              nn.GlobalAvgPool2D())  # -> (B, 248, 1, 1)
            # flattens (B, 248, 1, 1) -> (B, 248) implicitly
            self.output = nn.Dense(classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


# ----------------------------------------------------------------------------- constructors
@register('densenet', 'd2l zh §5.12', input_shape=(1, 1, 96, 96),
          book=BookTraining(lr=0.1, batch_size=256, resize=96))
def densenet(**kwargs) -> DenseNet:
    """d2l zh §5.12 DenseNet for 1x96x96 inputs (lr 0.1). 764,834 parameters (758,226 trainable)."""
    return DenseNet(**kwargs)
