"""ResNet-18/34/50/101/152 of the papers, at ImageNet size (3x224x224, 1000 classes).

He, Zhang, Ren & Sun (2016), "Deep residual learning for image recognition", CVPR, Table 1:
a 7x7/2 conv and a 3x3/2 max pool, four stages (conv2_x ... conv5_x) of basic blocks (two 3x3
convs; 18 and 34 layers) or bottleneck blocks (1x1 reduce, 3x3, 1x1 expand to 4x; 50, 101,
152 layers), global average pooling and a 1000-way dense layer. Shortcuts are identities
except where the shape changes: there a 1x1 conv projects (the paper's option B). As in the
paper, a bottleneck stage halves the size with a stride-2 first 1x1 conv (torchvision's
"v1.5" moves the stride to the 3x3, which costs 4.1G instead of 3.8G multiply-adds).

He, Zhang, Ren & Sun (2016b), "Identity mappings in deep residual networks", ECCV, Fig. 1:
the pre-activation blocks (`version=2`): BN and ReLU come before each conv, nothing follows the
addition, so the shortcut path is an identity from block to block.

Convs before a BN have no bias (the BN's beta is the shift), so the trainable parameters are
those of the paper's released models. The book's 96x96 net stays `resnet18` in resnet.py.
"""
from mxnet.gluon import nn

from .registry import register, register_depths

__all__ = ['BasicBlock', 'Bottleneck', 'PaperResNet', 'get_paper_resnet', 'RESNET_TABLE1']


# ----------------------------------------------------------------------------- helpers
def _bn_relu() -> list:
    return [nn.BatchNorm(), nn.Activation('relu')]


