"""One self-contained HTML page that shows how a trained net sees one image (a CNN Explainer).

    python -m gluon_cnn.viz explain --run runs/lenet-book            # the first image it gets right
    python -m gluon_cnn.viz explain --run runs/lenet-book --image 7 --out lenet.html
    python -m gluon_cnn.viz explain --run runs/lenet-book --image shoe.jpg

In Jupyter, `explain(net, x)` returns an `Explained` whose `_repr_html_` shows the same page.

The page has no server, CDN or network access: the data is embedded as JSON and drawn by plain
JS on canvas. Every number comes from the net itself (forward hooks on its layers) and from
`gluon_cnn.trace` (the column headers, the shape formulas). Values the page does arithmetic with
(conv inputs, kernels, outputs) are embedded as exact float32 (base64 of little-endian bytes);
the maps of the overview as uint8 on one colour scale per layer, which keeps LeNet's page well
under a megabyte.

Modules: `pipeline` (the stages and their `Options`), `structure` (columns and what each layer
reads), `details` (the arithmetic a click shows), `learned` (kernels and class images), `image`
(an own image file), `encoding` (arrays and JSON in HTML), `page` (template, atomic write and
the overwrite rule), `from_run` (a run folder's page); templates/ holds the page and its
arithmetic (`explain_math.js`, which the tests also run in node).
"""
from typing import Optional, Sequence

from mxnet import gluon

from .encoding import decode, json_script
from .from_run import explain_run
from .image import preprocess_image
from .page import Explained, check_out, marker, render
from .pipeline import MAX_MAPS, Options, build_data

__all__ = ['Explained', 'Options', 'explain', 'explain_run', 'preprocess_image', 'build_data',
           'render', 'decode', 'json_script', 'check_out', 'marker']


def explain(net: gluon.Block, x, *, classes: Optional[Sequence[str]] = None,
            history: Optional[list] = None, title: str = '', value_range=(0.0, 1.0),
            steps: int = 30, max_maps: int = MAX_MAPS) -> Explained:
    """The explainer page for `net` on input x ((1, C, H, W), (C, H, W) or (H, W), as the net
    takes it: no preprocessing is applied); in Jupyter the result shows inline.

    classes : class names (default '0', '1', ...); history : epoch dicts for the curves.
    steps : gradient-ascent steps of the class images (0: none).
    """
    return Explained(build_data(net, x, Options(
        classes=classes, history=history or [], title=title, value_range=tuple(value_range),
        steps=steps, max_maps=max_maps)))
