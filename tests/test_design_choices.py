"""gluon_cnn.design_choices: the tracer's numbers against closed forms and the papers' ratios."""
import subprocess
import sys
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from mxnet import nd
from mxnet.gluon import nn

from gluon_cnn import design_choices
from gluon_cnn.cli import EXIT_PIPE
from gluon_cnn.shapes import conv_macs, conv_params
from gluon_cnn.design_choices import SpatialPyramidPooling


def test_two_3x3_cost_18_25_of_one_5x5_with_the_same_receptive_field():
    five, three = design_choices.stacked_3x3_vs_5x5(c=8, hw=10)
    assert five['params'] == conv_params(5, 5, 8, 8)
    assert three['params'] == 2 * conv_params(3, 3, 8, 8)
    assert three['macs'] * 25 == five['macs'] * 18  # VGG §2.3: 2 * 3^2 vs 5^2
    assert five['rf'] == three['rf'] == (5, 5)


def test_bottleneck_matches_inception_3a_arithmetic():
    direct, reduced = design_choices.bottleneck_1x1()
    assert direct['macs'] == conv_macs(5, 5, 192, 32, 28, 28)
    assert reduced['macs'] == conv_macs(1, 1, 192, 16, 28, 28) + conv_macs(5, 5, 16, 32, 28, 28)
    assert reduced['params'] == conv_params(1, 1, 192, 16) + conv_params(5, 5, 16, 32)
    assert reduced['macs'] / direct['macs'] == pytest.approx(16 / 32 / 25 + 16 / 192)


def test_separable_ratio_is_mobilenets():
    standard, separable = design_choices.separable_vs_standard(c_in=16, c_out=32, hw=8)
    assert separable['macs'] / standard['macs'] == pytest.approx(1 / 32 + 1 / 9)  # Howard 2017 §3.1
    assert separable['params'] == conv_params(3, 3, 16, 16, groups=16) + conv_params(1, 1, 16, 32)


def test_pooling_variants_shapes():
    rows = {r['name']: r for r in design_choices.pooling_variants(c=4, hw=13)}
    overlapping = rows['max 3x3 / 2 (overlapping)']
    assert rows['max 2x2 / 2']['output'] == overlapping['output'] == (1, 4, 6, 6)
    assert rows['max 3x3 / 2 (overlapping)']['rf'] == (3, 3)
    assert rows['global average']['output'] == (1, 4, 1, 1)
    assert rows['SPP (4, 2, 1)']['output'] == (1, 4 * 21)


@pytest.mark.parametrize('hw', [(13, 13), (10, 17), (7, 7), (4, 9)])
def test_spp_fixed_length_and_avg_matches_adaptive_pooling(hw):
    x = nd.random.uniform(shape=(2, 3) + hw)
    assert SpatialPyramidPooling()(x).shape == (2, 3 * 21)
    # MXNet's adaptive average pooling uses the same bins: an independent oracle per level
    for n in (4, 2, 1):
        ours = SpatialPyramidPooling((n,), 'avg')(x).reshape((2, 3, n, n))
        ref = nd.contrib.AdaptiveAvgPooling2D(x, output_size=n)
        np.testing.assert_allclose(ours.asnumpy(), ref.asnumpy(), rtol=1e-5, atol=1e-6)


def test_spp_max_level_equals_pooling_when_divisible_and_global_max():
    x = nd.random.uniform(shape=(1, 2, 8, 12))
    ours = SpatialPyramidPooling((4,))(x).reshape((1, 2, 4, 4))
    ref = nd.Pooling(x, kernel=(2, 3), stride=(2, 3), pool_type='max')
    np.testing.assert_allclose(ours.asnumpy(), ref.asnumpy())
    np.testing.assert_allclose(SpatialPyramidPooling((1,))(x).asnumpy(),
                               x.max(axis=(2, 3)).asnumpy())


def test_report_runs(capsys):
    design_choices.report()
    out = capsys.readouterr().out
    assert '0.72 / 0.72' in out and '(1, 336)' in out and '5,184 weights' in out


# ----------------------------------------------------------------------------- worked examples
def test_3x3_conv_from_3_to_192_channels_has_5184_weights():
    w = design_choices.conv_weights_3_to_192()
    assert w['weights'] == 3 * 3 * 3 * 192 == 5184
    assert w['params'] == 5184 + 192


