"""gluon_cnn.backend.compat: each numpy name it restores, and MXNet 1.9.1 working through it.

Oracles: numpy 1.26's definitions of the removed names (pinned values, numpy's current spelling
of the same function), numpy itself for every array MXNet hands back, and a Dense layer's
gradient worked out by hand. The same file runs on every interpreter of the matrix (numpy 1.23 on
3.10/3.11, where numpy still has every name, 1.26 on 3.12, 2.x on 3.13).
"""
import math
import subprocess
import sys
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon, nd, npx

from gluon_cnn.backend import compat

COMPAT_PY = Path(compat.__file__)
# these tests touch the removed names on purpose; numpy 1.x warns about some of them
pytestmark = pytest.mark.filterwarnings('ignore::DeprecationWarning')


def test_every_name_is_there():
    missing = [name for name in compat.NUMPY_NAMES if not compat._has(np, name)]
    assert missing == []
    assert set(compat.RESTORED) <= set(compat.NUMPY_NAMES)


def test_bool_is_the_builtin_or_numpys_own():
    # numpy <= 1.23 and the shim: the builtin (MXNet's tables map it to kBool); numpy 2: np.bool_
    assert np.bool is (np.bool_ if np.__version__ >= '2' else bool)
    assert np.dtype(np.bool) == np.dtype('bool')


def test_constants_keep_their_values_and_signs():
    assert math.copysign(1, np.PZERO) == 1 and np.PZERO == 0
    assert math.copysign(1, np.NZERO) == -1 and np.NZERO == 0
    assert np.PINF == np.Inf == math.inf and np.NINF == -math.inf
    assert math.isnan(np.NAN) and math.isnan(np.NaN)


def test_functions_keep_numpy_126_meanings():
    a = np.array([[3, 1], [2, 4]])
    assert not np.alltrue(a > 1) and np.alltrue(a > 0)
    assert np.sometrue(a > 3) and not np.sometrue(a > 4)
    assert np.product(a) == 24
    assert np.round_(2.567, 2) == 2.57
    assert np.trapz([1, 2, 3]) == 4.0                          # two trapezoids: 1.5 + 2.5
    assert np.msort(a).tolist() == [[2, 1], [3, 4]]            # each column sorted
    assert np.in1d(a, [1, 4]).tolist() == [False, True, False, True]   # flattened, 1-D
    assert np.in1d(a, [1, 4], invert=True).tolist() == [True, False, True, False]
    assert np.compat.basestring is str


@pytest.mark.parametrize('name', ['mirr', 'npv', 'pmt', 'ppmt', 'pv', 'rate'])
def test_financial_stubs_raise_like_numpy_1(name):
    # numpy 1.20-1.26 answered these with a stub that raises; mxnet.numpy re-exports them
    with pytest.raises(RuntimeError, match='numpy_financial|NEP 32|removed'):
        getattr(np, name)(0.1, [1, 2])


def test_restores_only_what_is_missing_and_never_imports_mxnet():
    # a fresh interpreter, the module loaded from its file (importing the package imports mxnet)
    code = f'''
import importlib.util, sys, warnings
import numpy as np
names = {sorted(compat.NUMPY_NAMES)!r}
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    had = [n for n in names if hasattr(np, n)]
    own = {{n: v for n, v in vars(np).items() if n in names}}
spec = importlib.util.spec_from_file_location('compat', {str(COMPAT_PY)!r})
compat = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compat)
assert 'mxnet' not in sys.modules, 'compat imported mxnet'
assert sorted(compat.RESTORED) == sorted(set(names) - set(had)), compat.RESTORED
assert all(getattr(np, n) is v for n, v in own.items()), 'a name numpy has was replaced'
assert compat.apply() is compat.RESTORED and len(set(compat.RESTORED)) == len(compat.RESTORED)
'''
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_missing_distutils_is_one_clear_error(monkeypatch):
    real = compat.importlib.util.find_spec
    monkeypatch.setattr(compat.importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'distutils' else real(name, *a))
    with pytest.raises(ImportError, match='distutils.*pip install setuptools'):
        compat.apply()


# --- MXNet through the shims ---------------------------------------------------------------

DTYPES = ['float16', 'float32', 'float64', 'uint8', 'int8', 'int32', 'int64', 'bool']


