"""gluon_cnn.backend.fastops against MXNet's own Convolution / Activation / Pooling, forward and
backward (autograd gradients of data, weight and bias), float32, to float rounding."""
import numpy as np
import pytest

import gluon_cnn  # noqa: F401  (compat shims before mxnet)
import mxnet as mx
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn

from gluon_cnn import get_model
from gluon_cnn.models import list_models, model_info
from gluon_cnn.training import engine
from gluon_cnn.backend import fastops, internals

if not fastops.load():
    pytest.skip(f'fastops not available: {fastops.reason()}', allow_module_level=True)

RTOL, ATOL = 1e-5, 1e-6
ACTS = {None: 0, 'sigmoid': 1, 'relu': 2, 'tanh': 3}


def reference(x, w, b, k, s, p, act, pool, pk, ps):
    args = (x, w) if b is None else (x, w, b)
    y = nd.Convolution(*args, kernel=k, stride=s, pad=p, num_filter=w.shape[0],
                       no_bias=b is None)
    if act:
        y = nd.Activation(y, act_type=act)
    if pool:
        y = nd.Pooling(y, kernel=pk, stride=ps, pool_type=pool)
    return y


def fast(x, w, b, k, s, p, act, pool, pk, ps, layout=0, keep=1):
    attrs = dict(kh=k[0], kw=k[1], sh=s[0], sw=s[1], ph=p[0], pw=p[1], act=ACTS[act],
                 no_bias=int(b is None), pool={None: 0, 'max': 1, 'avg': 2}[pool], layout=layout,
                 keep=keep)
    if pool:
        attrs.update(pkh=pk[0], pkw=pk[1], psh=ps[0], psw=ps[1])
    args = (x, w) if b is None else (x, w, b)
    return nd.fastops_conv(*args, **attrs)


def outputs_and_grads(f, arrays, dy_seed, cfg):
    xs = [None if a is None else a.copy() for a in arrays]
    for a in xs:
        if a is not None:
            a.attach_grad()
    with autograd.record():
        y = f(*xs, *cfg)
    dy = nd.array(np.random.RandomState(dy_seed).randn(*y.shape).astype(np.float32))
    y.backward(dy)
    return [y.asnumpy()] + [a.grad.asnumpy() for a in xs if a is not None]


def close(got, want, what):
    # relative to each tensor's scale: sums of many terms round differently in any two orders
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL * scale, err_msg=what)


def random_case(rs):
    C, K = int(rs.randint(1, 9)), int(rs.randint(1, 18))
    kh, kw = int(rs.randint(1, 6)), int(rs.randint(1, 6))
    sh, sw = int(rs.randint(1, 3)), int(rs.randint(1, 3))
    ph, pw = int(rs.randint(0, kh)), int(rs.randint(0, kw))
    H, W = int(rs.randint(kh + 3, 20)), int(rs.randint(kw + 3, 20))
    act = [None, 'sigmoid', 'relu', 'tanh'][rs.randint(4)]
    pool = [None, 'max', 'avg'][rs.randint(3)]
    pk = (int(rs.randint(1, 4)), int(rs.randint(1, 4)))
    ps = (int(rs.randint(1, 3)), int(rs.randint(1, 3)))
    OH, OW = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    if pool and (OH < pk[0] or OW < pk[1]):
        pool = None
    return (int(rs.randint(1, 6)), C, H, W, K), ((kh, kw), (sh, sw), (ph, pw), act, pool, pk, ps)


LENET = [  # the book's shapes: zh LeNet (max pooling) and en LeNet (padding 2, avg pooling)
    ((8, 1, 28, 28, 6), ((5, 5), (1, 1), (0, 0), 'sigmoid', 'max', (2, 2), (2, 2))),
    ((8, 6, 12, 12, 16), ((5, 5), (1, 1), (0, 0), 'sigmoid', 'max', (2, 2), (2, 2))),
    ((8, 1, 28, 28, 6), ((5, 5), (1, 1), (2, 2), 'sigmoid', 'avg', (2, 2), (2, 2))),
    ((8, 6, 14, 14, 16), ((5, 5), (1, 1), (0, 0), 'sigmoid', 'avg', (2, 2), (2, 2))),
]


