"""Training faults: checkpoints (atomic, no pickle, exact resume), determinism, divergence, SIGTERM.

The oracles are runs that were never interrupted, trainers that were never saved, and a naive
loop that reads the loss back after every batch.
"""
import json
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon, init, nd

from gluon_cnn import CheckpointError, DivergedError
from gluon_cnn import checkpoint, engine
from gluon_cnn.config import OPTIMIZERS, TrainConfig
from gluon_cnn.data import ArrayIter

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = ('epoch', 'loss', 'train_acc', 'test_acc')  # what must match; times never do


def numbers(metrics: dict) -> list:
    return [[m[k] for k in NUMBERS] for m in metrics['epochs']]


def tiny_net(seed=0):
    mx.random.seed(seed)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(8, activation='relu', in_units=5), gluon.nn.Dense(3, in_units=8))
    net.initialize(init.Xavier())
    return net


def tiny_batches(n=4, seed=1):
    rng = np.random.RandomState(seed)
    return [(nd.array(rng.randn(16, 5)), nd.array(rng.randint(0, 3, 16))) for _ in range(n)]


def sgd_steps(net, trainer, batches):
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    for X, y in batches:
        with autograd.record():
            l = loss(net(X), y)
        l.backward()
        trainer.step(X.shape[0])


def params_of(net):
    """The parameter arrays in build order (names differ between instances, order does not)."""
    return [p.data().asnumpy() for p in net.collect_params().values()]


def same_params(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(params_of(a), params_of(b)))


def copy_params(src, dst):
    for a, b in zip(src.collect_params().values(), dst.collect_params().values()):
        b.set_data(a.data().copy())


# ----------------------------------------------------------------------------- optimizer states
@pytest.mark.parametrize('optimizer', OPTIMIZERS)
def test_optimizer_state_roundtrip_continues_exactly(tmp_path, optimizer):
    """Save states mid-training via nd.save + JSON, load into a fresh trainer: the next steps match
    the trainer that was never saved, bit for bit (oracle: the uninterrupted trainer)."""
    batches = tiny_batches()
    a = tiny_net()
    ta = engine.make_trainer(a, optimizer, lr=0.1)
    sgd_steps(a, ta, batches[:2])
    arrays, meta = checkpoint.optimizer_state(ta)
    nd.save(str(tmp_path / 'opt.nd'), arrays)
    meta = json.loads(json.dumps(meta))  # through JSON, as on disk

    b, fresh = tiny_net(seed=5), tiny_net(seed=5)
    copy_params(a, b), copy_params(a, fresh)
    tb = engine.make_trainer(b, optimizer, lr=0.1)
    loaded = nd.load(str(tmp_path / 'opt.nd'))
    checkpoint.set_optimizer_state(tb, loaded if isinstance(loaded, dict) else {}, meta)
    sgd_steps(a, ta, batches[2:])
    sgd_steps(b, tb, batches[2:])
    assert same_params(a, b)
    if optimizer != 'sgd':  # the states matter: a trainer that lost them ends elsewhere
        sgd_steps(fresh, engine.make_trainer(fresh, optimizer, lr=0.1), batches[2:])
        assert not same_params(a, fresh)


def test_checkpoint_never_pickles(tmp_path, monkeypatch):
    net = tiny_net()
    trainer = engine.make_trainer(net, 'adam', lr=0.01)
    sgd_steps(net, trainer, tiny_batches(2))

    def refuse(*a, **k):
        raise AssertionError('pickle used')
    for name in ('dump', 'dumps', 'load', 'loads', 'Unpickler'):
        monkeypatch.setattr(pickle, name, refuse)
    rng = np.random.RandomState(3)
    rng.rand(7)
    checkpoint.save_checkpoint(tmp_path, net, trainer, [{'epoch': 1}], rng, {'model': 'tiny'})
    ckpt = checkpoint.load_checkpoint(tmp_path)
    rng2 = np.random.RandomState(0)
    checkpoint.restore(ckpt, tiny_net(seed=9), engine.make_trainer(tiny_net(), 'adam'), rng2)
    assert rng2.rand() == rng.rand()  # the iterator's generator continues where it was
    meta = json.loads((ckpt.path / 'meta.json').read_text())  # metadata is plain JSON
    assert meta['epoch'] == 1 and meta['config'] == {'model': 'tiny'}


# ----------------------------------------------------------------------------- atomic writes
def _save(tmp_path, net, trainer, epoch):
    return checkpoint.save_checkpoint(tmp_path, net, trainer, [{'epoch': e + 1} for e in range(epoch)],
                                      np.random.RandomState(0), {})


