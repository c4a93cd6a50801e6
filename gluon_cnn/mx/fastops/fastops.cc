// Fused small-channel convolution for MXNet 1.9.1, as a custom operator library (lib_api.h).
//
// fastops_conv: y = pool(act(conv(x, w) + b)), NCHW float32, any N, C, H, W, K, kernel, stride,
// padding; act in {none, sigmoid, relu, tanh}; pool in {none, max, avg} without padding, "valid"
// (floor) output size, as Gluon's MaxPool2D/AvgPool2D with ceil_mode=False. Its backward gives
// the gradients of x, w and b in one pass.
//
// How: per example (OpenMP over the batch), the padded input planes are laid out flat, rows of
// width Wp = W + 2*pad, so that a stride-1 convolution is, for every tap (c, i, j), one long
// contiguous multiply-add over the flat output grid (the Wp - OW extra columns per row are
// computed and discarded). The kernels keep 6 output channels x 16 positions in registers.
// Strided convolutions are computed at stride 1 and subsampled (the backward scatters the
// gradient on the stride-1 grid), which is exact and costs stride^2 more work.
// The input gradient is the stride-1 convolution of the zero-padded output gradient with the
// flipped, transposed filters. Weight and bias gradients are summed per thread in double.
//
// fastops_copy: y = x, one memcpy: measures what a custom operator call costs in MXNet.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "mxnet/lib_api.h"

using namespace mxnet::ext;

namespace {

typedef float v8 __attribute__((vector_size(32), aligned(4)));  // unaligned loads and stores

inline v8 ld(const float* p) { return *reinterpret_cast<const v8*>(p); }
inline void st(float* p, v8 v) { *reinterpret_cast<v8*>(p) = v; }
inline v8 splat(float x) { return v8{x, x, x, x, x, x, x, x}; }
inline double hsum(v8 v) {
  double s = 0;
  for (int i = 0; i < 8; ++i) s += v[i];
  return s;
}
inline int round16(int n) { return (n + 15) / 16 * 16; }
constexpr int kSlack = 64;  // floats after every flat buffer: the kernels read past the grid

enum Act { kNone = 0, kSigmoid = 1, kRelu = 2, kTanh = 3 };
enum Pool { kNoPool = 0, kMax = 1, kAvg = 2 };

// out[k][p] = b[k] + sum_{c,i,j} w[k*wk + (c*kh + i)*kw + j] * in[c*plane + i*win + j + p]
// for k < KB, p < P (P a multiple of 16); out rows are `ostride` apart.
template <int KB>
void conv_block(const float* in, int C, int plane, int win, int kh, int kw, const float* w,
                int wk, const float* b, float* out, int ostride, int P) {
  for (int p = 0; p < P; p += 16) {
    v8 a0[KB], a1[KB];
    for (int k = 0; k < KB; ++k) a1[k] = a0[k] = splat(b ? b[k] : 0.f);
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < kh; ++i) {
        const float* x = in + c * plane + i * win + p;
        const float* wr = w + (c * kh + i) * kw;
        for (int j = 0; j < kw; ++j) {
          v8 x0 = ld(x + j), x1 = ld(x + j + 8);
          for (int k = 0; k < KB; ++k) {
            float wv = wr[k * wk + j];
            a0[k] += wv * x0;
            a1[k] += wv * x1;
          }
        }
      }
    for (int k = 0; k < KB; ++k) {
      st(out + k * ostride + p, a0[k]);
      st(out + k * ostride + p + 8, a1[k]);
    }
  }
}

