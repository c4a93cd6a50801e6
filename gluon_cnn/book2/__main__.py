"""python -m gluon_cnn.book2 (gluon_cnn/book2/command.py)."""
import sys

from .command import main

sys.exit(main())
