"""Reliability, third round: a finished run is never lost, damaged checkpoints and records heal
or explain themselves in one line, every interruption can be continued, and data and model
arguments that cannot train are refused where they are loaded.

Oracles: runs that were never interrupted (numbers equal), the files' bytes and mtimes (nothing
overwritten), `inspect.signature` of the model's own builder, MXNet's own operators.
"""
import dataclasses
import inspect
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from gluon_cnn import ConfigError, DataError
from gluon_cnn import data as gdata
from gluon_cnn.runs import folder as runfolder
from gluon_cnn.app import train_command as train_cli
from gluon_cnn.app.run import resume_config, run
from gluon_cnn.models.arguments import accepted_arguments
from gluon_cnn.models.lenet import get_lenet
from gluon_cnn.runs import checkpoint
from gluon_cnn.runs.config import TrainConfig
from gluon_cnn.runs.record import read_record
from test_data import write_dataset, write_idx

QUICK = TrainConfig(model='lenet', epochs=2, batch_size=64, limit=256, seed=2)
NUMBERS = ('epoch', 'loss', 'train_acc', 'test_acc')


def numbers(history) -> list:
    return [[m[k] for k in NUMBERS] for m in history]


def quiet(line):
    pass


def file_states(folder: Path) -> dict:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob('*') if p.is_file()}


def one_line_exit_2(argv, capsys) -> str:
    code = train_cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count('\n') == 1 and err.startswith('error: '), err
    assert 'Traceback' not in err
    return err


@pytest.fixture(scope='module')
def finished(small_run):
    """A finished 2-epoch run on QUICK's settings (conftest's, trained once per session): the
    oracle for the resumed ones below."""
    record = read_record(small_run.out)
    assert record.config == QUICK.replace(out=str(small_run.out))  # what run(QUICK) reproduces
    return small_run.out, numbers(record.history)


def copy_run(src: Path, dst: Path) -> Path:
    import shutil
    shutil.copytree(src, dst)
    return dst


# ----------------------------------------------------------------------------- 1. never overwritten
def test_new_run_into_a_finished_run_is_refused_and_touches_nothing(finished, tmp_path, capsys):
    out = copy_run(finished[0], tmp_path / 'run')
    before = file_states(out)
    err = one_line_exit_2(['--model', 'lenet', '--limit', '256', '--epochs', '1', '--out',
                           str(out)], capsys)
    assert err == (f'error: --out {out} holds a finished run (model.params, checkpoint epoch 2, '
                   f'2 epochs in metrics.json); train it further with --resume {out} --epochs 3, '
                   f'or pass --overwrite to start over there, or another --out\n')
    assert file_states(out) == before


def test_overwrite_starts_over(finished, tmp_path):
    out = copy_run(finished[0], tmp_path / 'run')
    record = run(QUICK.replace(out=str(out), epochs=1), log=quiet, overwrite=True)
    assert numbers(record.history) == finished[1][:1]  # a fresh run: same seed, same epoch 1
    assert checkpoint.latest_epoch(out) == 1
    assert sorted(p.name for p in (out / 'checkpoints').iterdir()) == ['epoch-0001', 'latest']
    assert len(read_record(out).history) == 1


def test_resume_and_overwrite_together_are_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        train_cli.parse_args(['--resume', 'x', '--overwrite'])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count('\n') == 1 and 'see train.py --help' in err


def test_default_folders_are_unique_in_one_second(tmp_path, monkeypatch):
    """Eight runs of one model started in the same second (strftime frozen) get eight folders,
    each made by an exclusive mkdir, so even threads racing for a name cannot share one."""
    monkeypatch.setattr(runfolder.time, 'strftime', lambda fmt: '20240101-120000')
    got, barrier = [], threading.Barrier(8)

    def start():
        barrier.wait()
        got.append(runfolder.default_out(QUICK, root=tmp_path))
    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = sorted(p.name for p in got)
    assert len(set(names)) == 8 and all(p.is_dir() for p in got)
    assert names[0] == 'lenet-20240101-120000' and 'lenet-20240101-120000-8' in names


# ----------------------------------------------------------------------------- 2. heal or explain
def test_latest_full_of_random_bytes_falls_back_to_the_intact_checkpoint(finished, tmp_path):
    out = copy_run(finished[0], tmp_path / 'run')
    (out / 'checkpoints' / 'latest').write_bytes(np.random.RandomState(0).bytes(64))
    ckpt = checkpoint.load_checkpoint(out)
    assert ckpt.epoch == 2  # the newest epoch folder is intact: nothing is lost
    assert ckpt.note.startswith(f'{out}/checkpoints/latest: damaged (not a checkpoint name); '
                                f'using epoch-0002')
    assert checkpoint.latest_epoch(out) is None  # and the cheap reader does not crash either