// all K output channels, blocks of up to 6
void conv_flat(const float* in, int C, int plane, int win, int kh, int kw, const float* w, int K,
               const float* b, float* out, int ostride, int P) {
  const int wk = C * kh * kw;
  for (int k0 = 0; k0 < K; k0 += 6) {
    const float* wb = w + k0 * wk;
    const float* bb = b ? b + k0 : nullptr;
    float* ob = out + k0 * ostride;
    switch (std::min(6, K - k0)) {
      case 6: conv_block<6>(in, C, plane, win, kh, kw, wb, wk, bb, ob, ostride, P); break;
      case 5: conv_block<5>(in, C, plane, win, kh, kw, wb, wk, bb, ob, ostride, P); break;
      case 4: conv_block<4>(in, C, plane, win, kh, kw, wb, wk, bb, ob, ostride, P); break;
      case 3: conv_block<3>(in, C, plane, win, kh, kw, wb, wk, bb, ob, ostride, P); break;
      case 2: conv_block<2>(in, C, plane, win, kh, kw, wb, wk, bb, ob, ostride, P); break;
      default: conv_block<1>(in, C, plane, win, kh, kw, wb, wk, bb, ob, ostride, P); break;
    }
  }
}

// g[k*wk + (c*kh + i)*kw + j0 + jj] += sum_p dz[k*dstride + p] * in[c*plane + i*win + j0 + jj + p]
// for k < KB, jj < J, p < P (a multiple of 8; dz is zero wherever it is no output)
template <int KB, int J>
void wgrad_block(const float* dz, int dstride, const float* in, int C, int plane, int win, int kh,
                 int kw, int j0, int P, double* g, int wk) {
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < kh; ++i) {
      v8 acc[KB][J];
      for (int k = 0; k < KB; ++k)
        for (int jj = 0; jj < J; ++jj) acc[k][jj] = splat(0.f);
      const float* x = in + c * plane + i * win + j0;
      for (int p = 0; p < P; p += 8) {
        v8 d[KB];
        for (int k = 0; k < KB; ++k) d[k] = ld(dz + k * dstride + p);
        for (int jj = 0; jj < J; ++jj) {
          v8 xv = ld(x + p + jj);
          for (int k = 0; k < KB; ++k) acc[k][jj] += d[k] * xv;
        }
      }
      for (int k = 0; k < KB; ++k)
        for (int jj = 0; jj < J; ++jj) g[k * wk + (c * kh + i) * kw + j0 + jj] += hsum(acc[k][jj]);
    }
}

template <int KB>
void wgrad_cols(const float* dz, int dstride, const float* in, int C, int plane, int win, int kh,
                int kw, int P, double* g, int wk) {
  for (int j0 = 0; j0 < kw; j0 += 5) {
    switch (std::min(5, kw - j0)) {
      case 5: wgrad_block<KB, 5>(dz, dstride, in, C, plane, win, kh, kw, j0, P, g, wk); break;
      case 4: wgrad_block<KB, 4>(dz, dstride, in, C, plane, win, kh, kw, j0, P, g, wk); break;
      case 3: wgrad_block<KB, 3>(dz, dstride, in, C, plane, win, kh, kw, j0, P, g, wk); break;
      case 2: wgrad_block<KB, 2>(dz, dstride, in, C, plane, win, kh, kw, j0, P, g, wk); break;
      default: wgrad_block<KB, 1>(dz, dstride, in, C, plane, win, kh, kw, j0, P, g, wk); break;
    }
  }
}

void wgrad_flat(const float* dz, int dstride, const float* in, int C, int plane, int win, int kh,
                int kw, int K, int P, double* g) {
  const int wk = C * kh * kw;
  int k = 0;
  for (; k + 2 <= K; k += 2)
    wgrad_cols<2>(dz + k * dstride, dstride, in, C, plane, win, kh, kw, P, g + k * wk, wk);
  if (k < K) wgrad_cols<1>(dz + k * dstride, dstride, in, C, plane, win, kh, kw, P, g + k * wk, wk);
}

typedef int v8i __attribute__((vector_size(32)));

// exp(x) for x in [-87.3, 88.7] (clamped), Cephes' expf polynomial: within 2 ulp of expf
inline v8 vexp(v8 x) {
  x = x < 88.7f ? x : splat(88.7f);
  x = x > -87.3f ? x : splat(-87.3f);
  const v8 magic = splat(12582912.f);  // 1.5 * 2^23: adding it rounds to an integer
  v8 t = x * 1.44269504088896341f + magic;
  v8 n = t - magic;
  v8 r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  v8 p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  v8i e = (__builtin_convertvector(n, v8i) + 127) << 23;
  v8 scale;
  std::memcpy(&scale, &e, sizeof(scale));
  return p * scale;
}

