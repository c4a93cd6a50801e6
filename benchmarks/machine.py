"""The machine a benchmark ran on, named the same way in every report: `lscpu`'s model name and
the logical CPUs this process sees (every number is this machine's)."""
import os
import subprocess


def machine() -> str:
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
    except OSError:
        out = ''
    model = next((line.split(':', 1)[1].strip() for line in out.splitlines()
                  if line.startswith('Model name')), 'unknown CPU')
    return f'{model}, {os.cpu_count()} logical CPUs'
