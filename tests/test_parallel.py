"""Data parallelism (gluon_cnn.training.placement, .parallel) and the ps-lite launcher
(gluon_cnn.launch), on loopback.

Every multi-process test runs under a deadline, binds only 127.0.0.1 and checks that no role of
its launch is left running (by the scheduler port in each process's environment).
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

from mxnet import init

from gluon_cnn.backend import fastops, internals
from gluon_cnn import launch
from gluon_cnn.training import parallel, placement, runtime
from gluon_cnn.errors import ConfigError
from gluon_cnn.models import get_model
from helpers import needs_fashion_mnist

ROOT = Path(__file__).resolve().parents[1]
WORKER = [sys.executable, str(ROOT / 'tests' / 'dist_worker.py')]
DEADLINE = 120  # seconds; a run takes ~10 s on 2 cores


def _params(path):
    return {k: v.asnumpy() for k, v in mx.nd.load(str(path)).items()}


def _max_diff(a, b):
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


def _roles_left(port: int) -> list:
    """PIDs of processes whose environment names this launch's scheduler (or rendezvous) port."""
    needles = {f'{name}={port}'.encode()
               for name in ('DMLC_PS_ROOT_PORT', 'HOROVOD_GLOO_RENDEZVOUS_PORT')}
    left = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            if needles & set(Path(f'/proc/{pid}/environ').read_bytes().split(b'\0')):
                left.append(int(pid))
        except OSError:
            pass
    return left


def _launch(args, port, **kw):
    return subprocess.Popen([sys.executable, '-m', 'gluon_cnn.launch', '--port', str(port),
                             '--timeout', str(DEADLINE), *args], cwd=ROOT, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, **kw)


def _finish(proc, timeout=DEADLINE + 10):
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode, err


# ----------------------------------------------------------------------------- pure helpers
@pytest.mark.parametrize('b,n', [(256, 2), (44, 2), (3, 2), (1, 2), (7, 3)])
def test_share_deals_like_array_split(b, n):
    shares = [parallel.share(b, r, n) for r in range(n)]
    expected = np.cumsum([0] + [len(a) for a in np.array_split(np.arange(b), n)])
    assert shares == list(zip(expected[:-1], expected[1:]))


def test_plan_binds_loopback_and_splits_threads():
    roles = launch.plan(['python', 'w.py'], workers=2, servers=1, port=9999)
    assert [r.name for r in roles] == ['scheduler', 'server 0', 'worker 0', 'worker 1']
    for r in roles:
        assert r.env['DMLC_PS_ROOT_URI'] == r.env['DMLC_NODE_HOST'] == '127.0.0.1'
        assert r.env['DMLC_NUM_WORKER'] == '2' and r.env['DMLC_PS_ROOT_PORT'] == '9999'
    assert roles[2].argv == ['python', 'w.py']


def test_plan_over_ssh_names_hosts():
    roles = launch.plan(['python', 'w.py'], 2, 1, 9000, hosts=['a', 'b'], scheduler_host='10.0.0.1',
                        cwd='/work')
    assert roles[1].argv[:4] == ['ssh', '-o', 'BatchMode=yes', 'a']
    assert ('DMLC_NODE_HOST=b' in roles[2].argv[-1]
            and 'DMLC_PS_ROOT_URI=10.0.0.1' in roles[2].argv[-1])


def test_horovod_plan_talks_over_loopback_only():
    roles = launch.horovod_plan(['python', 'w.py'], workers=2, port=9999)
    assert [r.name for r in roles] == ['worker 0', 'worker 1']
    for rank, r in enumerate(roles):
        assert r.env['HOROVOD_GLOO_RENDEZVOUS_ADDR'] == '127.0.0.1'
        assert r.env['HOROVOD_GLOO_IFACE'] == 'lo'
        assert r.env['HOROVOD_GLOO_RENDEZVOUS_PORT'] == '9999'
        assert r.env['HOROVOD_RANK'] == r.env['HOROVOD_LOCAL_RANK'] == str(rank)
        assert r.env['HOROVOD_SIZE'] == r.env['HOROVOD_LOCAL_SIZE'] == '2'
        assert r.argv == ['python', 'w.py']


def test_horovod_refused_in_one_line_without_it_or_with_two_devices(monkeypatch):
    with pytest.raises(ConfigError, match='one device per process'):
        runtime.for_run([mx.cpu(0), mx.cpu(1)], 'horovod')
    monkeypatch.setitem(sys.modules, 'horovod.mxnet', None)   # as if it were not installed
    with pytest.raises(ConfigError) as e:
        parallel.connect('horovod')
    assert e.value.field == '--kvstore' and '`make horovod`' in str(e.value)  # the way to get it


