"""Seeing what a CNN learns (docs/seeing.md): fooling, adversarial changes, dreams, receptive
fields and the exported graph.

Oracles: the net itself called directly (softmax by nd.softmax, the layer's activation by a
forward hook), the L∞ distance and value range measured on the arrays, the tracer's receptive
field, autograd's support of the input gradient, and Gluon's SymbolBlock.imports for the export.
"""
import shutil

import matplotlib.image
import mxnet as mx
import numpy as np
import pytest

from gluon_cnn import get_model
from gluon_cnn.runs.export import EXPORT_PARAMS, SYMBOL_FILE, export_symbol, import_symbol
from gluon_cnn.trace import trace
from gluon_cnn.viz import dream, fields, fooling
from gluon_cnn.viz.command import main as viz_main
from gluon_cnn.runs import load as runs_load
from gluon_cnn.runs.load import load_run
from gluon_cnn.viz.probe import capture, find_layer


@pytest.fixture(scope='module')
def relu_run(trained_run):
    """lenet-relu trained 2 epochs on 2,048 images through train.py (ReLU: unbounded scores);
    test_shift_style reads the same run (conftest trains it once)."""
    return load_run(trained_run(model='lenet-relu', limit=2048, lr=0.1).out)


def _images(run, n=4):
    it, test = runs_load.test_iter(run, batch_size=n, limit=n)
    X, _ = next(iter(it))
    return X.asnumpy(), test.labels[:n].astype(int)


def _softmax(net, x):
    return mx.nd.softmax(net(mx.nd.array(x))).asnumpy()


# ----------------------------------------------------------------------------- 1. fooling
@pytest.mark.parametrize('target,threshold', [(9, 0.99), (3, 0.95)])
def test_fooling_image_from_noise_clears_the_threshold(relu_run, target, threshold):
    f = fooling.fool_from_noise(relu_run.net, target, (1, 28, 28), threshold=threshold)
    assert f.reached and f.confidence[0] < 0.5  # from noise the net was not sure
    assert _softmax(relu_run.net, f.image[None])[0, target] >= threshold
    assert f.image.min() >= 0 and f.image.max() <= 1
    again = fooling.fool_from_noise(relu_run.net, target, (1, 28, 28), threshold=threshold)
    assert np.array_equal(f.image, again.image)                     # same seed, same image
    other = fooling.fool_from_noise(relu_run.net, target, (1, 28, 28), steps=5, seed=1)
    assert not np.array_equal(f.start, other.start)


def test_fooling_reports_an_unreached_threshold(relu_run):
    f = fooling.fool_from_noise(relu_run.net, 4, (1, 28, 28), threshold=0.999, steps=20)
    assert not f.reached and len(f.confidence) == 21
    assert _softmax(relu_run.net, f.image[None])[0, 4] < 0.999


@pytest.mark.parametrize('method', ['fgsm', 'pgd'])
def test_attacks_stay_within_eps_and_flip(relu_run, method):
    X, _ = _images(relu_run)
    attack = fooling.fgsm if method == 'fgsm' else fooling.pgd
    for x in X:
        pred = int(_softmax(relu_run.net, x[None]).argmax())
        for eps in (0.01, 0.1):
            a = attack(relu_run.net, x, pred, eps)
            assert np.abs(a.image - x).max() <= eps + 1e-6
            assert a.image.min() >= 0 and a.image.max() <= 1
            np.testing.assert_allclose(a.after, _softmax(relu_run.net, a.image[None])[0],
                                       rtol=1e-4, atol=1e-6)
        # the loss of the predicted class goes up: its softmax does not rise
        assert a.after[pred] <= a.before[pred] + 1e-6
        small = fooling.smallest_flip(relu_run.net, x, pred, 0.3, method=method)
        assert small is not None and small.flipped
        assert int(_softmax(relu_run.net, small.image[None]).argmax()) != pred
        assert np.abs(small.image - x).max() <= small.eps + 1e-6


def test_pgd_same_seed_same_result_and_targeted(relu_run):
    X, _ = _images(relu_run, 1)
    pred = int(_softmax(relu_run.net, X).argmax())
    a, b = (fooling.pgd(relu_run.net, X[0], pred, 0.05, seed=3) for _ in range(2))
    assert np.array_equal(a.image, b.image)
    target = (pred + 1) % 10
    t = fooling.smallest_flip(relu_run.net, X[0], pred, 0.5, target=target)
    assert t is not None and int(_softmax(relu_run.net, t.image[None]).argmax()) == target


def test_fool_cli(relu_run, tmp_path, capsys):
    assert viz_main(['fool', '--run', str(relu_run.dir), '--target', '3',
                     '--out', str(tmp_path / 'f.png')]) == 0
    assert viz_main(['fool', '--run', str(relu_run.dir), '--from-image', '1', '--eps', '0.2',
                     '--out', str(tmp_path / 'a.png')]) == 0
    for name in ('f.png', 'a.png'):
        assert matplotlib.image.imread(str(tmp_path / name))[..., :3].std() > 0.02
    capsys.readouterr()
    assert viz_main(['fool', '--run', str(relu_run.dir), '--out', str(tmp_path / 'x.png')]) == 2
    assert capsys.readouterr().err.count('\n') == 1


