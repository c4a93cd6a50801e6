"""docs/seeing.md, continued: shifted inputs (`viz shift`), neural style (`viz style`, d2l zh
§9.11) and the softmax in the class images of `viz maximize`.

Oracles: nd.Convolution on random input (equivariance), gluon_cnn.training.engine's
evaluate_accuracy, a numpy Gram matrix X X^T / (c h w), the net's own softmax (nd.softmax), and
Gluon's model store run with no network.
"""

import matplotlib.image
import mxnet as mx
import numpy as np
import pytest
import requests
from mxnet.gluon import nn
from mxnet.gluon.model_zoo import model_store, vision
from PIL import Image

from gluon_cnn import ConfigError, get_model
from gluon_cnn.training.engine import evaluate_accuracy
from gluon_cnn.runs import load as runs_load
from gluon_cnn.viz import probe, run_figures, shift, style
from gluon_cnn.viz.command import main as viz_main
from gluon_cnn.runs.load import load_run


@pytest.fixture(scope='module')
def runs(trained_run):
    """lenet-relu and lenet-strided (ReLU too), each 2 epochs on 2,048 images via train.py (the
    lenet-relu run is test_seeing's too: conftest trains it once)."""
    return (load_run(trained_run(model='lenet-relu', limit=2048, lr=0.1).out),
            load_run(trained_run(model='lenet-strided', limit=2048, lr=0.1,
                                 model_kwargs='{"act": "relu"}').out))


# ----------------------------------------------------------------------------- shift
def test_shift_moves_pixels_and_fills_the_background():
    X = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4)
    np.testing.assert_array_equal(shift.shift(X, 0, 1, -1)[0, 0],
                                  [[-1, 0, 1, 2], [-1, 4, 5, 6], [-1, 8, 9, 10]])
    np.testing.assert_array_equal(shift.shift(X, -1, 0)[0, 0], [[4, 5, 6, 7], [8, 9, 10, 11],
                                                                [0, 0, 0, 0]])
    assert not shift.shift(X, 0, 4).any()


@pytest.mark.parametrize('dy,dx,stride', [(0, 1, 1), (2, 0, 1), (1, -3, 1), (2, 2, 2)])
def test_a_convolution_commutes_with_a_shift_in_the_interior(dy, dx, stride):
    rng = np.random.RandomState(0)
    x = rng.randn(2, 3, 20, 20).astype(np.float32)
    w, b = rng.randn(4, 3, 5, 5).astype(np.float32), rng.randn(4).astype(np.float32)

    def conv(v):
        return mx.nd.Convolution(mx.nd.array(v), mx.nd.array(w), mx.nd.array(b), kernel=(5, 5),
                                 stride=(stride, stride), num_filter=4).asnumpy()
    a = shift.shift(conv(x), dy // stride, dx // stride)
    c = conv(shift.shift(x, dy, dx))
    m = 5  # the border a shift of a few pixels reaches (fill values, lost columns)
    np.testing.assert_allclose(c[..., m:-m, m:-m], a[..., m:-m, m:-m], rtol=1e-4, atol=1e-4)
    assert np.abs(c - conv(x)).max() > 0.1        # it did move


def test_layer_changes_undo_the_shift_where_the_layer_is_equivariant():
    mx.random.seed(0)
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3), nn.Conv2D(4, 3, strides=2), nn.MaxPool2D(), nn.Dense(5))
    net.initialize(mx.init.Xavier())
    X = np.random.RandomState(1).rand(4, 1, 17, 17).astype(np.float32)
    one = {c.label: c for c in shift.layer_changes(net, X, pixels=1)}
    assert one['0 Conv2D'].undone == 1 and one['0 Conv2D'].change < 1e-6
    assert one['1 Conv2D'].jump == 2 and one['1 Conv2D'].change > 0.05  # 1 px is half a unit
    two = {c.label: c for c in shift.layer_changes(net, X, pixels=2)}
    assert two['1 Conv2D'].undone == 1 and two['1 Conv2D'].change < 1e-6
    assert two['3 Dense'].change > 0.01


def test_shift_zero_accuracy_is_the_engines(runs):
    for run in runs:
        X, y = shift.test_arrays(run, 700)
        acc = shift.shift_accuracy(run.net, X, y, [0, 3], 'x')
        it, _ = runs_load.test_iter(run, batch_size=256, limit=700)
        assert acc[0] == evaluate_accuracy(run.net, it, ctx=mx.cpu())
        assert acc[1] != acc[0]


