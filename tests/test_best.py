"""The best LeNet-scale model and its recipe (exercise 5.5.1 carried to the end):
parameter budget, hybridization, augmentation against a numpy oracle, the lr schedule against its
closed form, label smoothing against its definition, `--preset best`, and the sweep's commands."""
import math
import shlex
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from mxnet import npx

from gluon_cnn import get_model, sweep
from gluon_cnn.app import train_command as train_cli
from gluon_cnn.data.augment import crop_flip, make_augment
from gluon_cnn.runs.config import PRESETS, TrainConfig
from gluon_cnn.errors import ConfigError
from gluon_cnn.training.losses import LabelSmoothingLoss
from gluon_cnn.training.schedules import WarmupCosine, warmup_cosine
from gluon_cnn.trace import trace

ROOT = Path(__file__).resolve().parents[1]


def _train_module():
    return train_cli


def _count(net, trainable_only=True):
    return sum(p.data().size for p in net.collect_params().values()
               if p.grad_req != 'null' or not trainable_only)


# ----------------------------------------------------------------------------- the model
def test_best_model_is_within_100k_parameters():
    net = get_model('lenet-best')
    net.initialize()
    assert net(mx.nd.zeros((2, 1, 28, 28))).shape == (2, 10)
    assert _count(net, trainable_only=False) <= 100_000  # even counting BN's moving statistics
    t = trace(get_model('lenet-best'), (1, 1, 28, 28))
    assert t.trainable_params == _count(net)