// the activation in place over n floats (n a multiple of 8)
void act_flat(int act, float* z, int n) {
  if (act == 0) return;
  for (int i = 0; i < n; i += 8) {
    v8 v = ld(z + i);
    if (act == 1) {
      v = 1.f / (1.f + vexp(-v));
    } else if (act == 2) {
      v = v > 0.f ? v : splat(0.f);
    } else {
      for (int q = 0; q < 8; ++q) v[q] = std::tanh(v[q]);
    }
    st(z + i, v);
  }
}

// d act / dz from the activation's output a, as MXNet's backward computes it
inline float act_grad(int act, float a) {
  switch (act) {
    case kSigmoid: return a * (1.f - a);
    case kRelu: return a > 0.f ? 1.f : 0.f;
    case kTanh: return 1.f - a * a;
    default: return 1.f;
  }
}

int attr_int(const std::unordered_map<std::string, std::string>& attrs, const char* key, int def) {
  auto it = attrs.find(key);
  return it == attrs.end() ? def : std::stoi(it->second);
}

struct Geometry {
  // attributes
  int kh, kw, sh, sw, ph, pw, act, pool, pkh, pkw, psh, psw, no_bias, data_grad;
  // shapes
  int N, C, H, W, K;
  int Hp, Wp;      // padded input
  int OH1, OW1;    // stride-1 output
  int OH, OW;      // strided output (what act and pool see)
  int PH, PW;      // pooled output (= OH, OW without pooling)
  int P1;          // flat stride-1 output grid, rounded up: OH1 rows of Wp
  int Hz, Wz, P2;  // zero-padded output gradient (for the input gradient) and its flat grid

  explicit Geometry(const std::unordered_map<std::string, std::string>& a) {
    kh = attr_int(a, "kh", 1); kw = attr_int(a, "kw", 1);
    sh = attr_int(a, "sh", 1); sw = attr_int(a, "sw", 1);
    ph = attr_int(a, "ph", 0); pw = attr_int(a, "pw", 0);
    act = attr_int(a, "act", kNone); pool = attr_int(a, "pool", kNoPool);
    pkh = attr_int(a, "pkh", 1); pkw = attr_int(a, "pkw", 1);
    psh = attr_int(a, "psh", pkh); psw = attr_int(a, "psw", pkw);
    no_bias = attr_int(a, "no_bias", 0); data_grad = attr_int(a, "data_grad", 1);
    if (pool == kNoPool) pkh = pkw = psh = psw = 1;
  }

  bool valid_attrs(std::string* why) const {
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0 || pkh < 1 || pkw < 1 ||
        psh < 1 || psw < 1 || act < 0 || act > 3 || pool < 0 || pool > 2) {
      *why = "fastops_conv: bad kernel/stride/pad/act/pool attributes";
      return false;
    }
    return true;
  }

  // from the data and weight shapes; false (and why) when they do not fit
  bool set_shapes(const std::vector<unsigned>& x, const std::vector<unsigned>& w,
                  std::string* why) {
    if (x.size() != 4 || w.size() != 4) {
      *why = "fastops_conv: data and weight must be 4-D (NCHW, KCHW)";
      return false;
    }
    N = x[0]; C = x[1]; H = x[2]; W = x[3]; K = w[0];
    if (static_cast<int>(w[1]) != C || static_cast<int>(w[2]) != kh ||
        static_cast<int>(w[3]) != kw) {
      *why = "fastops_conv: weight shape does not match data channels and kernel";
      return false;
    }
    Hp = H + 2 * ph; Wp = W + 2 * pw;
    OH1 = Hp - kh + 1; OW1 = Wp - kw + 1;
    if (OH1 < 1 || OW1 < 1) {
      *why = "fastops_conv: kernel larger than the padded input";
      return false;
    }
    OH = (OH1 - 1) / sh + 1; OW = (OW1 - 1) / sw + 1;
    PH = (OH - pkh) / psh + 1; PW = (OW - pkw) / psw + 1;
    if (OH < pkh || OW < pkw) {
      *why = "fastops_conv: pooling window larger than the convolution output";
      return false;
    }
    P1 = round16(OH1 * Wp);
    Hz = OH1 + 2 * (kh - 1); Wz = OW1 + 2 * (kw - 1);  // = Hp + kh - 1, Wp + kw - 1
    P2 = round16(Hp * Wz);
    return true;
  }
};

