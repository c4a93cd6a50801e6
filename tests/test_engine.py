"""The training loop and evaluation (d2l zh §5.5 train_ch5 semantics) on real Fashion-MNIST, and
train.py end to end."""
import json
import re

import mxnet as mx
import pytest
from mxnet import gluon

from gluon_cnn import ConfigError, get_model
from gluon_cnn.training import devices, engine, runtime, seeding
from gluon_cnn.app.run import run
from gluon_cnn import data as gdata
from gluon_cnn.runs.config import TrainConfig
from helpers import ROOT, run_command

EPOCH_LINE = re.compile(r'^epoch \d+, loss \d+\.\d{4}, train acc \d\.\d{3}, test acc \d\.\d{3}, '
                        r'time \d+\.\d sec, \d+ examples/sec$')


@pytest.fixture(scope='module')
def fashion():
    return gdata.load_dataset('fashion-mnist', download=False)


def test_evaluate_accuracy_against_numpy(fashion):
    _, test = fashion
    split = gdata.Split(test.images[:300], test.labels[:300])
    net = get_model('lenet-relu')
    net.initialize(mx.init.Xavier())
    it = gdata.ArrayIter(split, batch_size=64)
    X = mx.nd.array(split.images[:, None] / 255.0)
    oracle = float((net(X).asnumpy().argmax(1) == split.labels).mean())
    assert engine.evaluate_accuracy(net, it) == pytest.approx(oracle)


@pytest.mark.slow
@pytest.mark.parametrize('hybridize', [True, False], ids=['hybridized', 'imperative'])
def test_training_rises_above_chance(fashion, hybridize):
    """600 real images, 3 epochs: the book's loop must learn something (chance is 0.1)."""
    train, test = fashion
    seeding.seed_everything(0)
    net = get_model('lenet-relu')
    net.initialize(mx.init.Xavier())
    lines = []
    history = engine.train(
        net, gdata.ArrayIter(gdata.Split(train.images[:600], train.labels[:600]), 32,
                             shuffle=True, seed=0),
        gdata.ArrayIter(gdata.Split(test.images[:1000], test.labels[:1000]), 256),
        gluon.loss.SoftmaxCrossEntropyLoss(), engine.make_trainer(net, 'sgd', 0.1), 3,
        runtime.as_runtime(hybridize=hybridize), on_epoch=lines.append)
    assert [m['epoch'] for m in history] == [1, 2, 3]
    assert history[-1]['loss'] < history[0]['loss']
    assert history[-1]['test_acc'] > 0.3
    assert all(EPOCH_LINE.match(line) for line in lines), lines


def test_try_gpu_and_ctx():
    assert devices.try_gpu() == (mx.gpu(0) if mx.context.num_gpus() else mx.cpu())
    assert devices.get_ctx('cpu') == mx.cpu()
    if mx.context.num_gpus() == 0:
        with pytest.raises(ConfigError) as e:
            devices.get_ctx('gpu')
        assert e.value.field == '--ctx'
    with pytest.raises(ConfigError) as e:
        devices.get_ctx('tpu')
    assert e.value.field == '--ctx'


def run_train(*args):
    return run_command(ROOT / 'train.py', *args)


@pytest.mark.slow
def test_cli_end_to_end(tmp_path):
    out = tmp_path / 'run'
    r = run_train('--model', 'lenet-relu', '--lr', '0.1', '--limit', '512', '--epochs', '2',
                  '--batch-size', '64', '--out', str(out))
    assert r.code == 0, r.err
    epoch_lines = [line for line in r.out.splitlines() if line.startswith('epoch ')]
    assert len(epoch_lines) == 2 and all(EPOCH_LINE.match(line) for line in epoch_lines)
    assert str(out) in r.out  # says where the results went
    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['config']['model'] == 'lenet-relu' and metrics['config']['limit'] == 512
    assert [sorted(e) for e in metrics['epochs']] == [
        sorted(['epoch', 'loss', 'train_acc', 'test_acc', 'seconds', 'examples_per_sec'])] * 2
    net = get_model('lenet-relu')
    net.load_parameters(str(out / 'model.params'))  # save_parameters format, loadable


@pytest.mark.slow
def test_cli_missing_data_dir_is_one_line(tmp_path):
    r = run_train('--data-dir', str(tmp_path / 'nope'), '--out', str(tmp_path / 'run'))
    assert r == (2, '', f'error: --data-dir {tmp_path / "nope"}: no such directory\n')


def test_input_too_small_for_the_model_names_the_fix(tmp_path):
    """AlexNet wants 224x224 (d2l zh §5.6): on 28x28 images the run stops before training."""
    cfg = TrainConfig(model='alexnet', limit=256, epochs=1, out=str(tmp_path / 'run'))
    with pytest.raises(ConfigError) as e:
        run(cfg, log=lambda *_: None)
    assert e.value.field == '--resize'
    assert str(e.value) == ('alexnet cannot take 28x28 inputs (layer 3 (MaxPool2D 3x3): input 2x2 '
                            'is smaller than the pooling window; needs at least 3x3); pass '
                            '--resize 224, its input size in d2l zh §5.6')
    assert not (tmp_path / 'run').exists()  # nothing written for a refused run


@pytest.mark.slow
def test_trace_flag_shows_the_shape_the_data_has(tmp_path):
    """--trace prints the table at the size ArrayIter feeds: LeNet-5's 28x28 images padded to 32."""
    r = run_train('--model', 'lenet5', '--trace', '--quiet', '--limit', '256', '--epochs', '1',
                  '--out', str(tmp_path / 'run'))
    assert r.code == 0, r.err
    assert r.out.startswith('LeNet5: (1, 1, 32, 32) -> (1, 10)')
    assert r.out.count('\n') > 10  # the table, then the one summary line of --quiet
