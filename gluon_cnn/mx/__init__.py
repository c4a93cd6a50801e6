"""MXNet-specific parts of gluon-cnn."""
