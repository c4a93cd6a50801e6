"""python -m gluon_cnn.backend.fastops [--force]: build (if needed) and load the library."""
import sys

from . import build, library_path, load, reason

if '--force' in sys.argv[1:]:
    try:
        build(force=True)
    except RuntimeError as e:
        sys.exit(str(e))
ok = load()
print(library_path() if ok else reason())
sys.exit(0 if ok else 1)
