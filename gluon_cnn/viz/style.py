"""Neural style transfer, d2l zh v1 §9.11 (Gatys et al. 2016, "Image style transfer using
convolutional neural networks"): the image is the only parameter, and Adam lowers a content loss,
a Gram-matrix style loss and total variation on a pretrained VGG-19's features
(`python -m gluon_cnn.viz style`).

The book's choices: VGG-19 `features` layers 0, 5, 10, 19, 28 (the first conv of each block) for
style and 25 (the last conv of block 4) for content, weights 1 / 1e3 / 10, Adam at lr 0.01 for 500
steps, lr x 0.1 every 200, images resized to 150 x 225 and normalized by ImageNet's mean and std.
"""
import contextlib
import io
import os
import warnings
from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, init, nd
from mxnet.gluon import nn

from ..errors import CheckpointError, ConfigError
from ..runs.checkpoint import load_params
from .plots import new_figure

__all__ = ['STYLE_LAYERS', 'CONTENT_LAYERS', 'read_image', 'preprocess', 'postprocess',
           'load_vgg19', 'feature_net', 'extract_features', 'gram', 'content_loss', 'style_loss',
           'tv_loss', 'Styled', 'transfer', 'style_figure']

STYLE_LAYERS, CONTENT_LAYERS = (0, 5, 10, 19, 28), (25,)  # indices into vgg19.features
RGB_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)  # ImageNet's, as the zoo was trained
RGB_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
WEIGHTS = (1.0, 1e3, 10.0)  # content, style, total variation (the book's)


# ----------------------------------------------------------------------------- images
def read_image(path) -> np.ndarray:
    """An image file (PNG, JPEG, grey or colour) as RGB uint8 (H, W, 3)."""
    from PIL import Image, UnidentifiedImageError
    try:
        with warnings.catch_warnings():  # half the bomb limit: refused too, not minutes of work
            warnings.simplefilter('error', Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return np.asarray(img.convert('RGB'))
    except FileNotFoundError:
        raise ConfigError(f'{path}: no such file') from None
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as e:
        # a decompression bomb: more pixels than Pillow's limit (Image.MAX_IMAGE_PIXELS)
        raise ConfigError(f'{path}: not an image PIL can read ({type(e).__name__}: '
                          f'{str(e)[:120]})') from None


def preprocess(img: np.ndarray, shape: tuple) -> nd.NDArray:
    """RGB uint8 (H, W, 3) -> normalized (1, 3, h, w) for shape = (h, w), as the book's."""
    from PIL import Image
    h, w = shape
    x = np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR), dtype=np.float32)
    x = (x / 255 - RGB_MEAN) / RGB_STD                       # (h, w, 3)
    return nd.array(x.transpose(2, 0, 1)[None])              # -> (1, 3, h, w)


def postprocess(X: nd.NDArray) -> np.ndarray:
    """(1, 3, h, w) normalized -> RGB in [0, 1] (h, w, 3), clipped."""
    x = X[0].asnumpy().transpose(1, 2, 0)
    return np.clip(x * RGB_STD + RGB_MEAN, 0, 1)


# ----------------------------------------------------------------------------- the VGG
def load_vgg19(weights: Optional[str] = None, ctx=None) -> gluon.Block:
    """Gluon's model_zoo vgg19 with ImageNet weights: from `weights` (a .params file), else from
    $MXNET_HOME/models, downloaded there by Gluon if missing."""
    ctx = ctx or mx.cpu()
    net = mx.gluon.model_zoo.vision.vgg19()
    if weights is not None:
        if not Path(weights).is_file():
            raise ConfigError(f'--weights {weights}: no such file')
        try:  # the reason given is MXNet's own line, not a traceback's header
            load_params(net, Path(weights), ctx, what='is not the parameters of model_zoo vgg19, '
                        'or is damaged')
        except CheckpointError as e:
            raise ConfigError(f'--weights {e}') from None
        return net
    root = os.path.join(mx.base.data_dir(), 'models')  # $MXNET_HOME now, not at import
    from mxnet.gluon.model_zoo import model_store
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # Gluon prints a line per failed retry
            path = model_store.get_model_file('vgg19', root=root)
    except (OSError, ValueError):  # no internet (requests' errors are OSErrors), a bad download
        raise ConfigError(
            f'no vgg19 weights in {root} and the download failed: on a machine with internet run '
            "python -c \"import mxnet as mx; mx.gluon.model_zoo.vision.vgg19(pretrained=True)\" "
            'and copy the vgg19-*.params file here, or pass --weights FILE') from None
    load_params(net, Path(path), ctx, what='is not the parameters of model_zoo vgg19, or is '
                'damaged', fix='; delete it to download it again')
    return net


def feature_net(vgg: gluon.Block, layers: Sequence[int]) -> nn.Sequential:
    """The layers of vgg.features up to the deepest of `layers`, the only ones the losses need."""
    net = nn.Sequential()
    for i in range(max(layers) + 1):
        net.add(vgg.features[i])
    return net


