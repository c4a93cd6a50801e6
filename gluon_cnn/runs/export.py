"""The trained net as an MXNet symbol graph plus parameters, for graph viewers and other front ends.

    DIR/model-symbol.json   the graph (HybridBlock.export), opens in Netron or mx.viz.plot_network
    DIR/model-0000.params   its parameters, as SymbolBlock.imports and mx.mod.Module load them

`gluon.SymbolBlock.imports(json, ['data'], params)` gives the same outputs as the net
(tests/test_seeing.py). Nets with plain Blocks have no symbol graph: export then says why.
"""
import os
from pathlib import Path
from typing import Optional

import mxnet as mx
from mxnet import autograd, gluon
from mxnet.base import MXNetError

from ..durable import writing

__all__ = ['SYMBOL_FILE', 'EXPORT_PARAMS', 'export_symbol', 'import_symbol']

SYMBOL_FILE, EXPORT_PARAMS = 'model-symbol.json', 'model-0000.params'


def export_symbol(net: gluon.Block, out, input_shape: tuple, ctx=None) -> Optional[str]:
    """Write out/model-symbol.json and out/model-0000.params; None, or why the net cannot be.

    The net is hybridized and run once on zeros of `input_shape` in predict mode (export needs a
    cached graph); both files appear by rename, so a reader never sees half of them.
    """
    if not isinstance(net, gluon.HybridBlock):
        return f'{type(net).__name__} is a plain Block: it has no symbol graph to export'
    out = Path(out)
    tmp = out / f'.export-{os.getpid()}'
    try:
        net.hybridize()
        with autograd.predict_mode():
            net(mx.nd.zeros(input_shape, ctx=ctx or mx.cpu()))
        with writing(out / SYMBOL_FILE, MXNetError):
            net.export(str(tmp), epoch=0)
            os.replace(f'{tmp}-0000.params', out / EXPORT_PARAMS)
            os.replace(f'{tmp}-symbol.json', out / SYMBOL_FILE)
    except (MXNetError, RuntimeError, AssertionError) as e:  # a graph Gluon cannot export
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return f'{type(net).__name__} could not be exported: {reason}'
    finally:
        for suffix in ('-0000.params', '-symbol.json'):
            Path(f'{tmp}{suffix}').unlink(missing_ok=True)
    return None


def import_symbol(run_dir, ctx=None) -> gluon.SymbolBlock:
    """The exported graph of a run folder as a SymbolBlock (input 'data')."""
    run_dir = Path(run_dir)
    return gluon.SymbolBlock.imports(str(run_dir / SYMBOL_FILE), ['data'],
                                     str(run_dir / EXPORT_PARAMS), ctx=ctx or mx.cpu())
