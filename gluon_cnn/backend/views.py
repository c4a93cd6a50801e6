"""A view of a net with some of its blocks replaced: every other block, and so every Parameter, is
shared with the net. The widened convolutions (`gluon_cnn.training.widen`) and the fused
operators (`gluon_cnn.backend.fastops`) both train such a view while the net itself stays the
book's.
"""
from mxnet.gluon import nn

from . import internals
from .blocks import is_container, walk

__all__ = ['replaced', 'sequentials']


def sequentials(net) -> list:
    """`net` and the (Hybrid)Sequential containers reachable from it through Sequentials only."""
    return [b for _, b in walk(net, is_container) if is_container(b)]


def replaced(net, swap: dict, drop=frozenset()):
    """`net` with each block of `swap` replaced by its value and each block of `drop` left out.
    Only the Sequential containers on the way down to a changed block are copied (as plain
    containers: a model class's constructor would build new layers); `net` itself is unchanged."""
    return _rebuild(net, swap, drop, _holders(net, set(swap) | set(drop)))


def _holders(net, targets: set) -> set:
    """ids of the Sequential containers on the way from `net` down to a target block."""
    if not is_container(net):
        return set()
    found = dict(walk(net, is_container))  # path -> block
    holders = set()
    for path, block in found.items():
        if block in targets:
            parts = path.split('.')
            holders.update(id(found['.'.join(parts[:i])]) for i in range(len(parts)))
    return holders


def _rebuild(block, swap: dict, drop, holders: set):
    if block in swap:
        return swap[block]
    if id(block) not in holders:
        return block
    copy = (nn.HybridSequential if isinstance(block, nn.HybridSequential) else nn.Sequential)(
        prefix=block.prefix)
    copy.add(*[_rebuild(c, swap, drop, holders) for c in internals.children(block).values()
               if c not in drop])
    return copy