// Per-thread scratch, kept by the operator's state between calls.
struct Scratch {
  std::vector<float> xpad, z, dzg, dzpad, dxg;
  std::vector<double> gw, gb;
};

void fill_padded(const Geometry& g, const float* x, float* xpad) {
  // borders are zero (set once per call); copy the interior rows
  for (int c = 0; c < g.C; ++c)
    for (int h = 0; h < g.H; ++h)
      std::memcpy(xpad + c * g.Hp * g.Wp + (h + g.ph) * g.Wp + g.pw, x + (c * g.H + h) * g.W,
                  sizeof(float) * g.W);
}

class ConvOp : public CustomStatefulOp {
 public:
  explicit ConvOp(const std::unordered_map<std::string, std::string>& attrs) : g_(attrs) {}

  MXReturnValue Forward(std::vector<MXTensor>* inputs, std::vector<MXTensor>* outputs,
                        const OpResource& res) override {
    Geometry& g = g_;
    std::string why;
    if (!g.set_shapes(shape_of(inputs->at(0)), shape_of(inputs->at(1)), &why)) {
      MX_ERROR_MSG << why;
      return MX_FAIL;
    }
    const float* x = inputs->at(0).data<float>();
    const float* w = inputs->at(1).data<float>();
    const float* b = g.no_bias ? nullptr : inputs->at(2).data<float>();
    float* y = outputs->at(0).data<float>();
    const int KA = g.K * g.OH * g.OW;
    if (g.pool != kNoPool) saved_.resize(static_cast<size_t>(g.N) * KA);
    const int T = prepare(false);
#pragma omp parallel for num_threads(T) schedule(static)
    for (int n = 0; n < g.N; ++n) {
      Scratch& s = scratch_[omp_get_thread_num()];
      fill_padded(g, x + static_cast<size_t>(n) * g.C * g.H * g.W, s.xpad.data());
      conv_flat(s.xpad.data(), g.C, g.Hp * g.Wp, g.Wp, g.kh, g.kw, w, g.K, b, s.z.data(), g.P1,
                g.P1);
      act_flat(g.act, s.z.data(), g.K * g.P1);
      // the strided grid: into y (no pooling) or into the saved map
      float* a = g.pool != kNoPool ? saved_.data() + static_cast<size_t>(n) * KA
                                   : y + static_cast<size_t>(n) * KA;
      for (int k = 0; k < g.K; ++k)
        for (int oh = 0; oh < g.OH; ++oh) {
          const float* zr = s.z.data() + k * g.P1 + oh * g.sh * g.Wp;
          float* ar = a + (k * g.OH + oh) * g.OW;
          if (g.sw == 1) {
            std::memcpy(ar, zr, sizeof(float) * g.OW);
          } else {
            for (int ow = 0; ow < g.OW; ++ow) ar[ow] = zr[ow * g.sw];
          }
        }
      if (g.pool != kNoPool) pool_fwd(a, y + static_cast<size_t>(n) * g.K * g.PH * g.PW);
    }
    return MX_SUCCESS;
  }

