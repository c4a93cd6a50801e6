"""LeNet-5 (LeCun et al. 1998) against the paper's own numbers and MXNet's own operators.

Oracles: the paper's per-layer parameter and connection counts (section II.B) and Table I typed
from the paper; MXNet's dense Convolution and AvgPool2D; closed-form RBF distances in numpy; the
paper's learning-rate values (section III.C). The registry tests (test_models.py) already cover
forward/backward, hybridized == imperative and classic == npx.set_np() for both models.
"""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon, npx

from gluon_cnn import get_model
from gluon_cnn.data import ArrayIter, Split
from gluon_cnn.models import lenet5 as l5, model_info
from gluon_cnn.training.schedules import EpochSteps
from gluon_cnn.trace import trace

# Section II.B, layer by layer: (trainable parameters, connections).
PAPER = [('C1', 156, 122_304), ('S2', 12, 5_880), ('C3', 1_516, 151_600), ('S4', 32, 2_000),
         ('C5', 48_120, 48_120), ('F6', 10_164, 10_164)]

# Table I as printed: row = S2 map, column = C3 map, X = connected.
TABLE_I = """
X...XXX..XXXX.XX
XX...XXX..XXXX.X
XXX...XXX..X.XXX
.XXX..XXXX..X.XX
..XXX..XXXX.XX.X
...XXX..XXXX.XXX
"""


def init(net, seed=0):
    mx.random.seed(seed)
    net.initialize(mx.init.Xavier())  # the engine's default; the layers' own initializers win
    return net


def rand(*shape, seed=1):
    return mx.nd.array(np.random.RandomState(seed).uniform(-1, 1, shape))


# ----------------------------------------------------------------------------- architecture
def test_trace_reproduces_the_papers_counts():
    t = trace(get_model('lenet5'), (1, 1, 32, 32))
    rows = [(r.trainable_params, r.connections) for r in t.rows if r.trainable_params]
    assert rows == [(p, c) for _, p, c in PAPER]
    # "340,908 connections, but only 60,000 trainable parameters"; the 840 RBF weights are fixed
    assert t.trainable_params == 60_000 and t.total_params == 60_840
    assert sum(r.connections for r in t.rows if r.connections) == 340_908
    assert t.rows[-1].output_shape == (1, 10)


def test_c3_connections_are_table_one():
    printed = [[c == 'X' for c in row] for row in TABLE_I.split()]
    ours = [[i in l5.C3_TABLE[j] for j in range(16)] for i in range(6)]
    assert ours == printed


def test_partial_conv_equals_a_masked_dense_convolution():
    layer = l5.PartialConv2D(l5.C3_TABLE, 5, 6)
    layer.initialize()
    x = rand(2, 6, 14, 14)
    # the dense (16, 6, 5, 5) weight that the grouped parameters stand for,
    # zeros where Table I has none
    w, b = np.zeros((16, 6, 5, 5), np.float32), np.zeros(16, np.float32)
    for first, n, _ in layer.groups:
        gw, gb = (layer.params.get(f'weight{first}').data().asnumpy(),
                  layer.params.get(f'bias{first}').data().asnumpy())
        for k in range(n):
            w[first + k, list(l5.C3_TABLE[first + k])] = gw[k]
            b[first + k] = gb[k]
    expected = mx.nd.Convolution(x, mx.nd.array(w), mx.nd.array(b), kernel=(5, 5), num_filter=16)
    np.testing.assert_allclose(layer(x).asnumpy(), expected.asnumpy(), rtol=1e-5, atol=1e-5)


def test_subsampling_is_scaled_sum_pooling():
    layer = l5.Subsampling(6)
    layer.initialize()
    x = rand(2, 6, 28, 28)
    coef = layer.weight.data().asnumpy()[None, :, None, None]
    bias = layer.bias.data().asnumpy()[None, :, None, None]
    mean = gluon.nn.AvgPool2D(2, 2)(x).asnumpy()
    np.testing.assert_allclose(layer(x).asnumpy(), 4 * mean * coef + bias, rtol=1e-5, atol=1e-6)


def test_squash_is_the_appendix_a_sigmoid():
    a = np.array([-3.0, -1.0, 0.0, 1.0, 3.0], np.float32)
    y = l5.Squash()(mx.nd.array(a)).asnumpy()
    np.testing.assert_allclose(y, 1.7159 * np.tanh(2 / 3 * a), rtol=1e-6)
    assert abs(y[3] - 1) < 1e-3 and abs(y[1] + 1) < 1e-3  # chosen so that f(+-1) = +-1


# ----------------------------------------------------------------------------- output and loss
def test_rbf_scores_are_negative_squared_distances():
    out = l5.RBFOutput(l5.prototype_codes())
    out.initialize()
    x = rand(3, 84)
    codes = l5.prototype_codes()
    expected = -((x.asnumpy()[:, None, :] - codes[None]) ** 2).sum(axis=2)
    np.testing.assert_allclose(out(x).asnumpy(), expected, rtol=1e-5)


