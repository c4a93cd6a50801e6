"""gluon_cnn.book against the 1st edition's own package, d2lzh 1.0.0 (d2l zh v1, chapter 5).

d2lzh's functions are the oracle: the same initialized net on the same batches must print the
same losses and accuracies through `book.train_ch5` as through `d2lzh.train_ch5`.
"""
import contextlib
import io
import re

import d2lzh
import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon, init, nd, npx
from mxnet.gluon import nn

from gluon_cnn import book as d2l
from gluon_cnn import get_model
from gluon_cnn.backend import internals
from gluon_cnn.data import ArrayIter, load_dataset

EPOCH = re.compile(r'epoch (\d+), loss ([\d.]+), train acc ([\d.]+), test acc ([\d.]+), '
                   r'time [\d.]+ sec$')


# ----------------------------------------------------------------------------- helpers
@pytest.fixture(scope='module')
def batches():
    """1,000 training images (the last batch of 256 is short) and 512 test images."""
    train, test = load_dataset(download=False)
    return ArrayIter(train, 256, limit=1000), ArrayIter(test, 256, limit=512)


class Unsized:
    """An iterable of (X, y) with no len(), as a generator-based loader would be."""

    def __init__(self, it):
        self.it = it

    def __iter__(self):
        yield from self.it


def book_lenet(block=nn.Sequential):
    """The book's LeNet as the book writes it (d2l zh v1 §5.5), in `block`."""
    net = block()
    net.add(nn.Conv2D(channels=6, kernel_size=5, activation='sigmoid'),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Conv2D(channels=16, kernel_size=5, activation='sigmoid'),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Dense(120, activation='sigmoid'), nn.Dense(84, activation='sigmoid'), nn.Dense(10))
    return net


