"""What the net learned, independent of the image: its first-layer kernels and, for every class,
the input that maximizes its score (Simonyan et al. 2014), made by a fixed number of seeded
gradient steps, so the same run always gives the same page."""
import numpy as np

from ...backend import blocks
from ..maximization import maximize

__all__ = ['MAX_CLASS_IMAGE_MACS', 'learned']

# the class images cost about 3 passes (forward, backward) of every class per step; above this
# many multiply-accumulates the page leaves them out rather than run for minutes
MAX_CLASS_IMAGE_MACS = 2e11


def learned(net, tensors, shape: tuple, value_range, steps: int, names: list, macs,
            seed: int = 0) -> dict:
    """{'filters': the first conv's kernels, 'maximized': the class images (or a note why not)}.

    shape : the model input (1, C, H, W); macs : one forward pass's multiply-accumulates.
    """
    out = {}
    first = next((b for _, b in blocks.walk(net) if blocks.layer_kind(b) == 'conv'), None)
    if first is not None:
        w = first.weight.data().asnumpy()[:64]
        m = float(np.abs(w).max()) or 1.0
        out['filters'] = {'name': first.name, 'shape': list(first.weight.shape),
                          'tensor': tensors.f32(w), 'scale': m}
    if steps <= 0:
        return out
    cost = 3 * (steps + 1) * len(names) * (macs or 0)
    if cost > MAX_CLASS_IMAGE_MACS:
        out['maximized_note'] = (f'no class images: {steps} steps of {len(names)} classes cost '
                                 f'about {cost:.1e} multiply-accumulates on this net, more than '
                                 f'the page spends ({MAX_CLASS_IMAGE_MACS:.0e}); pass fewer '
                                 f'--steps')
        return out
    lo, hi = value_range
    r = maximize(net, None, range(len(names)), shape[1:], (lo, hi), steps=steps, seed=seed)
    out['maximized'] = {
        'steps': steps, 'seed': seed, 'names': list(names),
        'images': tensors.u8(r.images[:, 0], lo, hi),
        'a': [float(v) for v in r.final], 'start': [float(v) for v in r.start]}
    return out
