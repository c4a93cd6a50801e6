"""The constructor arguments a registry model accepts (`--model-kwargs`), checked before it is
built: an unknown name or a value the constructor refuses is one ConfigError naming the flag and
the arguments the model takes, not a traceback from inside Gluon.

The accepted names are read with `inspect.signature` from the registered constructor and, where
it forwards `**kwargs`, from the functions and classes of gluon_cnn it calls (`lenet(**kw)` ->
`get_lenet(act=..., channels=..., **kwargs)`), down to Gluon's Block (`prefix`, `params`).
"""
import ast
import inspect
import json
import textwrap
from typing import Optional

from ..errors import ConfigError
from .registry import model_info

__all__ = ['accepted_arguments', 'build_model']

_BLOCK_ARGUMENTS = ('prefix', 'params')  # what gluon.Block.__init__ takes from **kwargs
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def accepted_arguments(name: str) -> Optional[list]:
    """Sorted keyword arguments model `name` accepts, or None when they cannot be told."""
    names, seen = set(), set()
    if not _visit(model_info(name).build, names, seen):
        return None
    return sorted(names)


def _visit(fn, names: set, seen: set) -> bool:
    """Add fn's named parameters to `names`; follow its **kwargs into the calls it is passed to.
    False when a **kwargs leads somewhere this cannot read."""
    if id(fn) in seen:
        return True
    seen.add(id(fn))
    if inspect.isclass(fn):
        if fn.__init__ is object.__init__:
            return True
        target = fn.__init__
    else:
        target = fn
    try:
        params = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return False
    names.update(p.name for p in params if p.kind in _NAMED and p.name != 'self')
    var_kw = next((p.name for p in params if p.kind is inspect.Parameter.VAR_KEYWORD), None)
    if var_kw is None:
        return True
    from mxnet import gluon
    ok = True
    for callee in _forwarded_to(target, var_kw):
        if callee is None:
            ok = False
        elif inspect.isclass(callee) and issubclass(callee, gluon.Block) and \
                not callee.__module__.startswith('gluon_cnn'):
            names.update(_BLOCK_ARGUMENTS)  # Gluon's own layers and containers
        else:
            ok = _visit(callee, names, seen) and ok
    return ok


def _forwarded_to(fn, var_kw: str) -> list:
    """What fn passes its **var_kw to: the callee of every call with `**var_kw` (or `**{...,
    **var_kw}`) in its source, resolved in its globals and closure; None for one it cannot
    resolve. `super().__init__(**kwargs)` resolves to gluon.Block."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return [None]
    scope = dict(fn.__globals__)
    if fn.__closure__:
        scope.update((n, c.cell_contents) for n, c in zip(fn.__code__.co_freevars, fn.__closure__)
                     if _filled(c))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if not any(k.arg is None and any(isinstance(n, ast.Name) and n.id == var_kw
                                         for n in ast.walk(k.value)) for k in node.keywords):
            continue
        found.append(_resolve(node.func, scope))
    return found


def _resolve(func, scope: dict):
    """The object a call's func expression names (a.b.c, or super().__init__), else None."""
    from mxnet import gluon
    if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
            and isinstance(func.value.func, ast.Name) and func.value.func.id == 'super'):
        return gluon.Block
    parts = []
    while isinstance(func, ast.Attribute):
        parts.insert(0, func.attr)
        func = func.value
    if not isinstance(func, ast.Name) or func.id not in scope:
        return None
    obj = scope[func.id]
    for part in parts:
        obj = getattr(obj, part, None)
    return obj if callable(obj) else None


def _filled(cell) -> bool:
    try:
        cell.cell_contents
        return True
    except ValueError:
        return False


def build_model(name: str, kwargs: Optional[dict] = None, flag: str = '--model-kwargs'):
    """get_model(name, **kwargs), with kwargs checked first against what the model accepts."""
    kwargs = kwargs or {}
    build = model_info(name).build
    accepted = accepted_arguments(name)
    takes = f'{name} accepts: {", ".join(accepted)}' if accepted else ''
    unknown = sorted(set(kwargs) - set(accepted)) if accepted is not None else []
    if unknown:
        raise ConfigError(f'{flag}: {name} takes no argument {", ".join(map(repr, unknown))}; '
                          f'{takes}', field=flag)
    try:
        return build(**kwargs)
    except Exception as e:  # noqa: BLE001 -- any refusal of a user's value becomes one line
        why = str(e).strip().splitlines()[0][:160] if str(e).strip() else ''
        raise ConfigError(f'{flag} {json.dumps(kwargs)}: {name} cannot be built with these '
                          f'values ({type(e).__name__}{": " + why if why else ""})'
                          f'{"; " + takes if takes else ""}', field=flag) from None