# the output-channel layout's edges: channel counts off a multiple of 8 (lanes past K), one and
# two vectors, batch 1, strides (computed at stride, not subsampled), pooling windows that
# overlap (stride 1) or leave rows uncovered, ties in max pooling (relu's zeros)
ODD = [
    ((1, 6, 14, 14, 16), ((5, 5), (1, 1), (0, 0), 'sigmoid', 'avg', (2, 2), (2, 2))),
    ((3, 3, 11, 13, 9), ((3, 5), (1, 2), (1, 2), 'relu', 'max', (3, 2), (1, 2))),
    ((2, 5, 15, 9, 13), ((4, 3), (2, 1), (0, 1), 'tanh', 'avg', (2, 3), (2, 1))),
    ((4, 2, 10, 10, 5), ((3, 3), (1, 1), (0, 0), 'relu', 'max', (2, 2), (2, 2))),
    ((3, 2, 11, 12, 7), ((3, 3), (1, 1), (1, 0), 'relu', 'max', (2, 2), (2, 2))),  # odd rows
    ((2, 1, 9, 9, 6), ((2, 2), (1, 1), (0, 0), 'tanh', 'max', (2, 2), (2, 2))),  # odd both
    ((2, 7, 9, 16, 8), ((2, 6), (2, 2), (1, 0), None, None, (1, 1), (1, 1))),
    ((5, 1, 7, 7, 3), ((1, 1), (1, 1), (0, 0), 'sigmoid', None, (1, 1), (1, 1))),
]


@pytest.mark.parametrize('case', LENET + ODD +
                         [random_case(np.random.RandomState(s)) for s in range(24)])
@pytest.mark.parametrize('bias', [True, False])
@pytest.mark.parametrize('layout', [1, 2], ids=['flat', 'kvec'])
def test_matches_mxnet(case, bias, layout):
    (N, C, H, W, K), cfg = case
    rs = np.random.RandomState(N * 1000 + C * 100 + K)
    x = nd.array(rs.randn(N, C, H, W).astype(np.float32))
    w = nd.array((rs.randn(K, C, *cfg[0]) / np.sqrt(C * cfg[0][0] * cfg[0][1])).astype(np.float32))
    b = nd.array(rs.randn(K).astype(np.float32)) if bias else None
    want = outputs_and_grads(reference, (x, w, b), 1, cfg)
    got = outputs_and_grads(lambda *a: fast(*a, layout=layout), (x, w, b), 1, cfg)
    for name, g, r in zip(('y', 'dx', 'dw', 'db'), got, want):
        close(g, r, f'{name} for {case}')


def _arrays(case, bias=True):
    (N, C, H, W, K), cfg = case
    rs = np.random.RandomState(N * 1000 + C * 100 + K)
    x = nd.array(rs.randn(N, C, H, W).astype(np.float32))
    w = nd.array((rs.randn(K, C, *cfg[0]) / np.sqrt(C * cfg[0][0] * cfg[0][1])).astype(np.float32))
    b = nd.array(rs.randn(K).astype(np.float32)) if bias else None
    return (x, w, b), cfg


FORWARD_ONLY = LENET + ODD + [random_case(np.random.RandomState(s)) for s in range(100, 108)]


@pytest.mark.parametrize('case', FORWARD_ONLY)
@pytest.mark.parametrize('layout', [1, 2], ids=['flat', 'kvec'])
def test_forward_only_matches_mxnet(case, layout):
    """keep=0 (evaluation: nothing saved for a backward) gives MXNet's outputs; a backward after
    it (a graph traced outside autograd.record, then trained) recomputes the map and gives
    MXNet's gradients; and a training forward after an evaluation one saves again."""
    arrays, cfg = _arrays(case)
    want = outputs_and_grads(reference, arrays, 2, cfg)
    y = fast(*arrays, *cfg, layout=layout, keep=0)
    close(y.asnumpy(), want[0], f'forward-only y for {case}')
    got = outputs_and_grads(lambda *a: fast(*a, layout=layout, keep=0), arrays, 2, cfg)
    for name, g, r in zip(('y', 'dx', 'dw', 'db'), got, want):
        close(g, r, f'{name} after a forward-only pass, {case}')


def test_fused_view_traced_for_evaluation_still_trains():
    """The engine's view is first called (and traced) outside autograd.record, for evaluation;
    a hybridized view traced there and then trained gives the stock net's gradients."""
    mx.random.seed(3)
    net = get_model('lenet')
    net.initialize(mx.init.Xavier())
    X = nd.random.uniform(shape=(8, 1, 28, 28))
    engine.settle_shapes(net, X)
    view = fastops.fused(net)
    view.hybridize(static_alloc=True, static_shape=True)
    close(view(X).asnumpy(), net(X).asnumpy(), 'evaluation')
    grads = []
    for block in (net, view):
        for p in net.collect_params().values():
            p.zero_grad()
        with autograd.record():
            out = block(X)
        out.backward()
        grads.append([p.grad().asnumpy().copy() for p in net.collect_params().values()])
    for got, want in zip(grads[1], grads[0]):
        close(got, want, 'gradients of a view traced for evaluation')


