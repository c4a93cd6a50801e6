"""GoogLeNet as in the book: d2l zh §5.9, five stages of `Inception` blocks, for 96x96 inputs.

Szegedy et al. (2015), "Going deeper with convolutions", CVPR. An Inception block runs four
paths side by side (1x1; 1x1 then 3x3; 1x1 then 5x5; 3x3 max pool then 1x1), each padded to keep
the size, and concatenates them along channels. The book trains at 96x96 instead of 224 to save
time, and has no auxiliary classifiers.
"""
from mxnet.gluon import nn

from ..backend.npmode import concat_channels
from .registry import BookTraining, register

__all__ = ['GoogLeNet', 'Inception', 'googlenet', 'INCEPTION_SPEC']


# ----------------------------------------------------------------------------- blocks
class Inception(nn.HybridBlock):
    """d2l zh §5.9 Inception block; c1-c4 are the output channels of the four paths.

    c2 and c3 are pairs: (channels of the 1x1 reduction, channels of the 3x3 or 5x5 conv).
    The output has c1 + c2[1] + c3[1] + c4 channels and the input's height and width.
    """

    def __init__(self, c1: int, c2: tuple, c3: tuple, c4: int, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            # path 1: a single 1x1 conv
            self.p1_1 = nn.Conv2D(c1, kernel_size=1, activation='relu')
            # path 2: a 1x1 conv cuts the channels before the 3x3 conv
            self.p2_1 = nn.Conv2D(c2[0], kernel_size=1, activation='relu')
            self.p2_2 = nn.Conv2D(c2[1], kernel_size=3, padding=1, activation='relu')
            # path 3: a 1x1 conv cuts the channels before the 5x5 conv
            self.p3_1 = nn.Conv2D(c3[0], kernel_size=1, activation='relu')
            self.p3_2 = nn.Conv2D(c3[1], kernel_size=5, padding=2, activation='relu')
            # path 4: 3x3 max pool (stride 1) then a 1x1 conv
            self.p4_1 = nn.MaxPool2D(pool_size=3, strides=1, padding=1)
            self.p4_2 = nn.Conv2D(c4, kernel_size=1, activation='relu')

    def hybrid_forward(self, F, x):
        p1 = self.p1_1(x)                  # (B, C, H, W) -> (B, c1, H, W)
        p2 = self.p2_2(self.p2_1(x))       # -> (B, c2[1], H, W)
        p3 = self.p3_2(self.p3_1(x))       # -> (B, c3[1], H, W)
        p4 = self.p4_2(self.p4_1(x))       # -> (B, c4, H, W)
        return concat_channels(F, p1, p2, p3, p4)  # -> (B, c1 + c2[1] + c3[1] + c4, H, W)


# ----------------------------------------------------------------------------- net
class GoogLeNet(nn.HybridBlock):
    """Stages b1-b5 (`features`, each ending in a pool) and a dense head (`output`).

    Parameters
    ----------
    classes : number of outputs.
    spec : Inception arguments per stage, for b3, b4 and b5 (default INCEPTION_SPEC).
    ratio : every conv's channels divided by this (as VGG's `ratio`, d2l zh §5.7; 1 is the book's).
    """

    def __init__(self, classes: int = 10, spec=None, ratio: int = 1, **kwargs):
        super().__init__(**kwargs)
        b3, b4, b5 = _narrowed(spec or INCEPTION_SPEC, ratio)
        with self.name_scope():
            self.features = nn.HybridSequential()
            b1 = nn.HybridSequential()  # 7x7/2 conv, 3x3/2 pool: (B, 1, 96, 96) -> (B, 64, 24, 24)
            b1.add(nn.Conv2D(64 // ratio, kernel_size=7, strides=2, padding=3, activation='relu'),
                   nn.MaxPool2D(pool_size=3, strides=2, padding=1))
            b2 = nn.HybridSequential()  # path 2 of an Inception block, alone: -> (B, 192, 12, 12)
            # The book's 1st edition leaves these two convs linear; the paper and later editions
            # apply ReLU, and so do we.
            b2.add(nn.Conv2D(64 // ratio, kernel_size=1, activation='relu'),
                   nn.Conv2D(192 // ratio, kernel_size=3, padding=1, activation='relu'),
                   nn.MaxPool2D(pool_size=3, strides=2, padding=1))

            def halve():
                return nn.MaxPool2D(pool_size=3, strides=2, padding=1)

            self.features.add(b1, b2,
                              _stage(b3, halve()),                # -> (B, 480, 6, 6)
                              _stage(b4, halve()),                # -> (B, 832, 3, 3)
                              _stage(b5, nn.GlobalAvgPool2D()))   # -> (B, 1024, 1, 1)
            self.output = nn.Dense(classes)  # flattens (B, 1024, 1, 1) -> (B, 1024) implicitly

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def _narrowed(spec, ratio: int):
    """`spec` with every channel count divided by `ratio`."""
    def cut(c):
        return tuple(cut(x) for x in c) if isinstance(c, tuple) else c // ratio
    return [[cut(tuple(args)) for args in stage] for stage in spec]


def _stage(inceptions, pool) -> nn.HybridSequential:
    """Inception blocks in a row, then the stage's pooling layer."""
    blk = nn.HybridSequential()
    blk.add(*[Inception(*args) for args in inceptions], pool)
    return blk


# ----------------------------------------------------------------------------- specification
# (c1, c2, c3, c4) per Inception block of stages b3, b4, b5 (d2l zh §5.9; the paper's Table 1)
INCEPTION_SPEC = (
    [(64, (96, 128), (16, 32), 32),           # 256 channels
     (128, (128, 192), (32, 96), 64)],        # 480
    [(192, (96, 208), (16, 48), 64),          # 512
     (160, (112, 224), (24, 64), 64),         # 512
     (128, (128, 256), (24, 64), 64),         # 512
     (112, (144, 288), (32, 64), 64),         # 528
     (256, (160, 320), (32, 128), 128)],      # 832
    [(256, (160, 320), (32, 128), 128),       # 832
     (384, (192, 384), (48, 128), 128)],      # 1024
)


# ----------------------------------------------------------------------------- constructors
@register('googlenet', 'd2l zh §5.9', input_shape=(1, 1, 96, 96),
          book=BookTraining(lr=0.1, batch_size=128, resize=96))
def googlenet(**kwargs) -> GoogLeNet:
    """d2l zh §5.9 GoogLeNet for 1x96x96 inputs (lr 0.1). 5,977,530 parameters."""
    return GoogLeNet(**kwargs)
