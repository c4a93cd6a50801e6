"""What the tracer knows about each Gluon layer: window geometry, MACs and connections.

Every number comes from a formula in `gluon_cnn.shapes`; this file only reads a layer's
settings and its traced input/output shapes. A custom layer can speak for itself with
`trace_counts(self, in_shape, out_shape) -> dict` returning any of `macs`, `connections`,
`kernel`, `stride`, `padding`, `dilation` (the tracer then uses those instead of its rules).

Counting conventions (also printed under every table):
- MACs: multiply-accumulates for the whole traced batch, bias adds excluded; pooling counts
  one per window element, BatchNorm and activations one per element, and a fused
  `activation=` adds one per output element to its Conv2D/Dense.
- connections: one per weight use plus one per bias use (LeCun et al. 1998, whose C1 has
  122,304); layers without weights have none.
"""
from dataclasses import dataclass
from math import prod
from typing import Optional, Tuple

from mxnet.gluon import nn
from mxnet.gluon.nn.conv_layers import _Conv, _Pooling

from .. import shapes

__all__ = ['Geometry', 'geometry', 'counts', 'fused_activation', 'is_fused', 'KNOWN']

# layers whose per-element cost is one op; those with parameters also count weight uses
_ELEMENTWISE = tuple(getattr(nn, n) for n in ('Activation', 'LeakyReLU', 'PReLU', 'ELU', 'SELU',
                                              'Swish', 'GELU', 'SiLU') if hasattr(nn, n))
_NORMS = tuple(getattr(nn, n) for n in ('BatchNorm', 'InstanceNorm', 'LayerNorm', 'GroupNorm',
                                        'BatchNormReLU', 'SyncBatchNorm') if hasattr(nn, n))
_FREE = tuple(getattr(nn, n) for n in ('Flatten', 'Dropout', 'Lambda', 'HybridLambda', 'Identity',
                                       'ReflectionPad2D') if hasattr(nn, n))
KNOWN = (_Conv, nn.Dense, _Pooling, nn.Embedding) + _ELEMENTWISE + _NORMS + _FREE


@dataclass
class Geometry:
    """A sliding window along each spatial axis (what moves the receptive field)."""
    kernel: Tuple[int, ...]
    stride: Tuple[int, ...]
    padding: Tuple[int, ...]           # per side, as Gluon takes it
    dilation: Tuple[int, ...]
    transposed: bool = False           # Conv2DTranspose: the receptive field is not tracked
    flatten: bool = False              # a Dense taking the whole (C, H, W) map at once


# Conv2D/Dense built with activation='...' call an Activation child: one leaf, not two
def is_fused(block) -> bool:
    return isinstance(block, (_Conv, nn.Dense))


def fused_activation(block) -> Optional[str]:
    act = getattr(block, 'act', None) if is_fused(block) else None
    return act._act_type if act is not None else None


def _spatial_axes(layout: str) -> list:
    return [i for i, ch in enumerate(layout) if ch in 'DHW']


def geometry(block, in_shape: tuple, out_shape: tuple) -> Optional[Geometry]:
    """The window of a conv, pooling or flattening Dense; None for elementwise layers."""
    custom = _custom(block, in_shape, out_shape)
    if custom and 'kernel' in custom:
        n = len(shapes.pair(custom['kernel'], 1)) if not isinstance(custom['kernel'], int) else 2
        k = shapes.pair(custom['kernel'], n)
        return Geometry(k, shapes.pair(custom.get('stride', 1), n),
                        shapes.pair(custom.get('padding', 0), n),
                        shapes.pair(custom.get('dilation', 1), n))
    if isinstance(block, _Conv):
        kw = block._kwargs
        return Geometry(tuple(kw['kernel']), tuple(kw['stride']), tuple(kw['pad']),
                        tuple(kw['dilate']), transposed=block._op_name == 'Deconvolution')
    if isinstance(block, _Pooling):
        kw = block._kwargs
        if kw['global_pool']:
            spatial = tuple(in_shape[i] for i in _spatial_axes(kw['layout']))
            return Geometry(spatial, (1,) * len(spatial), (0,) * len(spatial), (1,) * len(spatial))
        n = len(kw['kernel'])
        return Geometry(tuple(kw['kernel']), tuple(kw['stride']), tuple(kw['pad']), (1,) * n)
    if isinstance(block, nn.Dense) and block._flatten and len(in_shape) > 2:
        spatial = tuple(in_shape[2:])
        return Geometry(spatial, (1,) * len(spatial), (0,) * len(spatial), (1,) * len(spatial),
                        flatten=True)
    return None


def _custom(block, in_shape, out_shape) -> dict:
    fn = getattr(block, 'trace_counts', None)
    return dict(fn(in_shape, out_shape)) if callable(fn) else {}


def counts(block, in_shape: tuple, out_shape: tuple) -> Tuple[Optional[int], Optional[int]]:
    """(macs, connections) of one call for the whole batch; None where the tracer cannot tell."""
    custom = _custom(block, in_shape, out_shape)
    macs, conn = _rule(block, in_shape, out_shape)
    if fused_activation(block) and macs is not None:
        macs += prod(out_shape)  # the fused activation: one op per output element
    return custom.get('macs', macs), custom.get('connections', conn)


def _rule(block, i: tuple, o: tuple) -> Tuple[Optional[int], Optional[int]]:
    elements = prod(o) if o else 0
    if isinstance(block, _Conv):
        kw = block._kwargs
        c = kw['layout'].find('C')
        sp = _spatial_axes(kw['layout'])
        k, g, bias = prod(kw['kernel']), kw['num_group'], not kw['no_bias']
        batch = i[kw['layout'].find('N')]
        if block._op_name == 'Deconvolution':  # every input position scatters into k outputs
            pos = prod(i[a] for a in sp)
            macs = batch * shapes.conv_macs(k, 1, i[c], o[c], pos, 1, groups=g)
            return macs, macs + (batch * o[c] * prod(o[a] for a in sp) if bias else 0)
        pos = prod(o[a] for a in sp)  # 1-D and 3-D convs fold into the 2-D formula
        return (batch * shapes.conv_macs(k, 1, i[c], o[c], pos, 1, groups=g),
                batch * shapes.conv_connections(k, 1, i[c], o[c], pos, 1, bias=bias, groups=g))
    if isinstance(block, nn.Dense):
        n_in = prod(i[1:]) if block._flatten else i[-1]
        rows = i[0] if block._flatten else prod(i[:-1])
        bias = block.bias is not None
        return (rows * shapes.dense_macs(n_in, block._units),
                rows * shapes.dense_connections(n_in, block._units, bias=bias))
    if isinstance(block, _Pooling):
        kw = block._kwargs
        sp = _spatial_axes(kw['layout'])
        k = prod(i[a] for a in sp) if kw['global_pool'] else prod(kw['kernel'])
        c = kw['layout'].find('C')
        return i[kw['layout'].find('N')] * shapes.pool_macs(k, 1, o[c], prod(o[a] for a in sp), 1), 0
    if isinstance(block, _NORMS):  # y = x * a + b per element (at inference)
        uses = sum(1 for n in block.params.keys() if not n.endswith(('_mean', '_var')))
        extra = elements if type(block).__name__ == 'BatchNormReLU' else 0
        return elements + extra, elements * uses
    if isinstance(block, _ELEMENTWISE):
        return elements, elements if block.params.keys() else 0
    if isinstance(block, nn.Embedding):
        return 0, elements  # a lookup: one weight use per output value
    if isinstance(block, _FREE):
        return 0, 0
    return None, None
