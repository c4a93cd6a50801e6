"""Devices: which contexts a run trains on (d2l zh §4.6 `try_gpu`, §8.4 several devices)."""
import mxnet as mx

from ..errors import ConfigError

__all__ = ['try_gpu', 'try_all_gpus', 'get_ctx', 'get_ctxs']


def try_gpu(i: int = 0):
    """gpu(i) if MXNet sees one, else cpu() (d2l zh §4.6)."""
    return mx.gpu(i) if mx.context.num_gpus() > i else mx.cpu()


def try_all_gpus() -> list:
    """Every GPU MXNet sees, or [cpu()] (d2l zh §8.4)."""
    return [mx.gpu(i) for i in range(mx.context.num_gpus())] or [mx.cpu()]


def get_ctx(spec: str):
    """'cpu', 'cpu:N', 'gpu' or 'gpu:N' -> an MXNet context; a missing GPU is a ConfigError, not a
    fallback. cpu:N are the same cores under another name: d2l zh §8.4's split_and_load over
    [cpu(0), cpu(1)] runs the multi-device code path on a machine without GPUs."""
    if spec == 'cpu':
        return mx.cpu()
    name, _, num = spec.partition(':')
    if name not in ('cpu', 'gpu') or (num and not num.isdigit()):
        raise ConfigError(f"--ctx {spec!r}: use cpu, gpu or gpu:N (or cpu:N), or a list like "
                          "cpu:0,cpu:1", field='--ctx')
    i = int(num or 0)
    if name == 'cpu':
        return mx.cpu(i)
    if mx.context.num_gpus() <= i:
        raise ConfigError(f'--ctx {spec}: MXNet sees {mx.context.num_gpus()} GPU(s) (this mxnet '
                          'build is CPU-only unless you installed mxnet-cuXXX); use --ctx cpu',
                          field='--ctx')
    return mx.gpu(i)


def get_ctxs(spec: str) -> list:
    """'cpu:0,cpu:1' or 'gpu:0,gpu:1' -> a list of contexts for data parallelism (d2l zh §8.5);
    a single name gives a one-element list."""
    ctxs = [get_ctx(part.strip()) for part in spec.split(',')]
    if len(set(ctxs)) != len(ctxs):
        raise ConfigError(f'--ctx {spec}: names a device twice', field='--ctx')
    return ctxs
