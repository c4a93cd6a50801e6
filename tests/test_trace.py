"""gluon_cnn.trace against real forward passes, collect_params(), the book's shapes, formulas
written here independently of gluon_cnn.shapes, the book's plain-Block nets and torchinfo."""
import re
from math import prod

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, nd, npx
from mxnet.gluon import nn

from gluon_cnn import get_model, list_models, shapes
from gluon_cnn.errors import TraceError
from gluon_cnn.backend import internals
from gluon_cnn.models import model_info
from gluon_cnn.ops.scratch import Conv2D as ScratchConv2D
from gluon_cnn.trace import Trace, trace
from gluon_cnn.trace.command import main as trace_main
from gluon_cnn.trace.recording import walk


def _unique_param_count(net) -> int:
    return sum(p.data().size for p in {id(p): p for p in net.collect_params().values()}.values())


def _real_leaf_shapes(net, x) -> dict:
    """Output shape of every childless block in a real, imperative forward pass (the oracle)."""
    net(x)  # finish deferred initialization first: it runs the layers on symbols
    seen, handles = {}, []
    for b, _ in walk(net).values():
        if not internals.children(b):
            handles.append(b.register_forward_hook(
                lambda blk, i, o: seen.setdefault(id(blk), o.shape)))
    try:
        out = net(x)
    finally:
        for h in handles:
            h.detach()
    return seen, out


def _seq(*layers, plain=False):
    net = nn.Sequential() if plain else nn.HybridSequential()
    net.add(*layers)
    return net


def _rf(layers):
    """(rf, jump) after (k, s) layers, the recurrence of Araujo et al. (2019) written out."""
    rf, jump = 1, 1
    for k, s in layers:
        rf, jump = rf + (k - 1) * jump, jump * s
    return rf, jump


def _no_hooks(net) -> bool:
    return all(not any(internals.forward_hooks(b)) for b, _ in walk(net).values())


# ----------------------------------------------------------------------------- every model
@pytest.mark.parametrize('name', list_models())
def test_every_model_matches_a_real_forward_pass(name):
    net = get_model(name)
    shape = model_info(name).input_shape
    t = trace(net, shape)  # before initialize(): nothing may be touched
    assert all(not internals.is_initialized(p) for p in net.collect_params().values())
    assert _no_hooks(net)
    net.initialize()
    leaf_shapes, out = _real_leaf_shapes(net, nd.random.uniform(shape=shape))
    assert t.output_shape == out.shape
    assert t.total_params == _unique_param_count(net)
    blocks = {path: b for b, path in walk(net).values()}
    for r in t.rows:  # every traced leaf has the shape the real pass gave it
        if not internals.children(blocks[r.name]):
            assert r.output_shape == leaf_shapes[id(blocks[r.name])], r.name
    assert all(len(line) <= 100 for line in str(t).splitlines())
    for r in t.rows:  # weight MACs from the initialized weights and the real output shapes
        expected = _weight_macs(blocks[r.name], r.input_shape, r.output_shape)
        if expected is not None:
            assert (r.macs, r.bias_adds) == expected, r.name
    if not any(hasattr(blocks[r.name], 'trace_counts') for r in t.rows):
        assert t.total_macs == sum(_weight_macs(blocks[r.name], r.input_shape, r.output_shape)
                                   [0] for r in t.rows if r.type in ('Conv2D', 'Dense'))


def _weight_macs(block, in_shape, out_shape):
    """(weight MACs, bias adds) of a Conv2D or Dense: every weight once per output position."""
    if type(block).__name__ == 'Conv2D':
        positions = out_shape[0] * out_shape[2] * out_shape[3]
    elif type(block).__name__ == 'Dense':
        positions = out_shape[0]
    else:
        return None
    bias = block.bias.data().size if block.bias is not None else 0
    return block.weight.data().size * positions, bias * positions


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
    assert net[4].weight.shape == (120, 0)  # still deferred: the tracer inferred a copy
    net.initialize()
    assert net(nd.ones((2, 1, 28, 28))).shape == (2, 10)
    assert trace(net, (1, 1, 28, 28)).total_params == _unique_param_count(net) == 44426