@pytest.mark.parametrize('b,n', [(256, 2), (45, 2), (7, 3)])
def test_step_size_averages_over_the_global_batch(b, n):
    """Horovod's DistributedTrainer divides by the workers itself (trainer.step then averages
    over b / n), ps-lite does not (over b): both end at the sum of gradients / b."""
    hvd = placement.Horovod(parallel.Workers(0, n, None, 'horovod'), [mx.cpu()])
    ps = placement.ParameterServer(parallel.Workers(0, n, object(), 'dist_sync'), [mx.cpu()])
    assert hvd.step_size(b) * n == b and ps.step_size(b) == b


# ----------------------------------------------------------------------------- training
@pytest.fixture(scope='module')
def one_process(tmp_path_factory):
    """Parameters of the reference run: one process, one context."""
    out = tmp_path_factory.mktemp('one')
    subprocess.run([*WORKER, str(out), 'device', 'cpu'], check=True, timeout=DEADLINE, cwd=ROOT)
    return _params(out / 'rank-0.params')


@pytest.mark.slow
def test_two_contexts_equal_one(one_process, tmp_path):
    subprocess.run([*WORKER, str(tmp_path), 'device', 'cpu:0,cpu:1'], check=True, timeout=DEADLINE,
                   cwd=ROOT)
    assert _max_diff(_params(tmp_path / 'rank-0.params'), one_process) < 1e-5


def test_plain_layout_right_after_an_inference_pass():
    """The dist_sync race, in one process: an inference pass's operators queue in-place oneDNN
    reorders of their weights while they run; plain_layout must still leave every weight in the
    default layout that ps-lite's raw bytes assume (internals.has_default_layout is the oracle)."""
    for _ in range(40):
        net = get_model('lenet')
        net.initialize(init.Xavier())
        net(mx.nd.random.uniform(shape=(64, 1, 28, 28)))   # no wait: the reorders are in flight
        parallel.plain_layout(net)
        layouts = [internals.has_default_layout(a)
                   for p in net.collect_params().values() for a in p.list_data()]
        assert all(layouts), layouts


def _has_horovod() -> bool:
    """Whether Horovod's MXNet part is installed, without loading it here (once loaded, MXNet
    can load no other operator library in this process: the fused operators' tests need one)."""
    import importlib.util
    try:
        return importlib.util.find_spec('horovod.mxnet') is not None
    except ImportError:
        return False


needs_horovod = pytest.mark.skipif(not _has_horovod(), reason='Horovod is optional: make '
                                   'test-horovod builds it and runs these')
# (launch flags, the worker's --kvstore) of each distributed engine: ps-lite with one server
ENGINES = {'ps-lite': (['-s', '1'], 'dist_sync'),
           'horovod': (['--horovod'], 'horovod')}
BOTH_ENGINES = [pytest.param('ps-lite'), pytest.param('horovod', marks=needs_horovod)]


@pytest.mark.slow
@pytest.mark.parametrize('engine', BOTH_ENGINES)
def test_two_workers_equal_one_process(one_process, tmp_path, engine):
    flags, kvstore = ENGINES[engine]
    port = launch.free_port()
    code, err = _finish(_launch([*flags, '-n', '2', '--', *WORKER, str(tmp_path), kvstore, 'cpu'],
                                port))
    assert not _roles_left(port)
    assert code == 0, err
    ranks = [_params(tmp_path / f'rank-{r}.params') for r in (0, 1)]
    # the same summed gradients, the same updates: bit-identical workers; float rounding against
    # one process, whose sum runs in another order
    assert _max_diff(ranks[0], ranks[1]) == 0.0
    assert _max_diff(ranks[0], one_process) < 1e-4


@pytest.mark.slow
def test_two_async_workers_train(tmp_path):
    """dist_async updates on the server, so its numbers are not one process's; the run must still
    train to the end, first step and short last batch included (the servers get the optimizer,
    with its gradient scale, when the starting weights are sent)."""
    port = launch.free_port()
    code, err = _finish(_launch(['-n', '2', '--', *WORKER, str(tmp_path), 'dist_async', 'cpu'],
                                port))
    assert not _roles_left(port)
    assert code == 0, err
    for r in (0, 1):
        assert all(np.isfinite(v).all() for v in _params(tmp_path / f'rank-{r}.params').values())


