"""AlexNet as in the book: d2l zh §5.6, for 1-channel 224x224 Fashion-MNIST.

Krizhevsky, Sutskever & Hinton (2012), "ImageNet classification with deep convolutional neural
networks", NeurIPS. The book's version drops the paper's two-GPU split and local response
normalization and keeps the rest: five convs (11x11/4, 5x5, three 3x3), three 3x3/2 max pools,
two 4096-wide dense layers with dropout 0.5, and a 10-way output.
"""
from mxnet.gluon import nn

from .registry import BookTraining, register

__all__ = ['get_alexnet', 'alexnet']


# ----------------------------------------------------------------------------- net
def get_alexnet(classes: int = 10, dropout: float = 0.5, ratio: int = 1, width: int = 4096,
                **kwargs) -> nn.HybridSequential:
    """Five conv layers, two dense hidden layers and a dense head, in the book's order in one
    plain HybridSequential (`for layer in net` prints the book's table).

    Parameters
    ----------
    classes : number of outputs (10 for Fashion-MNIST, 1000 in the paper).
    dropout : dropout rate after each dense hidden layer (the paper's 0.5).
    ratio : every conv's channels divided by this (as VGG's `ratio`, d2l zh §5.7; 1 is the book's).
    width : units of each of the two dense hidden layers (the book's 4096).
    """
    # a fixed prefix: the layers are alexnet_conv0, ... in every net, whatever was built
    # before (the book's loop prints these names)
    net = nn.HybridSequential(**{'prefix': 'alexnet_', **kwargs})
    with net.name_scope():
        net.add(
            # shapes of the book's net (ratio 1, width 4096) at 224x224
            # a large 11x11 window with stride 4 shrinks ImageNet-sized inputs fast:
            # (B, 1, 224, 224) -> (B, 96, 54, 54)
            nn.Conv2D(96 // ratio, kernel_size=11, strides=4, activation='relu'),
            nn.MaxPool2D(pool_size=3, strides=2),                          # -> (B, 96, 26, 26)
            # -> (B, 256, 26, 26)
            nn.Conv2D(256 // ratio, kernel_size=5, padding=2, activation='relu'),
            nn.MaxPool2D(pool_size=3, strides=2),                          # -> (B, 256, 12, 12)
            # three 3x3 convs without pooling in between
            # -> (B, 384, 12, 12)
            nn.Conv2D(384 // ratio, kernel_size=3, padding=1, activation='relu'),
            # -> (B, 384, 12, 12)
            nn.Conv2D(384 // ratio, kernel_size=3, padding=1, activation='relu'),
            # -> (B, 256, 12, 12)
            nn.Conv2D(256 // ratio, kernel_size=3, padding=1, activation='relu'),
            nn.MaxPool2D(pool_size=3, strides=2),                          # -> (B, 256, 5, 5)
            # the first Dense flattens (B, 256, 5, 5) -> (B, 6400) implicitly
            nn.Dense(width, activation='relu'), nn.Dropout(dropout),        # -> (B, 4096)
            nn.Dense(width, activation='relu'), nn.Dropout(dropout),        # -> (B, 4096)
            nn.Dense(classes))                                             # -> (B, classes)
    return net


# ----------------------------------------------------------------------------- constructors
@register('alexnet', 'd2l zh §5.6', input_shape=(1, 1, 224, 224),
          book=BookTraining(lr=0.01, batch_size=128, resize=224))
def alexnet(**kwargs) -> nn.HybridSequential:
    """d2l zh §5.6 AlexNet for 1x224x224 inputs (train with --resize 224, lr 0.01). 46,764,746
    parameters."""
    return get_alexnet(**kwargs)
