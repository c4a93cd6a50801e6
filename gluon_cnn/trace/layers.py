"""What the tracer knows about each Gluon layer: window geometry, MACs and connections.

Every number comes from a formula in `gluon_cnn.shapes`; this file only reads a layer's
settings and its traced input/output shapes. A custom layer can speak for itself with
`trace_counts(self, in_shape, out_shape) -> dict` returning any of the `Counts` fields (`macs`,
`bias_adds`, `pool_ops`, `act_ops`, `norm_ops`, `torchinfo`, `connections`) and `kernel`,
`stride`, `padding`, `dilation`; the tracer uses those instead of its rules.

Counting conventions (also printed under a table traced with explain=True), each for the whole
traced batch:
- macs: multiply-accumulates with weights, conv and dense only (fvcore's convention).
- bias_adds: one per bias use. torchinfo's "Mult-Adds" are macs + bias_adds, plus, for other
  layers with parameters (BatchNorm's scale and shift), their parameter count once per example.
- pool_ops, act_ops, norm_ops: one per pooling window element, per activation output (a fused
  `activation=` too) and per normalization output; none of them is a MAC.
- connections: one per weight use plus one per bias use (LeCun et al. 1998, whose C1 has
  122,304); layers without weights have none.
"""
from dataclasses import dataclass
from math import prod
from typing import Optional, Tuple

from mxnet.gluon import nn

from ..backend import blocks, internals
from .. import shapes
from ..backend.internals import ConvLayer as _Conv
from ..backend.internals import PoolingLayer as _Pooling

__all__ = ['Geometry', 'Counts', 'geometry', 'flattens', 'formula', 'counts', 'fused_activation',
           'is_fused', 'KNOWN']

# layers whose per-element cost is one op; those with parameters also count weight uses
_ELEMENTWISE = tuple(getattr(nn, n) for n in ('Activation', 'LeakyReLU', 'PReLU', 'ELU', 'SELU',
                                              'Swish', 'GELU', 'SiLU') if hasattr(nn, n))
_NORMS = tuple(getattr(nn, n) for n in ('BatchNorm', 'InstanceNorm', 'LayerNorm', 'GroupNorm',
                                        'BatchNormReLU', 'SyncBatchNorm') if hasattr(nn, n))
_FREE = tuple(getattr(nn, n) for n in ('Flatten', 'Dropout', 'Lambda', 'HybridLambda', 'Identity',
                                       'ReflectionPad2D') if hasattr(nn, n))
KNOWN = (_Conv, nn.Dense, _Pooling, nn.Embedding) + _ELEMENTWISE + _NORMS + _FREE
_RESHAPES = tuple(getattr(nn, n) for n in ('Flatten', 'Lambda', 'HybridLambda') if hasattr(nn, n))


@dataclass
class Geometry:
    """A sliding window along each spatial axis (what moves the receptive field)."""
    kernel: Tuple[int, ...]
    stride: Tuple[int, ...]
    padding: Tuple[int, ...]           # per side, as Gluon takes it
    dilation: Tuple[int, ...]
    transposed: bool = False           # Conv2DTranspose: n -> (n - 1)s - 2p + k + output_padding
    output_padding: Tuple[int, ...] = ()  # per axis, transposed only (MXNet's adj)
    flatten: bool = False              # a Dense or Flatten taking the whole (C, H, W) map at once


# Conv2D/Dense built with activation='...' call an Activation child: one leaf, not two
def is_fused(block) -> bool:
    return blocks.layer_kind(block) in blocks.FUSED_KINDS


def fused_activation(block) -> Optional[str]:
    act = getattr(block, 'act', None) if is_fused(block) else None
    return internals.act_type(act) if act is not None else None


def _spatial_axes(layout: str) -> list:
    return [i for i, ch in enumerate(layout) if ch in 'DHW']