def test_shift_cli(runs, tmp_path, capsys):
    out = tmp_path / 's.png'
    assert viz_main(['shift', '--run', str(runs[0].dir), '--compare', str(runs[1].dir),
                     '--max', '3', '--images', '300', '--out', str(out)]) == 0
    assert matplotlib.image.imread(str(out))[..., :3].std() > 0.02
    capsys.readouterr()
    assert viz_main(['shift', '--run', str(runs[0].dir), '--max', '28', '--out', str(out)]) == 2
    assert capsys.readouterr().err.count('\n') == 1


def test_lenet_strided_has_no_pooling_and_the_same_shapes():
    net, book = get_model('lenet-strided'), get_model('lenet')
    for n in (net, book):
        n.initialize()
    X = mx.nd.zeros((2, 1, 28, 28))
    assert not [l for l in probe.layers(net) if l.kind == 'pool']
    assert net(X).shape == book(X).shape == (2, 10)
    count = lambda n: sum(p.data().size for p in n.collect_params().values())  # noqa: E731
    assert count(net) == count(book)


# ----------------------------------------------------------------------------- style
def _tiny_vgg19():
    """Gluon's VGG class with vgg19's layer counts (so vgg19's feature indices) and few filters."""
    mx.random.seed(0)
    net = vision.VGG([2, 2, 4, 4, 4], [4, 6, 8, 8, 8])
    net.initialize(mx.init.Xavier())
    return net