  // inputs: dy, x, w, [b], y; outputs: dx, dw, [db]
  MXReturnValue Backward(std::vector<MXTensor>* inputs, std::vector<MXTensor>* outputs,
                         const OpResource& res) override {
    Geometry& g = g_;
    const int nb = g.no_bias ? 0 : 1;
    std::string why;
    if (!g.set_shapes(shape_of(inputs->at(1)), shape_of(inputs->at(2)), &why)) {
      MX_ERROR_MSG << why;
      return MX_FAIL;
    }
    const float* dy = inputs->at(0).data<float>();
    const float* x = inputs->at(1).data<float>();
    const float* w = inputs->at(2).data<float>();
    const float* y = inputs->at(3 + nb).data<float>();
    float* dx = g.data_grad ? outputs->at(0).data<float>() : nullptr;
    float* dw = outputs->at(1).data<float>();
    float* db = nb ? outputs->at(2).data<float>() : nullptr;
    const int KA = g.K * g.OH * g.OW, KP = g.K * g.PH * g.PW, WK = g.C * g.kh * g.kw;
    if (g.pool != kNoPool && saved_.size() != static_cast<size_t>(g.N) * KA) {
      MX_ERROR_MSG << "fastops_conv: backward without a matching forward";
      return MX_FAIL;
    }
    // flipped, transposed filters for the input gradient: wf[c][k][i][j] = w[k][c][-i][-j]
    std::vector<float> wf;
    if (dx) {
      wf.resize(static_cast<size_t>(g.K) * WK);
      for (int k = 0; k < g.K; ++k)
        for (int c = 0; c < g.C; ++c)
          for (int i = 0; i < g.kh; ++i)
            for (int j = 0; j < g.kw; ++j)
              wf[((c * g.K + k) * g.kh + i) * g.kw + j] =
                  w[((k * g.C + c) * g.kh + (g.kh - 1 - i)) * g.kw + (g.kw - 1 - j)];
    }
    const int T = prepare(true);
    std::vector<float> da_all;  // d loss / d activation output, per thread
#pragma omp parallel num_threads(T)
    {
      Scratch& s = scratch_[omp_get_thread_num()];
      std::fill(s.gw.begin(), s.gw.end(), 0.0);
      std::fill(s.gb.begin(), s.gb.end(), 0.0);
      std::vector<float> da(KA);
#pragma omp for schedule(static)
      for (int n = 0; n < g.N; ++n) {
        const float* dyn = dy + static_cast<size_t>(n) * KP;
        const float* a = g.pool != kNoPool ? saved_.data() + static_cast<size_t>(n) * KA
                                           : y + static_cast<size_t>(n) * KA;
        if (g.pool == kNoPool) {
          std::memcpy(da.data(), dyn, sizeof(float) * KA);
        } else {
          pool_bwd(a, dyn, da.data());
        }
        // dz on the stride-1 grid (zero elsewhere), and into the zero-padded grid for dx
        float* dzg = s.dzg.data();
        for (int k = 0; k < g.K; ++k)
          for (int oh = 0; oh < g.OH; ++oh)
            for (int ow = 0; ow < g.OW; ++ow) {
              const int q = (k * g.OH + oh) * g.OW + ow;
              const float dz = da[q] * act_grad(g.act, a[q]);
              dzg[k * g.P1 + oh * g.sh * g.Wp + ow * g.sw] = dz;
              s.gb[k] += dz;
              if (dx)
                s.dzpad[k * g.Hz * g.Wz + (oh * g.sh + g.kh - 1) * g.Wz + ow * g.sw + g.kw - 1] =
                    dz;
            }
        fill_padded(g, x + static_cast<size_t>(n) * g.C * g.H * g.W, s.xpad.data());
        wgrad_flat(dzg, g.P1, s.xpad.data(), g.C, g.Hp * g.Wp, g.Wp, g.kh, g.kw, g.K, g.P1,
                   s.gw.data());
        if (dx) {
          conv_flat(s.dzpad.data(), g.K, g.Hz * g.Wz, g.Wz, g.kh, g.kw, wf.data(), g.C, nullptr,
                    s.dxg.data(), g.P2, g.P2);
          float* dxn = dx + static_cast<size_t>(n) * g.C * g.H * g.W;
          for (int c = 0; c < g.C; ++c)
            for (int h = 0; h < g.H; ++h)
              std::memcpy(dxn + (c * g.H + h) * g.W,
                          s.dxg.data() + c * g.P2 + (h + g.ph) * g.Wz + g.pw, sizeof(float) * g.W);
        }
      }
    }
    for (int q = 0; q < g.K * WK; ++q) {
      double t = 0;
      for (int i = 0; i < T; ++i) t += scratch_[i].gw[q];
      dw[q] = static_cast<float>(t);
    }
    if (db)
      for (int k = 0; k < g.K; ++k) {
        double t = 0;
        for (int i = 0; i < T; ++i) t += scratch_[i].gb[k];
        db[k] = static_cast<float>(t);
      }
    return MX_SUCCESS;
  }

