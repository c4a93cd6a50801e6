"""ResNet as in the book: d2l zh §5.11, `Residual` blocks in four stages, for 96x96 inputs.

He, Zhang, Ren & Sun (2016), "Deep residual learning for image recognition", CVPR. A residual
block adds its input to the output of two 3x3 conv + batch-norm layers before the last ReLU, so
it only has to learn the difference from the identity; a 1x1 conv reshapes the input when the
block changes the channels or halves the size. ResNet-18: a 7x7 stem, 4 stages of 2 blocks,
global average pooling and one dense layer.
"""
from mxnet.gluon import nn

from ..backend import npmode
from .registry import BookTraining, register

__all__ = ['ResNet', 'Residual', 'resnet_block', 'get_resnet', 'resnet18', 'RESNET_SPEC']


# ----------------------------------------------------------------------------- helpers
def _relu(F, x):
    """ReLU in classic and `npx.set_np()` mode (F.relu is legacy-only)."""
    return npmode.namespaces(F)[1].relu(x)


# ----------------------------------------------------------------------------- blocks
class Residual(nn.HybridBlock):
    """d2l zh §5.11 residual block: relu(bn(conv(relu(bn(conv(x))))) + x).

    Parameters
    ----------
    num_channels : output channels of both 3x3 convs.
    use_1x1conv : pass the input through a 1x1 conv (needed when channels or size change).
    strides : stride of the first 3x3 conv and of the 1x1 conv; 2 halves height and width.
    """

    def __init__(self, num_channels: int, use_1x1conv: bool = False, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.conv1 = nn.Conv2D(num_channels, kernel_size=3, padding=1, strides=strides)
            self.conv2 = nn.Conv2D(num_channels, kernel_size=3, padding=1)
            self.conv3 = (nn.Conv2D(num_channels, kernel_size=1, strides=strides)
                          if use_1x1conv else None)
            self.bn1 = nn.BatchNorm()
            self.bn2 = nn.BatchNorm()

    def hybrid_forward(self, F, X):
        Y = _relu(F, self.bn1(self.conv1(X)))  # (B, C, H, W) -> (B, c, H/s, W/s)
        Y = self.bn2(self.conv2(Y))            # -> (B, c, H/s, W/s)
        if self.conv3 is not None:
            X = self.conv3(X)                  # (B, C, H, W) -> (B, c, H/s, W/s), to match Y
        return _relu(F, Y + X)


def resnet_block(num_channels: int, num_residuals: int,
                 first_block: bool = False) -> nn.HybridSequential:
    """d2l zh §5.11: `num_residuals` Residual blocks; all but the first stage start by halving
    the size."""
    blk = nn.HybridSequential()
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.add(Residual(num_channels, use_1x1conv=True, strides=2))
        else:
            blk.add(Residual(num_channels))
    return blk


# ----------------------------------------------------------------------------- net
class ResNet(nn.HybridBlock):
    """Stem, residual stages and global average pooling (`features`), a dense head (`output`).

    Parameters
    ----------
    layers : Residual blocks per stage, e.g. (2, 2, 2, 2) for ResNet-18.
    channels : output channels per stage, e.g. (64, 128, 256, 512).
    classes : number of outputs.
    """

    def __init__(self, layers, channels, classes: int = 10, **kwargs):
        super().__init__(**kwargs)
        assert len(layers) == len(channels), 'one channel count per stage'
        with self.name_scope():
            self.features = nn.HybridSequential()
            # GoogLeNet's stem plus batch norm: (B, 1, 96, 96) -> (B, 64, 48, 48) -> (B, 64, 24, 24)
            self.features.add(nn.Conv2D(channels[0], kernel_size=7, strides=2, padding=3),
                              nn.BatchNorm(), nn.Activation('relu'),
                              nn.MaxPool2D(pool_size=3, strides=2, padding=1))
            for i, (n, c) in enumerate(zip(layers, channels)):
                # the stem already halved twice, so stage 1 keeps the size; each later one halves it
                self.features.add(resnet_block(c, n, first_block=(i == 0)))  # 24 -> 24, 12, 6, 3
            self.features.add(nn.GlobalAvgPool2D())  # -> (B, 512, 1, 1)
            # flattens (B, 512, 1, 1) -> (B, 512) implicitly
            self.output = nn.Dense(classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


# ----------------------------------------------------------------------------- specification
# depth -> (blocks per stage, channels per stage); basic-block rows of the paper's Table 1
RESNET_SPEC = {
    18: ((2, 2, 2, 2), (64, 128, 256, 512)),
    34: ((3, 4, 6, 3), (64, 128, 256, 512)),
}


# ----------------------------------------------------------------------------- constructors
def get_resnet(num_layers: int, **kwargs) -> ResNet:
    """ResNet-`num_layers` from RESNET_SPEC (basic residual blocks only)."""
    layers, channels = RESNET_SPEC[num_layers]
    return ResNet(layers, channels, **kwargs)


@register('resnet18', 'd2l zh §5.11', input_shape=(1, 1, 96, 96),
          book=BookTraining(lr=0.05, batch_size=256, resize=96))
def resnet18(**kwargs) -> ResNet:
    """d2l zh §5.11 ResNet-18 for 1x96x96 inputs (lr 0.05). 11,186,186 parameters
    (11,178,378 trainable)."""
    return get_resnet(18, **kwargs)