@pytest.mark.parametrize('crash_in', ['rename', 'replace'])
def test_crash_mid_write_keeps_latest(tmp_path, monkeypatch, crash_in):
    """A crash while writing epoch 3 (before its folder is renamed into place, or before `latest`
    is replaced) leaves `latest` at epoch 2, complete and verified; the next save cleans up."""
    net = tiny_net()
    trainer = engine.make_trainer(net, 'momentum', lr=0.1)
    for epoch in (1, 2):
        sgd_steps(net, trainer, tiny_batches(1, seed=epoch))
        _save(tmp_path, net, trainer, epoch)
    good = tiny_net(seed=8)
    copy_params(net, good)
    sgd_steps(net, trainer, tiny_batches(1, seed=3))

    def crash(*a, **k):
        raise OSError('simulated power cut')
    monkeypatch.setattr(checkpoint.os, crash_in, crash)
    with pytest.raises(OSError):
        _save(tmp_path, net, trainer, 3)
    monkeypatch.undo()
    ckpt = checkpoint.load_checkpoint(tmp_path)
    assert ckpt.epoch == 2
    restored = tiny_net(seed=7)
    checkpoint.restore(ckpt, restored, engine.make_trainer(restored, 'momentum'), np.random.RandomState())
    assert same_params(restored, good) and not same_params(restored, net)
    _save(tmp_path, net, trainer, 3)  # a later writer finishes the job and prunes to KEEP
    names = sorted(p.name for p in (tmp_path / 'checkpoints').iterdir())
    assert names == ['epoch-0002', 'epoch-0003', 'latest']


@pytest.mark.parametrize('damage', ['flip-param-byte', 'truncate-meta', 'no-latest', 'bad-latest',
                                    'drop-optimizer'])
