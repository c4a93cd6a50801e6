"""Memory costs the chapter-5 exercises compare: peak resident memory, measured in a fresh process.

Multiply-adds come from the tracer: `trace(net, shape).total_macs` counts one multiply-accumulate
per weight use (fvcore's convention), what He et al. (2016) Table 1 calls "FLOPs".
"""
import json
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

from ..errors import GluonCNNError

__all__ = ['in_fresh_process', 'peak_rss_bytes', 'rss_bytes', 'PeakAbove']


# ru_maxrss is in KiB on Linux: the most this process has held in RAM at once
def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# resident memory now (Linux /proc), not the lifetime peak
def rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize()


class PeakAbove:
    """`with PeakAbove() as m: ...` then m.added: the highest resident memory seen during the
    block, minus the resident memory at its start (sampled every `every` seconds). Unlike
    ru_maxrss, an earlier peak (say, while the dataset was decoded) does not hide it."""

    def __init__(self, every: float = 0.005):
        self.every, self.added = every, 0

    def __enter__(self):
        self.start, self.peak, self._stop = rss_bytes(), rss_bytes(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
        self.added = self.peak - self.start


def in_fresh_process(fn, *args, **kwargs):
    """Run the module-level `fn(*args, **kwargs)` in a new Python process; return its result.

    A peak-memory reading is only about one configuration if the process has run nothing else
    (ru_maxrss never goes down, and MXNet's memory pool keeps what it once took). Arguments and
    result travel as JSON; the child imports `fn` by name, whatever the parent's __main__ is.
    """
    job = json.dumps({'module': fn.__module__, 'name': fn.__qualname__, 'args': args,
                      'kwargs': kwargs})
    done = subprocess.run([sys.executable, '-c', _CHILD], input=job, capture_output=True,
                          text=True, env={**os.environ, 'PYTHONPATH': _ROOT})
    if done.returncode != 0:
        raise GluonCNNError(f'{fn.__qualname__} failed in its own process:\n'
                            + done.stderr.strip()[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


_ROOT = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                      os.environ.get('PYTHONPATH')]))
_CHILD = """
import importlib, json, sys
job = json.load(sys.stdin)
fn = getattr(importlib.import_module(job['module']), job['name'])
print(json.dumps(fn(*job['args'], **job['kwargs']), default=float))
"""
