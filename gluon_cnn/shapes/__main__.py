"""`python -m gluon_cnn.shapes`: a thin shim over this folder's command module (command.py)."""
import sys

from .command import main

if __name__ == '__main__':
    sys.exit(main())
