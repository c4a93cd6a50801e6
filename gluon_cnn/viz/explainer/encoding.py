"""How the page holds its data: arrays as base64 (exact float32 or display uint8) and the whole
dict as JSON inside a <script> element, escaped as Django's `json_script` does."""
import base64
import json

import numpy as np

from ...errors import DataError

__all__ = ['Tensors', 'decode', 'json_script', 'b64']

# JSON keeps these as they are; inside HTML they could end the <script> element ('</script>'),
# open a comment that swallows it ('<!--<script>'), or end a line in old JavaScript (U+2028/9).
# JSON's \uXXXX escapes turn them into the same characters for JSON.parse.
_HTML_UNSAFE = {ord('<'): '\\u003C', ord('>'): '\\u003E', ord('&'): '\\u0026',
                0x2028: '\\u2028', 0x2029: '\\u2029'}


def json_script(data) -> str:
    """`data` as JSON that is safe as the text of a <script type="application/json"> element."""
    try:
        text = json.dumps(data, separators=(',', ':'), allow_nan=False, ensure_ascii=False)
    except ValueError:  # NaN or inf, which JSON cannot hold
        raise DataError('the net computes NaN or inf on this image (a diverged run?): no page '
                        'to draw') from None
    return text.translate(_HTML_UNSAFE)


def b64(a, dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode('ascii')


class Tensors:
    """The page's arrays, each stored once: exact float32 or display uint8, base64 encoded."""

    def __init__(self):
        self.items: list = []
        self.values = 0  # exact float32 values so far (the page budget)

    def f32(self, a) -> int:
        a = np.asarray(a, dtype='<f4')
        self.values += a.size
        return self._add({'dtype': 'f32', 'shape': list(a.shape), 'b64': b64(a, '<f4')})

    def u8(self, a, lo: float, hi: float) -> int:
        """a scaled from [lo, hi] to 0..255 (one scale for every channel of a), lo/hi kept."""
        a = np.asarray(a, dtype=np.float64)
        span = hi - lo if hi > lo else 1.0
        q = np.clip(np.rint((a - lo) / span * 255), 0, 255).astype(np.uint8)
        return self._add({'dtype': 'u8', 'shape': list(q.shape), 'lo': float(lo), 'hi': float(hi),
                          'b64': b64(q, np.uint8)})

    def _add(self, item) -> int:
        self.items.append(item)
        return len(self.items) - 1


def decode(data: dict, tid: int) -> np.ndarray:
    """A tensor of the page's data back as numpy (exact for f32; 0..255 for u8)."""
    t = data['tensors'][tid]
    raw = base64.b64decode(t['b64'])
    return np.frombuffer(raw, dtype='<f4' if t['dtype'] == 'f32' else np.uint8).reshape(t['shape'])
