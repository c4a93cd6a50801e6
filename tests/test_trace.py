"""gluon_cnn.trace against real forward passes, collect_params(), the book's shapes and closed forms."""
import time

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, nd, npx
from mxnet.gluon import nn

from gluon_cnn import get_model, list_models, shapes
from gluon_cnn.errors import TraceError
from gluon_cnn.models import default_input_shape
from gluon_cnn.scratch import Conv2D as ScratchConv2D
from gluon_cnn.trace import Trace, trace
from gluon_cnn.trace.__main__ import main as trace_main
from gluon_cnn.trace.record import walk


def _unique_param_count(net) -> int:
    return sum(p.data().size for p in {id(p): p for p in net.collect_params().values()}.values())


def _real_leaf_shapes(net, x) -> dict:
    """Output shape of every childless block in a real, imperative forward pass (the oracle)."""
    net(x)  # finish deferred initialization first: it runs the layers on symbols
    seen, handles = {}, []
    for b, _ in walk(net).values():
        if not b._children:
            handles.append(b.register_forward_hook(
                lambda blk, i, o: seen.setdefault(id(blk), o.shape)))
    try:
        out = net(x)
    finally:
        for h in handles:
            h.detach()
    return seen, out


def _no_hooks(net) -> bool:
    return all(not b._forward_hooks and not b._forward_pre_hooks for b, _ in walk(net).values())


# ----------------------------------------------------------------------------- every model
@pytest.mark.parametrize('name', list_models())
def test_every_model_matches_a_real_forward_pass(name):
    net = get_model(name)
    shape = default_input_shape(name)
    t = trace(net, shape)  # before initialize(): nothing may be touched
    assert all(p._data is None for p in net.collect_params().values())
    assert _no_hooks(net)
    net.initialize()
    leaf_shapes, out = _real_leaf_shapes(net, nd.random.uniform(shape=shape))
    assert t.output_shape == out.shape
    assert t.total_params == _unique_param_count(net)
    blocks = {path: b for b, path in walk(net).values()}
    for r in t.rows:  # every traced leaf has the shape the real pass gave it
        if not blocks[r.name]._children:
            assert r.output_shape == leaf_shapes[id(blocks[r.name])], r.name
    assert all(len(line) <= 100 for line in str(t).splitlines())


# ----------------------------------------------------------------------------- the book's LeNet
def test_lenet_book_shapes_on_a_never_initialized_net():
    net = get_model('lenet')
    t = trace(net, (1, 1, 28, 28))
    # d2l zh §5.5: 6@24x24 -> 6@12x12 -> 16@8x8 -> 16@4x4 -> 120 -> 84 -> 10
    assert [r.output_shape for r in t.rows] == [(1, 6, 24, 24), (1, 6, 12, 12), (1, 16, 8, 8),
                                                (1, 16, 4, 4), (1, 120), (1, 84), (1, 10)]
    assert t.total_params == t.trainable_params == 44426
    assert t.rows[4].params == shapes.dense_params(16 * 4 * 4, 120) == 30840  # not viz's miscount
    assert 'flattens' in t.rows[4].note
    assert net.features[4].weight.shape == (120, 0)  # still deferred: the tracer inferred a copy
    net.initialize()
    assert net(nd.ones((2, 1, 28, 28))).shape == (2, 10)
    assert trace(net, (1, 1, 28, 28)).total_params == _unique_param_count(net) == 44426


def test_lenet_en_first_dense_and_the_paper_connections():
    t = trace(get_model('lenet-en'), (1, 1, 28, 28))
    dense = next(r for r in t.rows if r.type == 'Dense')
    assert dense.params == shapes.dense_params(16 * 5 * 5, 120) == 48120  # viz.print_summary says 2,040
    c1 = t.rows[0]  # padding 2 makes the paper's 32x32 geometry: C1 has 122,304 connections
    assert c1.connections == shapes.conv_connections(5, 5, 1, 6, 28, 28) == 122304
    assert c1.macs == shapes.conv_macs(5, 5, 1, 6, 28, 28) + 6 * 28 * 28  # plus the fused sigmoid