# ----------------------------------------------------------------------------- 2. dream
@pytest.mark.parametrize('layer,octaves', [('2', 3), ('1', 1)])
def test_dream_raises_the_layer_energy_and_keeps_pixels_in_range(relu_run, layer, octaves):
    X, _ = _images(relu_run, 1)
    target = find_layer(relu_run.net, layer)
    d = dream.dream(relu_run.net, target, X[0], octaves=octaves, steps=10)
    assert d.image.min() >= 0 and d.image.max() <= 1
    a0 = capture(relu_run.net, mx.nd.array(X), [target])[0][0].output.asnumpy()
    a1 = capture(relu_run.net, mx.nd.array(d.image[None]), [target])[0][0].output.asnumpy()
    assert (a1 ** 2).mean() > (a0 ** 2).mean()                  # measured by a hook, directly
    assert d.objective[-1] == pytest.approx((a1 ** 2).mean(), rel=1e-5)


def test_dream_refuses_octaves_that_do_not_divide(relu_run, tmp_path, capsys):
    assert viz_main(['dream', '--run', str(relu_run.dir), '--layer', '2', '--octaves', '4',
                     '--out', str(tmp_path / 'd.png')]) == 2
    assert 'fewer octaves' in capsys.readouterr().err


# ----------------------------------------------------------------------------- 4. receptive field
@pytest.mark.parametrize('model,kwargs', [('lenet', {}), ('lenet', {'padding': 2}),
                                          ('lenet-relu', {})])
def test_input_gradient_falls_inside_the_tracers_box(model, kwargs):
    mx.random.seed(0)
    net = get_model(model, **kwargs)
    net.initialize(mx.init.Xavier())
    X = np.random.RandomState(0).rand(8, 1, 28, 28).astype(np.float32)
    t = trace(net, (1, 1, 28, 28))
    rows = {r.name: r for r in t.rows}
    for path in ('0', '1', '2', '3'):
        layer = find_layer(net, path)
        n = rows[path].output_shape[2]
        for unit in ((0, 0), (n // 2, n // 3), (n - 1, n - 1)):
            box = fields.theoretical_box(net, layer, unit, (1, 28, 28))
            assert (box.height, box.width) == rows[path].receptive_field  # the tracer's figure
            heat = fields.effective_field(net, layer, unit, X)
            top, left, bottom, right = box.clipped(28, 28)
            inside = np.zeros_like(heat, dtype=bool)
            inside[top:bottom + 1, left:right + 1] = True
            assert heat[~inside].max(initial=0) == 0 and heat[inside].max() > 0


def test_rf_cli(relu_run, tmp_path, capsys):
    assert viz_main(['rf', '--run', str(relu_run.dir), '--layer', '3', '--unit', '2,1',
                     '--out', str(tmp_path / 'rf.png')]) == 0
    capsys.readouterr()
    assert viz_main(['rf', '--run', str(relu_run.dir), '--layer', '3', '--unit', '9,9',
                     '--out', str(tmp_path / 'rf.png')]) == 2
    assert 'maps of 4x4' in capsys.readouterr().err


# ----------------------------------------------------------------------------- 8. export
def test_run_folder_holds_an_export_that_imports_to_the_same_outputs(relu_run):
    assert (relu_run.dir / SYMBOL_FILE).is_file() and (relu_run.dir / EXPORT_PARAMS).is_file()
    X, _ = _images(relu_run)
    imported = import_symbol(relu_run.dir)
    np.testing.assert_allclose(imported(mx.nd.array(X)).asnumpy(),
                               relu_run.net(mx.nd.array(X)).asnumpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('model,shape', [('lenet-bn', (2, 1, 28, 28)), ('nin', (1, 1, 224, 224))])
def test_export_of_other_nets(tmp_path, model, shape):
    mx.random.seed(0)
    net = get_model(model)
    net.initialize(mx.init.Xavier())
    X = mx.nd.array(np.random.RandomState(0).rand(*shape))
    expected = net(X).asnumpy()
    assert export_symbol(net, tmp_path, shape) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [EXPORT_PARAMS, SYMBOL_FILE]
    np.testing.assert_allclose(import_symbol(tmp_path)(X).asnumpy(), expected, rtol=1e-4,
                               atol=1e-5)


def test_export_of_a_plain_block_says_why_not(tmp_path):
    class Plain(mx.gluon.Block):
        def forward(self, x):
            return x
    assert 'plain Block' in export_symbol(Plain(), tmp_path, (1, 1, 28, 28))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which('dot') is None, reason="Graphviz's dot is not installed")
def test_graph_cli_draws_a_png(relu_run, tmp_path):
    assert viz_main(['graph', '--run', str(relu_run.dir), '--out', str(tmp_path / 'g.png')]) == 0
    img = matplotlib.image.imread(str(tmp_path / 'g.png'))
    assert img.shape[0] > img.shape[1] > 50        # a tall chain of boxes
    assert sorted(p.name for p in tmp_path.iterdir()) == ['g.png']


def test_graph_cli_without_dot_says_what_is_missing(relu_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shutil, 'which', lambda name: None)
    assert viz_main(['graph', '--run', str(relu_run.dir), '--out', str(tmp_path / 'g.png')]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'apt-get install graphviz' in err
