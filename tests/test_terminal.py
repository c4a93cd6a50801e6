"""Every command is a calm Unix citizen: a closed pipe ends quietly (exit 141) and leaves a run
resumable, a usage error is one line plus "see --help", every numeric flag is checked before
work starts, MXNet's errors inside tracing are the tracer's own line, viz loads defensively,
the launcher leaves no orphan, and Gluon's datasets offline say where to put the files.

Subprocesses get a stdout pipe whose read end is closed before they print (os.pipe), so the
broken pipe is certain, not a race with `head`.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

from gluon_cnn import DataError, get_model, trace
from gluon_cnn.errors import TraceError
from gluon_cnn import launch
from gluon_cnn.app.run import resume_config, run
from gluon_cnn.runs import checkpoint

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, 'PYTHONPATH': str(ROOT)}
PY = sys.executable


def closed_stdout(argv, timeout=120, unbuffered=False):
    """Run argv with a stdout pipe already closed at the far end; (returncode, stderr)."""
    r, w = os.pipe()
    os.close(r)
    try:
        proc = subprocess.run([PY, *(['-u'] if unbuffered else []), *argv], stdout=w,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV,
                              timeout=timeout)
    finally:
        os.close(w)
    return proc.returncode, proc.stderr


# ----------------------------------------------------------------------------- closed pipes
@pytest.mark.parametrize('argv', [['-m', 'gluon_cnn.trace', 'lenet'],
                                  ['-m', 'gluon_cnn.exercises', '--list'],
                                  ['-m', 'gluon_cnn.shapes', 'solve', '32', '28']])
def test_closed_pipe_ends_quietly(argv):
    code, err = closed_stdout(argv)
    assert code == 141 and err == ''


def test_train_cut_short_by_a_closed_pipe_is_resumable(tmp_path):
    """Unbuffered, the first line already fails (buffered, a later flush does): one `stopped:`
    line saying how to go on, and --resume finishes the run from epoch 1."""
    out = tmp_path / 'run'
    code, err = closed_stdout(['train.py', '--limit', '256', '--epochs', '2', '--batch-size',
                               '64', '--out', str(out)], unbuffered=True)
    assert code == 141 and err.count('\n') == 1, err
    assert err.startswith(f'stopped: stdout closed; no checkpoint yet (one is written at the end '
                          f'of each epoch); continue with python train.py --resume {out}')
    record = run(resume_config(out, {}), log=lambda s: None, resume=True)
    assert [m['epoch'] for m in record.history] == [1, 2]


def test_train_piped_to_head_mid_run_keeps_its_checkpoint(tmp_path):
    """The reader goes away after epoch 1's line (`| head -2`): the next line fails, the epoch-1
    checkpoint (written before its line) stays, and --resume continues."""
    out = tmp_path / 'run'
    proc = subprocess.Popen([PY, '-u', 'train.py', '--limit', '256', '--epochs', '4',
                             '--batch-size', '64', '--out', str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)
    try:
        for line in proc.stdout:
            if line.startswith('epoch 1,'):
                break
        proc.stdout.close()
        err = proc.stderr.read()
        proc.wait(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 141 and err.count('\n') == 1, err
    done = checkpoint.latest_epoch(out)
    assert done >= 1 and err.startswith(f'stopped: stdout closed; the last checkpoint is epoch '
                                        f'{done} in {out}/checkpoints; continue with python '
                                        f'train.py --resume {out}')
    record = run(resume_config(out, {}), log=lambda s: None, resume=True)
    assert [m['epoch'] for m in record.history] == [1, 2, 3, 4]


# ----------------------------------------------------------------------------- usage errors
USAGE = [  # (argv, the prog, what argparse says)
    (['train.py', '--lr', 'abc'], 'train.py', "argument --lr: invalid float value: 'abc'"),
    (['-m', 'gluon_cnn.trace', 'lenet', '--width', 'wide'], 'python -m gluon_cnn.trace',
     "argument --width: invalid int value: 'wide'"),
    (['-m', 'gluon_cnn.shapes', 'solve', '32'], 'python -m gluon_cnn.shapes solve',
     'the following arguments are required: n_out'),
    (['-m', 'gluon_cnn.viz', 'layers'], 'python -m gluon_cnn.viz layers',
     'the following arguments are required: --run'),
    (['-m', 'gluon_cnn.exercises', '--limit', 'x'], 'python -m gluon_cnn.exercises',
     "argument --limit: invalid int value: 'x'"),
    (['-m', 'gluon_cnn.launch', '--', 'true'], 'python -m gluon_cnn.launch',
     'the following arguments are required: -n/--num-workers'),
    (['-m', 'gluon_cnn.papers', '--bogus'], 'python -m gluon_cnn.papers',
     'unrecognized arguments: --bogus'),
]


@pytest.mark.parametrize('argv, prog, says', USAGE, ids=[u[1].split()[-1] for u in USAGE])
def test_usage_error_is_one_line_and_see_help(argv, prog, says):
    r = subprocess.run([PY, *argv], capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=60)
    assert r.returncode == 2 and r.stdout == ''
    assert r.stderr == f'{prog}: error: {says} (see {prog} --help)\n'


# ----------------------------------------------------------------------------- numeric flags
NUMERIC = [  # (module main, argv, the one line)
    ('gluon_cnn.trace', ['lenet', '--width', '0'], 'error: --width must be at least 40 columns, '
                                                   'got 0'),
    ('gluon_cnn.trace', ['lenet', '--depth', '0'], "error: --depth must be at least 1"),
    ('gluon_cnn.trace', ['lenet', '--input', '3000000000,1,28,28'],
     'error: input (3000000000, 1, 28, 28): every size must be between 1 and 2,147,483,647'),
    ('gluon_cnn.shapes', ['solve', '32', '28', '--max-kernel', '100000'],
     'error: --max-kernel 100000 with --max-stride 4 would try 20,000,200,000 windows, over the '
     '2,000,000 this answers in seconds; pass --max-kernel 999 or less'),
    ('gluon_cnn.exercises', ['--limit', '0'], 'error: --limit must be positive, got 0'),
    ('gluon_cnn.exercises', ['5.5.1', '--epochs', '-1'], 'error: --epochs must be positive'),
]  # viz's flags are refused as they are parsed (tests/test_viz.py)


@pytest.mark.parametrize('module, argv, says', NUMERIC)
def test_numeric_flags_are_checked_before_work(module, argv, says, capsys):
    import importlib
    main = importlib.import_module(module + '.__main__').main
    start = time.monotonic()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(says) and err.count('\n') == 1, err
    assert time.monotonic() - start < 30  # refused, not run (a bound, not a timing claim)


@pytest.mark.parametrize('argv, says', [
    (['-n', '0'], '-n and -s must be at least 1'),
    (['-n', '1', '--port', '70000'], '--port must be between 1 and 65535, got 70000'),
    (['-n', '1', '--timeout', '0'], '--timeout must be a positive number of seconds, got 0.0'),
])
def test_launch_numeric_flags(argv, says, capsys):
    with pytest.raises(SystemExit) as e:
        launch.parse_args([*argv, '--', 'true'])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count('\n') == 1 and says in err


# ----------------------------------------------------------------------------- tracing errors
def test_kernel_larger_than_its_input_is_the_tracers_own_line():
    """lenet on 8x8: conv 5 -> 4x4, pool 2 -> 2x2, then a 5x5 kernel. MXNet's own Convolution
    refuses a 4x4 input and takes a 5x5 one: 'needs at least 5x5' is its rule."""
    with pytest.raises(TraceError) as e:
        trace(get_model('lenet'), (1, 1, 8, 8))
    first, rest = str(e.value).split('\n', 1)
    assert first == 'layer 2 (Conv2D 5x5): input 2x2 is smaller than the kernel; needs at least 5x5'
    assert rest.startswith('layers traced before the failure:') and '(1, 6, 2, 2)' in rest
    w = mx.nd.zeros((1, 6, 5, 5))
    conv = dict(no_bias=True, kernel=(5, 5), num_filter=1)
    assert mx.nd.Convolution(mx.nd.zeros((1, 6, 5, 5)), w, **conv).shape == (1, 1, 1, 1)
    with pytest.raises(mx.MXNetError):
        mx.nd.Convolution(mx.nd.zeros((1, 6, 4, 4)), w, **conv).wait_to_read()


def test_padding_counts_toward_the_window():
    """A 3x3 pooling window with padding 1 fits a 1x1 input (MXNet agrees); unpadded: 3x3."""
    from mxnet.gluon import nn
    net = nn.HybridSequential()
    net.add(nn.MaxPool2D(3, strides=1, padding=1), nn.MaxPool2D(3))
    with pytest.raises(TraceError, match=r'^layer 1 \(MaxPool2D 3x3\): input 1x1 is smaller than '
                                         r'the pooling window; needs at least 3x3\n'):
        trace(net, (1, 1, 1, 1))
    assert mx.nd.Pooling(mx.nd.zeros((1, 1, 1, 1)), kernel=(3, 3), pad=(1, 1)).shape == \
        (1, 1, 1, 1)


def test_mxnet_error_outside_a_layer_is_a_trace_error():
    """An input MXNet cannot allocate (over 2^31 elements) in an imperative trace: MXNet's own
    reason, as one TraceError, not its traceback."""
    with pytest.raises(TraceError, match=r'larger than 2\^31 elements') as e:
        trace(get_model('lenet'), (60_000, 1, 200, 200), mode='imperative')
    assert 'Traceback' not in str(e.value)


# ----------------------------------------------------------------------------- viz
@pytest.fixture(scope='module')
def viz_run(small_run):
    return small_run.out  # copied before it is damaged


@pytest.mark.parametrize('damage', ['truncated', 'other model'])
def test_viz_refuses_params_that_do_not_fit_in_one_line(viz_run, tmp_path, damage, capsys):
    import json
    import shutil
    from gluon_cnn.viz.__main__ import main as viz_main
    out = Path(shutil.copytree(viz_run, tmp_path / 'run'))
    params = out / 'model.params'
    if damage == 'truncated':
        params.write_bytes(params.read_bytes()[:100])
    else:
        data = json.loads((out / 'metrics.json').read_text())
        data['config']['model'] = 'lenet-bn'  # the record no longer describes these params
        (out / 'metrics.json').write_text(json.dumps(data))
    assert viz_main(['layers', '--run', str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f'error: {params}: does not fit the ') and err.count('\n') == 1, err


# ----------------------------------------------------------------------------- launch
def test_launch_missing_command_and_busy_port_are_one_line_before_any_role(capsys):
    assert launch.main(['-n', '1', '--', 'no-such-command-xyz']) == 2
    assert capsys.readouterr().err == ('launch: no-such-command-xyz: command not found (the worker '
                                       'command after --, e.g. -- python train.py --kvstore '
                                       'dist_sync)\n')
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert launch.main(['-n', '1', '--port', str(port), '--', PY, '-c', 'pass']) == 2
    err = capsys.readouterr().err
    assert err == (f'launch: --port {port}: cannot listen on 127.0.0.1:{port} (Address already '
                   f'in use); pass another --port, or none for a free one\n')


def _roles_left(port: int) -> list:
    """PIDs of processes whose environment names this launch's scheduler port."""
    needle = f'DMLC_PS_ROOT_PORT={port}'.encode()
    left = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            if needle in Path(f'/proc/{pid}/environ').read_bytes().split(b'\0'):
                left.append(int(pid))
        except OSError:
            pass
    return left