class PlainBlock(nn.Block):
    """A Block that cannot be hybridized: book.train_ch5 must run the book's loop on it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.body = book_lenet()

    def forward(self, x):
        return nd.relu(self.body(x)) - nd.relu(-self.body(x)) * 0  # plain nd calls


def train_lines(train_ch5, build, train_iter, test_iter, epochs=2, seed=3):
    """The printed lines of train_ch5 on a freshly Xavier-initialized net seeded `seed`."""
    mx.random.seed(seed)
    net = build()
    net.initialize(init=init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.9})
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = train_ch5(net, train_iter, test_iter, 256, trainer, mx.cpu(), epochs)
    assert result is None  # as the book's: nothing to flood the REPL with
    return out.getvalue().splitlines(), net


def numbers(lines):
    return [tuple(float(v) for v in EPOCH.match(line).groups()) for line in lines[1:]]


# ----------------------------------------------------------------------------- train_ch5
@pytest.mark.parametrize('build', [book_lenet, lambda: get_model('lenet'), PlainBlock],
                         ids=['book-sequential', 'registry-lenet', 'plain-block'])
def test_train_ch5_prints_what_d2lzh_prints(batches, build):
    train_iter, test_iter = batches
    theirs, _ = train_lines(d2lzh.train_ch5, build, train_iter, test_iter)
    ours, net = train_lines(d2l.train_ch5, build, Unsized(train_iter), Unsized(test_iter))
    assert ours[0] == theirs[0] == 'training on cpu(0)'
    assert all(EPOCH.match(line) for line in ours[1:]) and len(ours) == 3
    np.testing.assert_allclose(numbers(ours), numbers(theirs), atol=2e-4)
    # left imperative, as it was given
    assert not any(internals.is_hybridized(b) for b in _hybrid_blocks(net))


def _hybrid_blocks(net):
    found = []
    net.apply(lambda b: found.append(b) if isinstance(b, gluon.HybridBlock) else None)
    return found


def test_evaluate_accuracy_is_d2lzhs_in_the_books_order(batches):
    _, test_iter = batches
    mx.random.seed(0)
    net = get_model('lenet')
    net.initialize(init=init.Xavier())
    ours = d2l.evaluate_accuracy(test_iter, net, mx.cpu())
    assert ours == d2lzh.evaluate_accuracy(test_iter, net, mx.cpu())
    assert d2l.evaluate_accuracy(test_iter, net, [mx.cpu()]) == ours


# ----------------------------------------------------------------------------- the book's shape
def test_the_books_shape_loop_on_the_registry_lenet():
    net = get_model('lenet')
    X = nd.random.uniform(shape=(1, 1, 28, 28))
    net.initialize()
    shapes = []
    for layer in net:  # d2l zh v1 §5.5's loop, as printed there
        X = layer(X)
        shapes.append((layer.name, X.shape))
    assert [s for _, s in shapes] == [(1, 6, 24, 24), (1, 6, 12, 12), (1, 16, 8, 8),
                                      (1, 16, 4, 4), (1, 120), (1, 84), (1, 10)]
    assert [n for n, _ in shapes] == ['lenet_conv0', 'lenet_pool0', 'lenet_conv1', 'lenet_pool1',
                                     'lenet_dense0', 'lenet_dense1', 'lenet_dense2']
    assert isinstance(net[0], nn.Conv2D) and len(net) == 7


def test_lenet_bn_has_the_books_net_1_gamma():
    net = get_model('lenet-bn')  # d2l zh v1 §5.10: conv, BN, sigmoid, pool, ...
    net.initialize()
    net(nd.ones((2, 1, 28, 28)))
    assert isinstance(net[1], nn.BatchNorm) and net[1].gamma.data().shape == (6,)
    assert len(net) == 15


# ----------------------------------------------------------------------------- the helpers
def test_helpers_match_d2lzh():
    X, K = nd.arange(9).reshape((3, 3)), nd.array([[0, 1], [2, 3]])
    assert d2l.corr2d(X, K).asnumpy().tolist() == d2lzh.corr2d(X, K).asnumpy().tolist() == \
        [[19, 25], [37, 43]]  # d2l zh v1 §5.1
    assert d2l.try_gpu() == d2lzh.try_gpu() and d2l.try_all_gpus() == d2lzh.try_all_gpus()
    assert d2l.get_fashion_mnist_labels([0, 9]) == ['t-shirt', 'ankle boot']
    ours, theirs = d2l.resnet18(10), d2lzh.resnet18(10)
    for net in (ours, theirs):
        net.initialize()
        assert net(nd.ones((1, 1, 28, 28))).shape == (1, 10)
    assert _count(ours) == _count(theirs)
    blk = d2l.Residual(6, use_1x1conv=True, strides=2)  # d2l zh v1 §5.11
    blk.initialize()
    assert blk(nd.ones((4, 3, 6, 6))).shape == (4, 6, 3, 3)
    assert d2l.sgd is d2lzh.sgd  # the rest of d2lzh is d2lzh's own


def _count(net):
    return sum(p.data().size for p in net.collect_params().values())


def test_load_data_fashion_mnist_offline_with_the_books_root():
    train_iter, test_iter = d2l.load_data_fashion_mnist(
        256, resize=32, root='~/.mxnet/datasets/fashion-mnist')  # the book's default root
    X, y = next(iter(test_iter))
    assert X.shape == (256, 1, 32, 32) and y.shape == (256,) and 0 <= X.min() <= X.max() <= 1


def test_gluons_own_fashion_mnist_reads_the_local_files(tmp_path):
    """§5.6 builds gluon.data.vision.FashionMNIST itself; after the import it reads local IDX."""
    test = gluon.data.vision.FashionMNIST(root=str(tmp_path), train=False)
    _, ours = load_dataset(download=False)
    image, label = test[0]
    assert len(test) == 10000 and image.shape == (28, 28, 1) and image.dtype == np.uint8
    assert np.array_equal(image.asnumpy()[..., 0], ours.images[0]) and label == ours.labels[0]


# ----------------------------------------------------------------------------- numpy mode
def test_everything_after_set_np(batches):
    train, test = load_dataset(download=False)
    npx.set_np()
    try:
        train_iter, test_iter = ArrayIter(train, 256, limit=512), ArrayIter(test, 256, limit=256)
        X, _ = next(iter(train_iter))
        assert isinstance(X, mx.np.ndarray)
        mx.random.seed(0)
        net = get_model('lenet')
        net.initialize(init=init.Xavier())
        trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.9})
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            d2l.train_ch5(net, Unsized(train_iter), test_iter, 256, trainer, mx.cpu(), 1)
        assert EPOCH.match(out.getvalue().splitlines()[1])
        assert 0 <= d2l.evaluate_accuracy(test_iter, net, mx.cpu()) <= 1
        Y = d2l.corr2d(mx.np.arange(9).reshape((3, 3)), mx.np.array([[0, 1], [2, 3]]))
        assert Y.asnumpy().tolist() == [[19, 25], [37, 43]]
        blk = d2l.Residual(3)
        blk.initialize()
        assert blk(mx.np.ones((2, 3, 6, 6))).shape == (2, 3, 6, 6)
        fm = gluon.data.vision.FashionMNIST(train=False)
        assert isinstance(fm[0][0], mx.np.ndarray)
    finally:
        npx.reset_np()
