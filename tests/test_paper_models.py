"""The ImageNet-sized registry models against their papers' tables (counted on traced shapes,
no forward pass on real data): VGG, ResNet, DenseNet, and the later Inceptions' grid sizes."""
import mxnet as mx
import pytest
from mxnet.gluon import nn

from gluon_cnn import get_model, model_info, shapes, trace
from gluon_cnn.exercises.ex5_12 import densenet_bc_params
from gluon_cnn.models.densenet_imagenet import DENSENET_TABLE1


def traced(name):
    return trace(get_model(name), model_info(name).input_shape)


# Simonyan & Zisserman (2015) Table 2: parameters in millions
@pytest.mark.parametrize('name, millions', [('vgg16-imagenet', 138), ('vgg19-imagenet', 144)])
def test_vgg_parameters_match_table2(name, millions):
    t = traced(name)
    assert round(t.total_params / 1e6) == millions
    assert t.output_shape == (1, 1000)


# He et al. (2016) Table 1, "FLOPs" (multiply-adds, 10^9), given to one decimal. The params are
# not in the paper: torchvision's model docs list them for the same architectures.
RESNETS = {18: (1.8, 11.7), 34: (3.6, 21.8), 50: (3.8, 25.6), 101: (7.6, 44.5), 152: (11.3, 60.2)}


@pytest.mark.parametrize('depth', RESNETS)
def test_resnet_multiply_adds_and_parameters(depth):
    flops, millions = RESNETS[depth]
    t = traced(f'resnet{depth}-imagenet')
    # one decimal, and the paper's own rounding is loose (34 layers: 3.66 printed as 3.6);
    # 2% still rejects the stride-on-3x3 "v1.5" bottleneck (ResNet-50: 4.09G)
    assert t.total_macs / 1e9 == pytest.approx(flops, rel=0.02)
    assert round(t.trainable_params / 1e6, 1) == millions
    assert t.output_shape == (1, 1000)


def test_multiply_adds_count_conv_and_dense_weights_only():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1), nn.MaxPool2D(2), nn.BatchNorm(),
            nn.Conv2D(4, (1, 3), strides=2), nn.Dense(5))
    t = trace(net, (2, 3, 10, 10))  # (2, 8, 10, 10) -> (2, 8, 5, 5) -> (2, 4, 3, 2) -> (2, 5)
    # per image: 3x3x3 weights x 8 filters x 10x10 outputs, 1x3x8 x 4 x 3x2, 24 inputs x 5 units;
    # pooling and BN are not counted (He et al.'s "FLOPs")
    assert t.total_macs == 2 * (3 * 3 * 3 * 8 * 100 + 1 * 3 * 8 * 4 * 6 + 24 * 5)


@pytest.mark.parametrize('depth', DENSENET_TABLE1)
def test_densenet_parameters_match_the_closed_form(depth):
    t = traced(f'densenet{depth}-imagenet')
    assert t.trainable_params == densenet_bc_params(DENSENET_TABLE1[depth])
    assert t.output_shape == (1, 1000)


def test_densenet_sizes_the_paper_and_torchvision_state():
    counts = {d: traced(f'densenet{d}-imagenet').trainable_params for d in (121, 169, 201)}
    assert round(counts[201] / 1e6) == 20  # Huang et al. (2017) Sec. 4.4: "20M parameters"
    # torchvision's model docs: 8.0M, 14.1M, 20.0M
    assert [round(c / 1e6, 1) for c in counts.values()] == [8.0, 14.1, 20.0]


def test_densenet_closed_form_counts_a_tiny_net_exactly():
    """The oracle itself, against collect_params() of a real (initialized) tiny DenseNet-BC."""
    from gluon_cnn.models.densenet_imagenet import PaperDenseNet
    net = PaperDenseNet((2, 3), growth=8, classes=7)
    net.initialize()
    net(mx.nd.zeros((1, 3, 64, 64)))
    trainable = sum(p.data().size for p in net.collect_params().values() if p.grad_req != 'null')
    assert trainable == densenet_bc_params((2, 3), growth=8, classes=7)


def _grid_outputs(name, module_types):
    """Output shapes of the net's top-level children whose class is in module_types."""
    t = trace(get_model(name), model_info(name).input_shape, depth=1)
    return [r.output_shape[1:] for r in t.rows if r.type in module_types]


def test_inception_bn_follows_fig5():
    # Ioffe & Szegedy (2015) Fig. 5 per-path columns (4c, 4d: 608, the figure's sums)
    assert _grid_outputs('inception-bn', {'Branches'}) == [
        (256, 28, 28), (320, 28, 28), (576, 14, 14), (576, 14, 14), (576, 14, 14),
        (608, 14, 14), (608, 14, 14), (1056, 7, 7), (1024, 7, 7), (1024, 7, 7)]


def test_inception_v3_grids_follow_table1():
    # Szegedy et al. (2016) Table 1: 35x35x288, 17x17x768, 8x8x2048 after each group
    out = _grid_outputs('inception-v3', {'Branches'})
    assert out[:3] == [(256, 35, 35), (288, 35, 35), (288, 35, 35)]
    assert out[3:8] == [(768, 17, 17)] * 5 and out[8:] == [(1280, 8, 8), (2048, 8, 8), (2048, 8, 8)]


def test_inception_v3_is_torchvisions_without_the_auxiliary_head():
    # torchvision's docs: 27,161,264 parameters with the auxiliary classifier on the 17x17x768
    # grid: 1x1 conv to 128 + BN, 5x5 conv to 768 + BN, a 768 -> 1000 dense layer
    aux = (shapes.conv_params(1, 1, 768, 128, bias=False) + shapes.batchnorm_params(128)[1]
           + shapes.conv_params(5, 5, 128, 768, bias=False) + shapes.batchnorm_params(768)[1]
           + shapes.dense_params(768, 1000))
    assert traced('inception-v3').trainable_params + aux == 27_161_264


def test_inception_resnet_v1_grids_follow_fig15():
    # Szegedy et al. (2017) Fig. 14 and 15: stem 35x35x256, then 17x17x896, then 8x8x1792
    t = trace(get_model('inception-resnet-v1'), (1, 3, 299, 299), depth=1)
    outs = [r.output_shape[1:] for r in t.rows]
    assert outs[0] == (256, 35, 35)
    assert outs[1:6] == [(256, 35, 35)] * 5 and outs[6] == (896, 17, 17)
    assert outs[7:17] == [(896, 17, 17)] * 10 and outs[17] == (1792, 8, 8)
    assert outs[18:23] == [(1792, 8, 8)] * 5 and t.output_shape == (1, 1000)