 private:
  static std::vector<unsigned> shape_of(const MXTensor& t) {
    return std::vector<unsigned>(t.shape.begin(), t.shape.end());
  }

  // Sizes every thread's scratch for the current shapes and zeroes what must start at zero.
  int prepare(bool backward) {
    const Geometry& g = g_;
    const int T = std::max(1, std::min(omp_get_max_threads(), g.N));
    if (static_cast<int>(scratch_.size()) < T) scratch_.resize(T);
    for (int i = 0; i < T; ++i) {
      Scratch& s = scratch_[i];
      s.xpad.assign(static_cast<size_t>(g.C) * g.Hp * g.Wp + kSlack, 0.f);
      s.z.resize(static_cast<size_t>(g.K) * g.P1 + kSlack);
      if (backward) {
        s.dzg.assign(static_cast<size_t>(g.K) * g.P1 + kSlack, 0.f);
        s.gw.resize(static_cast<size_t>(g.K) * g.C * g.kh * g.kw);
        s.gb.resize(g.K);
        if (g.data_grad) {
          s.dzpad.assign(static_cast<size_t>(g.K) * g.Hz * g.Wz + kSlack, 0.f);
          s.dxg.resize(static_cast<size_t>(g.C) * g.P2 + kSlack);
        }
      }
    }
    return T;
  }

  void pool_fwd(const float* a, float* y) const {
    const Geometry& g = g_;
    const float inv = 1.f / (g.pkh * g.pkw);
    for (int k = 0; k < g.K; ++k)
      for (int py = 0; py < g.PH; ++py)
        for (int px = 0; px < g.PW; ++px) {
          const float* win = a + (k * g.OH + py * g.psh) * g.OW + px * g.psw;
          float m = g.pool == kMax ? -INFINITY : 0.f;
          for (int u = 0; u < g.pkh; ++u)
            for (int v = 0; v < g.pkw; ++v) {
              const float t = win[u * g.OW + v];
              if (g.pool == kMax) {
                if (t > m) m = t;
              } else {
                m += t;
              }
            }
          y[(k * g.PH + py) * g.PW + px] = g.pool == kMax ? m : m * inv;
        }
  }

  // d loss / d activation output from the pooled gradient; the first maximum gets it all
  void pool_bwd(const float* a, const float* dy, float* da) const {
    const Geometry& g = g_;
    std::memset(da, 0, sizeof(float) * g.K * g.OH * g.OW);
    const float inv = 1.f / (g.pkh * g.pkw);
    for (int k = 0; k < g.K; ++k)
      for (int py = 0; py < g.PH; ++py)
        for (int px = 0; px < g.PW; ++px) {
          const int base = (k * g.OH + py * g.psh) * g.OW + px * g.psw;
          const float d = dy[(k * g.PH + py) * g.PW + px];
          if (g.pool == kMax) {
            int best = base;
            float m = -INFINITY;
            for (int u = 0; u < g.pkh; ++u)
              for (int v = 0; v < g.pkw; ++v)
                if (a[base + u * g.OW + v] > m) {
                  m = a[base + u * g.OW + v];
                  best = base + u * g.OW + v;
                }
            da[best] += d;
          } else {
            for (int u = 0; u < g.pkh; ++u)
              for (int v = 0; v < g.pkw; ++v) da[base + u * g.OW + v] += d * inv;
          }
        }
  }

  Geometry g_;
  std::vector<float> saved_;  // activation map before pooling, for the backward pass
  std::vector<Scratch> scratch_;
};

// ----------------------------------------------------------------------------- registration
MXReturnValue conv_parse(const std::unordered_map<std::string, std::string>& attrs, int* num_in,
                         int* num_out) {
  Geometry g(attrs);
  std::string why;
  if (!g.valid_attrs(&why)) {
    MX_ERROR_MSG << why;
    return MX_FAIL;
  }
  *num_in = g.no_bias ? 2 : 3;
  *num_out = 1;
  return MX_SUCCESS;
}

