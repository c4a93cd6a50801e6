"""gluon_cnn.backend.internals: each accessor of MXNet's private state agrees with MXNet's public
behaviour, and nothing else in the package touches an MXNet underscore attribute."""
import ast
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, npx
from mxnet.gluon import nn

import gluon_cnn
from gluon_cnn.training import engine
from gluon_cnn.backend import internals, npmode

PACKAGE = Path(gluon_cnn.__file__).parent
TESTS = Path(__file__).parent


def conv(**kw):
    c = nn.Conv2D(6, kernel_size=(3, 5), strides=(2, 1), padding=(1, 2), dilation=(1, 2), **kw)
    c.initialize()
    return c


def test_layer_settings_match_what_the_layer_computes():
    c = conv(activation='sigmoid')
    kw = internals.layer_kwargs(c)
    assert (kw['kernel'], kw['stride'], kw['pad'], kw['dilate']) == ((3, 5), (2, 1), (1, 2), (1, 2))
    assert internals.conv_channels(c) == 6 and internals.act_type(c.act) == 'sigmoid'
    assert not internals.is_transposed(c) and internals.is_transposed(nn.Conv2DTranspose(2, 3))
    x = mx.nd.ones((1, 2, 9, 11))
    # the public formula of d2l zh §5.2 with the settings read back
    h = (9 + 2 * 1 - 1 * (3 - 1) - 1) // 2 + 1
    w = (11 + 2 * 2 - 2 * (5 - 1) - 1) // 1 + 1
    assert c(x).shape == (1, 6, h, w)
    d = nn.Dense(7)
    assert internals.dense_units(d) == 7 and internals.dense_flattens(d)
    assert not internals.dense_flattens(nn.Dense(7, flatten=False))
    assert isinstance(c, internals.ConvLayer) and isinstance(nn.MaxPool2D(), internals.PoolingLayer)


def test_set_layer_kwargs_changes_the_graph_after_clearing_it():
    bn = nn.BatchNorm(in_channels=2)
    bn.initialize()
    bn.hybridize()
    x = mx.nd.array(np.random.RandomState(0).randn(4, 2, 3, 3))
    with autograd.record():      # training mode: batch statistics
        batch = bn(x).asnumpy()
    previous = internals.set_layer_kwargs(bn, use_global_stats=True)
    internals.clear_cached_graphs(bn)
    with autograd.record():      # now the running statistics (mean 0, var 1 at init)
        running = bn(x).asnumpy()
    np.testing.assert_allclose(running, x.asnumpy() / np.sqrt(1 + 1e-5), rtol=1e-5)
    assert not np.allclose(batch, running)
    internals.set_layer_kwargs(bn, **previous)
    assert internals.layer_kwargs(bn)['use_global_stats'] is False


def test_dropout_rate_round_trip():
    d = nn.Dropout(0.5)
    assert internals.set_dropout_rate(d, 0.0) == 0.5
    with autograd.record():
        assert (d(mx.nd.ones((100,))) == 1).asnumpy().all()  # rate 0: identity in training
    internals.set_dropout_rate(d, 0.5)
    assert internals.dropout_rate(d) == 0.5


def test_children_are_the_registered_blocks_in_order():
    net = nn.HybridSequential()
    net.add(nn.Dense(3), nn.Dense(4))
    assert list(internals.children(net).values()) == [net[0], net[1]]


def test_is_initialized_and_zero_deferred_init():
    d = nn.Dense(3)
    d.initialize()  # deferred: the input size is unknown
    assert not internals.is_initialized(d.weight)
    internals.zero_deferred_init(d.weight, mx.cpu())
    d(mx.nd.ones((2, 5)))
    assert internals.is_initialized(d.weight)
    assert (d.weight.data() == 0).asnumpy().all()  # zeros, not the default Uniform draws


def test_swapped_hooks_sets_aside_and_restores_user_hooks():
    d = nn.Dense(2, in_units=3)
    d.initialize()
    seen, mine = [], []
    d.register_forward_hook(lambda b, i, o: mine.append(1))
    with internals.swapped_hooks([d], lambda b, a: seen.append('pre'),
                                 lambda b, a, o: seen.append('post')):
        d(mx.nd.ones((1, 3)))
    d(mx.nd.ones((1, 3)))
    assert seen == ['pre', 'post'] and mine == [1]


def test_infer_shapes_equals_the_public_infer_shape():
    x = mx.sym.var('data')
    y = mx.sym.Convolution(x, kernel=(5, 5), num_filter=6, name='c')
    public = y.infer_shape(data=(2, 1, 28, 28))
    assert internals.infer_shapes(y, False, data=(2, 1, 28, 28)) == public
    assert internals.infer_types(y, data='float32') == y.infer_type(data='float32')


def test_saved_param_symbols_restores_the_cache():
    d = nn.Dense(2, in_units=3)
    before = d.weight._var
    with internals.saved_param_symbols(d.collect_params().values()):
        d(mx.sym.var('x'))
    assert d.weight._var is before


