"""Run at interpreter start-up (gluon_cnn-startup.pth): MXNet 1.9.1 gets gluon_cnn's numpy shims
whatever a script imports first, e.g. the book's `from mxnet import nd` (d2l zh §5.1).

Python's `site` runs every `import` line of a .pth file in site-packages when the interpreter
starts; pip puts this one there with the package (setup.py, for regular and editable installs).
Start-up stays cheap: nothing is imported here. A finder waits first on `sys.meta_path` for the
first `import mxnet`; then it loads gluon_cnn/backend/compat.py (numpy and the shims, never mxnet
nor the rest of gluon_cnn), steps aside, and MXNet is found and loaded as usual.
A second finder waits for the 2nd edition's `from d2l import mxnet as d2l` (d2l 1.0.3): once
d2l.mxnet has run, it hands the module to gluon_cnn.book2.adopt, which makes it read the local
Fashion-MNIST files (and cuts training short in quick mode), so the book's lines run unchanged.
Set GLUON_CNN_NO_STARTUP=1 to turn both off.
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


class AfterD2L:
    """A meta path finder for `d2l.mxnet` that lets the regular finders find it, then runs
    gluon_cnn.book2.adopt(module) right after the module has been executed."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != 'd2l.mxnet':
            return None
        import importlib.machinery
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, 'exec_module'):
            return spec
        sys.meta_path.remove(cls)
        spec.loader = AdoptingLoader(spec.loader)
        return spec


class AdoptingLoader:
    """The regular loader of d2l.mxnet, followed by gluon_cnn.book2.adopt."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        from gluon_cnn.book2 import adopt  # mxnet is loaded by now: d2l.mxnet imported it
        adopt(module)

    def __getattr__(self, name):  # get_source, get_code, ... for tracebacks and inspect
        return getattr(self.loader, name)


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
    """Put the finders first on sys.meta_path (once each); BeforeMXNet not when mxnet is
    already imported, AfterD2L not when d2l.mxnet is."""
    if os.environ.get('GLUON_CNN_NO_STARTUP'):
        return
    if 'd2l.mxnet' not in sys.modules and AfterD2L not in sys.meta_path:
        sys.meta_path.insert(0, AfterD2L)
    if 'mxnet' not in sys.modules and BeforeMXNet not in sys.meta_path:
        sys.meta_path.insert(0, BeforeMXNet)


def uninstall():
    if BeforeMXNet in sys.meta_path:
        sys.meta_path.remove(BeforeMXNet)


install()