def geometry(block, in_shape: tuple, out_shape: tuple) -> Optional[Geometry]:
    """The window of a conv, pooling or flattening layer; None for elementwise layers."""
    custom = _custom(block, in_shape, out_shape)
    if custom and 'kernel' in custom:
        n = len(shapes.pair(custom['kernel'], 1)) if not isinstance(custom['kernel'], int) else 2
        k = shapes.pair(custom['kernel'], n)
        return Geometry(k, shapes.pair(custom.get('stride', 1), n),
                        shapes.pair(custom.get('padding', 0), n),
                        shapes.pair(custom.get('dilation', 1), n))
    if isinstance(block, _Conv):
        kw = internals.layer_kwargs(block)
        transposed = internals.is_transposed(block)
        return Geometry(tuple(kw['kernel']), tuple(kw['stride']), tuple(kw['pad']),
                        tuple(kw['dilate']), transposed=transposed,
                        output_padding=tuple(kw.get('adj') or (0,) * len(kw['kernel']))
                        if transposed else ())
    if isinstance(block, _Pooling):
        kw = internals.layer_kwargs(block)
        if kw['global_pool']:
            spatial = tuple(in_shape[i] for i in _spatial_axes(kw['layout']))
            return Geometry(spatial, (1,) * len(spatial), (0,) * len(spatial), (1,) * len(spatial))
        n = len(kw['kernel'])
        return Geometry(tuple(kw['kernel']), tuple(kw['stride']), tuple(kw['pad']), (1,) * n)
    if flattens(block, in_shape, out_shape):
        spatial = tuple(in_shape[2:])
        return Geometry(spatial, (1,) * len(spatial), (0,) * len(spatial), (1,) * len(spatial),
                        flatten=True)
    return None


# a Dense on a (N, C, H, W) input, nn.Flatten, or a reshape block without weights that gives
# (N, C*H*W): each output sees the whole map, a window as large as the input (d2l zh §5.5)
def flattens(block, in_shape: tuple, out_shape: tuple) -> bool:
    if not in_shape or len(in_shape) <= 2 or not isinstance(in_shape[0], int):
        return False
    if isinstance(block, nn.Dense):
        return internals.dense_flattens(block)
    if block.params.keys() or isinstance(block, KNOWN) and not isinstance(block, _RESHAPES):
        return False
    return tuple(out_shape or ()) == (in_shape[0], prod(in_shape[1:]))


def formula(block, geo: Optional[Geometry], in_shape: tuple) -> Optional[str]:
    """How the output size comes about, with the layer's numbers (d2l zh §5.2), per axis:
    'h, w: ⌊(28 - 5 + 0 + 1) / 1⌋ = 24'; for a flattening Dense 'flatten: 16×4×4 = 256'; for a
    transposed conv 'h, w: (4 - 1)·4 - 0 + 16 + 0 = 28'."""
    if geo is None:
        return None
    if geo.flatten:
        return f"flatten: {'×'.join(map(str, in_shape[1:]))} = {prod(in_shape[1:])}"
    kw = internals.layer_kwargs(block) if isinstance(block, (_Conv, _Pooling)) else {}
    layout = kw.get('layout') or 'NC' + 'DHW'[3 - len(geo.kernel):]
    axes = _spatial_axes(layout)
    ceil = kw.get('pooling_convention') == 'full'  # ceil_mode=True
    if geo.transposed:
        parts = [shapes.transposed_out_size_formula(in_shape[a], k, 2 * p, s, d, o)
                 for a, k, p, s, d, o in zip(axes, geo.kernel, geo.padding, geo.stride,
                                             geo.dilation, geo.output_padding)]
    else:
        parts = [shapes.out_size_formula(in_shape[a], k, 2 * p, s, d, ceil)
                 for a, k, p, s, d in zip(axes, geo.kernel, geo.padding, geo.stride,
                                          geo.dilation)]
    names = [layout[a].lower() for a in axes]
    if len(set(parts)) == 1:
        return f"{', '.join(names)}: {parts[0]}"
    return '; '.join(f'{n}: {t}' for n, t in zip(names, parts))


def _custom(block, in_shape, out_shape) -> dict:
    fn = getattr(block, 'trace_counts', None)
    return dict(fn(in_shape, out_shape)) if callable(fn) else {}


