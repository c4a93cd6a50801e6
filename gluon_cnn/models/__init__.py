"""The model zoo: every family module registers its constructors in `registry` on import.

>>> net = get_model('lenet')        # d2l zh §5.5
>>> net.initialize(); net(mx.nd.zeros((1, 1, 28, 28))).shape
(1, 10)
>>> model_info('alexnet').input_shape
(1, 1, 224, 224)

Every test over models is parametrized by `list_models()`.
"""
from .registry import ModelInfo, get_model, list_models, model_info
from . import lenet, lenet5, lenet_best, alexnet, vgg, nin, googlenet, resnet, densenet  # noqa: F401
from . import (vgg_imagenet, inception_bn, inception_v3, inception_resnet,  # noqa: F401
               resnet_imagenet, densenet_imagenet)  # the papers' tables, ImageNet-sized

__all__ = ['ModelInfo', 'get_model', 'list_models', 'model_info']
