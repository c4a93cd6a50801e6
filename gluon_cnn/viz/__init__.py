"""Seeing a trained CNN: curves, kernels, feature maps, confusion matrix, mistakes, and x*.

    python -m gluon_cnn.viz all --run runs/lenet-book             # every PNG, next to the run
    python -m gluon_cnn.viz maximize --run DIR --layer 2 --out conv.png
    python -m gluon_cnn.viz layers --run DIR                      # names for --layer
    python -m gluon_cnn.viz explain --run DIR --image 7           # one HTML page, offline
    python -m gluon_cnn.viz fool|dream|rf|graph|shift --run DIR ...     # docs/seeing.md
    python -m gluon_cnn.viz style --content IMG --style IMG --out PNG  # d2l zh §9.11

In Python (Jupyter shows the returned Figures inline; nothing here changes the backend):

>>> run = load_run('runs/lenet-book')
>>> kernels_figure(run)
>>> explain(run.net, x)          # the explainer page, inline (an iframe)
"""
from .explainer import Explained, explain, explain_run
from ..runs.load import Run, load_run
from .dream import dream_figure
from .fields import rf_figure
from .fooling import attack_figure, fool_figure
from .graph import network_graph, write_graph
from .maximization import Maximized, inference_gradients, maximize
from .plots import (plot_confusion, plot_curves, plot_feature_maps, plot_image_grid, plot_kernels,
                    plot_misclassified, save)
from .probe import Captured, capture, confusion_matrix, find_layer, layers, predict
from .run_figures import (feature_maps_figure, kernels_figure, maximize_figure, test_set_figures,
                          write_all)
from .shift import shift_figure
from .style import style_figure, transfer

__all__ = ['plot_confusion', 'plot_curves', 'plot_feature_maps', 'plot_image_grid', 'plot_kernels',
           'plot_misclassified', 'save', 'Maximized', 'inference_gradients', 'maximize', 'Run',
           'Captured', 'capture', 'fool_figure', 'attack_figure', 'dream_figure', 'rf_figure',
           'network_graph', 'write_graph', 'shift_figure', 'style_figure', 'transfer',
           'confusion_matrix', 'find_layer', 'layers', 'load_run', 'predict',
           'feature_maps_figure', 'kernels_figure', 'maximize_figure', 'test_set_figures',
           'write_all', 'Explained', 'explain', 'explain_run']
