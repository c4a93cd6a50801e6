"""Every registry model: pure constructor, forward/backward shapes, hybridized == imperative, and
the same numbers after `npx.set_np()` (d2l 1.x mode). Parametrized over `list_models()`
(timm style).
"""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, npx

from gluon_cnn import ConfigError, get_model, list_models
from gluon_cnn.backend import internals
from gluon_cnn.models import model_info

MODELS = list_models()


def small_input(name, batch=2):
    """The model's natural input, capped at 96x96 so 224x224 nets (AlexNet, VGG, NiN) stay cheap."""
    _, c, h, w = model_info(name).input_shape
    return (batch, c, min(h, 96), min(w, 96))


def build(name, seed=0):
    mx.random.seed(seed)
    net = get_model(name)
    net.initialize(mx.init.Xavier())
    return net


def example(name, seed=1):
    return mx.nd.array(np.random.RandomState(seed).uniform(0, 1, small_input(name)))


@pytest.mark.parametrize('name', MODELS)
def test_constructor_is_pure(name):
    net = get_model(name)
    params = net.collect_params()
    assert len(params.keys()) > 0
    # nothing was initialized: the caller decides how (d2l: net.initialize(init.Xavier()))
    assert not any(internals.is_initialized(p) for p in params.values())


@pytest.mark.parametrize('name', MODELS)
def test_forward_backward(name):
    net, x = build(name), example(name)
    with autograd.record():
        y = net(x)
        loss = (y ** 2).sum()
    loss.backward()
    assert y.shape == (x.shape[0], model_info(name).classes)
    assert np.isfinite(y.asnumpy()).all()
    trainable = [p for p in net.collect_params().values() if p.grad_req != 'null']
    for p in trainable:
        assert p.grad().shape == p.shape
    # every trainable parameter receives some gradient (timm's check)
    silent = [p.name for p in trainable if not np.abs(p.grad().asnumpy()).sum() > 0]
    assert not silent, f'no gradient reaches {silent}'


@pytest.mark.parametrize('name', MODELS)
def test_hybridized_equals_imperative(name):
    net, x = build(name), example(name)
    imperative = net(x).asnumpy()
    net.hybridize(static_alloc=True, static_shape=True)
    hybrid = net(x).asnumpy()
    np.testing.assert_allclose(hybrid, imperative, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('hybridize', [False, True], ids=['imperative', 'hybridized'])
@pytest.mark.parametrize('name', MODELS)
def test_numpy_mode_matches_classic(name, hybridize, tmp_path):
    """d2l 1.x readers call npx.set_np(); the same parameters must give the same outputs."""
    net, x = build(name), example(name)
    expected = net(x).asnumpy()
    net.save_parameters(str(tmp_path / 'p.params'))
    npx.set_np()
    try:
        net_np = get_model(name)
        net_np.load_parameters(str(tmp_path / 'p.params'))
        if hybridize:
            net_np.hybridize()
        y = net_np(x.as_np_ndarray())
        assert isinstance(y, mx.np.ndarray)
        np.testing.assert_allclose(y.asnumpy(), expected, rtol=1e-5, atol=1e-5)
    finally:
        npx.reset_np()


@pytest.mark.parametrize('name, params', [('lenet', 44_426), ('lenet-en', 61_706)])
def test_book_parameter_counts(name, params):
    """d2l zh §5.5 (no padding, 16*4*4 into the first Dense) and d2l en §7.6 (padding 2, 16*5*5)."""
    net = build(name)
    net(mx.nd.zeros((1, 1, 28, 28)))
    assert sum(p.data().size for p in net.collect_params().values()) == params


def test_unknown_model_lists_valid_names():
    with pytest.raises(ConfigError) as e:
        get_model('lenet-9000')
    assert e.value.field == '--model'
    listed, _, hint = str(e.value).partition('; did you mean ')
    assert listed == f"unknown model 'lenet-9000'; valid names: {', '.join(MODELS)}"
    assert hint == '' or hint.rstrip('?') in MODELS


def test_lenet_choices_can_be_overridden():
    """Exercise 5.5.1 varies the book's choices through --model-kwargs."""
    net = get_model('lenet', act='relu', pool='avg', kernel_size=3, channels=(12, 32))
    net.initialize()
    net(mx.nd.zeros((1, 1, 28, 28)))
    conv = net[0]
    assert internals.act_type(conv.act) == 'relu'
    assert internals.layer_kwargs(conv)['kernel'] == (3, 3)
    assert isinstance(net[1], mx.gluon.nn.AvgPool2D)


def _conv_widths(net, side):
    net(mx.nd.zeros((1, 1, side, side)))
    return [p.shape[0] for p in net.collect_params().values() if len(p.shape) == 4]


@pytest.mark.parametrize('name, side', [('alexnet', 67), ('nin', 67), ('googlenet', 64),
                                        ('vgg11', 32)])
def test_ratio_divides_every_conv_width(name, side):
    """d2l zh §5.7's small_conv_arch (every conv's channels // ratio), on the nets the notebooks
    cut; NiN's last block keeps one channel per class."""
    full = _conv_widths(build(name), side)
    mx.random.seed(0)
    small = get_model(name, ratio=4)
    small.initialize()
    assert _conv_widths(small, side) == [c if c == 10 else c // 4 for c in full]


def test_alexnet_dense_width():
    net = get_model('alexnet', width=1024)
    net.initialize()
    net(mx.nd.zeros((1, 1, 67, 67)))
    assert [layer.weight.shape[0] for layer in net if isinstance(layer, mx.gluon.nn.Dense)] == \
        [1024, 1024, 10]
