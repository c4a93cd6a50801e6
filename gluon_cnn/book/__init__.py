"""The 1st edition's helper API for chapter 5, offline: d2l zh v1 (`d2lzh` 1.0.0), §5.1-§5.12.

The book's code runs with one line changed:

    import d2lzh as d2l    ->    from gluon_cnn import book as d2l

- `load_data_fashion_mnist(batch_size, resize=None, root=None)` reads the local IDX files through
  `gluon_cnn.data` (no download) into in-memory iterators: float32 (B, 1, H, W) in [0, 1].
- `train_ch5(net, train_iter, test_iter, batch_size, trainer, ctx, num_epochs)` prints the book's
  lines and gives the book loop's numbers for the same net and batches. It takes any Block and
  any iterable of (X, y). A HybridBlock, or an nn.Sequential of them (the book's LeNet), runs as
  one compiled graph of net, loss and metrics (`engine.Objective`, exactly widened convolutions);
  other Blocks run the book's loop as written. Returns None, as the book's does.
- `evaluate_accuracy(data_iter, net, ctx)` in the book's argument order.
- `try_gpu`, `try_all_gpus`, `corr2d`, `Residual`, `resnet18`, and d2lzh's own Fashion-MNIST
  label and image helpers. Any other name is looked up in `d2lzh` itself.

Importing this module also makes Gluon's own `gluon.data.vision.FashionMNIST` and `MNIST` read
the local IDX files (their `root` first, then gluon_cnn.data's places) instead of downloading,
so code that builds them itself, as §5.6 does, runs offline; with no local files, Gluon
downloads as before.

After `npx.set_np()` everything here works on numpy arrays except the book's own nd-based code,
and d2lzh's train_ch5/evaluate_accuracy, which this module replaces.
"""
import time
from typing import Optional

import d2lzh
import mxnet as mx
from mxnet import autograd, gluon
from mxnet.gluon import nn

from .. import data
from ..data.offline import folder_with, read_gluon_datasets_locally
from ..training.devices import try_all_gpus, try_gpu
from ..training.engine import count_correct, evaluate_accuracy as _engine_accuracy
from ..training.runtime import as_runtime
from ..backend import internals
from ..models.resnet import Residual, resnet_block
from ..ops.scratch import corr2d

# d2lzh's own helpers do these jobs offline and in numpy mode: use them as they are
from d2lzh import (Benchmark, get_fashion_mnist_labels, set_figsize, show_fashion_mnist,  # noqa
                   show_images, use_svg_display)

__all__ = ['load_data_fashion_mnist', 'train_ch5', 'evaluate_accuracy', 'try_gpu', 'try_all_gpus',
           'corr2d', 'Residual', 'resnet18', 'Benchmark', 'get_fashion_mnist_labels',
           'set_figsize', 'show_fashion_mnist', 'show_images', 'use_svg_display']


# ----------------------------------------------------------------------------- data
def load_data_fashion_mnist(batch_size: int, resize: Optional[int] = None, root=None):
    """(train_iter, test_iter) of Fashion-MNIST (d2l zh §3.5, §5.6), read from local IDX files.

    root : a folder to look in first (the book's default is Gluon's cache, which gluon_cnn.data
    searches anyway); without the files there, the usual places are searched.
    """
    return data.load_data_fashion_mnist(batch_size, resize=resize, root=folder_with(root))


# the book builds Gluon's FashionMNIST itself (§5.6): let it read the local files
read_gluon_datasets_locally()


