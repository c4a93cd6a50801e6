"""gluon_cnn.training.widen: 6-channel convolutions run as 8-channel ones and nothing a user sees
changes.

Oracle: the same net without widening, i.e. MXNet's own Conv2D, for outputs, parameter gradients
and a whole SGD step; parametrized over the registry (models with nothing to widen must be left
exactly alone).
"""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon, npx
from mxnet.gluon import nn

from gluon_cnn.training import engine, placement, runtime
from gluon_cnn import get_model, list_models
from gluon_cnn.backend import internals
from gluon_cnn.training.widen import WideConv2D, widen_pairs, widened
from test_models import build, example

LENETS = {'lenet', 'lenet-en', 'lenet-relu'}  # conv(6) -> pool -> conv; lenet-bn has BN between
# NiN's last block: 3x3 conv(10) -> 1x1(10) -> 1x1(10)
WIDENED = LENETS | {'nin', 'lenet-strided'}


@pytest.mark.parametrize('name', list_models())
def test_which_pairs_are_widened(name):
    net = get_model(name)
    pairs = widen_pairs(net)
    if name in LENETS:
        assert pairs == [(net[0], net[2])]
    elif name == 'lenet-strided':  # conv(6) -> conv(16), no pooling between
        assert pairs == [(net[0], net[1])]
    elif name == 'nin':  # a chain: the middle 1x1 conv is widened on both sides
        (a, b), (b2, c) = pairs
        assert b is b2 and [internals.conv_channels(x) for x in (a, b, c)] == [10, 10, 10]
        assert internals.layer_kwargs(a)['kernel'] == (3, 3)
        assert internals.layer_kwargs(c)['kernel'] == (1, 1)
    else:  # BatchNorm in between, custom layers, or channels already multiples of 8
        assert pairs == []


@pytest.mark.parametrize('name', list_models())
def test_nets_with_nothing_to_widen_are_returned_as_they_are(name):
    net = build(name)
    net(example(name))
    assert (widened(net) is net) == (name not in WIDENED)


def _grads(net, x, y):
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    params = net.collect_params()
    mx.random.seed(5)  # the same dropout masks (NiN)
    with autograd.record():
        out = net(x)
        l = loss(out, y)
    l.backward()
    return out.asnumpy(), {k: p.grad().asnumpy().copy() for k, p in params.items()}


@pytest.mark.parametrize('multiple', [8, 16])
@pytest.mark.parametrize('hybridize', [False, True], ids=['imperative', 'hybridized'])
@pytest.mark.parametrize('name', sorted(WIDENED))
def test_outputs_and_gradients_equal_the_plain_layers(name, hybridize, multiple):
    net, x = build(name), example(name)
    y = mx.nd.array([3, 7])
    net(x)  # finish deferred init
    view = widened(net, multiple)
    if hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
        view.hybridize(static_alloc=True, static_shape=True)
    out, grads = _grads(net, x, y)
    wide_out, _ = _grads(view, x, y)
    wide_grads = {k: p.grad().asnumpy() for k, p in net.collect_params().items()}
    np.testing.assert_allclose(wide_out, out, rtol=1e-5, atol=1e-6)
    assert wide_grads.keys() == grads.keys()
    for k in grads:
        np.testing.assert_allclose(wide_grads[k], grads[k], rtol=1e-4, atol=1e-7, err_msg=k)


