"""What this CPU can run, from the kernel's /proc/cpuinfo flags (Linux; none known elsewhere)."""
from pathlib import Path

__all__ = ['flags', 'AVX512_CORE']

# oneDNN's "avx512_core": the least its bfloat16 kernels need (emulated; avx512_bf16 or AMX
# run them natively); MXNet 1.9.1's oneDNN 2.x has no bfloat16 convolution below it
AVX512_CORE = frozenset({'avx512f', 'avx512bw', 'avx512vl', 'avx512dq'})


def flags() -> frozenset:
    """The first processor's feature flags ('avx2', 'fma', 'avx512f', ...), empty when unknown."""
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('flags'):
                return frozenset(line.split(':', 1)[1].split())
    except OSError:
        pass
    return frozenset()