def test_prototypes_are_distinct_pm1_bitmaps():
    codes = l5.prototype_codes()
    assert codes.shape == (10, 84) and set(np.unique(codes)) == {-1.0, 1.0}
    d = ((codes[:, None] - codes[None]) ** 2).sum(axis=2)
    assert (d[~np.eye(10, dtype=bool)] >= 4 * 8).all()  # every pair differs in >= 8 pixels


def test_loss_is_distance_to_the_correct_prototype():
    scores, label = rand(4, 10), mx.nd.array([0, 3, 9, 3])
    loss = l5.RBFDistanceLoss()(scores, label).asnumpy()
    np.testing.assert_allclose(loss, -scores.asnumpy()[np.arange(4), [0, 3, 9, 3]], rtol=1e-6)


@pytest.mark.parametrize('np_mode', [False, True], ids=['classic', 'npx.set_np'])
def test_training_step_keeps_prototypes_fixed(np_mode):
    """One hybridized SGD step in either array mode: loss falls, only the prototypes stay put."""
    if np_mode:
        npx.set_np()
    try:
        net = init(get_model('lenet5'))
        net.hybridize()
        loss_fn = model_info('lenet5').loss()
        x, y = rand(8, 1, 32, 32), mx.nd.arange(8) % 10
        if np_mode:
            x, y = x.as_np_ndarray(), y.as_np_ndarray()
        protos = net.output.prototypes.data().asnumpy().copy()
        c1 = net.features[0].weight.data().asnumpy().copy()
        trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.01})
        losses = []
        for _ in range(3):
            with autograd.record():
                l = loss_fn(net(x), y)
            l.backward()
            trainer.step(8)
            losses.append(l.mean().asnumpy().item())
        assert losses[-1] < losses[0]
        np.testing.assert_array_equal(net.output.prototypes.data().asnumpy(), protos)
        assert not np.allclose(net.features[0].weight.data().asnumpy(), c1)
    finally:
        npx.reset_np()


# ----------------------------------------------------------------------------- init, data, schedule
def test_weights_are_uniform_in_2_4_over_fan_in():
    net = init(get_model('lenet5'))
    fan_in = {'c1_': 25, 's2_': 4, 'c3_weight0': 75, 'c3_bias0': 75, 'c3_weight6': 100,
              'c3_bias6': 100, 'c3_weight15': 150, 'c3_bias15': 150, 's4_': 4, 'c5_': 400,
              'f6_': 120}
    for name, p in net.collect_params().items():
        if p.grad_req == 'null':
            continue
        fan = next(v for k, v in fan_in.items() if k in name)
        v = np.abs(p.data().asnumpy())
        assert v.max() <= 2.4 / fan, name
        if v.size >= 100:  # not Xavier's range: the bound is nearly reached
            assert v.max() > 0.9 * 2.4 / fan, name


def test_model_record_gives_the_papers_32x32_input():
    info = model_info('lenet5')
    images = np.zeros((2, 28, 28), np.uint8)
    images[:, 10:18, 10:18] = 255
    X, _ = next(iter(ArrayIter(Split(images, np.zeros(2, np.uint8)), 2,
                               pad=info.pad, value_range=info.value_range)))
    X = X.asnumpy()
    assert X.shape == (2, 1, 32, 32)
    assert (np.isclose(X.min(), -0.1) and np.isclose(X.max(), 1.175)
            and np.isclose(X[0, 0, 0, 0], -0.1))


def test_lecun1998_schedule_has_the_papers_steps():
    """Section III.C: 0.0005 for 2 passes, 0.0002 for 3, 0.0001 for 3, 0.00005 for 4, then 0.00001.
    """
    paper = [0.0005] * 2 + [0.0002] * 3 + [0.0001] * 3 + [0.00005] * 4 + [0.00001] * 8
    steps = 7
    sched = EpochSteps(0.0005, steps_per_epoch=steps)
    ours = [sched(e * steps + u) for e in range(20) for u in (1, steps)]  # first and last update
    np.testing.assert_allclose(ours, np.repeat(paper, 2), rtol=1e-12)


def test_preset_reaches_the_engine_schedule():
    """`train.py --preset lenet5-paper` -> the lecun1998 steps on top of its lr, the model's init.
    """
    from gluon_cnn.app import train_command as train_cli
    from gluon_cnn.app.run import lr_scheduler
    cfg = train_cli.config_from_args(train_cli.parse_args(['--preset', 'lenet5-paper'])).validate()
    assert ((cfg.model, cfg.epochs, cfg.init, cfg.lr_schedule)
            == ('lenet5', 20, 'model', 'lecun1998'))
    sched = lr_scheduler(cfg, steps_per_epoch=10)
    assert [sched(e * 10 + 1) / cfg.lr for e in (0, 1, 2, 5, 8, 12, 19)] == \
        pytest.approx([1, 1, 0.4, 0.2, 0.1, 0.02, 0.02])


def test_prototypes_survive_repeated_symbolic_builds():
    """run.run traces the net, then hybridizes it: each builds symbols that dump the initializer."""
    net = get_model('lenet5')
    prototypes = net.output.prototypes
    for _ in range(2):
        mx.sym.var('p', init=prototypes.init)  # what each symbolic build does
    net.initialize()
    np.testing.assert_array_equal(prototypes.data().asnumpy(), l5.prototype_codes())
