"""A run's network as a graph drawing: mx.viz.plot_network on the exported symbol, with shapes.

    python -m gluon_cnn.viz graph --run runs/lenet-book --out graph.png

The graph is the run's model-symbol.json (gluon_cnn.runs.export); a run folder from before the
export existed gets one from its model.params first. Drawing needs Graphviz's `dot` program
(Debian: apt-get install graphviz) and the `graphviz` Python package (`pip install
'graphviz<0.9'`, MXNet's pin); without them `graph` says which one is missing.
"""
import shutil
from pathlib import Path

import mxnet as mx

from ..errors import ConfigError
from ..runs.export import SYMBOL_FILE, export_symbol
from .probe import load_run

__all__ = ['network_graph', 'write_graph']


def _symbol(run_dir: Path):
    """The run's symbol, (1, C, H, W) input shape and model name; exported if not yet there."""
    run = load_run(run_dir)
    shape = run.info.data_shape(run.cfg.resize)
    if not (run_dir / SYMBOL_FILE).is_file():
        why_not = export_symbol(run.net, run_dir, shape)
        if why_not:
            raise ConfigError(f'--run {run_dir}: no graph to draw: {why_not}')
    return mx.sym.load(str(run_dir / SYMBOL_FILE)), shape, run.cfg.model


def network_graph(run_dir, title: str = None):
    """The graphviz.Digraph of a run's net, with each tensor's shape (Jupyter shows it inline)."""
    try:
        import graphviz  # noqa: F401  (mx.viz.plot_network imports it; say so when it is absent)
    except ImportError:
        raise ConfigError("drawing a graph needs the graphviz Python package: "
                          "pip install 'graphviz<0.9'") from None
    run_dir = Path(run_dir)
    sym, shape, model = _symbol(run_dir)
    return mx.viz.plot_network(sym, title=title or model, save_format='png', shape={'data': shape},
                               node_attrs={'fixedsize': 'false'})


def write_graph(run_dir, out) -> Path:
    """Render the run's graph to a PNG file `out`; ConfigError when Graphviz's dot is missing."""
    if shutil.which('dot') is None:
        raise ConfigError("drawing a graph needs Graphviz's dot program: apt-get install graphviz "
                          '(Debian/Ubuntu), brew install graphviz (macOS)')
    dot = network_graph(run_dir)
    out = Path(out)
    dot.format = 'png'
    rendered = Path(dot.render(filename=out.stem, directory=str(out.parent), cleanup=True))
    if rendered != out:
        rendered.replace(out)
    return out