def test_receptive_fields_follow_the_closed_form():
    t = trace(get_model('lenet'), (1, 1, 28, 28))
    assert t.rows[3].receptive_field == (16, 16) and t.rows[3].jump == (4, 4)
    assert shapes.receptive_field([(5, 1), (2, 2), (5, 1), (2, 2)]) == (16, 4)
    assert t.rows[4].receptive_field == (28, 28)  # the flattening Dense sees the whole image


def test_hybridized_net_after_a_forward_pass():
    net = get_model('lenet-bn')
    plain = trace(net, (2, 1, 28, 28))
    net.initialize()
    net.hybridize()
    net(nd.ones((2, 1, 28, 28)))
    t = trace(net, (2, 1, 28, 28))
    assert [(r.name, r.output_shape, r.params, r.macs) for r in t.rows] == \
           [(r.name, r.output_shape, r.params, r.macs) for r in plain.rows]
    assert t.total_params == 45330 and t.trainable_params == 45330 - 2 * (6 + 16 + 120 + 84)
    assert net(nd.ones((3, 1, 28, 28))).shape == (3, 10) and _no_hooks(net)


def test_symbolic_and_imperative_agree():
    net = get_model('lenet-bn')
    a, b = trace(net, (1, 1, 28, 28)), trace(net, (1, 1, 28, 28), mode='imperative')
    assert b.mode == 'imperative' and a.mode == 'symbolic'
    assert [(r.output_shape, r.macs, r.connections, r.receptive_field) for r in a.rows] == \
           [(r.output_shape, r.macs, r.connections, r.receptive_field) for r in b.rows]
    assert all(p._data is None for p in net.collect_params().values())


# ----------------------------------------------------------------------------- leaves no trace
def test_state_is_left_alone():
    net = get_model('lenet-bn')
    net.initialize()
    net(nd.ones((1, 1, 28, 28)))
    calls = []
    net.features[0].register_forward_hook(lambda *a: calls.append(1))
    bn = net.features[1]
    before = bn.running_mean.data().asnumpy().copy()
    with autograd.record():  # even inside record(), in training mode
        trace(net, (4, 1, 28, 28), mode='imperative')
        trace(net, (4, 1, 28, 28))
        assert autograd.is_recording() and autograd.is_training()
    assert not autograd.is_recording() and not autograd.is_training()
    assert calls == [] and len(net.features[0]._forward_hooks) == 1  # the user's hook stays
    assert np.array_equal(bn.running_mean.data().asnumpy(), before)


def test_random_stream_untouched():
    mx.random.seed(7)
    a = get_model('lenet')
    a.initialize(mx.init.Xavier())
    a(nd.ones((1, 1, 28, 28)))
    mx.random.seed(7)
    b = get_model('lenet')
    trace(b, (1, 1, 28, 28), mode='imperative')
    b.initialize(mx.init.Xavier())
    b(nd.ones((1, 1, 28, 28)))
    assert np.array_equal(a.features[0].weight.data().asnumpy(), b.features[0].weight.data().asnumpy())


# ----------------------------------------------------------------------------- other nets
def test_plain_blocks_from_scratch():
    net = nn.Sequential()
    net.add(ScratchConv2D((2, 2)), nn.Dense(3))  # the book's corr2d layer needs real arrays
    t = trace(net, (6, 8))
    assert t.mode == 'imperative'
    assert [r.output_shape for r in t.rows] == [(5, 7), (5, 3)]
    assert t.rows[0].macs is None and 'not counted' in str(t)  # no trace_counts: said, not guessed
    assert all(p._data is None for p in net.collect_params().values())
    net.initialize()
    assert net(nd.ones((6, 8))).shape == (5, 3)
    assert t.total_params == _unique_param_count(net) == 5 + 24


