"""train.py with the fused operators, its default: the same seed gives the same numbers run after
run, to the bit, although the weight and bias gradients are summed over OpenMP threads (each
thread sums a fixed share of the batch, `schedule(static)`, and the threads' sums are added in
thread order)."""
import json
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