@pytest.mark.parametrize('dtype', DTYPES)
def test_ndarray_round_trip_keeps_values_and_dtype(dtype):
    x = (np.arange(-3, 9).reshape(3, 4) % 5).astype(dtype)  # (3, 4)
    y = nd.array(x, dtype=x.dtype)
    assert y.dtype == x.dtype and y.shape == x.shape
    back = y.asnumpy()
    assert back.dtype == x.dtype
    np.testing.assert_array_equal(back, x)


def test_asnumpy_and_asscalar_after_operators():
    x = nd.array([[1, 2], [3, 4]])
    np.testing.assert_allclose((nd.dot(x, x) + 1).asnumpy(), np.array([[8, 11], [16, 23]]))
    assert (x.sum() / 4).asscalar() == 2.5
    assert nd.moveaxis(x, 0, 1).asnumpy().tolist() == [[1, 3], [2, 4]]   # reads np.core


def test_save_and_load_round_trip(tmp_path):
    arrays = {'w': nd.array(np.linspace(-1, 1, 12).reshape(3, 4)),
              'mask': nd.array([1, 0, 1], dtype='bool'), 'n': nd.array([7], dtype='int64')}
    nd.save(str(tmp_path / 'd.nd'), arrays)
    loaded = nd.load(str(tmp_path / 'd.nd'))
    assert sorted(loaded) == sorted(arrays)
    for k, v in arrays.items():
        assert loaded[k].dtype == v.dtype
        np.testing.assert_array_equal(loaded[k].asnumpy(), v.asnumpy())
    nd.save(str(tmp_path / 'l.nd'), [arrays['w']])
    [w] = nd.load(str(tmp_path / 'l.nd'))
    np.testing.assert_array_equal(w.asnumpy(), arrays['w'].asnumpy())


@pytest.fixture
def np_mode():
    npx.set_np()
    try:
        yield mx.np
    finally:
        npx.reset_np()
    assert not mx.util.is_np_array()


def test_numpy_mode_matches_numpy(np_mode):
    a = np.array([[3., 1.], [2., 4.]], dtype='float32')
    m = np_mode.array(a)
    np.testing.assert_allclose((m @ m).asnumpy(), a @ a)
    np.testing.assert_array_equal(m[m > 1.5].asnumpy(), a[a > 1.5])       # np.bool in indexing
    np.testing.assert_array_equal(np_mode.pad(m, ((1, 1), (0, 0))).asnumpy(),
                                  np.pad(a, ((1, 1), (0, 0))))             # np.compat
    assert np_mode.ones(2, dtype=bool).dtype == np.bool_
    assert float(np.prod(m)) == np.prod(a)                      # __array_function__ dispatch
    # MXNet's fallbacks to numpy, re-exported under the removed names
    np.testing.assert_array_equal(np_mode.msort(m).asnumpy(), np.sort(a, axis=0))
    np.testing.assert_array_equal(np_mode.in1d(m, np_mode.array([1., 4.])).asnumpy(),
                                  [False, True, False, True])


def test_hybridized_gluon_net_forward_and_backward():
    mx.random.seed(0)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(4, 3, activation='relu'), gluon.nn.MaxPool2D(2), gluon.nn.Dense(3))
    net.initialize(mx.init.Xavier())
    x = nd.random.uniform(shape=(2, 1, 8, 8))                  # (B, C, H, W)
    eager = net(x)                                              # (2, 3)
    net.hybridize()
    with autograd.record():
        out = net(x)
        loss = out.sum()
    loss.backward()
    np.testing.assert_allclose(out.asnumpy(), eager.asnumpy(), rtol=1e-5, atol=1e-6)
    # d sum(W h + b) / dW[j, k] = sum over the batch of h[:, k], for every output j
    h = net[1](net[0](x)).reshape((2, -1)).asnumpy()           # (2, 4*3*3)
    np.testing.assert_allclose(net[2].weight.grad().asnumpy(), np.tile(h.sum(0), (3, 1)),
                               rtol=1e-5)
    np.testing.assert_allclose(net[2].bias.grad().asnumpy(), [2, 2, 2])
    assert np.abs(net[0].weight.grad().asnumpy()).sum() > 0


def test_estimator_module_imports():
    # its default arguments read np.Inf when the module is imported
    from mxnet.gluon.contrib.estimator import event_handler
    assert event_handler.LoggingHandler().priority == math.inf