def test_corrupt_checkpoint_refused(tmp_path, damage):
    net = tiny_net()
    trainer = engine.make_trainer(net, 'sgd', lr=0.1)
    path = _save(tmp_path, net, trainer, 1)
    if damage == 'flip-param-byte':
        data = bytearray((path / 'params.nd').read_bytes())
        data[len(data) // 2] ^= 0x01
        (path / 'params.nd').write_bytes(bytes(data))
    elif damage == 'truncate-meta':
        (path / 'meta.json').write_text((path / 'meta.json').read_text()[:50])
    elif damage == 'no-latest':
        (tmp_path / 'checkpoints' / 'latest').unlink()
    elif damage == 'bad-latest':
        (tmp_path / 'checkpoints' / 'latest').write_text('../../etc\n')
    else:
        (path / 'optimizer.nd').unlink()
    with pytest.raises(CheckpointError, match=str(tmp_path)):
        checkpoint.load_checkpoint(tmp_path)


def test_checkpoint_of_other_model_refused(tmp_path):
    net = tiny_net()
    _save(tmp_path, net, engine.make_trainer(net, 'sgd'), 1)
    other = gluon.nn.Dense(4)
    other.initialize()
    with pytest.raises(CheckpointError, match='does not fit'):
        checkpoint.restore(checkpoint.load_checkpoint(tmp_path), other,
                           engine.make_trainer(other, 'sgd'), np.random.RandomState())


# ----------------------------------------------------------------------------- whole runs
RUN = TrainConfig(model='lenet-bn', epochs=3, lr=0.1, batch_size=64, optimizer='momentum', limit=512,
                  lr_schedule='cosine', augment='crop-flip', seed=3)  # states, schedule and mx.random


class StopAfter:
    """A log function that raises KeyboardInterrupt, like Ctrl-C, right after epoch `n`'s line."""

    def __init__(self, n):
        self.n = n

    def __call__(self, line):
        if line.startswith(f'epoch {self.n},'):
            raise KeyboardInterrupt


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp('run')
    return engine.run(RUN.replace(out=str(out)), log=lambda s: None)


def test_same_seed_same_numbers(tmp_path, uninterrupted):
    again = engine.run(RUN.replace(out=str(tmp_path)), log=lambda s: None)
    assert numbers(again) == numbers(uninterrupted)
    assert len(numbers(again)) == 3 and numbers(again)[-1][1] < numbers(again)[0][1]  # it learned


def test_interrupted_then_resumed_run_matches(tmp_path, uninterrupted):
    cfg = RUN.replace(out=str(tmp_path))
    with pytest.raises(KeyboardInterrupt, match='^Ctrl-C; the last checkpoint is epoch 1'):
        engine.run(cfg, log=StopAfter(1))
    assert checkpoint.latest_epoch(tmp_path) == 1
    assert not (tmp_path / 'metrics.json').exists()
    resumed = engine.run(engine.resume_config(tmp_path, {}), log=lambda s: None, resume=True)
    assert numbers(resumed) == numbers(uninterrupted)
    on_disk = json.loads((tmp_path / 'metrics.json').read_text())
    assert numbers(on_disk) == numbers(uninterrupted)
    assert checkpoint.latest_epoch(tmp_path) == 3


def test_resume_may_not_change_the_model(tmp_path, uninterrupted):
    from gluon_cnn import ConfigError
    with pytest.raises(ConfigError, match='--model cannot change'):
        engine.resume_config(Path(uninterrupted['config']['out']), {'model': 'lenet'})


def test_divergence_names_epoch_and_batch_and_keeps_checkpoint(tmp_path):
    """lenet-relu trains at lr 0.05 for an epoch, then is resumed at lr 1000 and diverges in epoch 2.
    The batch named is the first non-finite one (oracle: a naive loop syncing after every batch)."""
    cfg = TrainConfig(model='lenet-relu', epochs=1, lr=0.05, batch_size=32, limit=256, seed=1,
                      out=str(tmp_path))
    engine.run(cfg, log=lambda s: None)
    good = (tmp_path / 'checkpoints' / 'epoch-0001' / 'params.nd').read_bytes()
    with pytest.raises(DivergedError) as e:
        engine.run(engine.resume_config(tmp_path, {'epochs': 2, 'lr': 1000.0}), log=lambda s: None,
                   resume=True)
    msg = str(e.value)
    assert 'in epoch 2, batch ' in msg and 'smaller learning rate' in msg and '--lr 100' in msg
    assert 'last checkpoint is epoch 1' in msg
    assert checkpoint.latest_epoch(tmp_path) == 1
    assert (tmp_path / 'checkpoints' / 'epoch-0001' / 'params.nd').read_bytes() == good
    batch = int(msg.split('batch ')[1].split()[0])
    assert batch == first_nonfinite_batch(tmp_path, cfg)


def first_nonfinite_batch(run_dir, cfg):
    """Replay epoch 2 from the checkpoint with a per-batch host sync (slow and obviously right)."""
    net = engine.get_model(cfg.model)
    net.initialize(ctx=mx.cpu())
    trainer = engine.make_trainer(net, 'sgd', lr=1000.0)
    train_split, _ = engine.gdata.load_dataset(cfg.dataset)
    it = ArrayIter(train_split, cfg.batch_size, shuffle=True, limit=cfg.limit)
    checkpoint.restore(checkpoint.load_checkpoint(run_dir), net, trainer, it.rng)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    for i, (X, y) in enumerate(it):
        with autograd.record():
            l = loss(net(X), y)
        l.backward()
        trainer.step(X.shape[0])
        if not np.isfinite(l.sum().asscalar()):
            return i + 1
    raise AssertionError('the replay did not diverge')


def test_loss_watch_finds_the_batch_late_but_exactly():
    """_LossWatch reads sums `every` batches old; it still names the first bad batch."""
    trainer = engine.make_trainer(tiny_net(), 'sgd', lr=0.5)
    watch = engine._LossWatch(epoch=4, num_batches=20, trainer=trainer, every=3)
    l_sum = nd.zeros(1)
    with pytest.raises(DivergedError, match=r'loss became (nan|inf) in epoch 4, batch 5 of 20'):
        for i, v in enumerate([1.0, 2.0, 0.5, 3.0, np.inf, np.nan] + [np.nan] * 14):
            l_sum += watch.add(nd.array([v]))
            watch.check(i, l_sum)
    assert i + 1 <= 5 + 2 * 3  # noticed within two check intervals


def test_sigterm_mid_epoch_exits_cleanly_and_resumes_exactly(tmp_path, uninterrupted):
    """SIGTERM in epoch 2 of a real `train.py` process: exit 130 within seconds with one line, the
    epoch-1 checkpoint intact; resuming it ends with the numbers of the uninterrupted in-process
    run (so this also checks determinism across processes)."""
    out = tmp_path / 'run'
    flags = ['--model', RUN.model, '--epochs', RUN.epochs, '--lr', RUN.lr, '--batch-size', RUN.batch_size,
             '--optimizer', RUN.optimizer, '--limit', RUN.limit, '--lr-schedule', RUN.lr_schedule,
             '--augment', RUN.augment, '--seed', RUN.seed, '--out', out]
    proc = subprocess.Popen([sys.executable, '-u', str(ROOT / 'train.py'), *map(str, flags)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.startswith('epoch 1,'):
                break
        time.sleep(0.2)  # into epoch 2 (the epoch-1 checkpoint was written before the line)
        proc.send_signal(signal.SIGTERM)
        sent = time.time()
        _, err = proc.communicate(timeout=30)
        waited = time.time() - sent
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.count('\n') == 1 and 'Traceback' not in err
    assert err.startswith(f'interrupted: SIGTERM; the last checkpoint is epoch 1 in {out}')
    assert waited < 10
    assert checkpoint.latest_epoch(out) == 1
    resumed = engine.run(engine.resume_config(out, {}), log=lambda s: None, resume=True)
    assert numbers(resumed) == numbers(uninterrupted)