def _floor_size(n, k, s):
    return (n - k) // s + 1


def test_the_96x96_tutorial_net_traced_end_to_end():
    t = design_choices.tutorial_net_96()
    h1 = _floor_size(96, 5, 1)
    h2 = _floor_size(h1, 4, 4)
    h3 = _floor_size(h2, 6, 1)
    h4 = _floor_size(h3, 4, 4)
    assert (h1, h2, h3, h4) == (92, 23, 18, 4)
    assert [r.output_shape for r in t.rows] == [(1, 8, h1, h1), (1, 8, h2, h2), (1, 24, h3, h3),
                                                (1, 24, h4, h4), (1, 100)]
    assert t.rows[3].output_shape != (1, 8, 23, 23)  # what one tutorial says the pooling gives
    assert t.rows[4].params == 24 * 4 * 4 * 100 + 100
    assert t.rows[4].formula == 'flatten: 24×4×4 = 384'
    assert t.rows[0].macs == 8 * 92 * 92 * 2 * 5 * 5


# ----------------------------------------------------------------------------- transposed conv
def test_fcn_gives_an_image_per_class_and_the_trace_says_how():
    net = design_choices.lenet_fcn()
    net.initialize()
    y = net(nd.random.uniform(shape=(2, 1, 28, 28)))
    assert y.shape == (2, 10, 28, 28)
    t = design_choices.fcn_trace()
    last = t.rows[-1]
    assert last.type == 'Conv2DTranspose' and last.output_shape == (1, 10, 28, 28)
    assert last.formula == 'h, w: (4 - 1)·4 - 0 + 16 + 0 = 28'
    assert last.receptive_field == (28, 28) and last.jump == (1, 1)  # 16 + (16/4 - 1)·4
    assert t.rows[-2].receptive_field == (16, 16) and t.rows[-2].jump == (4, 4)
    assert '(4 - 1)·4 - 0 + 16 + 0 = 28' in str(t)


def test_fcn_transposed_layer_is_the_scratch_trans_conv():
    from gluon_cnn.ops.scratch import trans_conv
    up = nn.Conv2DTranspose(1, 16, strides=4, in_channels=1, use_bias=False)
    up.initialize()
    x = nd.random.uniform(shape=(1, 1, 4, 4))
    expected = trans_conv(x[0, 0], up.weight.data()[0, 0], stride=4)
    np.testing.assert_allclose(up(x)[0, 0].asnumpy(), expected.asnumpy(), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- nonlinearity
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_two_linear_dense_layers_are_one(seed):
    g = design_choices.stacked_linear(seed=seed)
    assert g['linear_gap'] <= 1e-5 * max(g['scale'], 1.0)   # float32 rounding only
    assert g['sigmoid_gap'] > 0.1                            # the sigmoid breaks it


def test_no_matrix_fits_the_sigmoid_stack():
    """Least squares over every affine map: the sigmoid stack leaves a residual, the linear none."""
    rng = np.random.RandomState(0)
    x = rng.randn(64, 8)
    d1, d2 = nn.Dense(5, in_units=8), nn.Dense(3, in_units=5)
    d1.initialize(mx.init.Normal(1.0)), d2.initialize(mx.init.Normal(1.0))  # sigmoid's curve
    X1 = np.hstack([x, np.ones((64, 1))])
    for f, nonzero in ((lambda h: h, False), (nd.sigmoid, True)):
        y = d2(f(d1(nd.array(x)))).asnumpy()
        _, residual, *_ = np.linalg.lstsq(X1, y, rcond=None)
        assert (residual.sum() > 1e-3) == nonzero


# ----------------------------------------------------------------------------- the command
def test_help_prints_help_and_runs_nothing(capsys):
    with pytest.raises(SystemExit) as e:
        design_choices.main(['--help'])
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert out.startswith('usage: python -m gluon_cnn.design_choices') and '== ' not in out


def test_closed_pipe_ends_quietly():
    """`python -m gluon_cnn.design_choices | head -0`: exit 141 (cli.EXIT_PIPE), no traceback.
    The reading end is closed before anything is written, so the first flush meets the pipe."""
    p = subprocess.Popen([sys.executable, '-m', 'gluon_cnn.design_choices'],
                         cwd=Path(design_choices.__file__).parents[1],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read()
    assert (p.wait(timeout=300), err) == (EXIT_PIPE, b'')
