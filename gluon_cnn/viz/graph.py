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

from ..durable import write_bytes_atomic
from ..errors import ConfigError
from ..runs.export import SYMBOL_FILE, export_symbol
from ..runs.load import load_run

__all__ = ['network_graph', 'write_graph']


def _symbol(run_dir: Path):
    """The run's symbol, (1, C, H, W) input shape and model name; exported if not yet there."""
    run = load_run(run_dir)
    shape = run.info.data_shape(run.cfg.resize)
    path = run_dir / SYMBOL_FILE
    if path.exists() and not path.is_file():
        raise _damaged(path, ValueError('not a file'))
    if not path.exists():
        why_not = export_symbol(run.net, run_dir, shape)
        if why_not:
            raise ConfigError(f'--run {run_dir}: no graph to draw: {why_not}')
    try:
        text = path.read_text(encoding='utf-8')
    except UnicodeDecodeError as e:
        raise _damaged(path, ValueError(f'not UTF-8 text: byte {e.start}')) from None
    if not text.strip('\x00 \n\t'):
        raise _damaged(path, ValueError('the file is empty'))
    try:
        return mx.sym.load_json(text.replace('\x00', ' ')), shape, run.cfg.model
    except UnicodeDecodeError:  # MXNet's message quoted bytes past the end of a truncated file
        raise _damaged(path, ValueError('MXNet cannot parse it as a symbol graph')) from None
    except _DAMAGED as e:
        raise _damaged(path, e) from None


# what MXNet's JSON reader and plot_network raise on a damaged graph file
_DAMAGED = (mx.base.MXNetError, UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError,
            AttributeError)


def _damaged(path: Path, e: Exception) -> ConfigError:
    lines = [l.strip() for l in str(e).splitlines() if l.strip()]
    useful = [l for l in lines if 'Check failed' in l or 'Error at' in l] or lines
    reason = useful[0][:160] if useful else type(e).__name__
    return ConfigError(f'{path} is damaged ({type(e).__name__}: {reason}); delete it and run '
                       'graph again, which exports it anew from model.params')


def network_graph(run_dir, title: str = None):
    """The graphviz.Digraph of a run's net, with each tensor's shape (Jupyter shows it inline)."""
    try:
        import graphviz  # noqa: F401  (mx.viz.plot_network imports it; say so when it is absent)
    except ImportError:
        raise ConfigError("drawing a graph needs the graphviz Python package: "
                          "pip install 'graphviz<0.9'") from None
    run_dir = Path(run_dir)
    sym, shape, model = _symbol(run_dir)
    try:
        return mx.viz.plot_network(sym, title=title or model, save_format='png',
                                   shape={'data': shape}, node_attrs={'fixedsize': 'false'})
    except _DAMAGED as e:
        raise _damaged(run_dir / SYMBOL_FILE, e) from None


def write_graph(run_dir, out) -> Path:
    """Render the run's graph to a PNG file `out` (through the atomic writer); ConfigError when
    Graphviz's dot is missing."""
    if shutil.which('dot') is None:
        raise ConfigError("drawing a graph needs Graphviz's dot program: apt-get install graphviz "
                          '(Debian/Ubuntu), brew install graphviz (macOS)')
    dot = network_graph(run_dir)
    try:
        png = dot.pipe(format='png')
    except (OSError, RuntimeError) as e:  # dot failed (graphviz's CalledProcessError is either)
        raise ConfigError(f"Graphviz's dot could not draw the graph: {str(e)[:160]}") from None
    return write_bytes_atomic(out, png)