def _pictures(h=40, w=48):
    """Stripes, a checkerboard and a photo-like gradient, RGB uint8 (H, W, 3)."""
    yy, xx = np.mgrid[:h, :w]
    stripes = np.stack([(xx // 3 % 2) * 255, np.full_like(xx, 60), (yy // 5 % 2) * 200], -1)
    checker = np.repeat(((yy // 6 + xx // 6) % 2 * 255)[..., None], 3, -1)
    gradient = np.stack([xx * 255 // w, yy * 255 // h, 255 - (xx + yy) * 255 // (h + w)], -1)
    return [a.astype(np.uint8) for a in (stripes, checker, gradient)]


def test_gram_is_x_xt_over_chw():
    X = np.random.RandomState(0).randn(1, 5, 6, 7).astype(np.float32)
    flat = X.reshape(5, 42).astype(np.float64)
    np.testing.assert_allclose(style.gram(mx.nd.array(X)).asnumpy(), flat @ flat.T / (5 * 42),
                               rtol=1e-5, atol=1e-6)


def test_style_transfer_lowers_the_loss_and_matches_the_gram_oracle():
    net = style.feature_net(_tiny_vgg19(), style.STYLE_LAYERS + style.CONTENT_LAYERS)
    assert len(net) == 29
    stripes, checker, gradient = _pictures()
    content, paint = style.preprocess(gradient, (32, 40)), style.preprocess(checker, (32, 40))
    r = style.transfer(net, content, paint, steps=30, lr=0.05)
    assert r.losses.shape == (31, 4)
    assert r.losses[-1, 3] < 0.8 * r.losses[0, 3]                   # the total loss falls
    assert r.losses[0, 0] < 1e-6 * r.losses[0, 3]                   # it starts at the content
    assert r.losses[-1, 1] < r.losses[0, 1]
    np.testing.assert_allclose(r.losses[:, :3].sum(axis=1), r.losses[:, 3], rtol=1e-5)
    # the style loss, recomputed in numpy from the returned image's features
    _, feats = style.extract_features(net, r.image, style.CONTENT_LAYERS, style.STYLE_LAYERS)
    _, target = style.extract_features(net, paint, style.CONTENT_LAYERS, style.STYLE_LAYERS)

    def np_gram(Y):
        Y = Y.asnumpy().astype(np.float64)
        flat = Y.reshape(Y.shape[1], -1)
        return flat @ flat.T / Y.size
    loss = sum(((np_gram(a) - np_gram(b)) ** 2).mean() for a, b in zip(feats, target)) * 1e3
    assert loss == pytest.approx(r.losses[-1, 1], rel=1e-3)
    img = style.postprocess(r.image)
    assert img.shape == (32, 40, 3) and img.min() >= 0 and img.max() <= 1


def test_style_cli_runs_on_files(tmp_path, monkeypatch, capsys):
    stripes, _, gradient = _pictures()
    Image.fromarray(gradient).save(tmp_path / 'c.jpg')
    Image.fromarray(stripes[..., 0]).save(tmp_path / 's.png')      # grey: read as RGB
    monkeypatch.setattr(style, 'load_vgg19', lambda weights=None: _tiny_vgg19())
    out = tmp_path / 'o.png'
    assert viz_main(['style', '--content', str(tmp_path / 'c.jpg'), '--style',
                     str(tmp_path / 's.png'), '--steps', '3', '--size', '32,40',
                     '--out', str(out)]) == 0
    assert matplotlib.image.imread(str(out))[..., :3].std() > 0.02
    (tmp_path / 'bad.png').write_text('not an image')
    capsys.readouterr()
    assert viz_main(['style', '--content', str(tmp_path / 'bad.png'), '--style',
                     str(tmp_path / 's.png'), '--out', str(out)]) == 2
    assert capsys.readouterr().err.count('\n') == 1


def test_vgg19_without_weights_offline_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv('MXNET_HOME', str(tmp_path))

    def offline(url, path=None, **kwargs):
        raise requests.exceptions.ConnectionError(f'Failed to resolve {url}')
    monkeypatch.setattr(model_store, 'download', offline)
    with pytest.raises(ConfigError, match=r'vgg19\(pretrained=True\).*--weights FILE') as e:
        style.load_vgg19()
    assert str(tmp_path / 'models') in str(e.value) and '\n' not in str(e.value)
    (tmp_path / 'junk.params').write_bytes(b'\0' * 64)
    with pytest.raises(ConfigError, match='not the parameters of model_zoo vgg19') as e:
        style.load_vgg19(str(tmp_path / 'junk.params'))
    assert 'Check failed' in str(e.value) and 'Traceback' not in str(e.value)  # MXNet's reason
    with pytest.raises(ConfigError, match='no such file'):
        style.load_vgg19(str(tmp_path / 'missing.params'))


def test_style_offline_is_one_line_without_retry_lines(tmp_path, monkeypatch, capfd):
    """Gluon's real download, to a closed loopback port: its five retry lines are not shown."""
    monkeypatch.setenv('MXNET_HOME', str(tmp_path))
    monkeypatch.setenv('MXNET_GLUON_REPO', 'http://127.0.0.1:9/')
    Image.fromarray(_pictures()[2]).save(tmp_path / 'c.png')
    assert viz_main(['style', '--content', str(tmp_path / 'c.png'), '--style',
                     str(tmp_path / 'c.png'), '--out', str(tmp_path / 'o.png')]) == 2
    out, err = capfd.readouterr()
    assert out == '' and err.startswith('error: no vgg19 weights in ') and err.count('\n') == 1


def test_style_refuses_a_decompression_bomb_in_one_line(tmp_path, capsys):
    """An image over Pillow's pixel limit (Image.MAX_IMAGE_PIXELS; a PNG of zeros is small on
    disk), as `explain` refuses it."""
    Image.new('L', (14000, 14000)).save(tmp_path / 'bomb.png')  # 196 M pixels: over 2x the limit
    Image.new('L', (10000, 10000)).save(tmp_path / 'warn.png')  # 100 M: over the limit
    for name in ('bomb.png', 'warn.png'):
        assert viz_main(['style', '--content', str(tmp_path / name), '--style',
                         str(tmp_path / name), '--out', str(tmp_path / 'o.png')]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f'error: {tmp_path / name}: not an image') and 'Bomb' in err, err


# ----------------------------------------------------------------------------- maximize
def test_class_images_show_the_softmax_of_their_class(runs, monkeypatch):
    seen = {}
    real = run_figures.plots.plot_image_grid

    def keep(images, titles, **kwargs):
        seen['images'], seen['titles'] = images, titles
        return real(images, titles, **kwargs)
    monkeypatch.setattr(run_figures.plots, 'plot_image_grid', keep)
    run = runs[0]
    run_figures.maximize_figure(run, None, [0, 7], steps=20)
    p = mx.nd.softmax(run.net(mx.nd.array(seen['images'][:, None]))).asnumpy()
    for k, (title, unit) in enumerate(zip(seen['titles'], [0, 7])):
        assert title.endswith(f'p = {p[k, unit]:.2f}'), title
    run_figures.maximize_figure(run, '2', [0], steps=5)
    assert 'p =' not in seen['titles'][0]                          # not for hidden units