def test_lenet_en_first_dense_and_the_paper_connections():
    t = trace(get_model('lenet-en'), (1, 1, 28, 28))
    dense = next(r for r in t.rows if r.type == 'Dense')
    # viz.print_summary says 2,040
    assert dense.params == shapes.dense_params(16 * 5 * 5, 120) == 48120
    c1 = t.rows[0]  # padding 2 makes the paper's 32x32 geometry: C1 has 122,304 connections
    assert c1.connections == shapes.conv_connections(5, 5, 1, 6, 28, 28) == 122304
    assert c1.macs == 6 * 28 * 28 * 25 and c1.act_ops == 6 * 28 * 28  # the sigmoid is no MAC


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
    assert all(not internals.is_initialized(p) for p in net.collect_params().values())


# ----------------------------------------------------------------------------- leaves no trace
def test_state_is_left_alone():
    net = get_model('lenet-bn')
    net.initialize()
    net(nd.ones((1, 1, 28, 28)))
    calls = []
    net[0].register_forward_hook(lambda *a: calls.append(1))
    bn = net[1]
    before = bn.running_mean.data().asnumpy().copy()
    with autograd.record():  # even inside record(), in training mode
        trace(net, (4, 1, 28, 28), mode='imperative')
        trace(net, (4, 1, 28, 28))
        assert autograd.is_recording() and autograd.is_training()
    assert not autograd.is_recording() and not autograd.is_training()
    assert calls == [] and len(internals.forward_hooks(net[0])[1]) == 1  # the user's hook stays
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
    assert np.array_equal(a[0].weight.data().asnumpy(), b[0].weight.data().asnumpy())


# ----------------------------------------------------------------------------- other nets
def test_plain_blocks_from_scratch():
    net = nn.Sequential()
    net.add(ScratchConv2D((2, 2)), nn.Dense(3))  # the book's corr2d layer needs real arrays
    t = trace(net, (6, 8))
    assert t.mode == 'imperative'
    assert [r.output_shape for r in t.rows] == [(5, 7), (5, 3)]
    assert t.rows[0].macs is None and 'not counted' in str(t)  # no trace_counts: said, not guessed
    assert all(not internals.is_initialized(p) for p in net.collect_params().values())
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


class _Adder(nn.HybridBlock):
    def hybrid_forward(self, F, x):
        return x + 1

    def trace_counts(self, in_shape, out_shape):
        return {'act_ops': 5}


def test_custom_counts_name_only_what_they_have():
    t = trace(_seq(_Adder()), (1, 4))
    r = t.rows[0]
    assert (r.macs, r.act_ops, r.bias_adds, r.torchinfo, r.connections) == (0, 5, 0, 0, 0)


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
    assert msg.startswith('layer 2 (Conv2D 5x5): input 2x2 is smaller than the kernel; needs at '
                          'least 5x5\n')
    assert (e.value.layer, e.value.layer_type, e.value.incoming) == ('2', 'Conv2D', [(1, 6, 2, 2)])
    assert [r.output_shape for r in e.value.trace.rows[:2]] == [(1, 6, 4, 4), (1, 6, 2, 2)]
    assert '0 (Conv2D, sigmoid)' in msg and _no_hooks(net)
    with pytest.raises(TraceError,
                       match=r'^layer 0 \(Conv2D\) cannot take its input \(1, 28, 28\)'):
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
    assert '44,426' in str(t) and 'as fvcore counts them' not in str(t)  # explain=True's
    assert 'as fvcore counts them' in str(trace(get_model('lenet'), (1, 1, 28, 28), explain=True))
    assert '<table>' in t._repr_html_() and t.to_markdown().count('\n|') >= 9
    r = trace(get_model('resnet18'), (1, 1, 96, 96))
    assert max(len(line) for line in str(r).splitlines()) <= 100
    f = r.fold(1)
    assert [x.name for x in f.rows] == ['features', 'output']
    assert f.rows[0].params == r.total_params - (512 * 10 + 10) and f.total_params == r.total_params
    assert f.rows[0].macs == r.total_macs - 512 * 10  # a folded row sums its layers
    assert f.rows[0].receptive_field == r.nodes[1].receptive_field
    assert trace(get_model('resnet18'), (1, 1, 96, 96), depth=1).rows[0].folded == \
        sum(1 for x in r.rows if x.name.startswith('features.'))


