"""An own image (PNG/JPEG of any size) as a Fashion-MNIST-like input, with every step shown."""
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ...errors import DataError

__all__ = ['SIDE', 'Prepared', 'preprocess_image']

SIDE = 28  # Fashion-MNIST's side, what an own image is turned into first


class Prepared(NamedTuple):
    image: np.ndarray      # (28, 28) uint8, light item on black, as in Fashion-MNIST
    steps: list            # [(title, uint8 array (H, W) or (H, W, 3), note)]
    inverted: bool
    note: str


def _thumb(img, side: int = 112):
    im = img.copy()
    im.thumbnail((side, side))
    return im


def preprocess_image(path, side: int = SIDE) -> Prepared:
    """A PNG/JPEG of any size as a Fashion-MNIST-like image: grayscale, square, side x side,
    light on black (inverted when its border is light, as a photo on a white table is)."""
    from PIL import Image, UnidentifiedImageError  # matplotlib's own dependency

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            img = im.copy()
    except FileNotFoundError:
        raise DataError(f'--image {path}: no such file') from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f'--image {path}: cannot read it as an image ({type(e).__name__}: '
                        f'{str(e)[:80]})') from None
    steps = []
    if img.mode in ('RGBA', 'LA', 'PA') or (img.mode == 'P' and 'transparency' in img.info):
        rgba = img.convert('RGBA')
        flat = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(flat, rgba)  # transparent parts count as a white background
    rgb = img.convert('RGB')
    steps.append((f'your image {img.width}×{img.height}', np.asarray(_thumb(rgb)),
                  f'{path.name}, mode {img.mode}'))
    gray = rgb.convert('L')  # ITU-R 601 luma: L = 0.299 R + 0.587 G + 0.114 B
    g = np.asarray(gray, dtype=np.uint8)
    steps.append(('grayscale', np.asarray(_thumb(gray)), 'L = 0.299 R + 0.587 G + 0.114 B'))
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    fill = int(np.median(border))
    w, h = gray.size
    n = max(w, h)
    square = Image.new('L', (n, n), fill)
    square.paste(gray, ((n - w) // 2, (n - h) // 2))
    small = np.asarray(square.resize((side, side), Image.Resampling.LANCZOS), dtype=np.uint8)
    steps.append((f'resized to {side}×{side}', small,
                  f'padded to a {n}×{n} square with its border colour, then Lanczos'))
    light = float(np.mean(border)) > 127.5
    if light:
        small = 255 - small
        note = (f'inverted: the border is light (mean {np.mean(border):.0f}/255) and '
                f'Fashion-MNIST items are light on black')
    else:
        note = (f'not inverted: the border is already dark (mean {np.mean(border):.0f}/255), as '
                f'in Fashion-MNIST (light items on black)')
    steps.append(('polarity', small, note))
    return Prepared(small, steps, light, note)
