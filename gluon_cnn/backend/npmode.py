"""Numpy mode (`npx.set_np()`, d2l 1.x and the 2nd edition), decided in one place.

After `npx.set_np()` arrays are `mx.np.ndarray`, and the legacy operators (`F.concat`, `F.pick`,
`F.broadcast_sub`, ...) refuse them. Every module that must work in both modes asks here, and
builds its arrays and picks its operator namespaces here, instead of testing the mode inline.
"""
import mxnet as mx

__all__ = ['is_np_mode', 'array', 'zeros', 'as_mode', 'namespaces', 'concat_channels', 'scalar']


def is_np_mode() -> bool:
    """True after `npx.set_np()`: arrays are mx.np.ndarray and legacy operators refuse them."""
    return mx.util.is_np_array()


def array(x, ctx=None, dtype=None):
    """An array of the current kind (mx.np in numpy mode, else mx.nd) holding x."""
    kw = {} if dtype is None else {'dtype': dtype}
    return (mx.np if is_np_mode() else mx.nd).array(x, ctx=ctx, **kw)


def zeros(shape, ctx=None):
    """A float32 zero array of the current kind."""
    return (mx.np if is_np_mode() else mx.nd).zeros(shape, ctx=ctx)


def as_mode(*arrays):
    """Classic NDArrays as the current kind (np views in numpy mode; unchanged otherwise)."""
    if not is_np_mode():
        return arrays
    return tuple(a.as_np_ndarray() for a in arrays)


def namespaces(F):
    """(np-like, npx-like) operator namespaces for F: (F.np, F.npx) in numpy mode, else (F, F)."""
    return (F.np, F.npx) if is_np_mode() else (F, F)


def concat_channels(F, *xs):
    """Concatenate along axis 1 in classic and `npx.set_np()` mode (F.concat is legacy-only)."""
    if is_np_mode():
        return F.np.concatenate(xs, axis=1)
    return F.concat(*xs, dim=1)


def scalar(a) -> float:
    """The value of a 1-element array, in classic and numpy mode (the latter has no asscalar)."""
    return a.asnumpy().item()
