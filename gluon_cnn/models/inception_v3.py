"""Inception-v3 at its paper's size (3x299x299, 1000 classes), without the auxiliary head.

Szegedy, Vanhoucke, Ioffe, Shlens & Wojna (2016), "Rethinking the inception architecture for
computer vision", CVPR, Table 1: a stem of plain 3x3 convs, three 35x35 modules (Fig. 5: a 5x5
factorized into 3x3s), a grid reduction (Fig. 10), four 17x17 modules whose 7x7 convs are
factorized into 1x7 and 7x1 (Fig. 6), a reduction, and two 8x8 modules with side-by-side 1x3
and 3x1 convs (Fig. 7). The paper gives no per-path channels; ours are those of the released
TF-slim model (which keeps one 5x5 path in the 35x35 modules). Every conv is conv-BN-ReLU.
The auxiliary classifier is left out: it only adds a training loss.
"""
from mxnet.gluon import nn

from .blocks import Branches, conv_bn
from .registry import register

__all__ = ['InceptionV3', 'inception_v3']


def _seq(*layers) -> nn.HybridSequential:
    s = nn.HybridSequential()
    s.add(*layers)
    return s


def _cbn(c, k, s=1, p=0):
    return conv_bn(c, k, s, p, epsilon=1e-3)  # the released model's BN epsilon


def _avg_proj(c: int) -> nn.HybridSequential:
    return _seq(nn.AvgPool2D(3, 1, 1), _cbn(c, 1))


# ----------------------------------------------------------------------------- blocks
def module_35(pool_proj: int) -> Branches:
    """Fig. 5 (35x35): 1x1; 1x1-5x5; 1x1-3x3-3x3; avg pool-1x1. 224 + pool_proj channels."""
    return Branches(_cbn(64, 1),
                    _seq(_cbn(48, 1), _cbn(64, 5, 1, 2)),
                    _seq(_cbn(64, 1), _cbn(96, 3, 1, 1), _cbn(96, 3, 1, 1)),
                    _avg_proj(pool_proj))


def reduction_35_to_17() -> Branches:
    """Fig. 10: stride-2 3x3; 1x1-3x3-3x3/2; max pool. 35x35x288 -> 17x17x768."""
    return Branches(_cbn(384, 3, 2),
                    _seq(_cbn(64, 1), _cbn(96, 3, 1, 1), _cbn(96, 3, 2)),
                    nn.MaxPool2D(3, 2))


def module_17(c7: int) -> Branches:
    """Fig. 6 (17x17, n = 7): 1x1; 1x1-1x7-7x1; 1x1-(7x1-1x7)x2; avg pool-1x1. 768 channels."""
    row, col = ((1, 7), (0, 3)), ((7, 1), (3, 0))  # (kernel, padding) of 1x7 and 7x1
    return Branches(_cbn(192, 1),
                    _seq(_cbn(c7, 1), _cbn(c7, row[0], 1, row[1]), _cbn(192, col[0], 1, col[1])),
                    _seq(_cbn(c7, 1), _cbn(c7, col[0], 1, col[1]), _cbn(c7, row[0], 1, row[1]),
                         _cbn(c7, col[0], 1, col[1]), _cbn(192, row[0], 1, row[1])),
                    _avg_proj(192))


def reduction_17_to_8() -> Branches:
    """1x1-3x3/2; 1x1-1x7-7x1-3x3/2; max pool. 17x17x768 -> 8x8x1280."""
    return Branches(_seq(_cbn(192, 1), _cbn(320, 3, 2)),
                    _seq(_cbn(192, 1), _cbn(192, (1, 7), 1, (0, 3)),
                         _cbn(192, (7, 1), 1, (3, 0)), _cbn(192, 3, 2)),
                    nn.MaxPool2D(3, 2))


def _split_1x3_3x1(c: int) -> Branches:
    return Branches(_cbn(c, (1, 3), 1, (0, 1)), _cbn(c, (3, 1), 1, (1, 0)))


def module_8() -> Branches:
    """Fig. 7 (8x8): 1x1; 1x1-[1x3, 3x1]; 1x1-3x3-[1x3, 3x1]; avg pool-1x1. 2048 channels."""
    return Branches(_cbn(320, 1),
                    _seq(_cbn(384, 1), _split_1x3_3x1(384)),
                    _seq(_cbn(448, 1), _cbn(384, 3, 1, 1), _split_1x3_3x1(384)),
                    _avg_proj(192))


# ----------------------------------------------------------------------------- net
class InceptionV3(nn.HybridSequential):
    """Stem, 3 x 35x35, reduction, 4 x 17x17, reduction, 2 x 8x8, pool, dropout, dense.

    classes : outputs of the last dense layer.
    dropout : dropout rate before it (the released model keeps 80%).
    """

    def __init__(self, classes: int = 1000, dropout: float = 0.2, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.add(_seq(_cbn(32, 3, 2),          # (B, 3, 299, 299) -> (B, 32, 149, 149)
                          _cbn(32, 3),             # -> (B, 32, 147, 147)
                          _cbn(64, 3, 1, 1),       # -> (B, 64, 147, 147)
                          nn.MaxPool2D(3, 2),      # -> (B, 64, 73, 73)
                          _cbn(80, 1),             # -> (B, 80, 73, 73)
                          _cbn(192, 3),            # -> (B, 192, 71, 71)
                          nn.MaxPool2D(3, 2)))     # -> (B, 192, 35, 35)
            self.add(module_35(32), module_35(64), module_35(64))      # -> (B, 288, 35, 35)
            self.add(reduction_35_to_17())                             # -> (B, 768, 17, 17)
            self.add(*[module_17(c7) for c7 in (128, 160, 160, 192)])  # -> (B, 768, 17, 17)
            self.add(reduction_17_to_8())                              # -> (B, 1280, 8, 8)
            self.add(module_8(), module_8())                           # -> (B, 2048, 8, 8)
            self.add(nn.GlobalAvgPool2D(), nn.Dropout(dropout),
                     nn.Dense(classes))                                # -> (B, classes)


# ----------------------------------------------------------------------------- constructors
@register('inception-v3', 'Szegedy et al. (2016) Table 1', input_shape=(1, 3, 299, 299),
          classes=1000)
def inception_v3(**kwargs) -> InceptionV3:
    """Inception-v3 of Szegedy et al. (2016) for 3x299x299 and 1000 classes, no auxiliary head."""
    return InceptionV3(**kwargs)
