"""python -m gluon_cnn.viz: figures of a trained run (the command is gluon_cnn.viz.command)."""
import sys

from .command import main

if __name__ == '__main__':
    sys.exit(main())
