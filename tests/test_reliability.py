"""Training faults: checkpoints (atomic, no pickle, exact resume), determinism, divergence, SIGTERM.

The oracles are runs that were never interrupted, trainers that were never saved, and a naive
loop that reads the loss back after every batch.
"""
import errno
import json
import os
import pickle
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon, init, nd

from gluon_cnn import CheckpointError, DivergedError, WriteError
from gluon_cnn.runs import checkpoint
from gluon_cnn.training import engine, loss_watch
from gluon_cnn import get_model
from gluon_cnn import data as gdata
from gluon_cnn.app.run import resume_config, run
from gluon_cnn.runs.record import read_record
from gluon_cnn.runs.config import OPTIMIZERS, TrainConfig
from gluon_cnn.data import ArrayIter

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = ('epoch', 'loss', 'train_acc', 'test_acc')  # what must match; times never do


def numbers(record) -> list:
    return [[m[k] for k in NUMBERS] for m in record.history]


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
    arrays, meta = checkpoint.optimizer_state(ta, a)
    nd.save(str(tmp_path / 'opt.nd'), arrays)
    meta = json.loads(json.dumps(meta))  # through JSON, as on disk

    b, fresh = tiny_net(seed=5), tiny_net(seed=5)
    copy_params(a, b), copy_params(a, fresh)
    tb = engine.make_trainer(b, optimizer, lr=0.1)
    loaded = nd.load(str(tmp_path / 'opt.nd'))
    checkpoint.set_optimizer_state(tb, loaded if isinstance(loaded, dict) else {}, meta, b)
    sgd_steps(a, ta, batches[2:])
    sgd_steps(b, tb, batches[2:])
    assert same_params(a, b)
    if optimizer != 'sgd':  # the states matter: a trainer that lost them ends elsewhere
        sgd_steps(fresh, engine.make_trainer(fresh, optimizer, lr=0.1), batches[2:])
        assert not same_params(a, fresh)


def named_net(*prefixes, seed=0):
    """tiny_net's layers under the given names (Gluon numbers unnamed layers globally)."""
    mx.random.seed(seed)
    net = gluon.nn.HybridSequential(prefix=prefixes[0] + 'seq_')
    net.add(gluon.nn.Dense(8, activation='relu', in_units=5, prefix=prefixes[0]),
            gluon.nn.Dense(3, in_units=8, prefix=prefixes[1]))
    net.initialize(init.Xavier())
    return net


@pytest.mark.parametrize('optimizer', ['momentum', 'adam'])
def test_checkpoint_states_follow_the_net_not_the_names(tmp_path, optimizer):
    """A net built again in the same process gets other names: dense9/dense10 sort the other way
    round than dense11/dense12, and so do the trainer's indices. The restored run must still give
    each parameter its own state (oracle: the uninterrupted trainer)."""
    batches = tiny_batches()
    a = named_net('dense9_', 'dense10_')
    ta = engine.make_trainer(a, optimizer, lr=0.1)
    sgd_steps(a, ta, batches[:2])
    checkpoint.save_checkpoint(tmp_path, a, ta, [{'epoch': 1}], np.random.RandomState(0))
    b = named_net('dense11_', 'dense12_', seed=5)
    copy_params(a, b)
    tb = engine.make_trainer(b, optimizer, lr=0.1)
    checkpoint.restore(checkpoint.load_checkpoint(tmp_path), b, tb, np.random.RandomState(0))
    sgd_steps(a, ta, batches[2:])
    sgd_steps(b, tb, batches[2:])
    assert same_params(a, b)


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
    checkpoint.save_checkpoint(tmp_path, net, trainer, [{'epoch': 1}], rng)
    ckpt = checkpoint.load_checkpoint(tmp_path)
    rng2 = np.random.RandomState(0)
    restored = tiny_net(seed=9)
    checkpoint.restore(ckpt, restored, engine.make_trainer(restored, 'adam'), rng2)
    assert rng2.rand() == rng.rand()  # the iterator's generator continues where it was
    meta = json.loads((ckpt.path / 'meta.json').read_text())  # metadata is plain JSON
    assert meta['epoch'] == 1 and meta['history'] == [{'epoch': 1}]


