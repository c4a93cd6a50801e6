"""Fashion-MNIST and MNIST from IDX files, offline, and fast in-memory minibatches.

d2l zh §3.5 loads Fashion-MNIST through Gluon's `FashionMNIST`, which downloads and checks sha1.
Debian's `dataset-fashion-mnist` ships the same images recompressed, so Gluon rejects them; we
read IDX ourselves (gz or raw), validating every header against the file size before allocating.

Where the files are looked for, in order (first hit wins):
  1. an explicit `data_dir` argument (`--data-dir`): only there, nothing else is tried
  2. `$GLUON_CNN_DATA` (the folder itself, or its `<dataset>/` subfolder)
  3. Gluon's cache, `$MXNET_HOME/datasets/<dataset>` (default `~/.mxnet/datasets/...`)
  4. `/usr/share/datasets/<dataset>` (Debian's dataset-fashion-mnist)
  5. Gluon's own download into its cache, for users with internet

Modules: `idx` reads the format, `files` finds the files, `splits` holds them in memory,
`iterators` batches them, `augment` crops and flips on the device, and `offline` makes Gluon's
own readers use the local files.
"""
from .files import DATASETS, FILES, find_data_dir
from .idx import read_idx
from .iterators import ArrayIter, load_data_fashion_mnist
from .splits import FASHION_MNIST_LABELS, NUM_CLASSES, Split, get_labels, load_dataset

__all__ = ['read_idx', 'find_data_dir', 'load_dataset', 'Split', 'ArrayIter',
           'load_data_fashion_mnist', 'DATASETS', 'FILES', 'FASHION_MNIST_LABELS', 'NUM_CLASSES',
           'get_labels']