def _conv(channels: int, kernel: int, strides: int = 1) -> nn.Conv2D:
    """A bias-free conv that keeps the size at stride 1 (padding kernel // 2)."""
    return nn.Conv2D(channels, kernel, strides, kernel // 2, use_bias=False)


# ----------------------------------------------------------------------------- blocks
class _Residual(nn.HybridBlock):
    """body(x) + shortcut(x); version 1 adds a ReLU after the sum, version 2 pre-activates.

    Version 2 (pre-activation): the shared BN-ReLU (`pre`) runs on x first, and a projection
    shortcut reads its output (He et al. 2016b); an identity shortcut reads x itself.
    """

    def __init__(self, body: list, channels: int, strides: int, project: bool, version: int,
                 **kwargs):
        super().__init__(**kwargs)
        assert version in (1, 2), version
        self.version = version
        with self.name_scope():
            self.pre = None
            if version == 2:
                self.pre = nn.HybridSequential()
                self.pre.add(*_bn_relu())
            self.body = nn.HybridSequential()
            self.body.add(*body)
            self.shortcut = None
            if project:  # a 1x1 conv matches the body's channels and stride (option B)
                self.shortcut = nn.HybridSequential()
                self.shortcut.add(_conv(channels, 1, strides))
                if version == 1:
                    self.shortcut.add(nn.BatchNorm())
            self.post = nn.Activation('relu') if version == 1 else None

    def hybrid_forward(self, F, x):
        if self.version == 1:
            short = x if self.shortcut is None else self.shortcut(x)
            return self.post(self.body(x) + short)      # (B, C, H, W) -> (B, c, H/s, W/s)
        a = self.pre(x)
        short = x if self.shortcut is None else self.shortcut(a)
        return self.body(a) + short                      # no activation after the sum


class BasicBlock(_Residual):
    """Two 3x3 convs with `channels` outputs; `strides` 2 halves the size (Table 1, 18/34)."""

    def __init__(self, channels: int, strides: int = 1, project: bool = False,
                 version: int = 1, **kwargs):
        if version == 1:  # conv-BN-ReLU, conv-BN
            body = [_conv(channels, 3, strides), *_bn_relu(), _conv(channels, 3), nn.BatchNorm()]
        else:             # (BN-ReLU in `pre`) conv, BN-ReLU-conv
            body = [_conv(channels, 3, strides), *_bn_relu(), _conv(channels, 3)]
        super().__init__(body, channels, strides, project, version, **kwargs)


class Bottleneck(_Residual):
    """1x1 to channels/4, 3x3, 1x1 back to `channels` (Table 1, 50/101/152 layers).

    The stride sits on the first 1x1 conv as in the paper's released model.
    """

    def __init__(self, channels: int, strides: int = 1, project: bool = False,
                 version: int = 1, **kwargs):
        inner = channels // 4
        body = [_conv(inner, 1, strides), *_bn_relu(), _conv(inner, 3), *_bn_relu(),
                _conv(channels, 1)]
        if version == 1:
            body.append(nn.BatchNorm())
        super().__init__(body, channels, strides, project, version, **kwargs)


# ----------------------------------------------------------------------------- net
class PaperResNet(nn.HybridSequential):
    """Stem, four stages, pooling, dense: `net[0]` ... `net[6]` in the paper's order.

    Parameters
    ----------
    block : BasicBlock or Bottleneck.
    layers : blocks per stage (Table 1), e.g. (3, 4, 6, 3) for ResNet-50.
    channels : output channels per stage (block outputs: 64... basic, 256... bottleneck).
    classes : outputs of the last dense layer (1000 for ImageNet).
    version : 1 (He et al. 2016) or 2 (pre-activation, He et al. 2016b).
    """

    def __init__(self, block, layers, channels, classes: int = 1000, version: int = 1,
                 **kwargs):
        super().__init__(**kwargs)
        assert len(layers) == len(channels) == 4
        with self.name_scope():
            stem = nn.HybridSequential()  # conv1 and the pool: (B, 3, 224, 224) -> (B, 64, 56, 56)
            stem.add(_conv(64, 7, 2))
            if version == 1:  # version 2 normalizes inside the first block instead
                stem.add(*_bn_relu())
            stem.add(nn.MaxPool2D(3, 2, 1))
            self.add(stem)
            in_channels = 64
            for i, (n, c) in enumerate(zip(layers, channels)):  # 56 -> 56, 28, 14, 7
                stage = nn.HybridSequential()
                strides = 1 if i == 0 else 2
                for j in range(n):
                    project = j == 0 and (strides != 1 or c != in_channels)
                    stage.add(block(c, strides if j == 0 else 1, project, version))
                self.add(stage)
                in_channels = c
            if version == 2:  # the last block's sum is not activated yet
                self.add(*_bn_relu())
            self.add(nn.GlobalAvgPool2D(),  # -> (B, 512 or 2048, 1, 1)
                     nn.Dense(classes))     # flattens -> (B, classes)


# ----------------------------------------------------------------------------- specification
# He et al. (2016) Table 1: depth -> (block, blocks per stage conv2_x ... conv5_x)
RESNET_TABLE1 = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


# ----------------------------------------------------------------------------- constructors
def get_paper_resnet(depth: int, version: int = 1, **kwargs) -> PaperResNet:
    """ResNet-`depth` of Table 1 (version 2: pre-activation blocks); kwargs to PaperResNet."""
    block, layers = RESNET_TABLE1[depth]
    widths = (64, 128, 256, 512) if block is BasicBlock else (256, 512, 1024, 2048)
    return PaperResNet(block, layers, widths, version=version, **kwargs)


resnet18_imagenet, resnet34_imagenet, resnet50_imagenet, resnet101_imagenet, \
    resnet152_imagenet = register_depths(
        'resnet{}-imagenet', 'He et al. (2016) Table 1', get_paper_resnet, RESNET_TABLE1,
        'ResNet-{} of He et al. (2016) Table 1, for 3x224x224 and 1000 classes.',
        input_shape=(1, 3, 224, 224), classes=1000)


@register('resnet18-preact', 'He et al. (2016b) Fig. 1', input_shape=(1, 1, 96, 96))
def resnet18_preact(classes: int = 10, **kwargs) -> PaperResNet:
    """ResNet-18 with pre-activation blocks, for the book's 1x96x96 Fashion-MNIST and 10 classes."""
    return get_paper_resnet(18, version=2, classes=classes, **kwargs)