def extract_features(net: nn.Sequential, X, content_layers, style_layers) -> tuple:
    """([content layer outputs], [style layer outputs]), layer by layer as the book does."""
    contents, styles = [], []
    for i in range(len(net)):
        X = net[i](X)
        if i in style_layers:
            styles.append(X)
        if i in content_layers:
            contents.append(X)
    return contents, styles


# ----------------------------------------------------------------------------- losses
def gram(X):
    """X X^T / (c h w) for the (1, c, h, w) output of one layer: the channels' correlations."""
    c, n = X.shape[1], X.size // X.shape[1]
    X = X.reshape((c, n))                                   # (1, c, h, w) -> (c, h w)
    return nd.dot(X, X.T) / (c * n)                         # -> (c, c)


def content_loss(Y_hat, Y):
    """Mean squared difference of the content features."""
    return (Y_hat - Y).square().mean()


def style_loss(Y_hat, gram_Y):
    """Mean squared difference of the Gram matrices."""
    return (gram(Y_hat) - gram_Y).square().mean()


def tv_loss(Y_hat):
    """Total variation: the mean absolute difference of neighbouring pixels, halved."""
    return 0.5 * ((Y_hat[:, :, 1:, :] - Y_hat[:, :, :-1, :]).abs().mean() +
                  (Y_hat[:, :, :, 1:] - Y_hat[:, :, :, :-1]).abs().mean())


# ----------------------------------------------------------------------------- the loop
class GeneratedImage(nn.Block):
    """The synthesized image as the only parameter (the book's GeneratedImage)."""
    def __init__(self, img_shape, **kwargs):
        super().__init__(**kwargs)
        self.weight = self.params.get('weight', shape=img_shape)

    def forward(self):
        return self.weight.data()


class Styled(NamedTuple):
    image: nd.NDArray      # (1, 3, h, w) normalized, as the net sees it
    losses: np.ndarray     # (steps + 1, 4): content, style, TV and total loss, the first at x0


def transfer(net: nn.Sequential, content_X, style_X, steps: int = 500, lr: float = 0.01,
             lr_decay_every: int = 200, content_layers=CONTENT_LAYERS, style_layers=STYLE_LAYERS,
             weights=WEIGHTS, log=None, tick=None) -> Styled:
    """Adam on the image from content_X, lowering the weighted content, style and TV losses.
    log: called with a line every 50 steps; tick: after each step."""
    ctx = content_X.context
    contents_Y, _ = extract_features(net, content_X, content_layers, style_layers)
    _, styles_Y = extract_features(net, style_X, content_layers, style_layers)
    styles_Y_gram = [gram(Y) for Y in styles_Y]
    gen = GeneratedImage(content_X.shape)
    gen.initialize(init.Constant(content_X), ctx=ctx, force_reinit=True)
    trainer = gluon.Trainer(gen.collect_params(), 'adam', {'learning_rate': lr})
    wc, ws, wt = weights
    history: List[list] = []
    for i in range(steps + 1):
        with autograd.record():
            X = gen()
            contents_hat, styles_hat = extract_features(net, X, content_layers, style_layers)
            c = nd.add_n(*[content_loss(a, b) for a, b in zip(contents_hat, contents_Y)]) * wc
            s = nd.add_n(*[style_loss(a, g) for a, g in zip(styles_hat, styles_Y_gram)]) * ws
            t = tv_loss(X) * wt
            total = c + s + t
        history.append([float(v.asscalar()) for v in (c, s, t, total)])  # syncs every step
        if i == steps:  # the last row is the loss of the returned image
            break
        total.backward()
        trainer.step(1)
        if tick:
            tick()
        if log and (i + 1) % 50 == 0:
            log(f'step {i + 1:4d}: content {history[-1][0]:.2f}, style {history[-1][1]:.2f}, '
                f'TV {history[-1][2]:.2f}')
        if (i + 1) % lr_decay_every == 0:
            trainer.set_learning_rate(trainer.learning_rate * 0.1)
    return Styled(gen.weight.data().copy(), np.array(history))


def style_figure(content: np.ndarray, style: np.ndarray, result: Styled, title: str = ''):
    """Content, style, the synthesized image, and the three losses per step (log scale)."""
    fig = new_figure(12, 3.4)
    axes = fig.subplots(1, 4, width_ratios=[1, 1, 1, 1.1])
    for ax, img, name in zip(axes, (content, style, postprocess(result.image)),
                             ('content', 'style', 'synthesized')):
        ax.imshow(img, interpolation='nearest')
        ax.set_title(name, fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    for k, name in enumerate(('content', 'style', 'TV')):
        axes[3].plot(np.maximum(result.losses[:, k], 1e-12), label=name)
    axes[3].set(yscale='log', xlabel='step', title='weighted losses')
    axes[3].title.set_fontsize(9)
    axes[3].legend(fontsize=8)
    fig.suptitle(title or 'style transfer (d2l zh §9.11)', fontsize=10)
    return fig
