"""Inception-ResNet-v1 at its paper's size (3x299x299, 1000 classes).

Szegedy, Ioffe, Vanhoucke & Alemi (2017), "Inception-v4, Inception-ResNet and the impact of
residual connections on learning", AAAI. Of the paper's two Inception-ResNets we build v1, the
one "with roughly the computational cost of Inception-v3" (v2 matches Inception-v4): the stem
of Fig. 14, 5 x Inception-ResNet-A (Fig. 10), Reduction-A (Fig. 7 with k, l, m, n = 192, 192,
256, 384 from Table 1), 10 x Inception-ResNet-B (Fig. 11), Reduction-B (Fig. 12), 5 x
Inception-ResNet-C (Fig. 13), average pooling, dropout (keep 0.8) and a dense layer.

Each residual module adds a linear 1x1 conv of its concatenated paths, scaled down (Sec. 3.3:
factors 0.1-0.3 keep training stable), to its input, then applies ReLU. As the paper says, BN
follows the ordinary convs but not the summations.
"""
from mxnet.gluon import nn

from .blocks import Branches, conv_bn
from .registry import register

__all__ = ['ResidualInception', 'InceptionResNetV1', 'inception_resnet_v1']


def _seq(*layers) -> nn.HybridSequential:
    s = nn.HybridSequential()
    s.add(*layers)
    return s


# ----------------------------------------------------------------------------- blocks
class ResidualInception(nn.HybridBlock):
    """relu(x + scale * up(concat(paths(x)))), `up` a linear 1x1 conv back to x's channels."""

    def __init__(self, paths: Branches, channels: int, scale: float, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        with self.name_scope():
            self.paths = paths
            self.up = nn.Conv2D(channels, 1)   # linear: no BN, no activation (Sec. 3.2)
            self.relu = nn.Activation('relu')

    def hybrid_forward(self, F, x):
        y = self.up(self.paths(x))            # (B, C, H, W) -> (B, sum c_i, H, W) -> (B, C, H, W)
        return self.relu(x + self.scale * y)


def block_a(scale: float) -> ResidualInception:
    """Fig. 10 (35x35x256): 1x1 32; 1x1 32-3x3 32; 1x1 32-3x3 32-3x3 32."""
    return ResidualInception(Branches(conv_bn(32, 1),
                                      _seq(conv_bn(32, 1), conv_bn(32, 3, 1, 1)),
                                      _seq(conv_bn(32, 1), conv_bn(32, 3, 1, 1),
                                           conv_bn(32, 3, 1, 1))), 256, scale)


def block_b(scale: float) -> ResidualInception:
    """Fig. 11 (17x17x896): 1x1 128; 1x1 128-1x7 128-7x1 128."""
    return ResidualInception(Branches(conv_bn(128, 1),
                                      _seq(conv_bn(128, 1), conv_bn(128, (1, 7), 1, (0, 3)),
                                           conv_bn(128, (7, 1), 1, (3, 0)))), 896, scale)


def block_c(scale: float) -> ResidualInception:
    """Fig. 13 (8x8x1792): 1x1 192; 1x1 192-1x3 192-3x1 192."""
    return ResidualInception(Branches(conv_bn(192, 1),
                                      _seq(conv_bn(192, 1), conv_bn(192, (1, 3), 1, (0, 1)),
                                           conv_bn(192, (3, 1), 1, (1, 0)))), 1792, scale)


def reduction_a(k=192, l=192, m=256, n=384) -> Branches:
    """Fig. 7: max pool 3x3/2; 3x3/2 n; 1x1 k-3x3 l-3x3/2 m. 35x35x256 -> 17x17x896."""
    return Branches(nn.MaxPool2D(3, 2), conv_bn(n, 3, 2),
                    _seq(conv_bn(k, 1), conv_bn(l, 3, 1, 1), conv_bn(m, 3, 2)))


def reduction_b() -> Branches:
    """Fig. 12: max pool; 1x1 256-3x3/2 384; 1x1 256-3x3/2 256; 1x1 256-3x3 256-3x3/2 256."""
    return Branches(nn.MaxPool2D(3, 2),
                    _seq(conv_bn(256, 1), conv_bn(384, 3, 2)),
                    _seq(conv_bn(256, 1), conv_bn(256, 3, 2)),
                    _seq(conv_bn(256, 1), conv_bn(256, 3, 1, 1), conv_bn(256, 3, 2)))


# ----------------------------------------------------------------------------- net
class InceptionResNetV1(nn.HybridSequential):
    """Stem, 5 x A, Reduction-A, 10 x B, Reduction-B, 5 x C, pool, dropout, dense (Fig. 15).

    Parameters
    ----------
    classes : outputs of the last dense layer.
    scales : residual scaling of the A, B and C modules (Sec. 3.3 suggests 0.1-0.3).
    dropout : dropout rate before the dense layer (keep 0.8 in Fig. 15).
    """

    def __init__(self, classes: int = 1000, scales=(0.17, 0.1, 0.2), dropout: float = 0.2,
                 **kwargs):
        super().__init__(**kwargs)
        a, b, c = scales
        with self.name_scope():
            self.add(_seq(conv_bn(32, 3, 2),      # (B, 3, 299, 299) -> (B, 32, 149, 149)
                          conv_bn(32, 3),         # -> (B, 32, 147, 147)
                          conv_bn(64, 3, 1, 1),   # -> (B, 64, 147, 147)
                          nn.MaxPool2D(3, 2),     # -> (B, 64, 73, 73)
                          conv_bn(80, 1),         # -> (B, 80, 73, 73)
                          conv_bn(192, 3),        # -> (B, 192, 71, 71)
                          conv_bn(256, 3, 2)))    # -> (B, 256, 35, 35)
            self.add(*[block_a(a) for _ in range(5)], reduction_a())   # -> (B, 896, 17, 17)
            self.add(*[block_b(b) for _ in range(10)], reduction_b())  # -> (B, 1792, 8, 8)
            self.add(*[block_c(c) for _ in range(5)])                  # -> (B, 1792, 8, 8)
            self.add(nn.GlobalAvgPool2D(), nn.Dropout(dropout),
                     nn.Dense(classes))                                # -> (B, classes)


# ----------------------------------------------------------------------------- constructors
@register('inception-resnet-v1', 'Szegedy et al. (2017) Fig. 15', input_shape=(1, 3, 299, 299),
          classes=1000)
def inception_resnet_v1(**kwargs) -> InceptionResNetV1:
    """Inception-ResNet-v1 of Szegedy et al. (2017) for 3x299x299 and 1000 classes."""
    return InceptionResNetV1(**kwargs)