# ----------------------------------------------------------------------------- models
def resnet18(num_classes: int) -> nn.HybridSequential:
    """d2lzh's ResNet-18 for small images (d2l zh §9.1): a 3x3 stem without pooling."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(64, kernel_size=3, strides=1, padding=1),
            nn.BatchNorm(), nn.Activation('relu'))
    net.add(resnet_block(64, 2, first_block=True), resnet_block(128, 2),
            resnet_block(256, 2), resnet_block(512, 2))
    net.add(nn.GlobalAvgPool2D(), nn.Dense(num_classes))
    return net


# ----------------------------------------------------------------------------- evaluation
def evaluate_accuracy(data_iter, net, ctx=mx.cpu()) -> float:
    """Accuracy of `net` over `data_iter` (d2l zh §5.5), in the book's argument order.
    ctx : one context, or a list to split each batch over (d2lzh's multi-GPU form)."""
    ctxs = [ctx] if isinstance(ctx, mx.Context) else list(ctx)
    if len(ctxs) == 1:
        return _engine_accuracy(net, data_iter, ctxs[0])
    correct, n = 0.0, 0
    for X, y in data_iter:
        for Xs, ys in zip(gluon.utils.split_and_load(X, ctxs), gluon.utils.split_and_load(y, ctxs)):
            correct += count_correct(net(Xs), ys).asnumpy().item()
            n += ys.shape[0]
    return correct / n


# ----------------------------------------------------------------------------- training
def train_ch5(net, train_iter, test_iter, batch_size: int, trainer, ctx, num_epochs: int) -> None:
    """Train and evaluate as the book's train_ch5 (d2l zh §5.5), printing its lines.

    Like the book: softmax cross-entropy, `trainer.step(batch_size)` on every batch, the loss and
    train accuracy of the batches as they were computed, test accuracy after each epoch, and the
    epoch's time including the test. Unlike it: no host sync per batch, and a hybridizable net
    runs as one compiled graph (see the module docstring). The numbers are the book's.
    """
    print('training on', ctx)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    hybrid = _as_hybrid(net)
    was_hybridized = hybrid is not None and internals.is_hybridized(hybrid)
    runtime = as_runtime(ctx)            # as engine.train: one graph, widened convolutions
    # the book's imperative step for a plain Block; else the compiled one, built on the first
    # batch (weights drawn where the book's first forward pass draws them)
    step = _book_step(net, loss) if hybrid is None else None

    def build(X):
        return runtime.prepare(hybrid, loss, trainer, X)
    try:
        for epoch in range(num_epochs):
            start = time.time()
            step, l_sum, acc_sum, n = _epoch(step, build, train_iter, trainer, batch_size, ctx)
            test_acc = evaluate_accuracy(test_iter, step.net if hybrid else net, ctx)
            print('epoch %d, loss %.4f, train acc %.3f, test acc %.3f, time %.1f sec'
                  % (epoch + 1, l_sum / n, acc_sum / n, test_acc, time.time() - start))
    finally:
        if hybrid is not None and not was_hybridized:
            hybrid.hybridize(False)  # leave the user's layers imperative, as they were given


def _epoch(step, build, train_iter, trainer, batch_size, ctx):
    """One pass; (step, loss sum, correct sum, examples), summed in float64 as the book's Python
    loop. With no step yet, build(X) makes it from the first batch."""
    losses, corrects, n = [], [], 0
    for X, y in train_iter:
        X, y = X.as_in_context(ctx), y.as_in_context(ctx)
        if step is None:
            step = build(X)
        with autograd.record():      # record the forward pass for autograd
            l, batch_loss, batch_correct = step(X, y)
        l.backward()                 # same gradients as the book's l.sum().backward()
        trainer.step(batch_size)     # the book steps by batch_size, even on a short last batch
        losses.append(batch_loss)    # read back at the end: no host sync per batch
        corrects.append(batch_correct)
        n += y.shape[0]
    return (step, sum(a.asnumpy().item() for a in losses),
            sum(a.asnumpy().item() for a in corrects), n)


def _book_step(net, loss):
    """The book's per-batch forward pass, imperative, for any Block."""
    def step(X, y):
        y_hat = net(X)
        l = loss(y_hat, y)
        return l, l.sum(), count_correct(y_hat, y)
    return step


def _as_hybrid(net):
    """`net` as a HybridBlock sharing its layers, or None when some layer is a plain Block.

    The book builds nn.Sequential of HybridBlocks (LeNet, AlexNet, VGG, NiN): the same layers in
    a HybridSequential compute the same function and can be compiled. Only nn.Sequential itself
    is converted: a subclass may define its own forward.
    """
    if isinstance(net, gluon.HybridBlock):
        return net
    if type(net) is not nn.Sequential:
        return None
    layers = [_as_hybrid(layer) for layer in net]
    if any(layer is None for layer in layers):
        return None
    hybrid = nn.HybridSequential(prefix=net.prefix)
    hybrid.add(*layers)
    return hybrid


# ----------------------------------------------------------------------------- the rest of d2lzh
def __getattr__(name: str):
    """Names beyond chapter 5 (train_ch3, sgd, ...) are d2lzh's own."""
    try:
        return getattr(d2lzh, name)
    except AttributeError:
        raise AttributeError(f"module 'gluon_cnn.book' has no attribute {name!r}") from None