MXReturnValue float32_only(const std::unordered_map<std::string, std::string>& attrs,
                           std::vector<int>* intypes, std::vector<int>* outtypes) {
  for (size_t i = 0; i < intypes->size(); ++i)
    if (intypes->at(i) != kFloat32) {
      MX_ERROR_MSG << "fastops: input " << i << " is not float32";
      return MX_FAIL;
    }
  for (auto& t : *outtypes) t = kFloat32;
  return MX_SUCCESS;
}

MXReturnValue conv_shape(const std::unordered_map<std::string, std::string>& attrs,
                         std::vector<std::vector<unsigned>>* inshapes,
                         std::vector<std::vector<unsigned>>* outshapes) {
  Geometry g(attrs);
  std::string why;
  if (!g.set_shapes(inshapes->at(0), inshapes->at(1), &why)) {
    MX_ERROR_MSG << why;
    return MX_FAIL;
  }
  if (!g.no_bias && (inshapes->at(2).size() != 1 || static_cast<int>(inshapes->at(2)[0]) != g.K)) {
    MX_ERROR_MSG << "fastops_conv: bias must have one value per filter";
    return MX_FAIL;
  }
  outshapes->at(0) = {static_cast<unsigned>(g.N), static_cast<unsigned>(g.K),
                      static_cast<unsigned>(g.PH), static_cast<unsigned>(g.PW)};
  return MX_SUCCESS;
}

MXReturnValue conv_state(const std::unordered_map<std::string, std::string>& attrs,
                         const MXContext& ctx, const std::vector<std::vector<unsigned>>& in_shapes,
                         const std::vector<int> in_types, CustomStatefulOp** op_inst) {
  *op_inst = CustomStatefulOp::create<ConvOp>(attrs);
  return MX_SUCCESS;
}

REGISTER_OP(fastops_conv)
    .setParseAttrs(conv_parse)
    .setInferType(float32_only)
    .setInferShape(conv_shape)
    .setCreateOpState(conv_state, "cpu");

// fastops_copy: y = x
MXReturnValue copy_parse(const std::unordered_map<std::string, std::string>& attrs, int* num_in,
                         int* num_out) {
  *num_in = 1;
  *num_out = 1;
  return MX_SUCCESS;
}

MXReturnValue copy_shape(const std::unordered_map<std::string, std::string>& attrs,
                         std::vector<std::vector<unsigned>>* inshapes,
                         std::vector<std::vector<unsigned>>* outshapes) {
  outshapes->at(0) = inshapes->at(0);
  return MX_SUCCESS;
}

MXReturnValue copy_fwd(const std::unordered_map<std::string, std::string>& attrs,
                       std::vector<MXTensor>* inputs, std::vector<MXTensor>* outputs,
                       const OpResource& res) {
  std::memcpy(outputs->at(0).data<float>(), inputs->at(0).data<float>(),
              sizeof(float) * inputs->at(0).size());
  return MX_SUCCESS;
}

// inputs: dy, x, y; outputs: dx
MXReturnValue copy_bwd(const std::unordered_map<std::string, std::string>& attrs,
                       std::vector<MXTensor>* inputs, std::vector<MXTensor>* outputs,
                       const OpResource& res) {
  std::memcpy(outputs->at(0).data<float>(), inputs->at(0).data<float>(),
              sizeof(float) * inputs->at(0).size());
  return MX_SUCCESS;
}

REGISTER_OP(fastops_copy)
    .setParseAttrs(copy_parse)
    .setInferType(float32_only)
    .setInferShape(copy_shape)
    .setForward(copy_fwd, "cpu")
    .setBackward(copy_bwd, "cpu");

}  // namespace

MXReturnValue initialize(int version) {
  if (version < 10900) {
    MX_ERROR_MSG << "fastops needs MXNet >= 1.9.0, this is " << version;
    return MX_FAIL;
  }
  return MX_SUCCESS;
}