def test_data_grad_off_still_gives_weight_grads():
    x = nd.random.uniform(shape=(4, 1, 12, 12))
    w, b = nd.random.normal(shape=(3, 1, 3, 3)), nd.zeros(3)
    grads = []
    for dg in (1, 0):
        ws, bs = w.copy(), b.copy()
        ws.attach_grad()
        bs.attach_grad()
        with autograd.record():
            y = nd.fastops_conv(x, ws, bs, kh=3, kw=3, act=1, pool=1, pkh=2, pkw=2, data_grad=dg)
        y.backward()
        grads.append((ws.grad.asnumpy(), bs.grad.asnumpy()))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    np.testing.assert_array_equal(grads[0][1], grads[1][1])


@pytest.mark.parametrize('model', ['lenet', 'lenet-en'])
def test_fused_net_hybridized_equals_imperative_and_stock(model):
    mx.random.seed(0)
    net = get_model(model)
    net.initialize(mx.init.Xavier())
    X = nd.random.uniform(shape=(16, 1, 28, 28))
    y = nd.array(np.arange(16) % 10)
    engine.settle_shapes(net, X)
    view = fastops.fused(net)
    assert view is not net
    kinds = [type(b).__name__ for b in internals.children(view).values()]
    assert kinds[:2] == ['FastConv2D', 'FastConv2D'] and len(kinds) == len(net) - 2
    # the view shares the net's Parameters
    assert set(view.collect_params().keys()) == set(net.collect_params().keys())
    assert view[0].weight is net[0].weight
    loss = gluon.loss.SoftmaxCrossEntropyLoss()

    def run(block, hybridize):
        if hybridize:
            block.hybridize(static_alloc=True, static_shape=True)
        for p in net.collect_params().values():
            p.zero_grad()
        with autograd.record():
            l = loss(block(X), y)
        l.backward()
        return [l.asnumpy()] + [p.grad().asnumpy().copy() for p in net.collect_params().values()]

    stock = run(net, False)
    imperative = run(view, False)
    hybrid = run(fastops.fused(net), True)
    for a, b, r in zip(imperative, hybrid, stock):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
        close(a, r, model)


# every registry net small enough to build here in a moment (the LeNets, LeNet-5): the others
# have no layer the rule admits (stride 1, at most 16 channels in and out, kernel > 1x1)
SMALL_NETS = [m for m in list_models() if model_info(m).input_shape[-1] <= 32]


@pytest.mark.parametrize('model', SMALL_NETS)
def test_every_small_registry_net_trains_the_same_fused(model):
    """Loss and every gradient of the fused view against the stock net, in training mode
    (BatchNorm with batch statistics), hybridized as the engine runs it."""
    info = model_info(model)
    mx.random.seed(1)
    net = get_model(model)
    net.initialize(mx.init.Xavier())
    X = nd.random.uniform(shape=(32,) + tuple(info.input_shape[1:]))
    y = nd.array(np.arange(32) % 10)
    engine.settle_shapes(net, X)
    view = fastops.fused(net)
    # nothing the rule admits (lenet-strided's strided convs); or LeNet-5, whose layers sit under
    # a forward of its own (C3's partial connections, the RBF output), where no view swaps one
    if not fastops.fuse_pairs(net) or model.startswith('lenet5'):
        assert view is net
        return
    assert view is not net
    loss = (info.loss or gluon.loss.SoftmaxCrossEntropyLoss)()

    def run(block):
        for p in net.collect_params().values():
            if p.grad_req != 'null':
                p.zero_grad()
        with autograd.record():
            l = loss(block(X), y)
        l.backward()
        return [l.asnumpy()] + [p.grad().asnumpy().copy() for p in net.collect_params().values()
                                if p.grad_req != 'null']

    stock = run(net)
    view.hybridize(static_alloc=True, static_shape=True)
    # behind BatchNorm + ReLU + max pooling a rounding-level difference in the first layer can
    # move a later window's argmax: single gradient entries then differ by ~1e-4 of the scale
    # (lenet-best: 1 of 144 conv weights); without BatchNorm it is float rounding throughout
    deep = any(isinstance(b, nn.BatchNorm) for b in internals.children(net).values())
    tol = 1e-3 if deep else RTOL
    for got, want in zip(run(view), stock):
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale / 10, err_msg=model)


def test_not_fused():
    """Wide, strided, 1x1, grouped, dilated and numpy-mode convolutions stay as they are."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, in_channels=32), nn.Conv2D(4, 3, dilation=2, in_channels=4),
            nn.Conv2D(4, 3, groups=2, in_channels=4), nn.Conv2D(64, 3, in_channels=4),
            nn.Conv2D(4, 7, strides=2, in_channels=64), nn.Conv2D(4, 1, in_channels=4))
    net.initialize()
    assert fastops.fuse_pairs(net) == []
    assert fastops.fused(net) is net


def test_reason_is_one_line():
    assert fastops.available()
    assert fastops.reason() == ''
    assert '\n' not in fastops._missing()
