"""The page of a run folder: its net, a test image (by default the first one the net gets
right) or an own image file, and how that image was fed to the net."""
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ...data import ArrayIter, Split, get_labels, load_dataset
from ...errors import ConfigError
from ...runs.load import load_run
from .encoding import b64
from .image import SIDE, preprocess_image
from .page import Explained, marker
from .pipeline import MAX_MAPS, Options, build_data

__all__ = ['explain_run', 'first_right']


def first_right(run, test, batch: int = 256) -> Optional[int]:
    """The index of the first test image the run's net classifies right, or None."""
    info = run.info
    for start in range(0, len(test.labels), batch):
        part = Split(test.images[start:start + batch], test.labels[start:start + batch])
        it = ArrayIter(part, batch, pad=info.pad, value_range=info.value_range,
                       resize=run.cfg.resize)
        for X, y in it:
            right = np.flatnonzero(run.net(X).asnumpy().argmax(axis=1) == y.asnumpy())
            if right.size:
                return start + int(right[0])
    return None


def _test_image(run, names, image: Optional[int]):
    _, test = load_dataset(run.cfg.dataset, run.cfg.data_dir)
    n = len(test.labels)
    chosen = ''
    if image is None:
        image = first_right(run, test)
        chosen = ', the first one the net gets right' if image is not None else \
            ' (the net gets none right)'
        image = image or 0
    if not 0 <= image < n:
        raise ConfigError(f'--image {image}: the test set has images 0..{n - 1}')
    label = int(test.labels[image])
    true = {'k': label, 'name': names[label] if names else str(label)}
    info = {'kind': 'test', 'index': image, 'label': true['name'], 'steps': [],
            'note': f'test image #{image} of {run.cfg.dataset}{chosen}'}
    return test.images[image], true, info


def _file_image(image):
    prep = preprocess_image(image)
    info = {'kind': 'file', 'name': Path(image).name, 'note': prep.note,
            'inverted': prep.inverted,
            'steps': [{'title': title, 'note': note, 'shape': list(arr.shape),
                       'b64': b64(arr, np.uint8)} for title, arr, note in prep.steps]}
    return prep.image, None, info


def explain_run(run_dir, image: Union[int, str, None] = None, steps: int = 30,
                max_maps: int = MAX_MAPS, seed: int = 0) -> Explained:
    """The page for a run folder and a test image index (None: the first test image the net gets
    right), or an image file (PNG/JPEG)."""
    run = load_run(run_dir)
    info = run.info
    names = get_labels(run.cfg.dataset, range(info.classes)) if info.classes == 10 else None
    if isinstance(image, str) and image.lstrip('-').isdigit():
        image = int(image)
    if image is None or isinstance(image, int):
        raw, true, img_info = _test_image(run, names, image)
    else:
        raw, true, img_info = _file_image(image)
    it = ArrayIter(Split(raw[None], np.zeros(1, np.uint8)), 1, pad=info.pad,
                   value_range=info.value_range, resize=run.cfg.resize)
    X = next(iter(it))[0]
    feed = [f'{SIDE}×{SIDE} uint8 → value range {tuple(info.value_range)}']
    if info.pad:
        feed.append(f'padded by {info.pad} on each side')
    if run.cfg.resize:
        feed.append(f'bilinear resize to {run.cfg.resize}×{run.cfg.resize}')
    img_info['feed'] = ', '.join(feed) + f' → model input {tuple(X.shape)}'
    img_info['raw'] = b64(raw, np.uint8)
    loss_note = '' if info.loss is None else (
        f'{run.cfg.model} is trained with {getattr(info.loss, "__name__", "its own loss")}, not '
        f'softmax cross-entropy: the softmax of its scores is shown for reference only')
    acc = run.history[-1]['test_acc'] if run.history else None
    sub = f'run {run.dir} · {info.source} · {len(run.history)} epochs' + \
        (f' · test accuracy {acc:.3f}' if acc is not None else '')
    options = Options(classes=names, history=run.history, title=run.cfg.model, subtitle=sub,
                      value_range=info.value_range, steps=steps, seed=seed, max_maps=max_maps,
                      image=img_info, loss_note=loss_note, true_label=true,
                      marker=marker(run.dir))
    return Explained(build_data(run.net, X, options))