# ----------------------------------------------------------------------------- atomic writes
def _save(tmp_path, net, trainer, epoch):
    return checkpoint.save_checkpoint(tmp_path, net, trainer,
                                      [{'epoch': e + 1} for e in range(epoch)],
                                      np.random.RandomState(0))


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
    # the checkpoint's own os.rename, or the atomic writer's os.replace (a WriteError saying so)
    with pytest.raises((OSError, WriteError)):
        _save(tmp_path, net, trainer, 3)
    monkeypatch.undo()
    ckpt = checkpoint.load_checkpoint(tmp_path)
    assert ckpt.epoch == 2
    restored = tiny_net(seed=7)
    checkpoint.restore(ckpt, restored, engine.make_trainer(restored, 'momentum'),
                       np.random.RandomState())
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
    if damage.endswith('latest'):  # the checkpoint itself is intact: used, and the damage named
        ckpt = checkpoint.load_checkpoint(tmp_path)
        assert ckpt.path == path and ckpt.note.startswith(f'{tmp_path}/checkpoints/latest: ')
        return
    with pytest.raises(CheckpointError) as e:
        checkpoint.load_checkpoint(tmp_path)
    at_fault = {'flip-param-byte': 'params.nd', 'truncate-meta': 'meta.json',
                'drop-optimizer': 'optimizer.nd'}[damage]
    assert e.value.path == path / at_fault


def test_checkpoint_of_other_model_refused(tmp_path):
    net = tiny_net()
    _save(tmp_path, net, engine.make_trainer(net, 'sgd'), 1)
    other = gluon.nn.Dense(4)
    other.initialize()
    ckpt = checkpoint.load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError) as e:
        checkpoint.restore(ckpt, other, engine.make_trainer(other, 'sgd'), np.random.RandomState())
    assert e.value.path == ckpt.path / 'params.nd'


# ----------------------------------------------------------------------------- whole runs
# states, schedule and mx.random
RUN = TrainConfig(model='lenet-bn', epochs=3, lr=0.1, batch_size=64, optimizer='momentum',
                  limit=512, lr_schedule='cosine', augment='crop-flip', seed=3)


class StopAfter:
    """A log function that raises KeyboardInterrupt, like Ctrl-C, right after epoch `n`'s line."""

    def __init__(self, n):
        self.n = n

    def __call__(self, line):
        if line.startswith(f'epoch {self.n},'):
            raise KeyboardInterrupt


@pytest.fixture(scope='module')
def uninterrupted(trained_run):
    """RUN's settings trained through train.py (conftest's factory), never interrupted."""
    out = trained_run(model='lenet-bn', epochs=3, lr=0.1, batch_size=64, optimizer='momentum',
                      limit=512, lr_schedule='cosine', augment='crop-flip', seed=3).out
    record = read_record(out)
    assert record.config == RUN.replace(out=str(out))  # what run(RUN) below reproduces
    return record


@pytest.mark.slow
def test_same_seed_same_numbers(tmp_path, uninterrupted):
    again = run(RUN.replace(out=str(tmp_path)), log=lambda s: None)
    assert numbers(again) == numbers(uninterrupted)
    assert len(numbers(again)) == 3 and numbers(again)[-1][1] < numbers(again)[0][1]  # it learned


@pytest.mark.slow
def test_interrupted_then_resumed_run_matches(tmp_path, uninterrupted):
    cfg = RUN.replace(out=str(tmp_path))
    with pytest.raises(KeyboardInterrupt, match='^Ctrl-C; the last checkpoint is epoch 1'):
        run(cfg, log=StopAfter(1))
    assert checkpoint.latest_epoch(tmp_path) == 1
    assert numbers(read_record(tmp_path)) == numbers(uninterrupted)[:1]  # what was printed
    resumed = run(resume_config(tmp_path, {}), log=lambda s: None, resume=True)
    assert numbers(resumed) == numbers(uninterrupted)
    assert numbers(read_record(tmp_path)) == numbers(uninterrupted)
    assert checkpoint.latest_epoch(tmp_path) == 3


@pytest.mark.slow
def test_resume_may_not_change_the_model(tmp_path, uninterrupted):
    from gluon_cnn import ConfigError
    with pytest.raises(ConfigError) as e:
        resume_config(Path(uninterrupted.config.out), {'model': 'lenet'})
    assert (e.value.field, e.value.path) == ('--model', Path(uninterrupted.config.out))


