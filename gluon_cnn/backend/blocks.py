"""A net's block tree, read one way: the one walker, the one layer-kind function and the one
forward-hook capture that the tracer, the views, the probes and the explainer page share.

    [(path, layer_kind(b)) for path, b in leaves(lenet)][:3]
    # [('0', 'conv'), ('1', 'pool'), ('2', 'conv')]

Paths are the attribute paths the tracer prints ('features.4.0': Sequential children by index,
other children by attribute name).
"""
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from mxnet import gluon
from mxnet.gluon import nn

from . import internals

__all__ = ['walk', 'leaves', 'is_container', 'layer_kind', 'FUSED_KINDS', 'capture_io']

_SEQUENTIAL = (nn.Sequential, nn.HybridSequential)
_ACTIVATIONS = tuple(getattr(nn, n) for n in ('Activation', 'LeakyReLU', 'PReLU', 'ELU', 'SELU',
                                              'Swish', 'GELU', 'SiLU') if hasattr(nn, n))
_NORMS = tuple(getattr(nn, n) for n in ('BatchNorm', 'InstanceNorm', 'LayerNorm', 'GroupNorm',
                                        'BatchNormReLU', 'SyncBatchNorm') if hasattr(nn, n))
# kinds whose block is one layer although Gluon gives it a child (a fused `activation=`)
FUSED_KINDS = ('conv', 'deconv', 'dense')


def is_container(block: gluon.Block) -> bool:
    """A (Hybrid)Sequential that only runs its children in order: no forward code of its own
    (a model class deriving from HybridSequential without overriding its forward is one too)."""
    for base in _SEQUENTIAL:
        if isinstance(block, base):
            cls = type(block)
            return (cls.forward is base.forward and
                    getattr(cls, 'hybrid_forward', None) is getattr(base, 'hybrid_forward', None))
    return False


def layer_kind(block: gluon.Block) -> str:
    """What a block is, in one word: 'conv', 'deconv' (a transposed conv), 'pool', 'dense', 'act',
    'norm', 'flatten', 'dropout', 'embedding', 'container' (a plain Sequential), 'block' (any
    other block with children: its own forward code, e.g. a residual unit) or 'other'."""
    if isinstance(block, internals.ConvLayer):
        return 'deconv' if internals.is_transposed(block) else 'conv'
    for cls, kind in ((internals.PoolingLayer, 'pool'), (nn.Dense, 'dense'), (_ACTIVATIONS, 'act'),
                      (_NORMS, 'norm'), (nn.Flatten, 'flatten'), (nn.Dropout, 'dropout'),
                      (nn.Embedding, 'embedding')):
        if isinstance(block, cls):
            return kind
    if is_container(block):
        return 'container'
    return 'block' if internals.children(block) else 'other'


def walk(net: gluon.Block, into: Optional[Callable[[gluon.Block], bool]] = None
         ) -> Iterator[Tuple[str, gluon.Block]]:
    """(path, block) of `net` ('') and of every block registered under it, in pre-order (a block
    before its children, children in registration order: the forward order of a Sequential).
    A block registered twice comes once, at its first path.

    into : whether to look inside a block (default: every block); `net` itself is always looked
        into.
    """
    seen, stack = set(), [('', net)]
    while stack:
        path, block = stack.pop()
        if id(block) in seen:
            continue
        seen.add(id(block))
        yield path, block
        if block is net or into is None or into(block):
            kids = [(f'{path}.{k}' if path else k, c) for k, c in internals.children(block).items()]
            stack.extend(reversed(kids))


def leaves(net: gluon.Block) -> List[Tuple[str, gluon.Block]]:
    """[(path, layer)] of `net`'s layers in registration order: the blocks without children, and
    convs and denses with a fused activation as one layer each."""
    def into(block):
        return layer_kind(block) not in FUSED_KINDS
    return [(p, b) for p, b in walk(net, into) if b is not net and
            (layer_kind(b) in FUSED_KINDS or not internals.children(b))]


def capture_io(net: gluon.Block, X, blocks: Sequence[gluon.Block]) -> Tuple[Dict[int, tuple],
                                                                               object]:
    """Run net(X) with forward hooks on `blocks`: ({id(block): (its first input, its output)}
    in call order, first call only; net(X)).

    Hooks see the layers only when the net runs imperatively, so a hybridized net is switched
    back with `hybridize(False)`. The hooks are public ones, removed again in any case."""
    net.hybridize(False)
    seen, handles = {}, []
    try:
        for b in blocks:
            def hook(block, inputs, output, key=id(b)):
                seen.setdefault(key, (inputs[0] if inputs else None, output))
            handles.append(b.register_forward_hook(hook))
        out = net(X)
    finally:
        for h in handles:
            h.detach()
    return seen, out
