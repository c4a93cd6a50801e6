"""Figures, feature maps, confusion matrix, activation maximization and the progress bar.

Oracles: the figure's declared size in pixels, MXNet's own Convolution/Pooling operators for the
captured feature maps, engine.evaluate_accuracy and np.bincount for the confusion matrix, and the
net itself (called directly) for the activations that maximization must raise.
"""
import sys
from pathlib import Path

import matplotlib
import matplotlib.image
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon, npx

from gluon_cnn.training import engine
from gluon_cnn import get_model
from gluon_cnn.app import train_command as train_cli
from gluon_cnn import data as gdata
from gluon_cnn import viz
from gluon_cnn.viz.command import main as viz_main

ROOT = Path(__file__).resolve().parents[1]


def load_png(path):
    img = matplotlib.image.imread(str(path))  # (H, W, 3 or 4) floats in [0, 1]
    return img[..., :3]


def assert_not_blank(img):
    assert img.std() > 0.02, 'image is (almost) one colour'


@pytest.fixture(scope='module')
def train_py():
    return train_cli


@pytest.fixture(scope='module')
def tiny_run(small_run):
    """The book's lenet trained 2 epochs on 256 images through `train.py --quiet`, and its stdout
    (conftest's small run, trained once per session)."""
    return small_run.out, small_run.stdout


# ----------------------------------------------------------------------------- figures alone
def test_figure_sizes_and_content(tmp_path):
    rng = np.random.RandomState(0)
    cases = {
        'kernels': viz.plot_kernels(rng.randn(6, 1, 5, 5)),
        'kernels2': viz.plot_kernels(rng.randn(4, 3, 3, 3)),
        'confusion': viz.plot_confusion(rng.randint(0, 50, (10, 10)), gdata.FASHION_MNIST_LABELS),
        'grid': viz.plot_image_grid(rng.rand(5, 28, 28), ['a'] * 5, ncols=3),
        'curves': viz.plot_curves([{'epoch': e, 'loss': 1 / e, 'train_acc': 0.5 + e / 10,
                                    'test_acc': 0.4 + e / 10} for e in (1, 2, 3)]),
    }
    for name, fig in cases.items():
        w, h = fig.get_size_inches() * fig.dpi
        img = load_png(viz.save(fig, tmp_path / f'{name}.png'))
        assert img.shape[:2] == (int(h), int(w)), name
        assert_not_blank(img)


def test_no_display_and_backend_untouched():
    """Figures draw on their own Agg canvas: pyplot's backend (Jupyter's inline) is not changed."""
    before = matplotlib.get_backend()
    fig = viz.plot_image_grid(np.eye(4)[None], ncols=1)
    assert type(fig.canvas).__name__ == 'FigureCanvasAgg'
    assert matplotlib.get_backend() == before


# ----------------------------------------------------------------------------- inside a net
@pytest.fixture(scope='module')
def lenet():
    mx.random.seed(0)
    net = get_model('lenet')
    net.initialize(mx.init.Xavier())
    return net