def test_best_model_hybridizes_and_matches_imperative():
    net = get_model('lenet-best')
    net.initialize(mx.init.Xavier())
    X = mx.nd.random.uniform(shape=(3, 1, 28, 28))
    want = net(X)  # BN in inference mode: moving statistics, deterministic
    net.hybridize()
    np.testing.assert_allclose(net(X).asnumpy(), want.asnumpy(), rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- augmentation
def _oracle(x, dy, dx, flip, pad, fill):
    """numpy: pad, crop at (dy, dx), mirror."""
    out = []
    for img, a, b, f in zip(x, dy, dx, flip):
        p = np.pad(img, ((0, 0), (pad, pad), (pad, pad)), constant_values=fill)
        c = p[:, a:a + img.shape[1], b:b + img.shape[2]]
        out.append(c[:, :, ::-1] if f else c)
    return np.stack(out)


@pytest.mark.parametrize('pad,fill', [(2, 0.0), (1, -0.5), (0, 0.0)])
def test_crop_flip_matches_numpy_oracle(pad, fill):
    rng = np.random.RandomState(pad)
    x = rng.rand(6, 2, 5, 7).astype(np.float32)  # non-square, 2 channels
    dy, dx = rng.randint(0, 2 * pad + 1, 6), rng.randint(0, 2 * pad + 1, 6)
    flip = np.array([0, 1, 0, 1, 1, 0])
    got = crop_flip(mx.nd.array(x), mx.nd.array(dy), mx.nd.array(dx), mx.nd.array(flip), pad, fill)
    np.testing.assert_array_equal(got.asnumpy(), _oracle(x, dy, dx, flip, pad, fill))


def test_random_augment_keeps_shape_labels_and_changes_images():
    mx.random.seed(0)
    x = np.random.RandomState(0).rand(64, 1, 28, 28).astype(np.float32)
    X = mx.nd.array(x)
    out = make_augment('crop-flip')(X).asnumpy()
    assert out.shape == x.shape
    assert make_augment('none') is None
    changed = [not np.array_equal(o, i) for o, i in zip(out, x)]
    assert sum(changed) >= 56  # identity has probability 1/50 per image (25 offsets x 2 flips)
    # label alignment: every output is one of the 50 transforms of *its own* input image
    for k in range(0, 64, 8):
        candidates = [_oracle(x[k:k + 1], [a], [b], [f], 2, 0.0)[0]
                      for a in range(5) for b in range(5) for f in (0, 1)]
        assert any(np.array_equal(out[k], c) for c in candidates)


def test_augment_in_numpy_mode():
    npx.set_np()
    try:
        X = mx.np.ones((4, 1, 28, 28))
        out = make_augment('flip')(X)
        assert isinstance(out, mx.np.ndarray) and out.shape == (4, 1, 28, 28)
    finally:
        npx.reset_np()


# ----------------------------------------------------------------------------- schedule, loss
def test_warmup_cosine_matches_closed_form():
    base, total, warm = 0.2, 100, 10
    sched = WarmupCosine(base, total, warm)
    for t in (1, 5, 10):  # linear warm-up
        assert sched(t) == pytest.approx(base * t / warm)
    for t in (11, 40, 55, 99, 100):
        assert sched(t) == pytest.approx(
            base / 2 * (1 + math.cos(math.pi * (t - warm) / (total - warm))))
    assert sched(55) == pytest.approx(base / 2)  # halfway through the decay
    assert sched(100) == pytest.approx(0) and sched(150) == pytest.approx(0)
    # no warm-up
    assert warmup_cosine(1, 1.0, 10) == pytest.approx((1 + math.cos(math.pi / 10)) / 2)


def test_trainer_follows_the_schedule():
    from gluon_cnn.training.engine import make_trainer
    net = mx.gluon.nn.Dense(1, in_units=1)
    net.initialize()
    trainer = make_trainer(net, 'nag', 0.2, 0.0, WarmupCosine(0.2, 20, 4))
    for step in range(1, 8):
        with mx.autograd.record():
            y = net(mx.nd.ones((1, 1)))
        y.backward()
        trainer.step(1)
        assert trainer.learning_rate == pytest.approx(warmup_cosine(step, 0.2, 20, 4))


@pytest.mark.parametrize('np_mode', [False, True])
def test_label_smoothing_matches_definition(np_mode):
    rng = np.random.RandomState(1)
    logits, labels, eps = rng.randn(5, 10).astype(np.float32), rng.randint(0, 10, 5), 0.1
    target = np.full((5, 10), eps / 10)
    target[np.arange(5), labels] += 1 - eps
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    want = -(target * logp).sum(1)
    loss = LabelSmoothingLoss(eps)
    loss.hybridize()
    if np_mode:
        npx.set_np()
    try:
        arr = mx.np.array if np_mode else mx.nd.array
        got = loss(arr(logits), arr(labels.astype(np.float32))).asnumpy()
    finally:
        npx.reset_np()
    np.testing.assert_allclose(got, want, rtol=1e-5)


# ----------------------------------------------------------------------------- presets, CLI, sweep
def test_preset_best_resolves_to_documented_flags():
    train = _train_module()
    cfg = train.config_from_args(train.parse_args(['--preset', 'best']))
    assert cfg == TrainConfig(model='lenet-best', epochs=30, lr=0.2, optimizer='nag', wd=5e-4,
                              lr_schedule='cosine', warmup=1.0, augment='crop-flip',
                              label_smoothing=0.1)
    cfg = train.config_from_args(train.parse_args(['--preset', 'best', '--epochs', '3']))
    assert cfg.epochs == 3 and cfg.model == 'lenet-best'  # explicit flags win
    assert train.config_from_args(train.parse_args(['--preset', 'book'])) == TrainConfig()
    assert PRESETS['book'] == {}


def test_bad_recipe_values_are_config_errors():
    for bad in ({'lr_schedule': 'step'}, {'augment': 'rotate'}, {'label_smoothing': 1.0},
                {'warmup': 2.0}, {'warmup': 20.0, 'lr_schedule': 'cosine'}):
        with pytest.raises(ConfigError):
            TrainConfig(**bad).validate()
    train = _train_module()
    with pytest.raises(SystemExit):
        train.parse_args(['--model-kwargs', '[1, 2]'])


@pytest.mark.parametrize('row', sweep.ROWS, ids=lambda r: r.name)
def test_sweep_row_command_is_its_config(row):
    train = _train_module()
    argv = shlex.split(sweep.command(row))[2:]  # drop 'python train.py'
    assert train.config_from_args(train.parse_args(argv)) == sweep.config(row)


def test_sweep_usage_names_the_module_it_runs_as(capsys):
    with pytest.raises(SystemExit):
        sweep.main(['--help'])
    assert capsys.readouterr().out.startswith('usage: python -m gluon_cnn.sweep ')