def test_cli(capsys):
    assert trace_main(['lenet', '--input', '1,1,28,28']) == 0
    assert '(1, 16, 4, 4)' in capsys.readouterr().out
    assert trace_main(['lenet', '--input', '1,1,8,8']) == 2
    assert capsys.readouterr().err.startswith('error: layer 2 (Conv2D 5x5): input 2x2 is smaller')


# ----------------------------------------------------------------------------- MAC conventions
def test_lenet_macs_are_weight_multiply_accumulates():
    t = trace(get_model('lenet'), (1, 1, 28, 28))
    conv1, pool1, _, _, d120, _, _ = t.rows
    assert conv1.macs == 6 * 24 * 24 * 5 * 5 == 86400                  # fvcore's count
    assert d120.macs == 16 * 4 * 4 * 120 == 30720
    assert conv1.act_ops == 6 * 24 * 24 and conv1.bias_adds == 6 * 24 * 24
    assert pool1.macs == 0 and pool1.pool_ops == 6 * 12 * 12 * 2 * 2
    assert t.total_macs == 86400 + 16 * 8 * 8 * 6 * 25 + 30720 + 120 * 84 + 84 * 10
    biases = 6 * 24 * 24 + 16 * 8 * 8 + 120 + 84 + 10
    assert t.torchinfo_macs == t.total_macs + biases == t.total_connections
    assert t.total_pool_ops == 4 * (6 * 12 * 12 + 16 * 4 * 4)
    assert t.total_act_ops == 6 * 24 * 24 + 16 * 8 * 8 + 120 + 84 and t.total_norm_ops == 0
    text = str(t)
    assert 'MACs: 281,640 (fvcore)' in text and 'torchinfo: 286,334' in text
    assert 'pooling window elements 4,480' in text


def test_batchnorm_ops_have_their_own_count():
    t = trace(get_model('lenet-bn'), (2, 1, 28, 28))
    bn = t.rows[1]
    assert bn.type == 'BatchNorm' and bn.macs == 0 and bn.norm_ops == 2 * 6 * 24 * 24
    assert bn.torchinfo == 2 * (6 + 6)  # torchinfo: scale and shift once per example
    assert t.total_norm_ops == 2 * (6 * 24 * 24 + 16 * 8 * 8 + 120 + 84)


def _torch_lenet(batch_norm: bool):
    torch = pytest.importorskip('torch')
    tnn = torch.nn

    def hidden(layer, c):
        return [layer, tnn.BatchNorm2d(c) if isinstance(layer, tnn.Conv2d) else
                tnn.BatchNorm1d(c), tnn.Sigmoid()] if batch_norm else [layer, tnn.Sigmoid()]
    return tnn.Sequential(*hidden(tnn.Conv2d(1, 6, 5), 6), tnn.MaxPool2d(2, 2),
                          *hidden(tnn.Conv2d(6, 16, 5), 16), tnn.MaxPool2d(2, 2), tnn.Flatten(),
                          *hidden(tnn.Linear(256, 120), 120), *hidden(tnn.Linear(120, 84), 84),
                          tnn.Linear(84, 10))


@pytest.mark.parametrize('name,batch_norm', [('lenet', False), ('lenet-bn', True)])
def test_torchinfo_counts_the_same_pytorch_net_alike(name, batch_norm):
    torchinfo = pytest.importorskip('torchinfo')
    net = _torch_lenet(batch_norm).eval()
    stats = torchinfo.summary(net, input_size=(2, 1, 28, 28), verbose=0)
    t = trace(get_model(name), (2, 1, 28, 28))
    assert t.torchinfo_macs == stats.total_mult_adds
    assert t.total_params == stats.total_params + (2 * (6 + 16 + 120 + 84) if batch_norm else 0)