def test_captured_maps_match_mxnet_operators(lenet):
    X = mx.nd.array(np.random.RandomState(1).rand(2, 1, 28, 28))
    outs, y = viz.capture(lenet, X)
    got = {c.layer.name: c.output.asnumpy() for c in outs}
    assert outs[0].input_shape == (2, 1, 28, 28) and outs[1].input_shape == (2, 6, 24, 24)
    assert list(got) == ['conv0', 'pool0', 'conv1', 'pool1', 'dense0', 'dense1', 'dense2']
    conv = lenet[0]
    oracle = mx.nd.Convolution(X, conv.weight.data(), conv.bias.data(), kernel=(5, 5), num_filter=6)
    np.testing.assert_allclose(got['conv0'], mx.nd.sigmoid(oracle).asnumpy(), rtol=1e-5, atol=1e-6)
    pooled = mx.nd.Pooling(mx.nd.array(got['conv0']), kernel=(2, 2), stride=(2, 2), pool_type='max')
    np.testing.assert_allclose(got['pool0'], pooled.asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(got['dense2'], y.asnumpy(), rtol=1e-6)


def test_find_layer_names(lenet):
    assert viz.find_layer(lenet, 'conv1').path == '2'
    assert viz.find_layer(lenet, '6').name == 'dense2'  # the book's flat Sequential: paths 0-6
    with pytest.raises(Exception, match='no layer'):
        viz.find_layer(lenet, 'conv7')


def test_confusion_matrix_against_accuracy(lenet):
    _, test = gdata.load_dataset('fashion-mnist', download=False)
    it = gdata.ArrayIter(gdata.Split(test.images[:500], test.labels[:500]), 128)
    out, y = viz.predict(lenet, it)
    cm = viz.confusion_matrix(y, out.argmax(1), 10)
    assert cm.sum() == 500
    np.testing.assert_array_equal(cm.sum(1), np.bincount(test.labels[:500], minlength=10))
    assert np.trace(cm) / 500 == pytest.approx(engine.evaluate_accuracy(lenet, it))


@pytest.mark.parametrize('target', ['conv1', 'dense1', None], ids=['conv', 'hidden', 'class'])
def test_maximization_raises_activation(lenet, target):
    """a(x*) > a(x0), measured by calling the (truncated) net directly; L1 makes x* sparser."""
    units = [0, 3]
    layer = viz.find_layer(lenet, target) if target else None

    def act(x):
        x = mx.nd.array(x)
        if target == 'conv1':  # centre unit of the channel
            return lenet[:3](x).asnumpy()[[0, 1], units, 4, 4]
        if target == 'dense1':
            return lenet[:-1](x).asnumpy()[[0, 1], units]
        return lenet(x).asnumpy()[[0, 1], units]

    noise = np.random.RandomState(2).rand(2, 1, 28, 28).astype(np.float32)
    black = np.zeros_like(noise)  # the background: where L1 cannot pull below
    plain = viz.maximize(lenet, layer, units, (1, 28, 28), steps=30, x0=noise)
    np.testing.assert_allclose(plain.start, act(noise), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(plain.final, act(plain.images), rtol=1e-4, atol=1e-5)
    assert (act(plain.images) > act(noise)).all(), (act(noise), act(plain.images))
    # from the background, L1 can only add pixels that pay for themselves: a never falls
    sparse = viz.maximize(lenet, layer, units, (1, 28, 28), steps=30, l1=0.5, x0=black)
    assert (act(sparse.images) >= act(black) - 1e-6).all(), (act(black), act(sparse.images))
    pulled = viz.maximize(lenet, layer, units, (1, 28, 28), steps=30, l1=0.5, x0=noise)
    assert np.abs(pulled.images).sum() < np.abs(plain.images).sum()  # L1 shrinks x
    for r in (plain, sparse, pulled):
        assert r.images.min() >= 0 and r.images.max() <= 1


@pytest.mark.parametrize('name', ['lenet', 'lenet-bn'])
def test_input_gradients_match_central_differences(name):
    """Input gradients through MaxPool2D and BatchNorm are right, every time.

    Oracle: central differences of the forward pass (which is right in inference mode) on a
    float64 copy of the net, one perturbed image per pixel. Under plain record(train_mode=False)
    mxnet 1.9.1 gets both wrong: oneDNN max pooling reads an unwritten workspace, and BatchNorm's
    backward differentiates through batch statistics the forward did not use.
    """
    mx.random.seed(1)
    net, net64 = get_model(name), get_model(name)
    x = np.random.RandomState(3).rand(2, 1, 28, 28)
    for n in (net, net64):
        n.initialize(mx.init.Xavier())
        n(mx.nd.array(x))  # finish deferred init
    for p, p64 in zip(net.collect_params().values(), net64.collect_params().values()):
        if p.name.endswith('running_var'):
            p.set_data(p.data() + 0.5)  # running stats unlike any batch's
        p64.set_data(p.data())
    net64.cast('float64')
    stats = {k: v.data().asnumpy() for k, v in net.collect_params('.*running.*').items()}
    weights = np.arange(10)

    X = mx.nd.array(x)
    grads = []
    for _ in range(4):
        X.attach_grad()
        with viz.inference_gradients(net):
            score = (net(X) * mx.nd.array(weights)).sum()
        score.backward()
        grads.append(X.grad.asnumpy())

    eps, hw = 1e-7, 28 * 28  # small enough that no max-pool window changes its winner
    bumps = eps * np.eye(hw).reshape(hw, 1, 28, 28)
    oracle = np.empty_like(x)
    for i in range(len(x)):
        up, down = (net64(mx.nd.array(x[i] + s * bumps, dtype='float64')).asnumpy() @ weights
                    for s in (1, -1))
        oracle[i] = ((up - down) / (2 * eps)).reshape(1, 28, 28)
    for g in grads:
        np.testing.assert_allclose(g, oracle, rtol=1e-3, atol=1e-4 * np.abs(oracle).max())
    for k, v in net.collect_params('.*running.*').items():
        np.testing.assert_array_equal(v.data().asnumpy(), stats[k])  # running stats untouched


def test_batchnorm_input_gradient_in_closed_form():
    """In inference BatchNorm is y = gamma (x - mean) / sqrt(var + eps) + beta,
    so dy/dx = gamma / sqrt(var + eps)."""
    bn = gluon.nn.BatchNorm(in_channels=2)
    bn.initialize()
    bn.gamma.set_data(mx.nd.array([1.0, 3.0]))
    bn.running_var.set_data(mx.nd.array([4.0, 9.0]))
    x = mx.nd.array(np.random.RandomState(0).rand(3, 2, 2, 2))
    x.attach_grad()
    with viz.inference_gradients(bn):
        y = bn(x).sum()
    y.backward()
    expected = np.array([1 / np.sqrt(4 + 1e-5), 3 / np.sqrt(9 + 1e-5)])[None, :, None, None]
    np.testing.assert_allclose(x.grad.asnumpy(), np.broadcast_to(expected, x.shape), rtol=1e-5)


def test_inference_gradients_turn_dropout_off_and_restore_it():
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(8), gluon.nn.Dropout(0.5), gluon.nn.Dense(1))
    net.initialize()
    net.hybridize()
    x = mx.nd.ones((1, 4))
    grads = []
    for _ in range(3):
        x.attach_grad()
        with viz.inference_gradients(net):
            y = net(x)
        y.backward()
        grads.append(x.grad.asnumpy())
    np.testing.assert_array_equal(grads[0], grads[1])
    np.testing.assert_array_equal(grads[0], grads[2])
    with autograd.record(train_mode=True):
        dropped = net[1](mx.nd.ones((1, 1000)))
    assert (dropped.asnumpy() == 0).any()  # Dropout is back on after the block


def test_maximization_in_numpy_mode():
    """d2l 1.x readers call npx.set_np(); the same ascent works on mx.np arrays."""
    npx.set_np()
    try:
        net = get_model('lenet')
        net.initialize(mx.init.Xavier())
        r = viz.maximize(net, None, [1], (1, 28, 28), steps=10)
        assert r.final[0] > r.start[0]
    finally:
        npx.reset_np()


# ----------------------------------------------------------------------------- a whole run
def test_quiet_run_prints_summary_and_leaves_curves(tiny_run):
    out, stdout = tiny_run
    lines = stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('lenet: test acc ') and str(out) in lines[0]
    img = load_png(out / 'curves.png')
    assert img.shape[:2] == (400, 600)
    assert_not_blank(img)


def test_viz_all_writes_six_nonblank_pngs(tiny_run, tmp_path, capsys):
    run, _ = tiny_run
    assert viz_main(['all', '--run', str(run), '--out-dir', str(tmp_path), '--steps', '5']) == 0
    pngs = sorted(tmp_path.glob('*.png'))
    assert len(pngs) >= 6, pngs
    for p in pngs:
        assert_not_blank(load_png(p))
    assert viz_main(['maximize', '--run', str(run), '--layer', 'conv0', '--units', '0,2',
                     '--l1', '0,0.5', '--steps', '5', '--out', str(tmp_path / 'm.png')]) == 0
    assert load_png(tmp_path / 'm.png').shape[0] > 0
    assert viz_main(['maximize', '--run', str(run), '--layer', 'nope', '--out', 'x.png']) == 2
    assert 'no layer' in capsys.readouterr().err


def test_progress_bar_on_a_tty(train_py, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys.stderr, 'isatty', lambda: True, raising=False)
    assert train_py.main(['--limit', '256', '--epochs', '1', '--batch-size', '32',
                          '--out', str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert 'epoch 1/1:' in captured.err and '/8 batches' in captured.err  # the bar, on stderr
    assert 'epoch 1, loss' in captured.out                                # the plain epoch line


def test_engine_calls_the_bar_once_per_batch():
    _, test = gdata.load_dataset('fashion-mnist', download=False)
    split = gdata.Split(test.images[:200], test.labels[:200])
    calls = []

    class Bar:
        def __init__(self, epoch, num_epochs, num_batches):
            calls.append(('new', epoch, num_epochs, num_batches))

        def update(self, n, l_sum, correct):
            calls.append(n)

        def close(self):
            calls.append('close')

        def testing(self, num_batches):
            calls.append(('testing', num_batches))

        def tested(self, n, correct):
            calls.append(('tested', n))

        def done(self):
            calls.append('done')
    net = get_model('lenet-relu')
    net.initialize(mx.init.Xavier())
    engine.train(net, gdata.ArrayIter(split, 64), gdata.ArrayIter(split, 200),
                 gluon.loss.SoftmaxCrossEntropyLoss(), engine.make_trainer(net, 'sgd', 0.1), 1,
                 on_epoch=None, progress=Bar)
    assert calls == [('new', 1, 1, 4), 64, 64, 64, 8, 'close', ('testing', 1), ('tested', 200),
                     'done']


# ----------------------------------------------------------------------------- faults
def _usage_error(argv, capsys) -> str:
    """The one usage line of viz for argv (argparse exits 2 before any work)."""
    with pytest.raises(SystemExit) as e:
        viz_main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count('\n') == 1, err
    return err


@pytest.mark.parametrize('argv, flag', [
    (['fool', '--target', '-1'], '--target'),         # Python indexing would make it class 9
    (['fool', '--target', '10'], '--target'),
    (['fool', '--target', 'sneakers'], '--target'),
    (['fool', '--target', '1', '--seed', '-3'], '--seed'),
    (['fool', '--target', '1', '--threshold', 'nan'], '--threshold'),
    (['fool', '--target', '1', '--threshold', '1.5'], '--threshold'),
    (['fool', '--from-image', '0', '--eps', 'inf'], '--eps'),
    (['fool', '--from-image', '-1'], '--from-image'),
    (['dream', '--layer', '2', '--octaves', '1000000'], '--octaves'),
    (['dream', '--layer', '2', '--steps', '0'], '--steps'),
    (['shift', '--max', '100000'], '--max'),
    (['shift', '--images', '0'], '--images'),
    (['maximize', '--layer', '2', '--l1', 'nan'], '--l1'),
    (['maximize', '--layer', 'output', '--units', '-1'], '--units'),
    (['rf', '--layer', '2', '--unit', '-1,0'], '--unit'),
    (['explain', '--maps', '0'], '--maps'),
    (['all', '--steps', '0'], '--steps'),
    (['all', '--image', '-1'], '--image'),
], ids=lambda v: ' '.join(v) if isinstance(v, list) else None)
def test_numeric_flags_are_refused_at_parse_time(argv, flag, capsys):
    err = _usage_error([argv[0], '--run', 'no-such-run', *argv[1:]], capsys)
    assert err.startswith(f'python -m gluon_cnn.viz {argv[0]}: error: argument {flag}'), err


def test_class_names_and_the_class_list_in_help(capsys):
    """Every Fashion-MNIST label (the data module's list) parses to its index, spelled loosely."""
    from gluon_cnn.viz.command import parse_class
    for k, name in enumerate(gdata.FASHION_MNIST_LABELS):
        assert parse_class(name) == k == parse_class(name.upper().replace(' ', '-'))
        assert parse_class(str(k)) == k
    with pytest.raises(SystemExit):
        viz_main(['fool', '--help'])
    text = ' '.join(capsys.readouterr().out.split())  # as wrapped for the terminal
    assert all(f'{k} {name}' in text for k, name in enumerate(gdata.FASHION_MNIST_LABELS))


def test_shift_larger_than_the_image_is_one_line(tiny_run, capsys):
    assert viz_main(['shift', '--run', str(tiny_run[0]), '--max', '28']) == 2
    assert capsys.readouterr().err.startswith('error: --max 28: the images of ')


@pytest.mark.parametrize('out', ['fig', 'fig.jpg', 'a' * 300 + '.png', 'file.txt/fig.png'])
def test_bad_out_paths_are_one_line_before_any_work(tiny_run, tmp_path, out, capsys):
    """No .png (which used to print `wrote X` and write X.png), a wrong suffix, a component over
    255 bytes, a file where a folder should be: a WriteError, exit 2, nothing written."""
    (tmp_path / 'file.txt').write_text('')
    code = viz_main(['fool', '--run', str(tiny_run[0]), '--target', 'sneaker',
                     '--out', str(tmp_path / out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith('error: --out') and err.count('\n') == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['file.txt']


def test_out_is_optional_and_a_replaced_file_is_reported(tiny_run, tmp_path, capsys):
    import shutil
    run = shutil.copytree(tiny_run[0], tmp_path / 'run')
    for word in ('wrote', 'overwrote'):
        assert viz_main(['rf', '--run', str(run), '--layer', '2', '--unit', '1,1']) == 0
        assert capsys.readouterr().out == f'{word} {run / "rf.png"}\n'
    assert_not_blank(load_png(run / 'rf.png'))


@pytest.mark.parametrize('damage', ['empty', 'truncated', 'random bytes', 'NUL bytes', '{}',
                                    'bad node', 'a folder'])
def test_graph_on_a_damaged_symbol_file_is_one_line(tiny_run, tmp_path, damage, capsys):
    import json
    import os
    import shutil
    run = shutil.copytree(tiny_run[0], tmp_path / 'run')
    sym = run / 'model-symbol.json'
    text = sym.read_text()
    graph = json.loads(text)
    graph['nodes'][3]['inputs'] = [[999, 0, 0]]
    damaged = {'empty': b'', 'truncated': text[:300].encode(), 'random bytes': os.urandom(2000),
               'NUL bytes': b'{"nodes": [' + bytes(64), '{}': b'{}',
               'bad node': json.dumps(graph).encode()}
    if damage == 'a folder':
        sym.unlink()
        sym.mkdir()
    else:
        sym.write_bytes(damaged[damage])
    assert viz_main(['graph', '--run', str(run), '--out', str(tmp_path / 'g.png')]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f'error: {sym}') and err.count('\n') == 1, err
    assert not (tmp_path / 'g.png').exists()