@pytest.mark.parametrize('victim', ['params.nd', 'optimizer.nd', 'meta.json'])
def test_damaged_newest_checkpoint_resumes_from_the_older_one_and_says_so(finished, tmp_path,
                                                                           victim):
    """Epoch 2 damaged, epoch 1 intact: --resume uses epoch 1, says which and why, and ends with
    the numbers of the run that was never damaged."""
    out = copy_run(finished[0], tmp_path / 'run')
    (out / 'model.params').unlink()
    path = out / 'checkpoints' / 'epoch-0002' / victim
    path.write_bytes(path.read_bytes()[:-5])
    lines = []
    record = run(resume_config(out, {}), log=lines.append, resume=True)
    assert lines[0].startswith(f'note: {path}: ') and lines[0].endswith(
        'using epoch-0001, the newest intact checkpoint (epoch 1)')
    assert lines[1] == f'resuming {out} after epoch 1 of 2'
    assert numbers(record.history) == finished[1]


def test_every_checkpoint_damaged_is_one_line_naming_the_file(finished, tmp_path, capsys):
    out = copy_run(finished[0], tmp_path / 'run')
    for epoch in (1, 2):
        p = out / 'checkpoints' / f'epoch-000{epoch}' / 'params.nd'
        p.write_bytes(b'\0' * 10)
    err = one_line_exit_2(['--resume', str(out), '--epochs', '3'], capsys)
    assert err == (f'error: {out}/checkpoints/epoch-0002/params.nd: corrupt checkpoint '
                   f'(missing, or checksum mismatch)\n')


def test_checkpoint_carries_the_config(finished):
    meta = json.loads((finished[0] / 'checkpoints' / 'epoch-0002' / 'meta.json').read_text())
    assert meta['config'] == dataclasses.asdict(read_record(finished[0]).config)


@pytest.mark.parametrize('damage', ['deleted', 'garbage'])
def test_lost_metrics_json_is_rebuilt_from_the_checkpoint(finished, tmp_path, capsys, damage):
    """The issue's case: metrics.json gone, two intact checkpoints. The message no longer says
    to train into the folder again; --resume rebuilds it and finishes the run exactly."""
    out = copy_run(finished[0], tmp_path / 'run')
    (out / 'model.params').unlink()
    record_file = out / 'metrics.json'
    if damage == 'deleted':
        record_file.unlink()
    else:
        record_file.write_bytes(b'\xff\xfe not json')
    with pytest.raises(ConfigError) as e:
        read_record(out)
    assert f'`python train.py --resume {out}` rebuilds it' in str(e.value)
    assert '--out' not in str(e.value)
    lines = []
    record = run(resume_config(out, {}), log=lines.append, resume=True)
    assert f'note: rebuilding {record_file} from {out}/checkpoints/epoch-0002' in lines
    assert numbers(record.history) == finished[1]
    assert numbers(read_record(out).history) == finished[1]
    assert read_record(out).config == record.config


def test_config_value_of_the_wrong_type_names_the_field(finished, tmp_path, capsys):
    out = copy_run(finished[0], tmp_path / 'run')
    data = json.loads((out / 'metrics.json').read_text())
    data['config']['batch_size'] = '64'
    (out / 'metrics.json').write_text(json.dumps(data))
    err = one_line_exit_2(['--resume', str(out), '--epochs', '3'], capsys)
    assert err == (f'error: {out}/metrics.json: config field "batch_size": expected an integer, '
                   f"got '64'\n")
    with pytest.raises(ConfigError) as e:
        read_record(out)
    assert (e.value.field, e.value.path) == ('batch_size', out / 'metrics.json')
    for wrong, field in ({'lr': '0.1'}, '--lr'), ({'limit': True}, '--limit'):
        with pytest.raises(ConfigError) as e:
            TrainConfig(**wrong).validate()
        assert e.value.field == field


# ----------------------------------------------------------------------------- 3. continue anything
def test_ctrl_c_before_the_first_checkpoint_can_be_continued(finished, tmp_path):
    """Ctrl-C as training starts: the message says how to go on, --resume starts at epoch 1
    with the saved config, and ends with the numbers of the run never interrupted."""
    out = tmp_path / 'run'

    def ctrl_c(line):
        if line.startswith('training '):
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt) as e:
        run(QUICK.replace(out=str(out)), log=ctrl_c)
    assert str(e.value) == (f'Ctrl-C; no checkpoint yet (one is written at the end of each '
                            f'epoch); continue with python train.py --resume {out}, which starts '
                            f'from epoch 1 with the saved settings')
    assert checkpoint.latest_epoch(out) is None
    lines = []
    record = run(resume_config(out, {}), log=lines.append, resume=True)
    assert f'resuming {out} from epoch 1 of 2 (it stopped before its first checkpoint)' in lines
    assert numbers(record.history) == finished[1]


