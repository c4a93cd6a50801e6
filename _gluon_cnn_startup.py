"""Run at interpreter start-up (gluon_cnn-startup.pth): MXNet 1.9.1 gets gluon_cnn's numpy shims
whatever a script imports first, e.g. the book's `from mxnet import nd` (d2l zh §5.1).

Python's `site` runs every `import` line of a .pth file in site-packages when the interpreter
starts; pip puts this one there with the package (setup.py, for regular and editable installs).
Start-up stays cheap: nothing is imported here. A finder waits first on `sys.meta_path` for the
first `import mxnet`; then it loads gluon_cnn/backend/compat.py (numpy and the shims, never mxnet
nor the rest of gluon_cnn), steps aside, and MXNet is found and loaded as usual.
Set GLUON_CNN_NO_STARTUP=1 to turn it off.
"""
import os
import sys

COMPAT = 'gluon_cnn.backend.compat'


class BeforeMXNet:
    """A meta path finder that finds nothing: it applies the shims on the first `import mxnet`."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name == 'mxnet':
            uninstall()
            load_compat()
        return None  # the regular finders load mxnet


def load_compat():
    """Execute gluon_cnn/backend/compat.py as the module gluon_cnn.backend.compat, without importing
    the gluon_cnn package (whose __init__ imports mxnet); gluon_cnn.backend reuses it later."""
    import importlib.util
    if COMPAT in sys.modules:
        return
    package = importlib.util.find_spec('gluon_cnn')  # a top-level name: found, not imported
    if package is None or not package.submodule_search_locations:
        return  # uninstalled under us: MXNet loads without the shims, as it would without us
    for folder in package.submodule_search_locations:
        path = os.path.join(folder, 'backend', 'compat.py')
        if os.path.exists(path):
            break
    else:
        return
    spec = importlib.util.spec_from_file_location(COMPAT, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[COMPAT] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[COMPAT]
        raise


def install():
    """Put the finder first on sys.meta_path (once); nothing when mxnet is already imported."""
    if os.environ.get('GLUON_CNN_NO_STARTUP') or 'mxnet' in sys.modules:
        return
    if BeforeMXNet not in sys.meta_path:
        sys.meta_path.insert(0, BeforeMXNet)


def uninstall():
    if BeforeMXNet in sys.meta_path:
        sys.meta_path.remove(BeforeMXNet)


install()