@pytest.mark.slow
def test_divergence_names_epoch_and_batch_and_keeps_checkpoint(tmp_path):
    """lenet-relu trains at lr 0.05 for an epoch, then is resumed at lr 1000 and diverges in epoch
    2.
    The batch named is the first non-finite one (oracle: a naive loop syncing after every batch)."""
    cfg = TrainConfig(model='lenet-relu', epochs=1, lr=0.05, batch_size=32, limit=256, seed=1,
                      out=str(tmp_path))
    run(cfg, log=lambda s: None)
    good = (tmp_path / 'checkpoints' / 'epoch-0001' / 'params.nd').read_bytes()
    with pytest.raises(DivergedError) as e:
        run(resume_config(tmp_path, {'epochs': 2, 'lr': 1000.0}), log=lambda s: None,
                   resume=True)
    assert (e.value.epoch, e.value.lr) == (2, 1000.0) and not np.isfinite(e.value.loss)
    assert str(e.value).endswith(f'; the last checkpoint is epoch 1 in {tmp_path}/checkpoints; '
                                 f'continue with python train.py --resume {tmp_path} --lr 100')
    assert checkpoint.latest_epoch(tmp_path) == 1
    assert (tmp_path / 'checkpoints' / 'epoch-0001' / 'params.nd').read_bytes() == good
    assert e.value.batch == first_nonfinite_batch(tmp_path, cfg)


def first_nonfinite_batch(run_dir, cfg):
    """Replay epoch 2 from the checkpoint with a per-batch host sync (slow and obviously right)."""
    net = get_model(cfg.model)
    net.initialize(ctx=mx.cpu())
    trainer = engine.make_trainer(net, 'sgd', lr=1000.0)
    train_split, _ = gdata.load_dataset(cfg.dataset)
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
    """LossWatch reads sums `every` batches old; it still names the first bad batch."""
    trainer = engine.make_trainer(tiny_net(), 'sgd', lr=0.5)
    watch = loss_watch.LossWatch(trainer, every=3)
    watch.start(epoch=4, num_batches=20)
    l_sum = nd.zeros(1)
    with pytest.raises(DivergedError) as e:
        for i, v in enumerate([1.0, 2.0, 0.5, 3.0, np.inf, np.nan] + [np.nan] * 14):
            l_sum += watch.add(nd.array([v]))
            watch.check(i, l_sum, i + 1)
    assert (e.value.epoch, e.value.batch, e.value.batches) == (4, 5, 20)
    assert not np.isfinite(e.value.loss)
    assert i + 1 <= 5 + 2 * 3  # noticed within two check intervals


def watch_epochs(epochs, every=3, reference=None):
    """Feed per-batch mean losses (one list per epoch, batches of 4) through a LossWatch as
    _train_epoch does, the epoch-end check included."""
    watch = loss_watch.LossWatch(engine.make_trainer(tiny_net(), 'sgd', lr=2.0), every, reference)
    for epoch, losses in enumerate(epochs, 1):
        watch.start(epoch, len(losses))
        l_sum = nd.zeros(1)
        for i, v in enumerate(losses):
            l_sum += watch.add(nd.array([4 * v]), 4)
            watch.check(i, l_sum, 4 * (i + 1))
        watch.check_growth(l_sum.asscalar() / (4 * len(losses)))
    return watch


def test_loss_watch_stops_a_finite_explosion():
    """A loss growing far past its start stops the run at the first batch over the limit; the
    values are lenet-relu's at lr 1000 (2.30, then 434 and 503 as epoch means)."""
    with pytest.raises(DivergedError) as e:
        watch_epochs([[2.3, 2.2, 2.1, 2.0], [2.0, 5.0, 93.2, 434.0, 503.0, 480.0, 490.0, 470.0]])
    assert (e.value.epoch, e.value.batch, e.value.batches, e.value.lr) == (2, 3, 8, 2.0)
    assert e.value.loss == pytest.approx(93.2)  # the first batch over 10x the 2.3 it started at
    assert str(e.value) == ('loss exploded to 93.2 (over 10x the 2.3 it started at) in epoch 2, '
                            'batch 3 of 8; try a smaller learning rate (now 2, e.g. --lr 0.2)')
    with pytest.raises(DivergedError) as e:
        watch_epochs([[2.3, 93.2, 20.0]], every=50)
    assert (e.value.epoch, e.value.batch, e.value.batches) == (1, 2, 3)  # caught at the epoch end