def test_sigkilled_launcher_leaves_no_role_running(tmp_path):
    """SIGKILL gives the launcher no chance to clean up: its roles end anyway (PDEATHSIG)."""
    port = launch.free_port()
    sleeper = ("import os, time; open(os.path.join(r'%s', 'pid-' + os.environ['DMLC_ROLE']), 'w')"
               ".write(str(os.getpid())); time.sleep(600)" % tmp_path)
    proc = subprocess.Popen([PY, '-m', 'gluon_cnn.launch', '--port', str(port), '--timeout',
                             '120', '-n', '2', '--', PY, '-c', sleeper], cwd=ROOT, env=ENV,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        end = time.monotonic() + 60
        while not (tmp_path / 'pid-worker').exists() and time.monotonic() < end:
            time.sleep(0.1)
        assert len(_roles_left(port)) == 4  # scheduler, server, two workers
        proc.kill()
        proc.wait(timeout=10)
        end = time.monotonic() + 10
        while _roles_left(port) and time.monotonic() < end:
            time.sleep(0.1)
        assert _roles_left(port) == []
    finally:
        for pid in _roles_left(port):  # only the roles of this test's launch
            os.kill(pid, signal.SIGKILL)
        proc.kill()


# ----------------------------------------------------------------------------- offline Gluon
def test_gluon_dataset_offline_is_one_line_saying_where_to_put_the_files(tmp_path, monkeypatch):
    """No local files anywhere and a download that fails as it does offline: a DataError naming
    the folder, not Gluon's traceback. The download was tried: users with internet keep it."""
    from mxnet.gluon.data.vision import datasets
    from gluon_cnn import book  # noqa: F401  (makes Gluon's readers look for local files)
    from gluon_cnn.data import files
    monkeypatch.delenv('GLUON_CNN_DATA', raising=False)
    monkeypatch.setenv('MXNET_HOME', str(tmp_path / 'mxnet-home'))
    monkeypatch.setattr(files, 'DEBIAN_DIR', tmp_path / 'no-debian')
    tried = []

    def offline(url, path=None, **kwargs):
        tried.append(url)
        raise ConnectionError(f"HTTPSConnectionPool: Max retries exceeded with url: {url} "
                              "(Caused by NameResolutionError: Temporary failure in name "
                              "resolution)")
    monkeypatch.setattr(datasets, 'download', offline)
    root = tmp_path / 'fm'
    with pytest.raises(DataError) as e:
        mx.gluon.data.vision.FashionMNIST(root=str(root), train=False)
    msg = str(e.value)
    assert tried and '\n' not in msg
    assert msg.startswith("fashion-mnist: no local files and Gluon's download failed "
                          "(ConnectionError: ")
    assert 'put train-images-idx3-ubyte.gz, ' in msg and f'in {root}, $GLUON_CNN_DATA' in msg


# ----------------------------------------------------------------------------- a full stdout
@pytest.mark.parametrize('argv', [['-m', 'gluon_cnn.trace', 'lenet'],
                                  ['-m', 'gluon_cnn.exercises', '--list'],
                                  ['-m', 'gluon_cnn.shapes', 'solve', '32', '28'],
                                  ['-m', 'gluon_cnn.viz', 'layers', '--run', 'VIZ_RUN']],
                         ids=['trace', 'exercises', 'shapes', 'viz'])
def test_full_stdout_is_one_line_and_a_nonzero_exit(argv, viz_run):
    """`> /dev/full`: ENOSPC on stdout is the WriteError line, exit 2, no traceback and no
    'Exception ignored' from the interpreter's last flush."""
    argv = [str(viz_run) if a == 'VIZ_RUN' else a for a in argv]
    with open('/dev/full', 'w') as full:
        proc = subprocess.run([PY, *argv], stdout=full, stderr=subprocess.PIPE, text=True,
                              cwd=ROOT, env=ENV, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == 'error: could not write to stdout: No space left on device (ENOSPC)\n'


def test_train_on_a_full_stdout_says_how_to_resume(tmp_path):
    out = tmp_path / 'run'
    with open('/dev/full', 'w') as full:
        proc = subprocess.run([PY, '-u', 'train.py', '--limit', '256', '--epochs', '2',
                               '--batch-size', '64', '--out', str(out)], stdout=full,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV, timeout=300)
    assert proc.returncode == 2 and proc.stderr.count('\n') == 1, proc.stderr
    assert proc.stderr.startswith('error: could not write to stdout: No space left on device')
    assert f'python train.py --resume {out}' in proc.stderr


# ----------------------------------------------------------------------------- atomic writes
def test_atomic_write_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    """ENOSPC at the fsync (where a full disk shows on delayed allocation): a WriteError naming
    the final file and the cause; the old file is whole and no temporary file is left."""
    from gluon_cnn import durable
    from gluon_cnn.errors import WriteError
    path = tmp_path / 'page.html'
    path.write_text('the good page')

    def full(fd):
        raise OSError(28, os.strerror(28))
    monkeypatch.setattr(durable.os, 'fsync', full)
    with pytest.raises(WriteError) as e:
        durable.write_text_atomic(path, 'a new page' * 1000)
    assert str(e.value) == f'could not write {path}: No space left on device (ENOSPC)'
    assert path.read_text() == 'the good page'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['page.html']


def test_savefig_goes_through_the_atomic_writer(tmp_path, monkeypatch):
    """A PNG replaced on a full disk (viz's --out over a good figure) keeps the good one."""
    from gluon_cnn import durable
    from gluon_cnn.errors import WriteError
    from gluon_cnn.viz import plots
    path = tmp_path / 'fig.png'
    good = plots.save(plots.plot_image_grid(np.eye(8)[None]), path).read_bytes()
    monkeypatch.setattr(durable.os, 'fsync', lambda fd: (_ for _ in ()).throw(OSError(28, 'x')))
    with pytest.raises(WriteError):
        plots.save(plots.plot_image_grid(np.ones((2, 8, 8))), path)
    assert path.read_bytes() == good and len(list(tmp_path.iterdir())) == 1


WRITER = '''
import sys, time
from pathlib import Path
from gluon_cnn.cli import run_cli
from gluon_cnn.durable import write_atomic

def slow(tmp):
    with open(tmp, 'w') as f:
        f.write('half of a new file')
        f.flush()
        print('writing', flush=True)
        time.sleep(60)

sys.exit(run_cli(lambda: write_atomic(Path(sys.argv[1]), slow)))
'''


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGHUP], ids=['SIGTERM', 'SIGHUP'])
def test_a_signal_mid_write_keeps_the_old_file(tmp_path, sig):
    path = tmp_path / 'out.png'
    path.write_text('the good file')
    proc = subprocess.Popen([PY, '-c', WRITER, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)
    assert proc.stdout.readline() == 'writing\n'  # the temporary file is half written now
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.count('\n') == 1, err
    assert path.read_text() == 'the good file'
    assert [p.name for p in tmp_path.iterdir()] == ['out.png']
