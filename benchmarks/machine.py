"""The machine a benchmark ran on, named the same way in every report (`lscpu`'s model name and
the logical CPUs this process sees), and an estimate of its peak FLOP/s, the limit that
benchmarks/bench_train.py measures images/s against."""
import os
import subprocess


def _lscpu() -> dict:
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
    except OSError:
        out = ''
    return {k.strip(): v.strip() for k, _, v in (line.partition(':') for line in out.splitlines())}


def machine() -> str:
    return f"{_lscpu().get('Model name', 'unknown CPU')}, {os.cpu_count()} logical CPUs"


def clock_mhz(info: dict) -> tuple:
    """(MHz, where from): lscpu's 'CPU max MHz', else 'CPU MHz', else BogoMIPS / 2 (on x86
    Linux calibrates BogoMIPS as twice the TSC frequency, the nominal clock)."""
    for key in ('CPU max MHz', 'CPU MHz'):
        if info.get(key):
            return float(info[key]), f"lscpu's {key}"
    if info.get('BogoMIPS'):
        return float(info['BogoMIPS']) / 2, 'BogoMIPS / 2 (the TSC clock)'
    return float('nan'), 'no clock in lscpu'


def flop_per_cycle(flags) -> tuple:
    """(fp32 FLOP per cycle per core, why): 2 FMA pipes x fp32 lanes of the widest vector the
    flags name (16 with AVX-512, 8 with AVX2 + FMA, 4 with SSE) x 2 FLOP per FMA (a multiply and
    an add). Two FMA pipes is what AMD Zen 1-4 and Intel server cores since Haswell have (Zen 4
    runs AVX-512 on 256-bit halves, so it counts as AVX2)."""
    flags = set(flags)
    if 'avx512f' in flags and 'GenuineIntel' in flags:
        return 2 * 16 * 2, 'AVX-512 FMA: 2 pipes x 16 lanes x 2'
    if {'avx2', 'fma'} <= flags:
        return 2 * 8 * 2, 'AVX2 FMA: 2 pipes x 8 lanes x 2'
    return 2 * 4, 'SSE: 2 pipes x 4 lanes, no FMA'


def peak_flops() -> tuple:
    """(FLOP/s, how it was estimated): cores this process may use x clock x fp32 FLOP per
    cycle. An upper bound no real kernel reaches (memory, the non-FMA work and turbo limits all
    cost)."""
    info = _lscpu()
    flags = info.get('Flags', '').split()
    if info.get('Vendor ID'):
        flags.append(info['Vendor ID'])
    mhz, clock_src = clock_mhz(info)
    per_cycle, why = flop_per_cycle(flags)
    cpus = len(os.sched_getaffinity(0))
    try:  # hyperthreads share their core's FMA pipes: count cores
        cpus = min(cpus, int(info['Core(s) per socket']) * int(info['Socket(s)']))
    except (KeyError, ValueError):
        pass
    return (cpus * mhz * 1e6 * per_cycle,
            f'{cpus} cores x {mhz / 1000:.2f} GHz ({clock_src}) x {per_cycle} fp32 FLOP/cycle '
            f'({why})')


def torch_threads() -> int:
    """The threads PyTorch should use beside MXNet: the cores this process may run on. PyTorch
    takes its default from OpenMP's, and once MXNet is imported that reads 1 (measured: a
    single-threaded PyTorch arm, half the machine), so the torch arms set it explicitly."""
    return len(os.sched_getaffinity(0))
