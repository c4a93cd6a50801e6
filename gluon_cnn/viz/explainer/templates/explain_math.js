// The explainer page's arithmetic: no DOM, so tests/test_explain_js.py runs it in node on the
// page's own data. Everything the page prints as a number or draws as a colour comes from here.
"use strict";
const ExplainMath = (function () {
  // a tensor of the page's data: Float32Array (exact) or Uint8Array (display), with its shape
  function decode(t) {
    const bin = atob(t.b64), u = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
    const data = t.dtype === 'f32' ? new Float32Array(u.buffer) : u;
    return {shape: t.shape, data, lo: t.lo, hi: t.hi, dtype: t.dtype};
  }

  // the shortest decimal that reads back as the same float32 (what numpy prints)
  function f32(v) {
    if (!isFinite(v)) return String(v);
    for (let p = 1; p <= 9; p++) {
      const s = v.toPrecision(p);
      if (Math.fround(+s) === v) return String(+s);
    }
    return String(v);
  }
  // what a reader sees: 4 significant digits, no exponent between 0.001 and 10^6
  function short(v) {
    if (!isFinite(v)) return String(v);
    if (v === 0) return '0';
    const a = Math.abs(v);
    if (a >= 1e-3 && a < 1e6) return String(+v.toPrecision(4));
    return v.toExponential(2).replace('e+', 'e');
  }
  const percent = (p) => (100 * p).toFixed(p > 0.999 || p < 0.001 ? 2 : 1) + '%';

  // gluon_cnn.shapes.out_size and out_size_formula, line for line; p is both sides together
  function outSize(n, k, p, s, d, ceil) {
    const ke = d * (k - 1) + 1;
    if (ceil) return Math.max(0, Math.ceil((n - ke + p) / s) + 1);
    return Math.max(0, Math.floor((n - ke + p + s) / s));
  }
  function outFormula(n, k, p, s, d, ceil) {
    const ke = d * (k - 1) + 1, kt = d === 1 ? String(k) : `${ke} [${d}·(${k} - 1) + 1]`;
    const r = outSize(n, k, p, s, d, ceil);
    return ceil ? `⌈(${n} - ${kt} + ${p}) / ${s}⌉ + 1 = ${r}` : `⌊(${n} - ${kt} + ${p} + ${s}) / ${s}⌋ = ${r}`;
  }

  // colours: one scale per layer (the data's `scale`): diverging blue - white - red over
  // [lo, hi] = [-m, m] (CNN Explainer's RdBu), or grey over the model input's range
  const BLUE = [33, 102, 172], RED = [178, 24, 43], WHITE = [247, 247, 247];
  const mix = (a, b, t) => a.map((c, i) => Math.round(c + t * (b[i] - c)));
  function colour(v, scale) {
    const {kind, lo, hi} = scale, span = hi > lo ? hi - lo : 1;
    const t = Math.max(0, Math.min(1, (v - lo) / span));
    if (kind === 'grey') { const q = Math.round(255 * t); return [q, q, q]; }
    return t < 0.5 ? mix(BLUE, WHITE, t * 2) : mix(WHITE, RED, (t - 0.5) * 2);
  }
  // a display byte q (0..255 between the tensor's lo and hi) back to its value
  const byteValue = (q, t) => t.lo + q / 255 * (t.hi - t.lo);

  const ACT = {
    relu: (z) => Math.max(z, 0), sigmoid: (z) => 1 / (1 + Math.exp(-z)), tanh: Math.tanh,
    softrelu: (z) => Math.log1p(Math.exp(z)), softsign: (z) => z / (1 + Math.abs(z)),
  };

  // one output value of a conv detail: per input channel Σ patch × kernel, + bias, activation.
  // X (Ci, H, W), W (Co, Ci/groups, kh, kw), all float32, summed in float64
  function convValue(d, X, W, co, oi, oj) {
    const [, H, Wd] = X.shape, [kh, kw] = d.k, [sh, sw] = d.s, [ph, pw] = d.p, [dh, dw] = d.d;
    const cpg = W.shape[1], g0 = Math.floor(co / (d.cout / d.groups)) * cpg;
    const top = oi * sh - ph, left = oj * sw - pw, partial = [], taps = [];
    let z = 0;
    for (let c = 0; c < cpg; c++) {
      let s = 0;
      for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) {
        const i = top + a * dh, j = left + b * dw;
        const pad = i < 0 || j < 0 || i >= H || j >= Wd;
        const x = pad ? 0 : X.data[((g0 + c) * H + i) * Wd + j];
        const w = W.data[((co * cpg + c) * kh + a) * kw + b];
        if (c === 0) taps.push({i, j, pad, x, w});
        s += x * w;
      }
      partial.push(s); z += s;
    }
    z += d.bias[co];
    return {g0, cpg, top, left, partial, taps, z, y: d.act ? ACT[d.act](z) : z,
            padded: taps.filter((t) => t.pad).length};
  }

  // one output value of a pooling detail: the window's max or mean (padding counts as -inf / 0)
  function poolValue(d, X, c, oi, oj) {
    const [H, Wd] = d.in_hw, [kh, kw] = d.k, [sh, sw] = d.s, [ph, pw] = d.p;
    const top = oi * sh - ph, left = oj * sw - pw, vals = [];
    let pads = 0;
    for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) {
      const i = top + a, j = left + b;
      if (i < 0 || j < 0 || i >= H || j >= Wd) pads++; else vals.push(X.data[(c * H + i) * Wd + j]);
    }
    const n = d.mode === 'max' ? vals.length : (d.count_include_pad ? kh * kw : vals.length);
    const y = d.mode === 'max' ? Math.max(...vals) : vals.reduce((a, b) => a + b, 0) / n;
    return {top, left, vals, pads, n, y};
  }

  // one unit of a dense detail: W[u, :] · x + b, the activation; terms largest first
  function denseValue(d, X, W, u) {
    const n = d.n_in, terms = [];
    let s = 0;
    for (let j = 0; j < n; j++) { const t = W.data[u * n + j] * X.data[j]; terms.push([j, t]); s += t; }
    const z = s + d.bias[u];
    terms.sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
    return {sum: s, z, y: d.act ? ACT[d.act](z) : z, terms};
  }

  function softmax(z) {
    const m = Math.max(...z), e = z.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
    return {e, s, p: e.map((v) => v / s)};
  }

  return {decode, f32, short, percent, outSize, outFormula, colour, byteValue, ACT, convValue,
          poolValue, denseValue, softmax};
})();
if (typeof module !== 'undefined') module.exports = ExplainMath;