def test_the_view_shares_parameters_and_leaves_the_net_alone():
    net, x = build('lenet-en'), example('lenet-en')
    net.hybridize()
    y = net(x).asnumpy()  # (the first call also settles deferred shapes shown by repr)
    before = (repr(net), {k: p.shape for k, p in net.collect_params().items()})
    view = widened(net)
    assert isinstance(view[0], WideConv2D) and isinstance(view[2], WideConv2D)
    assert view[1] is net[1] and view[4] is net[4]           # everything else is shared
    assert view[0].weight is net[0].weight and view[2].bias is net[2].bias
    assert view[0](x).shape == (2, 8, 28, 28)                # 6 real + 2 constant channels
    assert view[:2](x).shape == (2, 8, 14, 14)
    assert widened(view, 16) is view                          # a view has nothing left to widen
    assert type(net[0]) is nn.Conv2D and net[0](x).shape == (2, 6, 28, 28)
    assert repr(net) == before[0]
    assert {k: p.shape for k, p in net.collect_params().items()} == before[1]
    np.testing.assert_allclose(view(x).asnumpy(), y, rtol=1e-5, atol=1e-6)


def test_deferred_nets_are_left_alone_and_the_engine_settles_them():
    net = get_model('lenet')
    net.initialize()
    assert widened(net) is net  # shapes unknown: the zero padding would hide them from inference
    fresh = get_model('lenet')
    fresh.initialize()
    x = example('lenet')
    seen = []  # the kind of the first layer the epoch's batches ran through

    class Loss(gluon.loss.SoftmaxCrossEntropyLoss):
        def hybrid_forward(self, F, pred, label):
            seen.append(type(objective_net()[0]).__name__)
            return super().hybrid_forward(F, pred, label)

    objective_net = None
    real_init = engine.NetAndLoss.__init__

    def init(self, net, loss, **kwargs):
        nonlocal objective_net
        objective_net = lambda: self.net  # noqa: E731
        return real_init(self, net, loss, **kwargs)

    engine.NetAndLoss.__init__ = init
    try:
        batch = [(x, mx.nd.array([1, 2]))]
        engine.train(fresh, batch, batch, Loss(), engine.make_trainer(fresh, 'sgd', 0.1), 1,
                     runtime.as_runtime(hybridize=False), on_epoch=None)
    finally:
        engine.NetAndLoss.__init__ = real_init
    # the view trained, although the net started deferred; the net itself is the book's
    assert seen == ['WideConv2D'] and type(fresh[0]) is nn.Conv2D


@pytest.mark.parametrize('name', ['widened', 'fused'])
def test_numpy_mode_is_left_alone(name):
    """In numpy mode the runtime (decided once) keeps the net: the views are legacy operators."""
    npx.set_np()
    try:
        net = get_model('lenet')
        net.initialize()
        x = mx.np.ones((1, 1, 28, 28))
        rt = runtime.Runtime(placement.OneDevice(), compute=name)
        assert rt.np_mode
        graph = rt.prepare(net, mx.gluon.loss.SoftmaxCrossEntropyLoss(), None, x)
        assert graph.net is net
        l, _, _ = graph(x, mx.np.zeros((1,)))
        assert l.shape == (1,)
    finally:
        npx.reset_np()


def test_engine_step_matches_a_plain_gluon_step():
    """One epoch of engine.train (widened inside) lands on the parameters of the book's plain loop.
    """
    rng = np.random.RandomState(0)
    X = mx.nd.array(rng.uniform(0, 1, (64, 1, 28, 28)))
    nets = [build('lenet-en', seed=3), build('lenet-en', seed=3)]
    for net in nets:
        mx.random.seed(4)
        net(X[:1])  # the same deferred initialization for both
    Y = mx.nd.array(rng.randint(0, 10, 64))
    batches = [(X[:32], Y[:32]), (X[32:], Y[32:])]
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainers = [engine.make_trainer(n, 'sgd', 0.5) for n in nets]
    engine.train(nets[0], batches, batches[:1], loss, trainers[0], 1, on_epoch=None)
    for x, y in batches:  # the book's loop, imperative, unwidened
        with autograd.record():
            l = loss(nets[1](x), y)
        l.backward()
        trainers[1].step(x.shape[0])
    assert type(nets[0][0]) is nn.Conv2D
    for (k, a), b in zip(nets[0].collect_params().items(), nets[1].collect_params().values()):
        np.testing.assert_allclose(a.data().asnumpy(), b.data().asnumpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=k)
