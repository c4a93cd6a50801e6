"""MXNet's OpenMP threads: one per physical core (gluon_cnn.backend.compat.set_threads), not
MXNet 1.9.1's default of half the logical CPUs, and never over the user's own setting.

Oracles: a sysfs topology written here with a known answer, and MXNet itself, whose OpenMP pool
is counted in /proc (each thread it runs an operator on is a task of the process)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gluon_cnn.backend import compat


def topology(root, cores_of):
    """A fake /sys/devices/system/cpu: cores_of[cpu] = (package, core)."""
    for cpu, (package, core) in cores_of.items():
        folder = root / f'cpu{cpu}' / 'topology'
        folder.mkdir(parents=True)
        (folder / 'physical_package_id').write_text(f'{package}\n')
        (folder / 'core_id').write_text(f'{core}\n')
    return str(root)


@pytest.fixture
def four_cpus(monkeypatch):
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0, 1, 2, 3}, raising=False)


@pytest.mark.parametrize('cores_of, expected', [
    ({0: (0, 0), 1: (0, 1), 2: (0, 2), 3: (0, 3)}, 4),   # 4 cores, no SMT: MXNet would take 2
    ({0: (0, 0), 1: (0, 1), 2: (0, 0), 3: (0, 1)}, 2),   # 2 cores x 2 hyper-threads
    ({0: (0, 0), 1: (0, 0), 2: (1, 0), 3: (1, 0)}, 2),   # same core id in two packages
])
def test_counts_physical_cores(tmp_path, four_cpus, cores_of, expected):
    cpu_max = tmp_path / 'no-cgroup'
    assert compat.physical_cores(topology(tmp_path / 'cpu', cores_of), str(cpu_max)) == expected


@pytest.mark.parametrize('quota, expected', [('max 100000', 4), ('150000 100000', 2),
                                             ('50000 100000', 1)])
def test_a_cgroup_quota_caps_the_count(tmp_path, four_cpus, quota, expected):
    sysfs = topology(tmp_path / 'cpu', {cpu: (0, cpu) for cpu in range(4)})
    (tmp_path / 'cpu.max').write_text(quota + '\n')
    assert compat.physical_cores(sysfs, str(tmp_path / 'cpu.max')) == expected


def test_unknown_topology_is_none(tmp_path, four_cpus):
    assert compat.physical_cores(str(tmp_path / 'absent')) is None


@pytest.mark.parametrize('env', [{'OMP_NUM_THREADS': '3'}, {'MXNET_OMP_MAX_THREADS': '5'}])
def test_the_users_setting_stands(env):
    environ = dict(env)
    compat.set_threads(environ)
    assert environ == env


def test_sets_mxnets_cap_to_the_cores(monkeypatch):
    monkeypatch.setattr(compat, 'physical_cores', lambda: 6)
    environ = {}
    assert compat.set_threads(environ) == '6' and environ == {'MXNET_OMP_MAX_THREADS': '6'}


# a convolution and a reduction, big enough for MXNet to run them on its OpenMP pool
POOL = '''
import os, sys
sys.path.insert(0, {root!r})
import gluon_cnn.backend.compat, mxnet as mx
x = mx.nd.ones((32, 16, 48, 48))
y = mx.nd.Convolution(x, mx.nd.ones((16, 16, 5, 5)), kernel=(5, 5), num_filter=16, no_bias=True)
mx.nd.relu(y).sum().wait_to_read()
print(os.environ.get('MXNET_OMP_MAX_THREADS'), len(os.listdir('/proc/self/task')))
'''


def threads(**env):
    """MXNET_OMP_MAX_THREADS and the thread count of a fresh process that ran MXNet operators."""
    environ = {k: v for k, v in os.environ.items()
               if k not in ('OMP_NUM_THREADS', 'MXNET_OMP_MAX_THREADS')}
    root = str(Path(compat.__file__).resolve().parents[2])  # the checkout holding gluon_cnn
    out = subprocess.run([sys.executable, '-c', POOL.format(root=root)], env={**environ, **env},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    cap, count = out.stdout.split()
    return cap, int(count)


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='counts tasks in /proc')
def test_mxnet_runs_one_thread_per_core():
    cores = compat.physical_cores()
    if not cores or cores < 2:
        pytest.skip('one core: nothing to share')
    cap, default = threads()
    assert cap == str(cores)
    _, one = threads(MXNET_OMP_MAX_THREADS='1')
    _, all_cores = threads(MXNET_OMP_MAX_THREADS=str(cores))
    # MXNet's default here would be one thread per 2 CPUs: on 2 cores, the same pool as '1'
    assert default == all_cores == one + cores - 1
