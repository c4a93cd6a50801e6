"""Data augmentation for 28x28 clothing images, applied per batch on the device, vectorized.

Fashion-MNIST items are centred and upright, and a mirrored shirt is still a shirt: small random
shifts (a random 28x28 crop of the image padded by 2 pixels) and horizontal flips keep the label,
vertical flips and big rotations would not (a flipped ankle boot is not in the test set). The
crop-with-padding + flip recipe is the CIFAR one of He et al. (2016), "Deep residual learning for
image recognition", §4.2, with 2 pixels instead of 4 for the smaller images.

Every batch is one `gather_nd` on the device: no per-sample Python, no host sync.
"""
from mxnet import nd

from ..backend import npmode

__all__ = ['AUGMENTS', 'crop_flip', 'random_crop_flip', 'make_augment']

AUGMENTS = ('none', 'crop', 'flip', 'crop-flip')  # --augment choices


def crop_flip(X, dy, dx, flip, pad: int, fill: float = 0.0):
    """Crop each padded image at its own offset, then mirror the ones with flip=1.

    X : (B, C, H, W) float NDArray; dy, dx : (B,) int offsets in [0, 2*pad]; flip : (B,) 0 or 1.
    Returns (B, C, H, W): out[b, :, i, j] = pad(X)[b, :, dy[b] + i, dx[b] + j'] with
    j' = W-1-j where flip[b] else j. `fill` is the padding value (the images' background).
    """
    B, C, H, W = X.shape
    ctx = X.context
    if pad:  # (B, C, H, W) -> (B, C, H + 2p, W + 2p)
        X = nd.pad(X, mode='constant', constant_value=fill,
                   pad_width=(0, 0, 0, 0, pad, pad, pad, pad))
    shape = (B, C, H, W)
    b = nd.arange(B, ctx=ctx, dtype='int32').reshape((B, 1, 1, 1))
    c = nd.arange(C, ctx=ctx, dtype='int32').reshape((1, C, 1, 1))
    i = nd.arange(H, ctx=ctx, dtype='int32').reshape((1, 1, H, 1))
    j = nd.arange(W, ctx=ctx, dtype='int32').reshape((1, 1, 1, W))
    flip = flip.astype('int32').reshape((B, 1, 1, 1))
    rows = nd.broadcast_add(dy.astype('int32').reshape((B, 1, 1, 1)), i)     # (B, 1, H, 1)
    # j or W-1-j: (B, 1, 1, W)
    cols = nd.broadcast_add(nd.broadcast_mul(flip, (W - 1) - 2 * j), j)
    cols = nd.broadcast_add(cols, dx.astype('int32').reshape((B, 1, 1, 1)))
    index = nd.stack(*(nd.broadcast_to(a, shape) for a in (b, c, rows, cols)))  # (4, B, C, H, W)
    return nd.gather_nd(X, index)                                           # (B, C, H, W)


def random_crop_flip(X, pad: int = 2, flip: bool = True, fill: float = 0.0):
    """crop_flip with offsets uniform in [0, 2*pad] and a fair coin per image for the flip."""
    B, ctx = X.shape[0], X.context
    dy = nd.random.randint(0, 2 * pad + 1, shape=(B,), ctx=ctx)
    dx = nd.random.randint(0, 2 * pad + 1, shape=(B,), ctx=ctx)
    f = (nd.random.randint(0, 2, shape=(B,), ctx=ctx) if flip
         else nd.zeros((B,), ctx=ctx, dtype='int32'))
    return crop_flip(X, dy, dx, f, pad, fill)


def make_augment(name: str, pad: int = 2, fill: float = 0.0):
    """The per-batch transform X -> X' for an --augment choice, or None for 'none'.

    Works on classic NDArrays and, for d2l 1.x readers after npx.set_np(), on np arrays.
    """
    if name == 'none':
        return None
    crop, flip = 'crop' in name, 'flip' in name

    def augment(X):
        return npmode.on_legacy(lambda X: random_crop_flip(X, pad if crop else 0, flip, fill), X)
    return augment