# ----------------------------------------------------------------------------- RF through any Block
class _SumBlock(nn.Block):
    """relu(c1(X) + c3(X)), a plain Block: c1 3x3 stride 2 pad 1, c3 1x1 stride 2."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.c1 = nn.Conv2D(4, 3, strides=2, padding=1)
        self.c3 = nn.Conv2D(4, 1, strides=2)

    def forward(self, X):
        return nd.relu(self.c1(X) + self.c3(X))


class _HybridSumBlock(nn.HybridBlock):
    """The same block as a HybridBlock: symbolic tracing sees its graph."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.c1 = nn.Conv2D(4, 3, strides=2, padding=1)
        self.c3 = nn.Conv2D(4, 1, strides=2)

    def hybrid_forward(self, F, X):
        return F.relu(self.c1(X) + self.c3(X))


def test_receptive_field_follows_the_data_flow_through_plain_blocks():
    plain = trace(_seq(_SumBlock(), _SumBlock(), plain=True), (1, 1, 16, 16))
    hybrid = trace(_seq(_HybridSumBlock(), _HybridSumBlock()), (1, 1, 16, 16))
    assert plain.mode == 'imperative' and hybrid.mode == 'symbolic'
    fields = {r.name: (r.receptive_field, r.jump) for r in plain.nodes if r.depth}
    assert fields['1.c1'] == ((7, 7), (4, 4)) and fields['1.c3'] == ((3, 3), (4, 4))
    assert fields['0'] == ((3, 3), (2, 2)) == fields['0.c1']  # the sum takes the larger field
    assert fields == {r.name: (r.receptive_field, r.jump) for r in hybrid.nodes if r.depth}


class _InPlaceSum(_SumBlock):
    def forward(self, X):
        Y = self.c1(X)
        Y += self.c3(X)  # in place: cannot run under autograd.record
        return Y


def test_in_place_blocks_still_trace():
    t = trace(_seq(_InPlaceSum(), plain=True), (1, 1, 16, 16))
    assert t.output_shape == (1, 4, 8, 8) and t.rows[0].receptive_field == (3, 3)


