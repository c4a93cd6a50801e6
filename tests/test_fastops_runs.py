"""train.py with the fused operators, its default: the same seed gives the same numbers run after
run, to the bit, although the weight and bias gradients are summed over OpenMP threads. The batch
is cut into a fixed number of parts whatever the thread count, each part's sum is kept apart, and
the parts' sums are added in order: the operator gives the same bits on any number of threads."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gluon_cnn.backend import fastops

if not fastops.load():
    pytest.skip(f'fastops not available: {fastops.reason()}', allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]


def _train(out: Path, *flags) -> dict:
    subprocess.run([sys.executable, 'train.py', '--model', 'lenet-en', '--epochs', '2',
                    '--limit', '3000', '--seed', '3', '--quiet', '--out', str(out), *flags],
                   check=True, cwd=ROOT, timeout=300, stdout=subprocess.DEVNULL)
    return json.loads((out / 'metrics.json').read_text())


def _history(metrics: dict) -> list:
    return [{k: v for k, v in e.items() if k not in ('seconds', 'examples_per_sec')}
            for e in metrics['epochs']]


def test_same_seed_same_bits(tmp_path):
    a, b = _train(tmp_path / 'a'), _train(tmp_path / 'b')
    assert a['config']['fast_ops'] is True  # the default
    assert _history(a) == _history(b)
    assert (tmp_path / 'a' / 'model.params').read_bytes() == \
        (tmp_path / 'b' / 'model.params').read_bytes()


def test_no_fast_ops_trains_the_same_function(tmp_path):
    fast, stock = _train(tmp_path / 'a'), _train(tmp_path / 'b', '--no-fast-ops')
    assert stock['config']['fast_ops'] is False
    for f, s in zip(_history(fast), _history(stock)):
        assert f.keys() == s.keys()
        for k in f:
            if isinstance(f[k], float):
                assert abs(f[k] - s[k]) < 2e-3, (k, f[k], s[k])


# the fused operator's forward and backward in both layouts (flat, kvec) on LeNet's two layer
# shapes, its outputs and gradients hashed
THREADED = '''
import hashlib, sys
sys.path.insert(0, {root!r})
import gluon_cnn, numpy as np
from mxnet import autograd, nd
from gluon_cnn.backend import fastops
assert fastops.load()
rs = np.random.RandomState(0)
digest = hashlib.sha256()
for c, k, layout in ((1, 6, 1), (1, 6, 2), (6, 16, 1), (6, 16, 2)):
    shapes = ((100, c, 14, 14), (k, c, 5, 5), (k,))
    x, w, b = (nd.array(rs.randn(*s).astype(np.float32)) for s in shapes)
    for a in (x, w, b):
        a.attach_grad()
    with autograd.record():
        y = nd.fastops_conv(x, w, b, kh=5, kw=5, sh=1, sw=1, ph=2, pw=2, act=1, no_bias=0, pool=1,
                            pkh=2, pkw=2, psh=2, psw=2, layout=layout, keep=1)
    y.backward(nd.array(rs.randn(*y.shape).astype(np.float32)))
    for a in (y, x.grad, w.grad, b.grad):
        digest.update(a.asnumpy().tobytes())
print(digest.hexdigest())
'''


def test_same_bits_on_any_thread_count():
    """The gradients are summed in a fixed number of parts of the batch, so 1, 2 or 3 OpenMP
    threads give the same bits; the oracle is the 1-thread run (one part after another)."""
    digests = {}
    for threads in ('1', '2', '3'):
        out = subprocess.run([sys.executable, '-c', THREADED.format(root=str(ROOT))],
                             env={**os.environ, 'MXNET_OMP_MAX_THREADS': threads,
                                  'OMP_NUM_THREADS': threads},
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        digests[threads] = out.stdout.strip()
    assert len(set(digests.values())) == 1, digests