def test_loss_watch_lets_a_plateau_and_a_noisy_start_pass():
    """The book's sigmoid LeNet sits at ln 10 with batches up to 1.05x the first (measured);
    a resumed run measures against its first epoch's mean, not its current low loss."""
    plateau = [2.42, 2.50, 2.53, 2.54, 2.47, 2.45, 2.46, 2.44, 2.53, 2.48, 2.45, 2.38]
    ref = watch_epochs([plateau, plateau[::-1], [2.25, 2.22, 1.5, 0.9]]).reference
    assert ref == pytest.approx(2.42)
    resumed = [0.3, 0.25, 4.0, 5.0, 4.5, 4.0]  # an lr raised on resume: worse, not exploded
    watch_epochs([resumed], reference=0.64)
    with pytest.raises(DivergedError) as e:
        watch_epochs([resumed])  # the oracle: measured from its own 0.3 start, this trips
    assert e.value.loss == pytest.approx(4.0)  # finite: exploded, not NaN


@pytest.mark.slow
def test_exploding_run_stops_and_keeps_the_good_checkpoint(tmp_path):
    """Sigmoid LeNet trains an epoch at the book's lr, then is resumed at lr 100: its loss grows
    past 10x its start without ever becoming NaN, and the epoch-1 checkpoint stays."""
    cfg = TrainConfig(model='lenet', epochs=1, batch_size=64, limit=512, seed=1, out=str(tmp_path))
    run(cfg, log=lambda s: None)
    good = (tmp_path / 'checkpoints' / 'epoch-0001' / 'params.nd').read_bytes()
    with pytest.raises(DivergedError) as e:
        run(resume_config(tmp_path, {'epochs': 3, 'lr': 100.0}), log=lambda s: None, resume=True)
    msg = str(e.value)
    assert re.match(r'loss exploded to [\d.e+]+ \(over 10x the [\d.]+ it started at\) in epoch 2, '
                    r'batch \d+ of 8; try a smaller learning rate \(now 100, e\.g\. --lr 10\); '
                    r'the last checkpoint is epoch 1 in ', msg), msg
    assert checkpoint.latest_epoch(tmp_path) == 1
    assert (tmp_path / 'checkpoints' / 'epoch-0001' / 'params.nd').read_bytes() == good


