"""A 2nd-edition reader's net (a `d2l.Classifier` subclass, in numpy mode, as d2l en §7.6 builds
LeNet) in the explainer and the viz figures, as a 1st-edition net is."""
import numpy as onp
import pytest

d2l = pytest.importorskip('d2l.mxnet')


def _book_lenet():
    """d2l en §7.6's MXNet LeNet, as the book defines it (d2l.Classifier, nn.Sequential)."""
    from mxnet.gluon import nn

    class LeNet(d2l.Classifier):
        def __init__(self, lr=0.1, num_classes=10):
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential()
            self.net.add(nn.Conv2D(channels=6, kernel_size=5, padding=2, activation='sigmoid'),
                         nn.AvgPool2D(pool_size=2, strides=2),
                         nn.Conv2D(channels=16, kernel_size=5, activation='sigmoid'),
                         nn.AvgPool2D(pool_size=2, strides=2),
                         nn.Dense(120, activation='sigmoid'),
                         nn.Dense(84, activation='sigmoid'),
                         nn.Dense(num_classes))
    return LeNet()


def test_the_explainer_and_figures_take_a_d2l_classifier():
    from mxnet import init, np, npx
    from gluon_cnn import viz
    npx.set_np()
    try:
        model = _book_lenet()
        model.initialize(init.Xavier())
        X = np.random.uniform(size=(1, 1, 28, 28))
        want = model(X).asnumpy()[0]              # the net's own forward pass is the oracle
        page = viz.explain(model, X)
        assert onp.allclose(page.data['logits'], want, atol=1e-5)
        kinds = [c['kind'] for c in page.data['columns']]
        assert kinds.count('conv') == 2 and kinds.count('pool') == 2, kinds
        convs = [layer for layer in viz.layers(model) if layer.kind == 'conv']
        assert len(convs) == 2
        weight = convs[0].block.weight.data().asnumpy()  # (6, 1, 5, 5)
        assert weight.shape == (6, 1, 5, 5) and viz.plot_kernels(weight).axes  # drawn
    finally:
        npx.reset_np()