@pytest.mark.slow
@pytest.mark.parametrize('engine', BOTH_ENGINES)
def test_killed_worker_ends_the_launch(tmp_path, engine):
    flags, kvstore = ENGINES[engine]
    port = launch.free_port()
    proc = _launch([*flags, '-n', '2', '--', *WORKER, str(tmp_path), kvstore, 'cpu', '--sleep'],
                   port)
    pid_file = tmp_path / 'pid-1'
    end = time.monotonic() + DEADLINE
    while not pid_file.exists() and time.monotonic() < end and proc.poll() is None:
        time.sleep(0.1)
    assert pid_file.exists(), 'workers never connected'
    os.kill(int(pid_file.read_text()), signal.SIGKILL)  # a worker of our own launch
    start = time.monotonic()
    code, err = _finish(proc, timeout=30)
    assert time.monotonic() - start < 15
    assert code != 0
    assert 'was killed by SIGKILL' in err and 'worker' in err
    assert not _roles_left(port)


@pytest.mark.slow
def test_sigterm_ends_every_role(tmp_path):
    port = launch.free_port()
    sleeper = ("import os, time; open(os.path.join(r'%s', 'pid-' + os.environ['DMLC_ROLE']), 'w')"
               ".write(str(os.getpid())); time.sleep(600)" % tmp_path)
    proc = _launch(['-n', '2', '--', sys.executable, '-c', sleeper], port)
    end = time.monotonic() + DEADLINE
    while not (tmp_path / 'pid-worker').exists() and time.monotonic() < end:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    code, err = _finish(proc, timeout=30)
    assert code == 128 + signal.SIGTERM and 'SIGTERM' in err
    assert not _roles_left(port)


@pytest.mark.slow
@needs_fashion_mnist
def test_two_contexts_resume_with_adam_states(tmp_path):
    """A resumed two-context run continues exactly: every device's updater gets its own states."""
    flags = ['--limit', '256', '--batch-size', '128', '--optimizer', 'adam', '--lr', '0.01',
             '--ctx', 'cpu:0,cpu:1', '--quiet']
    train = [sys.executable, str(ROOT / 'train.py')]
    run = dict(check=True, timeout=DEADLINE, cwd=ROOT, stdout=subprocess.DEVNULL)
    subprocess.run([*train, *flags, '--epochs', '2', '--out', str(tmp_path / 'a')], **run)
    subprocess.run([*train, *flags, '--epochs', '1', '--out', str(tmp_path / 'b')], **run)
    subprocess.run([*train, '--resume', str(tmp_path / 'b'), '--epochs', '2', '--quiet'], **run)
    assert _max_diff(_params(tmp_path / 'a' / 'model.params'),
                     _params(tmp_path / 'b' / 'model.params')) == 0.0


# ----------------------------------------------------------------------------- fused operators
# train.py trains the fused operators' view by default (gluon_cnn.backend.fastops): every placement
# must give the numbers it gives with MXNet's own operators, and its workers must agree bit for bit
needs_fastops = pytest.mark.skipif(not fastops.load(), reason=f'fastops: {fastops.reason()}')


def _fused_run(out, kvstore='device', ctxs='cpu', launch_flags=None, fuses=True):
    """The worker's run with the fused operators asked for; fuses: whether they can run there
    (not under Horovod, whose MXNet library leaves no room for a second one)."""
    cmd = [*WORKER, str(out), kvstore, ctxs, '--fast-ops']
    if launch_flags is None:
        subprocess.run(cmd, check=True, timeout=DEADLINE, cwd=ROOT)
        ranks = [0]
    else:
        port = launch.free_port()
        code, err = _finish(_launch([*launch_flags, '-n', '2', '--', *cmd], port))
        assert not _roles_left(port)
        assert code == 0, err
        ranks = [0, 1]
    assert all((out / f'fused-{r}').read_text() == str(fuses) for r in ranks)  # what view ran
    return [_params(out / f'rank-{r}.params') for r in ranks]


@pytest.fixture(scope='module')
def one_process_fused(tmp_path_factory):
    return _fused_run(tmp_path_factory.mktemp('one-fused'))[0]


@needs_fastops
def test_fused_one_process_equals_stock(one_process, one_process_fused):
    assert _max_diff(one_process_fused, one_process) < 1e-4


@needs_fastops
def test_fused_two_contexts_equal_one(one_process_fused, tmp_path):
    (two,) = _fused_run(tmp_path, ctxs='cpu:0,cpu:1')
    assert _max_diff(two, one_process_fused) < 1e-5


@needs_fastops
@pytest.mark.parametrize('engine', BOTH_ENGINES)
def test_fused_two_workers_equal_one_process(one_process_fused, tmp_path, engine):
    """ps-lite workers train the fused view; Horovod's train the widened one (the library
    cannot load beside Horovod's), and still agree with one fused process to rounding."""
    flags, kvstore = ENGINES[engine]
    ranks = _fused_run(tmp_path, kvstore, launch_flags=flags, fuses=engine != 'horovod')
    assert _max_diff(ranks[0], ranks[1]) == 0.0
    assert _max_diff(ranks[0], one_process_fused) < 1e-4