class _TwoInputs(nn.HybridBlock):
    """Two inputs, a list output and a Dense sharing the parameters of another."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.a = nn.Dense(4)
            self.b = nn.Dense(4, params=self.a.params)
            self.conv = nn.Conv2D(3, 3, padding=1)

    def hybrid_forward(self, F, x, y):
        return [self.a(x), self.b(x), F.broadcast_add(self.conv(y), F.sum(y))]


def test_multiple_inputs_lists_and_shared_parameters():
    net = _TwoInputs()
    t = trace(net, (2, 5), (1, 3, 6, 6))
    assert t.output_shape == ((2, 4), (2, 4), (1, 3, 6, 6))
    assert t.rows[1].shared == 'a' and t.rows[0].shared is None
    net.initialize()
    net(nd.ones((2, 5)), nd.ones((1, 3, 6, 6)))
    assert t.total_params == _unique_param_count(net) == 24 + 84
    assert trace(net, [nd.ones((2, 5)), nd.ones((1, 3, 6, 6))]).total_params == 108


class _Doubler(nn.HybridBlock):
    def hybrid_forward(self, F, x):
        return x * 2

    def trace_counts(self, in_shape, out_shape):
        return {'macs': 7, 'connections': 3}


def test_custom_layers_count_themselves():
    net = nn.HybridSequential()
    net.add(_Doubler(), nn.Dense(2))
    t = trace(net, (1, 4))
    assert (t.rows[0].macs, t.rows[0].connections) == (7, 3)
    assert t.total_macs == 7 + 4 * 2


def test_np_mode():
    npx.set_np()
    try:
        net = get_model('lenet-bn')
        t = trace(net, (1, 1, 28, 28))
        assert t.output_shape == (1, 10) and t.total_params == 45330
        net.initialize()
        assert net(mx.np.ones((1, 1, 28, 28))).shape == (1, 10)
        assert trace(net, (1, 1, 28, 28), mode='imperative').total_params == 45330
    finally:
        npx.reset_np()


# ----------------------------------------------------------------------------- failing well
def test_too_small_input_names_the_layer():
    net = get_model('lenet')
    with pytest.raises(TraceError) as e:
        trace(net, (1, 1, 8, 8))
    msg = str(e.value)
    assert msg.startswith('features.2 (Conv2D) cannot take its input (1, 6, 2, 2)')
    assert [r.output_shape for r in e.value.trace.rows[:2]] == [(1, 6, 4, 4), (1, 6, 2, 2)]
    assert '0 (Conv2D, sigmoid)' in msg and _no_hooks(net)
    with pytest.raises(TraceError, match=r'features.0 \(Conv2D\) cannot take its input \(1, 28, 28\)'):
        trace(net, (1, 28, 28))  # wrong rank
    net.initialize()
    assert net(nd.ones((1, 1, 28, 28))).shape == (1, 10)


def test_bad_arguments():
    with pytest.raises(TraceError):
        trace(get_model('lenet'))
    with pytest.raises(TraceError):
        trace(get_model('lenet'), 'big')


# ----------------------------------------------------------------------------- showing it
def test_rendering_and_folding():
    t = trace(get_model('lenet'), (1, 1, 28, 28))
    assert repr(t) == str(t) and isinstance(t, Trace)
    assert '44,426' in str(t) and 'bias adds excluded' in str(t)
    assert max(len(line) for line in str(trace(get_model('resnet18'), (1, 1, 96, 96))).splitlines()) <= 100
    assert '<table>' in t._repr_html_() and t.to_markdown().count('\n|') >= 9
    f = t.fold(1)
    assert [r.name for r in f.rows] == ['features', 'output']
    assert f.rows[0].params == 44426 - 850 and f.total_params == 44426
    assert trace(get_model('lenet'), (1, 1, 28, 28), depth=1).rows[0].folded == 6


def test_cli(capsys):
    assert trace_main(['lenet', '--input', '1,1,28,28']) == 0
    assert '(1, 16, 4, 4)' in capsys.readouterr().out
    assert trace_main(['lenet', '--input', '1,1,8,8']) == 2
    assert 'features.2' in capsys.readouterr().err


def test_lenet_traces_well_under_100_ms():
    net = get_model('lenet')
    trace(net, (1, 1, 28, 28))
    best = min(_timed(lambda: trace(net, (1, 1, 28, 28))) for _ in range(5))
    assert best < 0.1, f'{best * 1e3:.1f} ms'


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
