"""Numpy mode (`npx.set_np()`, d2l 1.x and the 2nd edition), decided in one place.

After `npx.set_np()` arrays are `mx.np.ndarray`, and the legacy operators (`F.concat`, `F.pick`,
`F.broadcast_sub`, ...) refuse them. Every module that must work in both modes asks here, and
builds its arrays and picks its operator namespaces here, instead of testing the mode inline.
"""
import mxnet as mx

__all__ = ['is_np_mode', 'array', 'zeros', 'as_mode', 'in_mode', 'namespaces', 'concat_channels',
           'split', 'convolution', 'pooling', 'broadcast_add', 'broadcast_mul', 'broadcast_sub',
           'pick', 'on_legacy', 'scalar']


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


def in_mode(x, dtype=None):
    """x as an mx.np array in numpy mode; unchanged otherwise (Gluon's classic datasets keep
    numpy labels)."""
    return array(x, dtype=dtype) if is_np_mode() else x


def namespaces(F=None):
    """(np-like, npx-like) operator namespaces for F: (F.np, F.npx) in numpy mode, else (F, F).
    Without F, the imperative ones: (mx.np, mx.npx) or (mx.nd, mx.nd)."""
    if F is None:
        return (mx.np, mx.npx) if is_np_mode() else (mx.nd, mx.nd)
    return (F.np, F.npx) if is_np_mode() else (F, F)


def split(F, x, num_outputs: int, axis: int = 1) -> list:
    """x split into num_outputs equal parts along axis, in either mode."""
    if is_np_mode():
        return F.np.split(x, num_outputs, axis=axis)
    return F.split(x, num_outputs=num_outputs, axis=axis)


def convolution(F):
    """The convolution operator of F's mode (npx.convolution or Convolution), same arguments."""
    return F.npx.convolution if is_np_mode() else F.Convolution


def pooling(F, x, **kwargs):
    """F.Pooling's pooling in either mode (npx.pooling in numpy mode), same arguments."""
    return (F.npx.pooling if is_np_mode() else F.Pooling)(x, **kwargs)


def broadcast_add(F, a, b):
    """a + b with broadcasting: numpy arrays broadcast on their own, legacy ones need the op."""
    return a + b if is_np_mode() else F.broadcast_add(a, b)


def broadcast_mul(F, a, b):
    return a * b if is_np_mode() else F.broadcast_mul(a, b)


def broadcast_sub(F, a, b):
    return a - b if is_np_mode() else F.broadcast_sub(a, b)


def pick(F, data, index, axis: int = -1):
    """data[..., index, ...] along axis, per row (F.pick / npx.pick)."""
    return (F.npx.pick if is_np_mode() else F.pick)(data, index, axis=axis)


def on_legacy(fn, X):
    """fn(X) with X as a classic NDArray and the legacy operators on, returned in X's mode: for
    code written with mx.nd ops that must also serve npx.set_np() callers."""
    was_np = is_np_mode()
    X = X.as_nd_ndarray() if was_np else X
    with mx.util.np_array(False), mx.util.np_shape(False):
        X = fn(X)
    return X.as_np_ndarray() if was_np else X


def concat_channels(F, *xs):
    """Concatenate along axis 1 in classic and `npx.set_np()` mode (F.concat is legacy-only)."""
    if is_np_mode():
        return F.np.concatenate(xs, axis=1)
    return F.concat(*xs, dim=1)


def scalar(a) -> float:
    """The value of a 1-element array, in classic and numpy mode (the latter has no asscalar)."""
    return a.asnumpy().item()