@pytest.mark.parametrize('optimizer', ['momentum', 'adam'])
def test_optimizer_state_round_trip_continues_identically(optimizer):
    def fresh():
        mx.random.seed(0)
        net = nn.Dense(2, in_units=3)
        net.initialize()
        return net, engine.make_trainer(net, optimizer, lr=0.1)

    def step(net, trainer):
        with autograd.record():
            l = (net(mx.nd.ones((4, 3))) ** 2).sum()
        l.backward()
        trainer.step(4)

    a, ta = fresh()
    for _ in range(3):
        step(a, ta)
    b, tb = fresh()
    b.weight.set_data(a.weight.data())
    b.bias.set_data(a.bias.data())
    opt, states, counts = internals.optimizer_state(ta)
    assert not internals.uses_kvstore_updates(ta) and internals.optimizer_of(ta) is opt
    copied = {i: (tuple(s.copy() for s in st) if isinstance(st, tuple) else
                  st.copy() if st is not None else None) for i, st in states.items()}
    internals.set_optimizer_state(tb, copied, counts, opt.num_update)
    step(a, ta)
    step(b, tb)
    np.testing.assert_array_equal(a.weight.data().asnumpy(), b.weight.data().asnumpy())


def test_npmode_builds_the_arrays_of_the_current_mode():
    x, y = np.ones((1, 2, 3, 3)), np.zeros((1, 1, 3, 3))
    want = np.concatenate([x, y], axis=1)
    np.testing.assert_array_equal(npmode.concat_channels(mx.nd, mx.nd.array(x), mx.nd.array(y))
                                  .asnumpy(), want)
    npx.set_np()
    try:
        assert npmode.is_np_mode()
        got = npmode.concat_channels(mx, mx.np.array(x), mx.np.array(y))
        np.testing.assert_array_equal(got.asnumpy(), want)
        assert isinstance(npmode.array(x), mx.np.ndarray)
        assert isinstance(npmode.zeros(2), mx.np.ndarray)
        assert all(isinstance(a, mx.np.ndarray) for a in npmode.as_mode(mx.nd.array(x)))
        _, npx_ = npmode.namespaces(mx)
        np.testing.assert_array_equal(npx_.relu(mx.np.array([-1.0, 2.0])).asnumpy(), [0, 2])
    finally:
        npx.reset_np()
    assert not npmode.is_np_mode()
    assert isinstance(npmode.array(x), mx.nd.NDArray) and npmode.namespaces(mx.nd) == (mx.nd, mx.nd)


def test_swap_class_returns_the_old_class():
    d = nn.Dense(2)

    class Other(nn.Dense):
        pass
    assert internals.swap_class(d, Other) is nn.Dense and type(d) is Other


def _own_names(tree) -> set:
    """Names a module binds to gluon_cnn's own modules and objects (their privates are ours)."""
    own = {'self', 'cls'}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or '').startswith(
                'gluon_cnn')):
            own.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Import):
            own.update((a.asname or a.name).split('.')[0] for a in node.names
                       if a.name.startswith('gluon_cnn'))
    return own


NAMEDTUPLE_API = ('_asdict', '_fields', '_replace', '_make', '_field_defaults')


def _private_mxnet_uses(path: Path) -> list:
    """`x._name` attribute uses in a module, except on self/cls and our own modules' names,
    IPython's display protocol (`_repr_html_`), namedtuples' public methods (`_asdict`, ...) and
    our own marks (`_gluon_cnn_*`) on modules we patch."""
    tree = ast.parse(path.read_text())
    own = _own_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith('_') and \
                not node.attr.startswith(('__', '_repr_', '_gluon_cnn_')) and \
                node.attr not in NAMEDTUPLE_API:
            base = node.value
            if isinstance(base, ast.Name) and base.id in own:
                continue
            found.append(f'{path.name}:{node.lineno} .{node.attr}')
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith('mxnet'):
            found += [f'{path.name}:{node.lineno} import {a.name}' for a in node.names
                      if a.name.startswith('_')]
    return found


@pytest.mark.skipif(not mx.runtime.Features().is_enabled('MKLDNN'), reason='needs oneDNN')
def test_to_default_layout_undoes_onednn_reorder():
    """An inference pass reorders a convolution weight in place into oneDNN's blocked layout
    (the second pass runs with nothing else queued, so the reorder is not skipped);
    to_default_layout brings it back with the same values (asnumpy reads either layout)."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(16, 5, in_channels=6), nn.Dense(10, in_units=16 * 10 * 10))
    net.initialize()
    x = mx.nd.random.uniform(shape=(2, 6, 14, 14))
    w = net[0].weight.data()
    assert internals.has_default_layout(w)
    for _ in range(2):
        net(x)
        mx.nd.waitall()
    values = w.asnumpy()
    assert not internals.has_default_layout(w)
    internals.to_default_layout(w)
    assert internals.has_default_layout(w)
    np.testing.assert_array_equal(w.asnumpy(), values)


def test_only_internals_touches_private_attributes():
    """The package and the tests; this file is exempt: it is where each accessor meets the
    private attribute it reads."""
    files = [p for p in sorted(PACKAGE.rglob('*.py')) if p.name != 'internals.py']
    files += [p for p in sorted(TESTS.glob('*.py')) if p.name != Path(__file__).name]
    offenders = [u for p in files for u in _private_mxnet_uses(p)]
    assert offenders == []


def test_the_privacy_scan_sees_a_private_attribute(tmp_path):
    source = tmp_path / 'sneaky.py'
    source.write_text('from gluon_cnn.training import engine\nimport mxnet as mx\n'
                      'engine._LossWatch\nnet._children\nmx.gluon.Block._active\n'
                      'x._repr_html_()\n')
    assert _private_mxnet_uses(source) == ['sneaky.py:4 ._children', 'sneaky.py:5 ._active']
