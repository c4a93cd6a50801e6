"""DenseNet-121/169/201/264 of the paper, at ImageNet size (3x224x224, 1000 classes).

Huang, Liu, van der Maaten & Weinberger (2017), "Densely connected convolutional networks",
CVPR, Table 1. These are DenseNet-BC nets: each layer of a dense block is a bottleneck
(BN-ReLU-1x1 conv to 4k channels, BN-ReLU-3x3 conv to k, the growth rate k = 32) whose output is
concatenated to its input, and each transition (BN-ReLU-1x1 conv, 2x2/2 average pool) keeps
half the channels (compression 0.5). The book's DenseNet (`densenet.py`) has neither the
bottleneck nor the 224x224 stem sizes.
"""
from mxnet.gluon import nn

from ..backend.npmode import concat_channels
from .registry import register_depths

__all__ = ['DenseLayer', 'PaperDenseNet', 'get_paper_densenet', 'DENSENET_TABLE1']


# ----------------------------------------------------------------------------- blocks
def _bn_relu_conv(channels: int, kernel: int) -> list:
    return [nn.BatchNorm(), nn.Activation('relu'),
            nn.Conv2D(channels, kernel, padding=kernel // 2, use_bias=False)]


class DenseLayer(nn.HybridBlock):
    """One bottleneck layer of a dense block: concat(x, 3x3(1x1(x))) adds `growth` channels."""

    def __init__(self, growth: int, bottleneck: int = 4, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.body = nn.HybridSequential()
            self.body.add(*_bn_relu_conv(bottleneck * growth, 1),  # (B, C, H, W) -> (B, 4k, H, W)
                          *_bn_relu_conv(growth, 3))               # -> (B, k, H, W)

    def hybrid_forward(self, F, x):
        return concat_channels(F, x, self.body(x))  # -> (B, C + k, H, W)


def _transition(channels: int) -> nn.HybridSequential:
    blk = nn.HybridSequential()
    blk.add(*_bn_relu_conv(channels, 1), nn.AvgPool2D(2, 2))  # (B, C, H, W) -> (B, c, H/2, W/2)
    return blk


# ----------------------------------------------------------------------------- net
class PaperDenseNet(nn.HybridSequential):
    """Stem, dense blocks with transitions between, BN-ReLU, pooling, dense (Table 1's order).

    Parameters
    ----------
    layers : bottleneck layers per dense block, e.g. (6, 12, 24, 16) for DenseNet-121.
    growth : channels each layer adds (k = 32 in Table 1).
    compression : fraction of channels a transition keeps (0.5 for DenseNet-BC).
    classes : outputs of the last dense layer.
    """

    def __init__(self, layers, growth: int = 32, compression: float = 0.5,
                 classes: int = 1000, **kwargs):
        super().__init__(**kwargs)
        channels = 2 * growth  # the stem's 2k channels
        with self.name_scope():
            stem = nn.HybridSequential()  # (B, 3, 224, 224) -> (B, 64, 112, 112) -> (B, 64, 56, 56)
            stem.add(nn.Conv2D(channels, 7, 2, 3, use_bias=False), nn.BatchNorm(),
                     nn.Activation('relu'), nn.MaxPool2D(3, 2, 1))
            self.add(stem)
            for i, n in enumerate(layers):  # 56 -> 28 -> 14 -> 7 between the blocks
                block = nn.HybridSequential()
                block.add(*[DenseLayer(growth) for _ in range(n)])
                self.add(block)
                channels += n * growth
                if i != len(layers) - 1:
                    channels = int(channels * compression)
                    self.add(_transition(channels))
            self.add(nn.BatchNorm(), nn.Activation('relu'),
                     nn.GlobalAvgPool2D(),   # -> (B, C, 1, 1)
                     nn.Dense(classes))      # flattens -> (B, classes)


# ----------------------------------------------------------------------------- specification
# Huang et al. (2017) Table 1: depth -> layers per dense block (k = 32)
DENSENET_TABLE1 = {
    121: (6, 12, 24, 16),
    169: (6, 12, 32, 32),
    201: (6, 12, 48, 32),
    264: (6, 12, 64, 48),
}


# ----------------------------------------------------------------------------- constructors
def get_paper_densenet(depth: int, **kwargs) -> PaperDenseNet:
    """DenseNet-`depth` (BC, k = 32) of Table 1; kwargs to PaperDenseNet."""
    return PaperDenseNet(DENSENET_TABLE1[depth], **kwargs)


densenet121_imagenet, densenet169_imagenet, densenet201_imagenet, densenet264_imagenet = \
    register_depths('densenet{}-imagenet', 'Huang et al. (2017) Table 1', get_paper_densenet,
                    DENSENET_TABLE1, 'DenseNet-{} (BC, k = 32) of Huang et al. (2017) Table 1, '
                    '224x224x3.', input_shape=(1, 3, 224, 224), classes=1000)
