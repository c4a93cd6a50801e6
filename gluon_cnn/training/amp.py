"""Automatic mixed precision: `--amp bf16`."""
from ..backend import cpu
from ..errors import ConfigError

__all__ = ['check_amp', 'enable_amp']


def check_amp(mode: str) -> None:
    """A ConfigError (field '--amp') when this CPU cannot run `mode`: bf16 needs AVX-512
    (oneDNN's avx512_core); without it MXNet fails at the first convolution with "could not
    create a primitive descriptor iterator". Call it before any work."""
    missing = cpu.AVX512_CORE - cpu.flags()
    if mode == 'bf16' and missing:
        raise ConfigError(f'--amp bf16 needs a CPU with AVX-512 (oneDNN runs bfloat16 only '
                          f'there); this one lacks {", ".join(sorted(missing))}: train without '
                          f'--amp', field='--amp')


def enable_amp(mode: str):
    """'bf16': run MXNet's automatic mixed precision in bfloat16 from here on (mx.contrib.amp,
    which rewrites the operator namespaces: call it before building the net; it cannot be undone
    in this process). 'none' does nothing. Parameters and optimizer states stay float32."""
    if mode == 'none':
        return
    check_amp(mode)
    from mxnet.contrib import amp
    amp.init(target_dtype='bfloat16')
