"""Network in Network as in the book: d2l zh §5.8, `nin_block`s and global average pooling.

Lin, Chen & Yan (2014), "Network in network", ICLR. Each block is a conv followed by two 1x1
convs, which act as a dense layer applied at every pixel. There are no dense layers: the last
block has one channel per class and global average pooling turns each channel into a score.
The kernel sizes and channels follow AlexNet (d2l zh §5.6).
"""
from mxnet.gluon import nn

from .registry import BookTraining, register

__all__ = ['get_nin', 'nin_block', 'nin']


# ----------------------------------------------------------------------------- blocks
def nin_block(num_channels: int, kernel_size: int, strides: int,
              padding: int) -> nn.HybridSequential:
    """d2l zh §5.8: a conv with the given geometry, then two 1x1 convs (per-pixel dense layers)."""
    blk = nn.HybridSequential()
    blk.add(nn.Conv2D(num_channels, kernel_size, strides, padding, activation='relu'),
            nn.Conv2D(num_channels, kernel_size=1, activation='relu'),
            nn.Conv2D(num_channels, kernel_size=1, activation='relu'))
    return blk


# ----------------------------------------------------------------------------- net
def get_nin(classes: int = 10, dropout: float = 0.5, ratio: int = 1,
            **kwargs) -> nn.HybridSequential:
    """Three `nin_block`s with max pooling, then a class-wide block and global pooling: the book's
    order in one plain HybridSequential (`for layer in net` prints the book's table).

    Parameters
    ----------
    classes : number of outputs: the last nin_block's channels.
    dropout : dropout rate before the last block (the book's 0.5).
    ratio : the first three blocks' channels divided by this (as VGG's `ratio`, d2l zh §5.7).
    """
    # a fixed prefix: the layers are nin_conv0, ... in every net, whatever was built
    # before (the book's loop prints these names)
    net = nn.HybridSequential(**{'prefix': 'nin_', **kwargs})
    with net.name_scope():
        net.add(
            # (B, 1, 224, 224) -> (B, 96, 54, 54)
            nin_block(96 // ratio, kernel_size=11, strides=4, padding=0),
            nn.MaxPool2D(pool_size=3, strides=2),                  # -> (B, 96, 26, 26)
            nin_block(256 // ratio, kernel_size=5, strides=1, padding=2),   # -> (B, 256, 26, 26)
            nn.MaxPool2D(pool_size=3, strides=2),                  # -> (B, 256, 12, 12)
            nin_block(384 // ratio, kernel_size=3, strides=1, padding=1),   # -> (B, 384, 12, 12)
            nn.MaxPool2D(pool_size=3, strides=2),                  # -> (B, 384, 5, 5)
            nn.Dropout(dropout),
            nin_block(classes, kernel_size=3, strides=1, padding=1),  # -> (B, classes, 5, 5)
            nn.GlobalAvgPool2D(),                                     # -> (B, classes, 1, 1)
            nn.Flatten())                                             # -> (B, classes)
    return net


# ----------------------------------------------------------------------------- constructors
@register('nin', 'd2l zh §5.8', input_shape=(1, 1, 224, 224),
          book=BookTraining(lr=0.1, batch_size=128, resize=224))
def nin(**kwargs) -> nn.HybridSequential:
    """d2l zh §5.8 NiN for 1x224x224 inputs (lr 0.1). 1,992,166 parameters."""
    return get_nin(**kwargs)
