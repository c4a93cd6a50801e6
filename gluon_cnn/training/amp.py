"""Automatic mixed precision: `--amp bf16`."""

__all__ = ['enable_amp']


def enable_amp(mode: str):
    """'bf16': run MXNet's automatic mixed precision in bfloat16 from here on (mx.contrib.amp,
    which rewrites the operator namespaces: call it before building the net; it cannot be undone
    in this process). 'none' does nothing. Parameters and optimizer states stay float32."""
    if mode == 'none':
        return
    from mxnet.contrib import amp
    amp.init(target_dtype='bfloat16')
