"""Everything is in setup.cfg, except the start-up .pth file that build_py adds to the install.

gluon_cnn-startup.pth makes `import mxnet` work whatever is imported first (_gluon_cnn_startup.py).
pip installs a wheel's top-level files into site-packages, where Python's `site` runs .pth files.
A regular wheel takes the file from build_lib. An editable wheel (`pip install -e .`, `make setup`)
is built by setuptools' editable_wheel, which keeps only links from build_lib and packs what the
install command's install_lib holds, so in editable mode the file goes there.
tests/test_startup.py installs both ways into a fresh venv and runs the book's §5.1 script.
"""
import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = 'gluon_cnn-startup.pth'
PTH_LINE = 'import _gluon_cnn_startup\n'  # site executes a .pth line that starts with `import`


class BuildPyWithPth(build_py):
    """build_py, plus the .pth file at the top of what is installed (site-packages)."""

    def run(self):
        super().run()
        folder = (self.get_finalized_command('install').install_lib
                  if getattr(self, 'editable_mode', False) else self.build_lib)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, PTH), 'w') as f:
            f.write(PTH_LINE)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, 'editable_mode', False):
            return outputs
        return outputs + [os.path.join(self.build_lib, PTH)]


setup(cmdclass={'build_py': BuildPyWithPth})
