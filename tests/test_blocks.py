"""gluon_cnn.backend.blocks, the one walker, layer-kind function and hook capture, against Gluon's
own: `Block.apply` (its recursive walk), attribute access and indexing (the paths), and the
hook dicts MXNet keeps (nothing left behind, even when the forward fails)."""
import mxnet as mx
import pytest
from mxnet.gluon import nn

from gluon_cnn.backend import blocks, internals
from gluon_cnn.models import get_model


def _at(net, path):
    b = net
    for key in path.split('.') if path else []:
        b = b[int(key)] if key.isdigit() and blocks.is_container(b) else getattr(b, key)
    return b


@pytest.mark.parametrize('name', ['lenet', 'resnet18', 'googlenet', 'inception-bn'])
def test_walk_visits_what_apply_visits(name):
    net = get_model(name)
    applied = []
    net.apply(applied.append)
    walked = list(blocks.walk(net))
    assert {id(b) for _, b in walked} == {id(b) for b in applied}
    assert len(walked) == len({id(b) for b in applied})   # each block once
    for path, b in walked:
        assert _at(net, path) is b, path
    assert walked[0] == ('', net)


def test_leaves_and_kinds_of_lenet():
    net = get_model('lenet')
    assert [(p, blocks.layer_kind(b)) for p, b in blocks.leaves(net)] == [
        ('0', 'conv'), ('1', 'pool'), ('2', 'conv'), ('3', 'pool'), ('4', 'dense'),
        ('5', 'dense'), ('6', 'dense')]  # the fused sigmoids stay inside their layers
    kinds = {blocks.layer_kind(b) for b in (nn.Conv2DTranspose(2, 3), nn.BatchNorm(),
                                            nn.Activation('relu'), nn.Flatten(), nn.Dropout(.5),
                                            nn.HybridSequential(), get_model('resnet18'))}
    assert kinds == {'deconv', 'norm', 'act', 'flatten', 'dropout', 'container', 'block'}


def test_is_container_only_without_own_forward():
    class Own(nn.HybridSequential):
        def hybrid_forward(self, F, x):
            return x * 2
    assert blocks.is_container(nn.Sequential()) and not blocks.is_container(Own())
    assert blocks.is_container(get_model('inception-bn'))  # a model class without own forward


def test_capture_io_removes_its_hooks():
    net = get_model('lenet')
    net.initialize()
    x = mx.nd.ones((1, 1, 28, 28))
    seen, out = blocks.capture_io(net, x, [net[0], net[4]])
    assert list(seen) == [id(net[0]), id(net[4])] and seen[id(net[0])][0] is x
    assert (seen[id(net[4])][1] == net[4](net[3](net[2](net[1](net[0](x)))))).asnumpy().all()
    with pytest.raises(mx.base.MXNetError):
        blocks.capture_io(net, mx.nd.ones((1, 1, 3, 3)), [net[0]])  # too small for the conv
    assert all(internals.forward_hooks(b) == ({}, {}) for _, b in blocks.walk(net))
