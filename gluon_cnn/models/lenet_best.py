"""The best LeNet-scale model: the answer to exercise 5.5.1 (d2l zh §5.5) carried to the end.

Under 100,000 parameters, >= 0.93 Fashion-MNIST test accuracy with `python train.py --preset best`.
LeNet's outline (conv stages that halve the image, then a classifier on the small map) with the
tools of the chapter's later sections:
- stacked 3x3 convolutions instead of 5x5 (Simonyan & Zisserman (2014), "Very deep convolutional
  networks", VGG): more depth and nonlinearity for fewer parameters (d2l zh §5.7);
- batch normalization after every conv (Ioffe & Szegedy (2015); d2l zh §5.10), so the conv
  needs no bias and ReLU trains at a large learning rate;
- padding 1 keeps 28 -> 14 -> 7 -> 3 exact under 2x2 max pooling;
- the classifier is one Dense on the flattened (B, C, 3, 3) map: a 3x3 map still says where
  things are (a sleeve, a heel), which global average pooling would throw away.
Width and depth are spent where the image is small: one conv each at 28x28 and 14x14, where
MACs cost most, two at 7x7 (4.7M MACs per image by gluon_cnn.trace; under a minute per epoch on 2 cores).
"""
from mxnet.gluon import nn

__all__ = ['LeNetBest', 'lenet_best', 'MODELS']

# ----------------------------------------------------------------------------- specification
# Channels per 3x3 conv, 'M' a 2x2 max pool: (B, 1, 28, 28) -> ... -> (B, 96, 3, 3).
BEST_SPEC = (16, 'M', 32, 'M', 64, 96, 'M')


# ----------------------------------------------------------------------------- net
class LeNetBest(nn.HybridBlock):
    """Conv-BN-ReLU stages from `spec` (`features`), then Dense(classes) (`output`)."""

    def __init__(self, spec=BEST_SPEC, classes: int = 10, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential()
            for s in spec:
                if s == 'M':  # (B, C, H, W) -> (B, C, H//2, W//2)
                    self.features.add(nn.MaxPool2D(pool_size=2, strides=2))
                else:  # (B, C, H, W) -> (B, s, H, W); BN's beta stands in for the conv's bias
                    self.features.add(nn.Conv2D(s, 3, padding=1, use_bias=False), nn.BatchNorm(),
                                      nn.Activation('relu'))
            self.output = nn.Dense(classes)  # flattens (B, 96, 3, 3) -> (B, 864) -> (B, 10)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


# ----------------------------------------------------------------------------- constructors
def lenet_best(**kwargs):
    """LeNetBest with BEST_SPEC: 87,546 trainable parameters (87,962 with BN's moving statistics),
    4.7M MACs per image; trained by `python train.py --preset best`."""
    return LeNetBest(**kwargs)


MODELS = {'lenet-best': lenet_best}
