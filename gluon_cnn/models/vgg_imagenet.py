"""VGG-16 and VGG-19 of the paper, at ImageNet size (3x224x224, 1000 classes).

Simonyan & Zisserman (2015), "Very deep convolutional networks for large-scale image
recognition", ICLR: configurations D and E of Table 1 (13 and 16 3x3 convs in five blocks, then
two 4096-wide dense layers and a 1000-way one). Table 2 gives their sizes, 138M and 144M
parameters. The blocks and the net are the book's (`vgg.py`); only the depth, the input and
the number of classes differ.
"""
from .registry import register
from .vgg import VGG, get_vgg

__all__ = ['vgg16_imagenet', 'vgg19_imagenet']


@register('vgg16-imagenet', 'Simonyan & Zisserman (2015) Table 1 D', input_shape=(1, 3, 224, 224),
          classes=1000)
def vgg16_imagenet(classes: int = 1000, **kwargs) -> VGG:
    """VGG-16 (configuration D) for 3x224x224 and 1000 classes: 138,357,544 parameters."""
    return get_vgg(16, classes=classes, **kwargs)


@register('vgg19-imagenet', 'Simonyan & Zisserman (2015) Table 1 E', input_shape=(1, 3, 224, 224),
          classes=1000)
def vgg19_imagenet(classes: int = 1000, **kwargs) -> VGG:
    """VGG-19 (configuration E) for 3x224x224 and 1000 classes: 143,667,240 parameters."""
    return get_vgg(19, classes=classes, **kwargs)