def test_resume_with_epochs_recorded_but_no_checkpoint_is_refused(finished, tmp_path, capsys):
    out = copy_run(finished[0], tmp_path / 'run')
    import shutil
    shutil.rmtree(out / 'checkpoints')
    err = one_line_exit_2(['--resume', str(out), '--epochs', '3'], capsys)
    assert err == (f'error: --resume {out}: metrics.json records 2 epochs but no checkpoint is '
                   f'there ({out}/checkpoints is missing); start over with --out {out} '
                   f'--overwrite\n')


# ----------------------------------------------------------------------------- 4. data
def small_dataset(folder: Path, n_train=64, n_test=16, test_side=28) -> Path:
    write_dataset(folder, n_train=n_train, n_test=n_test)
    if test_side != 28:
        rng = np.random.RandomState(1)
        write_idx(folder / (gdata.FILES['test'][0] + '.gz'),
                  rng.randint(0, 256, (n_test, test_side, test_side)).astype(np.uint8))
    return folder


@pytest.mark.parametrize('case, split', [
    ({'n_train': 0}, 'train'),     # 0 images: nothing to train on
    ({'n_test': 0}, 'test'),
    ({'test_side': 32}, 'test'),   # 32x32 test images beside 28x28 training images
])
def test_data_that_cannot_train_is_refused_at_load(tmp_path, capsys, case, split):
    folder = small_dataset(tmp_path / f'data-{len(os.listdir(tmp_path))}', **case)
    with pytest.raises(DataError) as e:
        gdata.load_dataset(data_dir=folder)
    assert e.value.path == folder / (gdata.FILES[split][0] + '.gz')
    out = tmp_path / 'run'
    err = one_line_exit_2(['--data-dir', str(folder), '--epochs', '1', '--out', str(out)], capsys)
    assert err == f'error: {e.value}\n'
    assert not out.exists()


# ----------------------------------------------------------------------------- 5. model arguments
def test_accepted_arguments_come_from_the_builders_signatures():
    """lenet(**kw) forwards to get_lenet, whose **kwargs go to Gluon's HybridSequential."""
    builder = [p for p in inspect.signature(get_lenet).parameters.values()
               if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert accepted_arguments('lenet') == sorted([p.name for p in builder] + ['params', 'prefix'])


@pytest.mark.parametrize('kwargs, says', [
    ('{"kernel": 3}', "--model-kwargs: lenet takes no argument 'kernel'; lenet accepts: act, "
                      "batch_norm, channels, classes, kernel_size, padding, params, pool, prefix, "
                      "widths"),
    ('{"channels": 6}', '--model-kwargs {"channels": 6}: lenet cannot be built with these values '
                        "(TypeError: 'int' object is not iterable); lenet accepts: act, "),
])
def test_bad_model_kwargs_are_one_line(tmp_path, capsys, kwargs, says):
    err = one_line_exit_2(['--model-kwargs', kwargs, '--limit', '64', '--epochs', '1', '--out',
                           str(tmp_path / 'run')], capsys)
    assert err.startswith(f'error: {says}'), err


def test_kernel_too_large_is_not_told_to_resize_to_what_it_is(tmp_path, capsys):
    """kernel_size 29 on 28x28: resizing cannot help (28 is lenet's own size), so no --resize;
    the layer and what it needs are named. MXNet's own Convolution agrees on the 29."""
    import mxnet as mx
    err = one_line_exit_2(['--model-kwargs', '{"kernel_size": 29}', '--limit', '64', '--epochs',
                           '1', '--out', str(tmp_path / 'run')], capsys)
    assert err == ('error: lenet cannot take 28x28 inputs (layer 0 (Conv2D 29x29): input 28x28 is '
                   'smaller than the kernel; needs at least 29x29); check --model-kwargs (a '
                   'kernel or a depth too large for this input?)\n')
    w = mx.nd.zeros((1, 1, 29, 29))
    assert mx.nd.Convolution(mx.nd.zeros((1, 1, 29, 29)), w, no_bias=True, kernel=(29, 29),
                             num_filter=1).shape == (1, 1, 1, 1)
    with pytest.raises(mx.MXNetError):
        mx.nd.Convolution(mx.nd.zeros((1, 1, 28, 28)), w, no_bias=True, kernel=(29, 29),
                          num_filter=1).wait_to_read()