@pytest.mark.slow
def test_exploding_loss_ends_the_cli_run_with_one_line(tmp_path):
    """The command that used to print losses of 434 and 503 and exit 0."""
    r = subprocess.run([sys.executable, str(ROOT / 'train.py'), '--model', 'lenet-relu', '--lr',
                        '1000', '--epochs', '3', '--limit', '2000', '--out', str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr
    assert r.stderr.startswith('error: loss exploded to ')
    assert 'in epoch 1, batch 2 of 8' in r.stderr
    assert '--lr 100' in r.stderr and 'epoch 2,' not in r.stdout


@pytest.mark.slow
def test_sigterm_mid_epoch_exits_cleanly_and_resumes_exactly(tmp_path, uninterrupted):
    """SIGTERM in epoch 2 of a real `train.py` process: exit 130 within seconds with one line, the
    epoch-1 checkpoint intact; resuming it ends with the numbers of the uninterrupted in-process
    run (so this also checks determinism across processes)."""
    out = tmp_path / 'run'
    flags = ['--model', RUN.model, '--epochs', RUN.epochs, '--lr', RUN.lr,
             '--batch-size', RUN.batch_size,
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
    resumed = run(resume_config(out, {}), log=lambda s: None, resume=True)
    assert numbers(resumed) == numbers(uninterrupted)


# ----------------------------------------------------------------------------- run folders
QUICK = TrainConfig(model='lenet', epochs=2, batch_size=64, limit=256, seed=2)


def train_py(out, *flags, prelude=''):
    """A train.py process on QUICK's settings; prelude runs first in it (e.g. to ignore SIGXFSZ)."""
    args = ['--model', QUICK.model, '--batch-size', QUICK.batch_size, '--limit', QUICK.limit,
            '--seed', QUICK.seed, '--out', out, *flags]
    code = (f'{prelude}\nimport runpy, sys\nsys.argv = ["train.py"] + {list(map(str, args))!r}\n'
            f'runpy.run_path({str(ROOT / "train.py")!r}, run_name="__main__")')
    return subprocess.Popen([sys.executable, '-u', '-c', code], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_line(proc, prefix):
    for line in proc.stdout:
        if line.startswith(prefix):
            return
    raise AssertionError(f'no line starting {prefix!r}: {proc.stderr.read()}')


@pytest.mark.slow
def test_live_run_folder_refuses_a_second_run_and_a_dead_one_does_not(tmp_path, capsys):
    """A second run into a folder a live run is writing gets one line and leaves the first
    running; once that run is SIGKILLed (no cleanup runs), the folder is free again."""
    from gluon_cnn.app import train_command as train_cli
    first = train_py(tmp_path, '--epochs', '40')
    try:
        wait_for_line(first, 'epoch 1,')
        code = train_cli.main(['--model', 'lenet', '--limit', '256', '--out', str(tmp_path)])
        err = capsys.readouterr().err
        assert code == 2 and err == (f'error: --out {tmp_path} is in use by a live run (pid '
                                     f'{first.pid}); wait for it to end, or pass another --out\n')
        wait_for_line(first, 'epoch 3,')  # the first run goes on, unharmed
        first.kill()
        first.wait(timeout=30)
    finally:
        first.kill()
    assert first.returncode == -signal.SIGKILL
    done = checkpoint.latest_epoch(tmp_path)
    assert done >= 3
    resumed = run(resume_config(tmp_path, {'epochs': done + 1}), log=lambda s: None, resume=True)
    assert len(resumed.history) == done + 1


def file_states(folder: Path) -> dict:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob('*') if p.is_file()}


WRITE_FAULTS = {  # what fails: (where it is patched, the file named, the cause named)
    'checkpoint': ('nd.save', 'checkpoints/epoch-0002', 'could not write'),
    'metrics.json': ('write_record', 'metrics.json', 'No space left on device (ENOSPC)'),
    'model.params': ('nd.save', 'model.params', 'could not write'),
    'curves.png': ('save_png', 'curves.png', 'Input/output error (EIO)'),
}


@pytest.mark.slow
@pytest.mark.parametrize('fault', sorted(WRITE_FAULTS))
def test_failed_write_ends_the_run_and_resume_finishes_it(tmp_path, monkeypatch, fault):
    """A write that fails in epoch 2 or after it (MXNet's own error for its files, OSError for
    ours) ends the run with a WriteError naming the file and the cause; the last good
    checkpoint loads, and --resume (nothing changed) finishes the run."""
    import gluon_cnn.app.run as runmod
    import gluon_cnn.viz.plots as figures
    where, name, cause = WRITE_FAULTS[fault]
    if where == 'nd.save':
        real = mx.nd.save

        def save(path, *a, **k):
            if name.split('/')[-1] in str(path):  # the checkpoint's files are in a temp folder
                raise mx.base.MXNetError('Check failed: FileStream.Write incomplete')
            return real(path, *a, **k)
        monkeypatch.setattr(mx.nd, 'save', save)
    elif where == 'write_record':
        real_write = runmod.write_record

        def write(record, *a):
            if len(record.history) == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_write(record, *a)
        monkeypatch.setattr(runmod, 'write_record', write)
    else:
        def fail(fig, path):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        monkeypatch.setattr(figures, 'save', fail)
    with pytest.raises(WriteError) as e:
        run(QUICK.replace(out=str(tmp_path)), log=lambda s: None)
    msg = str(e.value)
    assert msg.startswith(f'could not write {tmp_path / name}') and cause in msg, msg
    good = 1 if fault == 'checkpoint' else 2
    assert f'the last checkpoint is epoch {good} in' in msg
    assert checkpoint.load_checkpoint(tmp_path).epoch == good
    monkeypatch.undo()
    resumed = run(resume_config(tmp_path, {}), log=lambda s: None, resume=True)
    assert len(resumed.history) == 2 and len(read_record(tmp_path).history) == 2
    assert (tmp_path / 'model.params').is_file() and (tmp_path / 'curves.png').is_file()


@pytest.mark.slow
def test_file_size_limit_mid_run_is_one_line_and_resumable(tmp_path):
    """A real EFBIG: after epoch 1, the run's file size limit drops below a checkpoint's size
    (SIGXFSZ ignored, as a shell's `ulimit -f` run would have it). Exit 2 with one line naming
    the file and the limit; the epoch-1 checkpoint stays; --resume finishes the run."""
    proc = train_py(tmp_path, '--epochs', '4', prelude='import signal\n'
                    'signal.signal(signal.SIGXFSZ, signal.SIG_IGN)')
    try:
        wait_for_line(proc, 'epoch 1,')
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (4096, 4096))
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 2, err
    assert err.count('\n') == 1 and err.startswith(f'error: could not write {tmp_path}/'), err
    assert 'File too large (EFBIG), the file size limit (ulimit -f) is 4096 bytes' in err
    done = checkpoint.load_checkpoint(tmp_path).epoch
    assert 1 <= done < 4 and f'the last checkpoint is epoch {done} in' in err
    resumed = run(resume_config(tmp_path, {}), log=lambda s: None, resume=True)
    assert [m['epoch'] for m in resumed.history] == [1, 2, 3, 4]
