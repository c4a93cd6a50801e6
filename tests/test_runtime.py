"""The runtime (gluon_cnn.training.runtime): where a step runs and what computes it, decided once;
the engine's loop against the book's own three lines, and --limit-test."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon, init

from gluon_cnn import get_model
from gluon_cnn.data import ArrayIter, Split
from gluon_cnn.training import compute, engine, placement, runtime


def _data(n=96, seed=0):
    rng = np.random.RandomState(seed)
    return Split(rng.randint(0, 256, (n, 28, 28)).astype(np.uint8), rng.randint(0, 10, n))


def _net(seed=0):
    """LeNet with its weights drawn now (not at the first forward pass): the same every call."""
    mx.random.seed(seed)
    net = get_model('lenet')
    net.initialize(init.Xavier())
    net(mx.nd.zeros((1, 1, 28, 28)))
    return net


def test_the_engine_is_the_books_loop():
    """engine.train on the stock compute, imperative, leaves the same parameters as the book's
    `with autograd.record(): l = loss(net(X), y)`, `l.backward()`, `trainer.step(b)`."""
    split, loss = _data(), gluon.loss.SoftmaxCrossEntropyLoss()
    ours, book = _net(), _net()
    rt = runtime.Runtime(placement.OneDevice(), compute='stock', hybridize=False)
    engine.train(ours, ArrayIter(split, 32), ArrayIter(split, 32), loss,
                 engine.make_trainer(ours, 'sgd', 0.5, runtime=rt), 2, rt, on_epoch=None)
    trainer = gluon.Trainer(book.collect_params(), 'sgd', {'learning_rate': 0.5, 'wd': 0.0})
    for _ in range(2):
        for X, y in ArrayIter(split, 32):
            with autograd.record():
                l = loss(book(X), y)
            l.backward()
            trainer.step(X.shape[0])
    for (name, a), b in zip(ours.collect_params().items(), book.collect_params().values()):
        assert np.array_equal(a.data().asnumpy(), b.data().asnumpy()), name


@pytest.mark.parametrize('ctxs,kind', [([mx.cpu()], placement.OneDevice),
                                       ([mx.cpu(0), mx.cpu(1)], placement.SeveralDevices)])
def test_for_run_decides_the_placement_once(ctxs, kind):
    rt = runtime.for_run(ctxs, 'device', 'widened')
    assert type(rt.placement) is kind and rt.leads and rt.evaluates and rt.ctx == ctxs[0]
    assert rt.np_mode is False


def test_the_placements_are_siblings():
    """No placement is another's kind: each answers the protocol itself."""
    kinds = [placement.OneDevice, placement.SeveralDevices, placement.ParameterServer,
             placement.Horovod]
    for a in kinds:
        for b in kinds:
            assert a is b or not issubclass(a, b)
        for method in ('make_trainer', 'split'):
            assert method in vars(a), (a, method)


@pytest.mark.parametrize('name,want', [('stock', 'Conv2D'), ('widened', 'WideConv2D')])
def test_the_compute_view_is_one_function(name, want):
    net = _net()
    net(mx.nd.zeros((1, 1, 28, 28)))
    view = compute.view(net, name)
    assert type(view[0]).__name__ == want
    # a view shares every Parameter with the net: the same objects
    assert {id(p) for p in view.collect_params().values()} >= \
        {id(p) for p in net.collect_params().values()}


def test_limit_test_bounds_evaluation(tmp_path):
    """--limit-test N evaluates N test examples (the test iterator's count is the oracle)."""
    from gluon_cnn.app.run import load_run_data
    from gluon_cnn.errors import ConfigError
    from gluon_cnn.runs.config import TrainConfig
    from gluon_cnn.data.files import find_data_dir
    try:
        find_data_dir('fashion-mnist', None, download=False)
    except Exception:
        pytest.skip('no Fashion-MNIST files')
    train_iter, test_iter = load_run_data(TrainConfig(limit=512, limit_test=300), mx.cpu())
    assert (train_iter.num_examples, test_iter.num_examples) == (512, 300)
    with pytest.raises(ConfigError):
        load_run_data(TrainConfig(limit_test=10_001), mx.cpu())
    with pytest.raises(ConfigError):
        TrainConfig(limit_test=0).validate()
