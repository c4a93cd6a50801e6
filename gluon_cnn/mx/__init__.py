"""The ground under everything: MXNet 1.9.1's compatibility shims (`compat`), its private
attributes in one audited module (`internals`), and numpy mode decided in one place (`npmode`)."""
