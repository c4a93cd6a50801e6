"""Building blocks shared by the paper-table models (Inception-BN, Inception-v3,
Inception-ResNet, ResNet and DenseNet at ImageNet size).

`conv_bn` is the conv -> batch norm -> ReLU unit of Ioffe & Szegedy (2015), used by every
Inception after it; `Branches` runs several paths on one input and concatenates them along
channels, the shape of every Inception module since Szegedy et al. (2015).
"""
from typing import Union

from mxnet.gluon import nn

from ..backend.npmode import concat_channels

__all__ = ['conv_bn', 'Branches']

Size = Union[int, tuple]


# a conv without bias (the BN's beta is the shift), its BN, and a ReLU unless relu=False
def conv_bn(channels: int, kernel: Size, strides: Size = 1, padding: Size = 0,
            relu: bool = True, epsilon: float = 1e-5) -> nn.HybridSequential:
    blk = nn.HybridSequential()
    blk.add(nn.Conv2D(channels, kernel, strides, padding, use_bias=False),
            nn.BatchNorm(epsilon=epsilon))
    if relu:
        blk.add(nn.Activation('relu'))
    return blk


class Branches(nn.HybridBlock):
    """Paths applied to the same input, outputs concatenated along channels.

    The paths are children `p0`, `p1`, ... (not a Sequential: they run side by side). Each must
    keep the same height and width, so their outputs can be stacked.
    """

    def __init__(self, *paths: nn.HybridBlock, **kwargs):
        super().__init__(**kwargs)
        assert paths, 'at least one path'
        self._count = len(paths)
        for i, p in enumerate(paths):
            setattr(self, f'p{i}', p)  # registers the child under a stable name

    def hybrid_forward(self, F, x):
        outs = [getattr(self, f'p{i}')(x) for i in range(self._count)]  # (B, c_i, H', W') each
        return concat_channels(F, *outs)                                 # -> (B, sum c_i, H', W')
