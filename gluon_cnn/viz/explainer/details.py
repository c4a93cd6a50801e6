"""What a click on a conv, pooling or dense layer shows: its input, weights and output as exact
float32, so the page can redo the arithmetic of any output value (d2l zh §5.1-5.4)."""
import numpy as np

from ...backend import internals

__all__ = ['ACTIVATIONS', 'scale', 'conv_detail', 'pool_detail', 'dense_detail',
           'MAX_DETAIL_VALUES', 'MAX_DENSE_WEIGHTS', 'MAX_PAGE_VALUES']

MAX_DETAIL_VALUES = 400_000  # exact float32 values embedded per conv detail (input + kernels)
MAX_DENSE_WEIGHTS = 400_000  # a Dense's weights are embedded (for its arithmetic) up to this
MAX_PAGE_VALUES = 1_500_000  # exact float32 values on one page (about 8 MB of base64)
ACTIVATIONS = ('relu', 'sigmoid', 'tanh', 'softrelu', 'softsign')  # the page's JS has these


def scale(a, value_range=None) -> dict:
    """One colour scale for a whole layer (every channel), as CNN Explainer colours a layer:
    diverging blue (negative), white (0), red (positive) over ±max|a|; or grey over the model's
    input range for the input (value_range). min/max are the layer's own, for the legend."""
    a = np.asarray(a, dtype=np.float64)
    lo, hi = float(a.min()), float(a.max())
    if value_range is not None:
        return {'kind': 'grey', 'lo': float(value_range[0]), 'hi': float(value_range[1]),
                'min': lo, 'max': hi}
    return {'kind': 'diverging', 'lo': -max(abs(lo), abs(hi)), 'hi': max(abs(lo), abs(hi)),
            'min': lo, 'max': hi}


def _np(a) -> np.ndarray:
    return a.asnumpy() if hasattr(a, 'asnumpy') else np.asarray(a)


def _settings(block) -> dict:
    """A conv or pooling layer's operator settings (kernel, stride, pad, layout...)."""
    return dict(internals.layer_kwargs(block))


def conv_detail(tensors, base: dict, row, block, x_in, y_out, max_maps: int,
                in_scale: dict) -> dict:
    kw = _settings(block)
    d = dict(base, kind='conv')
    if len(row.kernel or ()) != 2 or kw.get('layout', 'NCHW') != 'NCHW':
        d['unavailable'] = 'only 2-D convs in NCHW layout are worked out here'
        return d
    x, y = _np(x_in)[0], _np(y_out)[0]                     # (Ci, H, W), (Co, Ho, Wo)
    w = block.weight.data().asnumpy()                      # (Co, Ci / groups, kh, kw)
    co = min(max_maps, y.shape[0])
    size = x.size + co * w[0].size
    d.update(k=list(row.kernel), s=list(row.stride), p=list(row.padding), d=list(row.dilation),
             groups=int(kw.get('num_group', 1)), act=row.activation, cin=x.shape[0],
             cout=y.shape[0], in_hw=list(x.shape[1:]), out_hw=list(y.shape[1:]), shown=co,
             in_scale=in_scale, out_scale=scale(y))
    if row.activation and row.activation not in ACTIVATIONS:
        d['unavailable'] = f'activation {row.activation!r} is not worked out here'
    elif size > MAX_DETAIL_VALUES:
        d['unavailable'] = (f'{size:,} input and kernel values: more than this page embeds per '
                            f'layer ({MAX_DETAIL_VALUES:,})')
    elif tensors.values + size > MAX_PAGE_VALUES:
        d['unavailable'] = (f'the page already holds {tensors.values:,} exact values, its budget; '
                            f'the layers before this one are worked out')
    else:
        b = block.bias.data().asnumpy()[:co] if block.bias is not None else np.zeros(co)
        d.update(input=tensors.f32(x), weight=tensors.f32(w[:co]), bias=[float(v) for v in b],
                 has_bias=block.bias is not None, output=tensors.f32(y[:co]))
    return d


def pool_detail(tensors, base: dict, row, block, x_in, y_out, max_maps: int,
                in_scale: dict) -> dict:
    kw = _settings(block)
    x, y = _np(x_in)[0], _np(y_out)[0]
    d = dict(base, kind='pool')
    if x.ndim != 3 or len(row.kernel or ()) != 2 or kw.get('layout', 'NCHW') != 'NCHW':
        d['unavailable'] = 'only 2-D pooling in NCHW layout is worked out here'
        return d
    c = min(max_maps, y.shape[0])
    mode = kw.get('pool_type', 'max')
    d.update(mode=mode, k=list(row.kernel), s=list(row.stride), p=list(row.padding),
             ceil=kw.get('pooling_convention') == 'full', whole=bool(kw.get('global_pool')),
             count_include_pad=kw.get('count_include_pad', True) is not False,
             cin=x.shape[0], in_hw=list(x.shape[1:]), out_hw=list(y.shape[1:]), shown=c,
             input=tensors.f32(x[:c]), output=tensors.f32(y[:c]), in_scale=in_scale,
             out_scale=scale(y))
    if mode not in ('max', 'avg'):
        d['unavailable'] = f'{mode} pooling is not worked out here'
    return d


def dense_detail(tensors, base: dict, row, block, x_in, y_out) -> dict:
    x, y = _np(x_in), _np(y_out)
    flat = x.reshape(x.shape[0], -1)[0]
    w = block.weight.data().asnumpy()
    d = dict(base, kind='dense', act=row.activation, in_shape=list(x.shape), n_in=int(flat.size),
             units=int(y.shape[-1]), flatten=row.formula, input=tensors.f32(flat),
             output=tensors.f32(y[0]))
    if x.ndim > 2:  # d2l zh §5.2's shape rule, flattened: every (c, h, w) value is one input
        d['flatten_terms'] = [int(v) for v in x.shape[1:]]
    if row.activation and row.activation not in ACTIVATIONS:
        d['unavailable'] = f'activation {row.activation!r} is not worked out here'
    elif w.size <= MAX_DENSE_WEIGHTS and w.shape[1] == flat.size:
        b = block.bias.data().asnumpy() if block.bias is not None else np.zeros(w.shape[0])
        d.update(weight=tensors.f32(w), bias=[float(v) for v in b])
    else:
        d['unavailable'] = f'{w.size:,} weights: more than this page embeds per layer'
    return d
