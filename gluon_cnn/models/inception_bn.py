"""Inception with batch normalization (BN-Inception), at ImageNet size (3x224x224, 1000 classes).

Ioffe & Szegedy (2015), "Batch normalization: accelerating deep network training by reducing
internal covariate shift", ICML, Appendix Fig. 5: GoogLeNet with a BN after every conv, each
5x5 conv replaced by two 3x3 convs, a third 28x28 module, average or max pooling in the pool
path, and stride-2 modules (3c, 4e) instead of pooling layers between stages.

Fig. 5's output column says 576 channels after 4c and 4d, but its per-path columns add up to
608 (160 + 160 + 160 + 128); like the released implementations we follow the per-path columns,
so 4e outputs 1056 channels, not 1024.
"""
from mxnet.gluon import nn

from .blocks import Branches, conv_bn
from .registry import register

__all__ = ['inception_bn_module', 'InceptionBN', 'inception_bn', 'INCEPTION_BN_FIG5']


# ----------------------------------------------------------------------------- blocks
def inception_bn_module(c1: int, c3r: int, c3: int, d3r: int, d3: int, pool: str, proj: int,
                        strides: int = 1) -> Branches:
    """One row of Fig. 5: #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool+proj.

    strides 2 (modules 3c, 4e): no 1x1 path, the 3x3s and the max pool halve the size, and the
    pool path passes its input through (proj 0).
    """
    paths = []
    if c1:
        paths.append(conv_bn(c1, 1))
    three = nn.HybridSequential()     # 1x1 reduce, 3x3
    three.add(conv_bn(c3r, 1), conv_bn(c3, 3, strides, 1))
    double = nn.HybridSequential()    # 1x1 reduce, 3x3, 3x3: the paper's 5x5 replacement
    double.add(conv_bn(d3r, 1), conv_bn(d3, 3, 1, 1), conv_bn(d3, 3, strides, 1))
    pooling = nn.HybridSequential()
    pooling.add(nn.AvgPool2D(3, strides, 1) if pool == 'avg' else nn.MaxPool2D(3, strides, 1))
    if proj:
        pooling.add(conv_bn(proj, 1))
    return Branches(*paths, three, double, pooling)


# ----------------------------------------------------------------------------- net
class InceptionBN(nn.HybridSequential):
    """Stem, modules 3a ... 5b, pooling, dense: Fig. 5 top to bottom.

    classes : outputs of the last dense layer.
    """

    def __init__(self, classes: int = 1000, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            stem = nn.HybridSequential()  # (B, 3, 224, 224) -> (B, 192, 28, 28)
            stem.add(conv_bn(64, 7, 2, 3),                 # -> (B, 64, 112, 112)
                     nn.MaxPool2D(3, 2, 1),                # -> (B, 64, 56, 56)
                     conv_bn(64, 1), conv_bn(192, 3, 1, 1),
                     nn.MaxPool2D(3, 2, 1))                # -> (B, 192, 28, 28)
            self.add(stem)
            for row in INCEPTION_BN_FIG5:  # 28 -> 3c -> 14 -> 4e -> 7
                self.add(inception_bn_module(*row))
            self.add(nn.GlobalAvgPool2D(),  # -> (B, 1024, 1, 1)
                     nn.Dense(classes))     # flattens -> (B, classes)


# ----------------------------------------------------------------------------- specification
# Fig. 5: (#1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool, proj, stride)
INCEPTION_BN_FIG5 = (
    (64, 64, 64, 64, 96, 'avg', 32, 1),        # 3a: 256 channels
    (64, 64, 96, 64, 96, 'avg', 64, 1),        # 3b: 320
    (0, 128, 160, 64, 96, 'max', 0, 2),        # 3c: 576, 14x14
    (224, 64, 96, 96, 128, 'avg', 128, 1),     # 4a: 576
    (192, 96, 128, 96, 128, 'avg', 128, 1),    # 4b: 576
    (160, 128, 160, 128, 160, 'avg', 128, 1),  # 4c: 608
    (96, 128, 192, 160, 192, 'avg', 128, 1),   # 4d: 608
    (0, 128, 192, 192, 256, 'max', 0, 2),      # 4e: 1056, 7x7
    (352, 192, 320, 160, 224, 'avg', 128, 1),  # 5a: 1024
    (352, 192, 320, 192, 224, 'max', 128, 1),  # 5b: 1024
)


# ----------------------------------------------------------------------------- constructors
@register('inception-bn', 'Ioffe & Szegedy (2015) Fig. 5', input_shape=(1, 3, 224, 224),
          classes=1000)
def inception_bn(**kwargs) -> InceptionBN:
    """BN-Inception of Ioffe & Szegedy (2015) for 3x224x224 and 1000 classes."""
    return InceptionBN(**kwargs)