class _BookResidual(nn.Block):
    """d2l zh §5.11's residual block as the book writes it, a plain Block: two 3x3 conv + BN,
    a 1x1 conv on the shortcut when the shape changes, ReLU of the sum. The shortcut runs
    first here, so that execution order and data flow differ."""

    def __init__(self, channels, use_1x1conv=False, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = nn.Conv2D(channels, 3, padding=1, strides=strides)
        self.conv2 = nn.Conv2D(channels, 3, padding=1)
        self.conv3 = nn.Conv2D(channels, 1, strides=strides) if use_1x1conv else None
        self.bn1, self.bn2 = nn.BatchNorm(), nn.BatchNorm()

    def forward(self, X):
        shortcut = self.conv3(X) if self.conv3 is not None else X
        main = self.bn2(self.conv2(nd.relu(self.bn1(self.conv1(X)))))
        return nd.relu(main + shortcut)


def _book_resnet18():
    net = _seq(nn.Conv2D(64, 7, strides=2, padding=3), nn.BatchNorm(), nn.Activation('relu'),
               nn.MaxPool2D(3, 2, 1), plain=True)
    for i, c in enumerate((64, 128, 256, 512)):
        net.add(_seq(*[_BookResidual(c, use_1x1conv=(i > 0 and j == 0),
                                     strides=2 if i > 0 and j == 0 else 1) for j in range(2)],
                     plain=True))
    net.add(nn.GlobalAvgPool2D(), nn.Dense(10))
    return net


class _BookInception(nn.Block):
    """d2l zh §5.9's Inception block as a plain Block: four paths concatenated on channels
    (1x1; 1x1 then 3x3; 1x1 then 5x5; 3x3 max pool then 1x1), written pool path first."""

    def __init__(self, c1, c2, c3, c4, **kwargs):
        super().__init__(**kwargs)
        self.p1_1 = nn.Conv2D(c1, 1, activation='relu')
        self.p2_1 = nn.Conv2D(c2[0], 1, activation='relu')
        self.p2_2 = nn.Conv2D(c2[1], 3, padding=1, activation='relu')
        self.p3_1 = nn.Conv2D(c3[0], 1, activation='relu')
        self.p3_2 = nn.Conv2D(c3[1], 5, padding=2, activation='relu')
        self.p4_1 = nn.MaxPool2D(3, 1, 1)
        self.p4_2 = nn.Conv2D(c4, 1, activation='relu')

    def forward(self, x):
        pooled = self.p4_2(self.p4_1(x))
        paths = [self.p1_1(x), self.p2_2(self.p2_1(x)), self.p3_2(self.p3_1(x)), pooled]
        return nd.concat(*paths, dim=1)


def _book_googlenet():
    from gluon_cnn.models.googlenet import INCEPTION_SPEC
    b1 = _seq(nn.Conv2D(64, 7, strides=2, padding=3, activation='relu'), nn.MaxPool2D(3, 2, 1),
              plain=True)
    b2 = _seq(nn.Conv2D(64, 1), nn.Conv2D(192, 3, padding=1), nn.MaxPool2D(3, 2, 1), plain=True)
    stages = [_seq(*[_BookInception(*a) for a in spec], pool, plain=True) for spec, pool in
              zip(INCEPTION_SPEC, (nn.MaxPool2D(3, 2, 1), nn.MaxPool2D(3, 2, 1),
                                   nn.GlobalAvgPool2D()))]
    return _seq(b1, b2, *stages, nn.Dense(10), plain=True)


@pytest.mark.parametrize('name,book', [('resnet18', _book_resnet18),
                                       ('googlenet', _book_googlenet)])
def test_book_plain_blocks_give_the_registry_fields(name, book):
    ours = trace(get_model(name), (1, 1, 96, 96))
    theirs = trace(book(), (1, 1, 96, 96))
    assert theirs.mode == 'imperative' and ours.mode == 'symbolic'
    registry = {r.name: (r.receptive_field, r.jump) for r in ours.nodes}
    last = len(book()) - 1
    compared = 0
    for r in theirs.nodes:  # 'features.' + the book's path; its last child is the registry's output
        if r.depth:
            path = 'output' if r.name == str(last) else f'features.{r.name}'
            assert (r.receptive_field, r.jump) == registry[path], r.name
            compared += 1
    assert compared == len(ours.nodes) - 2  # all but the registry net and its features


def test_resnet_fields_match_the_recurrence_on_its_longest_path():
    t = {r.name: (r.receptive_field, r.jump) for r in trace(_book_resnet18(), (1, 1, 96, 96)).nodes}
    stem = [(7, 2), (3, 2)]
    stage1 = [(3, 1)] * 4
    stage2 = [(3, 2)] + [(3, 1)] * 3
    rf, jump = _rf(stem + stage1 + stage2)
    assert (rf, jump) == (99, 8)
    assert t['5'] == ((rf, rf), (jump, jump))           # the end of the second stage
    assert t['5.0.conv3'] == ((_rf(stem + stage1 + [(1, 2)])[0],) * 2, (8, 8))


# ----------------------------------------------------------------------------- the formula, shown
def test_explain_shows_the_books_formula():
    t = trace(get_model('lenet'), (1, 1, 28, 28), explain=True)
    text = str(t)
    assert 'h, w: ⌊(28 - 5 + 0 + 1) / 1⌋ = 24' in text
    assert 'h, w: ⌊(24 - 2 + 0 + 2) / 2⌋ = 12' in text
    assert 'flatten: 16×4×4 = 256' in text and all(len(x) <= 100 for x in text.splitlines())
    assert '⌊(28 - 5 + 0 + 1) / 1⌋ = 24' in t._repr_html_()
    assert '16×4×4 = 256' in t.to_markdown()
    assert '⌊' not in str(trace(get_model('lenet'), (1, 1, 28, 28)))  # only when asked
    pooled = trace(_seq(nn.MaxPool2D((3, 2), (2, 2), ceil_mode=True)), (1, 1, 8, 9),
                   explain=True)
    assert pooled.rows[0].formula == \
        'h: ⌈(8 - 3 + 0) / 2⌉ + 1 = 4; w: ⌈(9 - 2 + 0) / 2⌉ + 1 = 5'
    assert pooled.rows[0].output_shape == (1, 1, 4, 5)  # MXNet's own pooling agrees


@pytest.mark.parametrize('name', list_models())
def test_every_formula_gives_the_traced_size(name):
    t = trace(get_model(name), model_info(name).input_shape, explain=True)
    for r in t.rows:
        if r.formula and not r.formula.startswith('flatten'):
            sizes = [int(v) for v in re.findall(r'= (\d+)', r.formula)]
            spatial = r.output_shape[2:]
            assert sizes == list(spatial) or set(sizes) == set(spatial) == {sizes[0]}, r.name
            for axis, n in zip(r.formula.split('; '), r.input_shape[2:]):  # input size first
                assert re.search(r'[⌊⌈]\((\d+)', axis).group(1) == str(n), r.name
        elif r.formula:
            assert r.formula.endswith(f'= {prod(r.input_shape[1:])}'), r.name


# ----------------------------------------------------------------------------- names never cut
@pytest.mark.parametrize('name', list_models())
def test_names_are_never_cut(name):
    full = trace(get_model(name), model_info(name).input_shape)
    for depth in (1, 2, 3, None):
        t = full.fold(depth)
        text = t.to_text()
        assert all(len(line) <= 100 for line in text.splitlines()), depth
        assert '~' not in text
        for r in t.visible:
            if r.depth:
                assert f"{r.name.rsplit('.', 1)[-1]} ({r.type}" in text, (depth, r.name)


def test_googlenet_depth_2_shows_whole_names(capsys):
    assert trace_main(['googlenet', '--depth', '2']) == 0
    out = capsys.readouterr().out
    assert '2 (HybridSequential, 15 layers)' in out and '15 laye~' not in out


def test_cli_explain(capsys):
    assert trace_main(['lenet', '--explain']) == 0
    assert '⌊(28 - 5 + 0 + 1) / 1⌋ = 24' in capsys.readouterr().out


# ----------------------------------------------------------------------------- explicit flattening
def _gradient_support(net, shape: tuple, unit: int) -> tuple:
    """Rows and columns of the input that output unit `unit` depends on: the extent of the
    nonzero gradient of that unit w.r.t. the input (what `viz rf` draws), by autograd."""
    x = nd.random.uniform(shape=shape)
    x.attach_grad()
    with autograd.record():
        y = net(x)[0, unit]
    y.backward()
    seen = np.abs(x.grad.asnumpy()[0]).sum(axis=0) > 0
    rows, cols = np.nonzero(seen.any(axis=1))[0], np.nonzero(seen.any(axis=0))[0]
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def _flattening(flatten) -> nn.HybridSequential:
    """A conv and an average pooling that leave the input's last rows and columns unseen, then
    the given flattening (None: the Dense flattens by itself) and two Dense layers."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, strides=2, activation='sigmoid'), nn.AvgPool2D(2, 2))
    if flatten is not None:
        net.add(flatten)
    net.add(nn.Dense(8, activation='sigmoid'), nn.Dense(3))
    return net


@pytest.mark.parametrize('flatten', [None, nn.Flatten(),
                                     nn.HybridLambda(lambda F, x: F.reshape(x, (0, -1)))],
                         ids=['implicit', 'Flatten', 'reshape'])
def test_flattening_keeps_the_receptive_field_of_the_gradient(flatten):
    """Every layer after the flattening has the field of a Dense unit's gradient support:
    (32 - 3) // 2 + 1 = 15 rows, pooled to 7, so a unit sees 5 + (7 - 1) * 4 = 29 of 32 rows
    (and 25 of 27 columns)."""
    net = _flattening(flatten)
    net.initialize(mx.init.Uniform(1.0))
    shape = (1, 2, 32, 27)
    support = _gradient_support(net, shape, unit=1)
    t = trace(net, shape)
    after = [r for r in t.rows if len(r.output_shape) == 2]
    assert len(after) == (2 if flatten is None else 3)
    assert support == (29, 25)  # rows 0..28 of 32, columns 0..24 of 27
    assert [r.receptive_field for r in after] == [support] * len(after)


def test_explicit_flatten_shows_its_formula():
    t = trace(_flattening(nn.Flatten()), (1, 2, 32, 27), explain=True)
    flat = t.rows[2]
    assert (flat.type, flat.formula, flat.note, flat.kernel) == \
        ('Flatten', 'flatten: 4×7×6 = 168', '', None)
    assert '    flatten: 4×7×6 = 168' in str(t).splitlines()