@dataclass
class Counts:
    """What one layer call costs, for the whole batch; None where the tracer cannot tell."""
    macs: Optional[int] = 0         # weight multiply-accumulates (fvcore)
    bias_adds: Optional[int] = 0    # one per bias use
    pool_ops: Optional[int] = 0     # one per pooling window element
    act_ops: Optional[int] = 0      # one per activation output
    norm_ops: Optional[int] = 0     # one per normalization output
    torchinfo: Optional[int] = 0    # torchinfo's Mult-Adds of the same layer
    connections: Optional[int] = 0  # weight uses plus bias uses (LeCun et al. 1998)


def counts(block, in_shape: tuple, out_shape: tuple, size=None) -> Counts:
    """The `Counts` of one call: the layer's own `trace_counts` where it has one, else the rules.

    size : Parameter -> number of values (the tracer passes the inferred shapes of deferred ones).
    """
    named = {k: v for k, v in _custom(block, in_shape, out_shape).items()
             if k in Counts.__dataclass_fields__}
    if named:  # the layer speaks for itself: what it does not name is zero
        c = Counts(**named)
        if 'torchinfo' not in named:
            c.torchinfo = (c.macs or 0) + (c.bias_adds or 0)
        return c
    c = _rule(block, in_shape, out_shape, size or _size)
    if fused_activation(block) and c.act_ops is not None:
        c.act_ops += prod(out_shape)  # the fused activation: one op per output element
    return c


def _rule(block, i: tuple, o: tuple, size) -> Counts:
    elements = prod(o) if o else 0
    if isinstance(block, _Conv):
        kw = internals.layer_kwargs(block)
        c = kw['layout'].find('C')
        sp = _spatial_axes(kw['layout'])
        k, g, bias = prod(kw['kernel']), kw['num_group'], not kw['no_bias']
        batch = i[kw['layout'].find('N')]
        if internals.is_transposed(block):  # every input position scatters into k outputs
            macs = batch * shapes.conv_macs(k, 1, i[c], o[c], prod(i[a] for a in sp), 1, groups=g)
        else:  # 1-D and 3-D convs fold into the 2-D formula
            macs = batch * shapes.conv_macs(k, 1, i[c], o[c], prod(o[a] for a in sp), 1, groups=g)
        adds = batch * o[c] * prod(o[a] for a in sp) if bias else 0
        return Counts(macs=macs, bias_adds=adds, torchinfo=macs + adds, connections=macs + adds)
    if isinstance(block, nn.Dense):
        flat = internals.dense_flattens(block)
        n_in = prod(i[1:]) if flat else i[-1]
        rows = i[0] if flat else prod(i[:-1])
        units = internals.dense_units(block)
        macs = rows * shapes.dense_macs(n_in, units)
        adds = rows * units if block.bias is not None else 0
        return Counts(macs=macs, bias_adds=adds, torchinfo=macs + adds, connections=macs + adds)
    if isinstance(block, _Pooling):
        kw = internals.layer_kwargs(block)
        sp = _spatial_axes(kw['layout'])
        k = prod(i[a] for a in sp) if kw['global_pool'] else prod(kw['kernel'])
        c = kw['layout'].find('C')
        n = i[kw['layout'].find('N')]
        return Counts(pool_ops=n * shapes.pool_macs(k, 1, o[c], prod(o[a] for a in sp), 1))
    if isinstance(block, _NORMS):  # y = x * a + b per element (at inference)
        affine = [p for n, p in block.params.items() if not n.endswith(('_mean', '_var'))]
        fused = elements if type(block).__name__ == 'BatchNormReLU' else 0
        return Counts(norm_ops=elements, act_ops=fused,
                      torchinfo=i[0] * sum(size(p) for p in affine),
                      connections=elements * len(affine))
    if isinstance(block, _ELEMENTWISE):
        weights = list(block.params.values())
        return Counts(act_ops=elements, torchinfo=i[0] * sum(size(p) for p in weights),
                      connections=elements if weights else 0)
    if isinstance(block, nn.Embedding):
        return Counts(connections=elements)  # a lookup: one weight use per output value
    if isinstance(block, _FREE):
        return Counts()
    return Counts(None, None, None, None, None, None, None)  # a layer the tracer does not know


def _size(param) -> int:
    """Values of a Parameter whose shape may still be deferred (0 where it is unknown)."""
    return prod(param.shape) if param.shape and all(d > 0 for d in param.shape) else 0
