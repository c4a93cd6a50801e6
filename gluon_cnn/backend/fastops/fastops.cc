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
// computed and discarded). The kernels keep 6 output channels x 16 positions in registers and
// skip the tap rows that would read only zero rows (padding). Strided convolutions are computed
// at stride 1 and subsampled (the backward scatters the gradient on the stride-1 grid), which is
// exact and costs stride^2 more work.
// Where fewer lanes go to waste that way (conv2 of the LeNets: 16 filters on 10- or 8-wide
// outputs of 14- or 12-wide rows), the forward and the weight gradient run in the output-channel
// layout instead: all K (<= 16) output channels of one position in one or two vectors, NHWC
// maps, no discarded column, strides computed directly.
// The input gradient is the stride-1 convolution of the zero-padded output gradient with the
// flipped, transposed filters. Weight and bias gradients are summed per thread in double and the
// threads' sums added in thread order (the same bits every run).
// What the backward needs is kept by the forward: the activation map before pooling, or for
// 2x2/2 max pooling of a stride-1 grid only each window's argmax (1 byte; the output is the
// activation there). keep=0 (evaluation, autograd not recording) keeps nothing; a backward after
// such a forward recomputes it.
//
// fastops_copy (-DFASTOPS_BENCH, the benchmark's build only): y = x, one memcpy: measures what a
// custom operator call costs in MXNet.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "mxnet/lib_api.h"

// -DFASTOPS_PROFILE: thread 0's time per phase, printed to stderr after every call
#ifdef FASTOPS_PROFILE
#include <cstdio>
static double prof_t[8];
#define PROF_START(i) const double prof_s##i = omp_get_wtime();
#define PROF_STOP(i) \
  if (omp_get_thread_num() == 0) prof_t[i] += omp_get_wtime() - prof_s##i;
#define PROF_PRINT(what, a, b, c)                                                        \
  std::fprintf(stderr, "fastops %s K%d C%d %dx%d: " #a " %.2f " #b " %.2f " #c " %.2f ms\n", \
               what, g.K, g.C, g.H, g.W, prof_t[0] * 1e3, prof_t[1] * 1e3, prof_t[2] * 1e3); \
  prof_t[0] = prof_t[1] = prof_t[2] = 0;
#else
#define PROF_START(i)
#define PROF_STOP(i)
#define PROF_PRINT(what, a, b, c)
#endif

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
constexpr int kParts = 16;  // the backward's partial sums per batch, whatever the threads

enum Act { kNone = 0, kSigmoid = 1, kRelu = 2, kTanh = 3 };
enum Pool { kNoPool = 0, kMax = 1, kAvg = 2 };
enum Layout { kAuto = 0, kFlat = 1, kKvec = 2 };

// out[k][p] = b[k] + sum_{c,i,j} w[k*wk + (c*kh + i)*kw + j] * in[c*plane + i*win + j + p]
// for k < KB, p < P (P a multiple of 16); out rows are `ostride` apart. Rows of `in` (win
// floats each) outside [zlo, zhi) are zero in every plane: the taps that would read only those
// are skipped (the padding rows of the forward; the input gradient's zero border, where the
// full correlation reads kh - 1 empty rows above and below the output gradient)
v8 act_vec(int act, v8 v);

template <int KB>
void conv_block(const float* in, int C, int plane, int win, int kh, int kw, const float* w,
                int wk, const float* b, float* out, int ostride, int P, int act, int zlo,
                int zhi) {
  for (int p = 0; p < P; p += 16) {
    v8 a0[KB], a1[KB];
    for (int k = 0; k < KB; ++k) a1[k] = a0[k] = splat(b ? b[k] : 0.f);
    // this block's tap row i reads rows p / win + i .. (p + 15 + kw - 1) / win + i
    const int ilo = std::max(0, zlo - (p + 14 + kw) / win), ihi = std::min(kh, zhi - p / win);
    for (int c = 0; c < C; ++c)
      for (int i = ilo; i < ihi; ++i) {
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
      st(out + k * ostride + p, act_vec(act, a0[k]));
      st(out + k * ostride + p + 8, act_vec(act, a1[k]));
    }
  }
}

// all K output channels, blocks of up to 6
void conv_flat(const float* in, int C, int plane, int win, int kh, int kw, const float* w, int K,
               const float* b, float* out, int ostride, int P, int act, int zlo, int zhi) {
  const int wk = C * kh * kw;
  for (int k0 = 0; k0 < K; k0 += 6) {
    const float* wb = w + k0 * wk;
    const float* bb = b ? b + k0 : nullptr;
    float* ob = out + k0 * ostride;
    switch (std::min(6, K - k0)) {
      case 6: conv_block<6>(in, C, plane, win, kh, kw, wb, wk, bb, ob, ostride, P, act, zlo, zhi); break;
      case 5: conv_block<5>(in, C, plane, win, kh, kw, wb, wk, bb, ob, ostride, P, act, zlo, zhi); break;
      case 4: conv_block<4>(in, C, plane, win, kh, kw, wb, wk, bb, ob, ostride, P, act, zlo, zhi); break;
      case 3: conv_block<3>(in, C, plane, win, kh, kw, wb, wk, bb, ob, ostride, P, act, zlo, zhi); break;
      case 2: conv_block<2>(in, C, plane, win, kh, kw, wb, wk, bb, ob, ostride, P, act, zlo, zhi); break;
      default: conv_block<1>(in, C, plane, win, kh, kw, wb, wk, bb, ob, ostride, P, act, zlo, zhi); break;
    }
  }
}

// g[k*wk + (c*kh + i)*kw + j0 + jj] += sum_p dz[k*dstride + p] * in[c*plane + i*win + j0 + jj + p]
// for k < KB, jj < J, p < P (a multiple of 8; dz is zero wherever it is no output); g holds 8
// partial sums per weight, added up once per call
template <int KB, int J>
void wgrad_block(const float* dz, int dstride, const float* in, int C, int plane, int win, int kh,
                 int kw, int j0, int P, v8* g, int wk) {
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
        for (int jj = 0; jj < J; ++jj) g[k * wk + (c * kh + i) * kw + j0 + jj] += acc[k][jj];
    }
}

template <int KB>
void wgrad_cols(const float* dz, int dstride, const float* in, int C, int plane, int win, int kh,
                int kw, int P, v8* g, int wk) {
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
                int kw, int K, int P, v8* g) {
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

inline v8 sigmoid(v8 v) { return 1.f / (1.f + vexp(-v)); }

v8 act_vec(int act, v8 v) {
  switch (act) {
    case kSigmoid: return sigmoid(v);
    case kRelu: return v > 0.f ? v : splat(0.f);
    case kTanh:
      for (int q = 0; q < 8; ++q) v[q] = std::tanh(v[q]);
      return v;
    default: return v;
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

// ---- the output-channel layout ("kvec"): one or two vectors hold all K output channels of one
// output position (channels past K are zero filters), so no lane computes a discarded value;
// the flat layout instead computes Wp - OW discarded columns per row (44% of conv2 in d2l-en's
// LeNet: 10 outputs on 14-wide rows). Maps are NHWC, [position][KV] with KV = 8 * NV.

// out[q][k] = act(b[k] + sum_{c,i,j} wt[((c*kh + i)*kw + j)*KV + k] * in[c*plane + i*win + q*sw + j])
// for PB consecutive output positions q of one row
template <int NV, int PB>
void kvec_conv_block(const float* in, int C, int plane, int win, int kh, int kw, int sw,
                     const float* wt, const float* bv, float* out, int act) {
  constexpr int KV = 8 * NV;
  v8 acc[PB][NV];
  for (int v = 0; v < NV; ++v) {
    const v8 b = ld(bv + 8 * v);
    for (int q = 0; q < PB; ++q) acc[q][v] = b;
  }
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < kh; ++i) {
      const float* x = in + c * plane + i * win;
      const float* wr = wt + (c * kh + i) * kw * KV;
      for (int j = 0; j < kw; ++j) {
        v8 wv[NV];
        for (int v = 0; v < NV; ++v) wv[v] = ld(wr + j * KV + 8 * v);
        for (int q = 0; q < PB; ++q) {
          const v8 xb = splat(x[q * sw + j]);
          for (int v = 0; v < NV; ++v) acc[q][v] += wv[v] * xb;
        }
      }
    }
  for (int q = 0; q < PB; ++q)
    for (int v = 0; v < NV; ++v) st(out + q * KV + 8 * v, act_vec(act, acc[q][v]));
}

// one output row of OW positions, in blocks of up to 6 (12 accumulators for two vectors)
template <int NV>
void kvec_conv_row(const float* in, int C, int plane, int win, int kh, int kw, int sw,
                   const float* wt, const float* bv, float* out, int OW, int act) {
  constexpr int KV = 8 * NV;
  const int blocks = (OW + 5) / 6, pb = (OW + blocks - 1) / blocks;  // even blocks: 10 = 5 + 5
  for (int q0 = 0; q0 < OW; q0 += pb) {
    const float* x = in + q0 * sw;
    float* o = out + q0 * KV;
    switch (std::min(pb, OW - q0)) {
      case 6: kvec_conv_block<NV, 6>(x, C, plane, win, kh, kw, sw, wt, bv, o, act); break;
      case 5: kvec_conv_block<NV, 5>(x, C, plane, win, kh, kw, sw, wt, bv, o, act); break;
      case 4: kvec_conv_block<NV, 4>(x, C, plane, win, kh, kw, sw, wt, bv, o, act); break;
      case 3: kvec_conv_block<NV, 3>(x, C, plane, win, kh, kw, sw, wt, bv, o, act); break;
      case 2: kvec_conv_block<NV, 2>(x, C, plane, win, kh, kw, sw, wt, bv, o, act); break;
      default: kvec_conv_block<NV, 1>(x, C, plane, win, kh, kw, sw, wt, bv, o, act); break;
    }
  }
}

// gw[((c*kh + i)*kw + j0 + jj)*KV + k] += sum_{oh,ow} dz[(oh*OW + ow)*KV + k] *
//                                         in[c*plane + (oh*sh + i)*win + ow*sw + j0 + jj]
// for jj < J, summed over this example in float, then added in double
template <int NV, int J>
void kvec_wgrad_block(const float* dz, int OH, int OW, const float* in, int win, int sh, int sw,
                      double* gw) {
  constexpr int KV = 8 * NV;
  v8 acc[J][NV];
  for (int jj = 0; jj < J; ++jj)
    for (int v = 0; v < NV; ++v) acc[jj][v] = splat(0.f);
  for (int oh = 0; oh < OH; ++oh) {
    const float* x = in + oh * sh * win;
    const float* d = dz + oh * OW * KV;
    for (int ow = 0; ow < OW; ++ow) {
      v8 dv[NV];
      for (int v = 0; v < NV; ++v) dv[v] = ld(d + ow * KV + 8 * v);
      for (int jj = 0; jj < J; ++jj) {
        const v8 xb = splat(x[ow * sw + jj]);
        for (int v = 0; v < NV; ++v) acc[jj][v] += dv[v] * xb;
      }
    }
  }
  for (int jj = 0; jj < J; ++jj)
    for (int v = 0; v < NV; ++v)
      for (int l = 0; l < 8; ++l) gw[jj * KV + 8 * v + l] += acc[jj][v][l];
}

template <int NV>
void kvec_wgrad(const float* dz, int OH, int OW, const float* in, int C, int plane, int win,
                int kh, int kw, int sh, int sw, double* gw) {
  constexpr int KV = 8 * NV;
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < kh; ++i)
      for (int j0 = 0; j0 < kw; j0 += 5) {
        const float* x = in + c * plane + i * win + j0;
        double* g = gw + ((c * kh + i) * kw + j0) * KV;
        switch (std::min(5, kw - j0)) {
          case 5: kvec_wgrad_block<NV, 5>(dz, OH, OW, x, win, sh, sw, g); break;
          case 4: kvec_wgrad_block<NV, 4>(dz, OH, OW, x, win, sh, sw, g); break;
          case 3: kvec_wgrad_block<NV, 3>(dz, OH, OW, x, win, sh, sw, g); break;
          case 2: kvec_wgrad_block<NV, 2>(dz, OH, OW, x, win, sh, sw, g); break;
          default: kvec_wgrad_block<NV, 1>(dz, OH, OW, x, win, sh, sw, g); break;
        }
      }
}

int attr_int(const std::unordered_map<std::string, std::string>& attrs, const char* key, int def) {
  auto it = attrs.find(key);
  return it == attrs.end() ? def : std::stoi(it->second);
}

struct Geometry {
  // attributes
  int kh, kw, sh, sw, ph, pw, act, pool, pkh, pkw, psh, psw, no_bias, data_grad;
  int layout;      // kAuto, kFlat or kKvec (tests force one)
  int keep;        // 0: forward only (evaluation), nothing saved for a backward
  // shapes
  int N, C, H, W, K;
  int Hp, Wp;      // padded input
  int OH1, OW1;    // stride-1 output
  int OH, OW;      // strided output (what act and pool see)
  int PH, PW;      // pooled output (= OH, OW without pooling)
  int P1;          // flat stride-1 output grid, rounded up: OH1 rows of Wp
  int P2;          // flat padded-input grid (Hp rows of Wp), rounded up: the input gradient's
  int lead, L;     // zeros before each gradient plane (the input gradient reads back that far),
                   // and the length of a plane
  int NV, KV;      // the output-channel layout: vectors per position (0: the flat layout), lanes
  bool arg2;       // 2x2/2 max pooling of a stride-1 flat grid: the backward needs only each
                   // window's argmax (1 byte) and the output, not the activation map

  explicit Geometry(const std::unordered_map<std::string, std::string>& a) {
    kh = attr_int(a, "kh", 1); kw = attr_int(a, "kw", 1);
    sh = attr_int(a, "sh", 1); sw = attr_int(a, "sw", 1);
    ph = attr_int(a, "ph", 0); pw = attr_int(a, "pw", 0);
    act = attr_int(a, "act", kNone); pool = attr_int(a, "pool", kNoPool);
    pkh = attr_int(a, "pkh", 1); pkw = attr_int(a, "pkw", 1);
    psh = attr_int(a, "psh", pkh); psw = attr_int(a, "psw", pkw);
    no_bias = attr_int(a, "no_bias", 0); data_grad = attr_int(a, "data_grad", 1);
    layout = attr_int(a, "layout", kAuto);
    keep = attr_int(a, "keep", 1);
    if (pool == kNoPool) pkh = pkw = psh = psw = 1;
  }

  bool valid_attrs(std::string* why) const {
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0 || pkh < 1 || pkw < 1 ||
        psh < 1 || psw < 1 || act < 0 || act > 3 || pool < 0 || pool > 2 || layout < 0 ||
        layout > 2) {
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
    P2 = round16(Hp * Wp);
    lead = round16((kh - 1) * Wp + kw - 1);
    L = lead + std::max(P1, P2) + kSlack;
    // the layout whose lanes compute fewer discarded values: K of KV lanes against the flat
    // grid's OH x OW outputs of the P1 it computes (stride-1 rows Wp wide)
    KV = (K + 7) / 8 * 8;
    const bool kvec_fits = K <= 16;
    const bool kvec_better = static_cast<double>(K) / KV > static_cast<double>(OH * OW) / P1;
    NV = kvec_fits && (layout == kKvec || (layout == kAuto && kvec_better)) ? KV / 8 : 0;
    arg2 = !NV && pool == kMax && pkh == 2 && pkw == 2 && psh == 2 && psw == 2 && sh == 1 &&
           sw == 1;
    return true;
  }
};

// Per-thread scratch, kept by the operator's state between calls.
struct Scratch {
  std::vector<float> xpad, z, da, dzg, dxg;
  std::vector<float> an, dzv;  // the output-channel layout: activation map and dz, NHWC
  std::vector<v8> gw;
  std::vector<double> gwd, gb;  // gwd: the output-channel layout's weight gradient
};

void fill_padded(const Geometry& g, const float* x, float* xpad) {
  // borders are zero (set once per call); copy the interior rows
  for (int c = 0; c < g.C; ++c)
    for (int h = 0; h < g.H; ++h)
      std::memcpy(xpad + c * g.Hp * g.Wp + (h + g.ph) * g.Wp + g.pw, x + (c * g.H + h) * g.W,
                  sizeof(float) * g.W);
}

// pooled y from the activation map a (K planes `aps` apart, of OH rows `ars` apart)
void pool_fwd(const Geometry& g, const float* a, int ars, int aps, float* y) {
  const bool two = g.pkh == 2 && g.pkw == 2 && g.psh == 2 && g.psw == 2;
  const float inv = 1.f / (g.pkh * g.pkw);
  for (int k = 0; k < g.K; ++k)
    for (int py = 0; py < g.PH; ++py) {
      float* yr = y + (k * g.PH + py) * g.PW;
      const float* r0 = a + k * aps + py * g.psh * ars;
      if (two) {
        const float* r1 = r0 + ars;
        if (g.pool == kMax) {
          for (int px = 0; px < g.PW; ++px)
            yr[px] = std::max(std::max(r0[2 * px], r0[2 * px + 1]),
                              std::max(r1[2 * px], r1[2 * px + 1]));
        } else {
          for (int px = 0; px < g.PW; ++px)
            yr[px] = ((r0[2 * px] + r0[2 * px + 1]) + (r1[2 * px] + r1[2 * px + 1])) * inv;
        }
        continue;
      }
      for (int px = 0; px < g.PW; ++px) {
        const float* win = r0 + px * g.psw;
        float m = g.pool == kMax ? -INFINITY : 0.f;
        for (int u = 0; u < g.pkh; ++u)
          for (int v = 0; v < g.pkw; ++v) {
            const float t = win[u * ars + v];
            m = g.pool == kMax ? (t > m ? t : m) : m + t;
          }
        yr[px] = g.pool == kMax ? m : m * inv;
      }
    }
}

// d loss / d activation from the pooled gradient dy (the first maximum of a window gets it all)
void pool_bwd(const Geometry& g, const float* a, const float* dy, float* da) {
  const bool two = g.pkh == 2 && g.pkw == 2 && g.psh == 2 && g.psw == 2;
  // 2x2/2 windows write every position they cover; rows and columns no window covers stay 0
  if (!two || g.OH % 2 || g.OW % 2) std::memset(da, 0, sizeof(float) * g.K * g.OH * g.OW);
  const float inv = 1.f / (g.pkh * g.pkw);
  for (int k = 0; k < g.K; ++k)
    for (int py = 0; py < g.PH; ++py) {
      const float* dr = dy + (k * g.PH + py) * g.PW;
      const int base = (k * g.OH + py * g.psh) * g.OW;
      if (two && g.pool == kMax) {  // branch-free: the comparisons are unpredictable
        const float* r0 = a + base;
        const float* r1 = r0 + g.OW;
        float* d0 = da + base;
        float* d1 = d0 + g.OW;
        for (int px = 0; px < g.PW; ++px) {
          const int c = 2 * px;
          const float v0 = r0[c], v1 = r0[c + 1], v2 = r1[c], v3 = r1[c + 1];
          float m = v0;
          int best = 0;
          best = v1 > m ? 1 : best; m = v1 > m ? v1 : m;
          best = v2 > m ? 2 : best; m = v2 > m ? v2 : m;
          best = v3 > m ? 3 : best;
          const float d = dr[px];
          d0[c] = best == 0 ? d : 0.f;
          d0[c + 1] = best == 1 ? d : 0.f;
          d1[c] = best == 2 ? d : 0.f;
          d1[c + 1] = best == 3 ? d : 0.f;
        }
        continue;
      }
      if (two) {
        float* d0 = da + base;
        float* d1 = d0 + g.OW;
        for (int px = 0; px < g.PW; ++px) {
          const float d = dr[px] * inv;
          d0[2 * px] = d0[2 * px + 1] = d1[2 * px] = d1[2 * px + 1] = d;
        }
        continue;
      }
      for (int px = 0; px < g.PW; ++px) {
        const int wb = base + px * g.psw;
        if (g.pool == kMax) {
          int best = wb;
          float m = -INFINITY;
          for (int u = 0; u < g.pkh; ++u)
            for (int v = 0; v < g.pkw; ++v)
              if (a[wb + u * g.OW + v] > m) {
                m = a[wb + u * g.OW + v];
                best = wb + u * g.OW + v;
              }
          da[best] += dr[px];
        } else {
          for (int u = 0; u < g.pkh; ++u)
            for (int v = 0; v < g.pkw; ++v) da[wb + u * g.OW + v] += dr[px] * inv;
        }
      }
    }
}

// dz = da * act'(a) onto the gradient planes (stride-1 grid of width Wp, after `lead` zeros);
// adds each plane's sum to gb
void act_bwd(const Geometry& g, const float* a, const float* da, float* dzg, double* gb) {
  for (int k = 0; k < g.K; ++k) {
    float* plane = dzg + k * g.L + g.lead;
    float bsum = 0.f;
    for (int oh = 0; oh < g.OH; ++oh) {
      const float* ar = a + (k * g.OH + oh) * g.OW;
      const float* dr = da + (k * g.OH + oh) * g.OW;
      float* zr = plane + oh * g.sh * g.Wp;
      float rsum = 0.f;
      if (g.sw == 1) {
        switch (g.act) {
          case kSigmoid:
            for (int ow = 0; ow < g.OW; ++ow) { zr[ow] = dr[ow] * (ar[ow] * (1.f - ar[ow])); }
            break;
          case kRelu:
            for (int ow = 0; ow < g.OW; ++ow) { zr[ow] = ar[ow] > 0.f ? dr[ow] : 0.f; }
            break;
          case kTanh:
            for (int ow = 0; ow < g.OW; ++ow) { zr[ow] = dr[ow] * (1.f - ar[ow] * ar[ow]); }
            break;
          default:
            std::memcpy(zr, dr, sizeof(float) * g.OW);
        }
        for (int ow = 0; ow < g.OW; ++ow) rsum += zr[ow];
      } else {
        for (int ow = 0; ow < g.OW; ++ow) {
          const float dz = dr[ow] * act_grad(g.act, ar[ow]);
          zr[ow * g.sw] = dz;
          rsum += dz;
        }
      }
      bsum += rsum;
    }
    gb[k] += bsum;
  }
}

// ---- the output-channel layout's passes outside the convolutions (maps NHWC, KV lanes)

// one window's dy for all channels, as NV vectors (lanes past K zero)
inline void gather_dy(const Geometry& g, const float* dy, int py, int px, v8* d) {
  for (int v = 0; v < g.NV; ++v)
    for (int l = 0; l < 8; ++l) {
      const int k = 8 * v + l;
      d[v][l] = k < g.K ? dy[(k * g.PH + py) * g.PW + px] : 0.f;
    }
}

// pooled y (NCHW) from the NHWC activation map a
void kvec_pool_fwd(const Geometry& g, const float* a, float* y) {
  const float inv = 1.f / (g.pkh * g.pkw);
  for (int py = 0; py < g.PH; ++py)
    for (int px = 0; px < g.PW; ++px)
      for (int v = 0; v < g.NV; ++v) {
        const float* win = a + (py * g.psh * g.OW + px * g.psw) * g.KV + 8 * v;
        v8 m = g.pool == kMax ? ld(win) : splat(0.f);
        for (int u = 0; u < g.pkh; ++u)
          for (int q = 0; q < g.pkw; ++q) {
            const v8 t = ld(win + (u * g.OW + q) * g.KV);
            m = g.pool == kMax ? (t > m ? t : m) : m + t;
          }
        if (g.pool == kAvg) m = m * inv;
        for (int l = 0; l < 8 && 8 * v + l < g.K; ++l)
          y[((8 * v + l) * g.PH + py) * g.PW + px] = m[l];
      }
}

// d loss / d activation (NHWC) from the pooled gradient dy (NCHW); a window's first maximum
// gets it all, as in pool_bwd
void kvec_pool_bwd(const Geometry& g, const float* a, const float* dy, float* da) {
  std::memset(da, 0, sizeof(float) * g.OH * g.OW * g.KV);
  const float inv = 1.f / (g.pkh * g.pkw);
  v8 d[2];
  for (int py = 0; py < g.PH; ++py)
    for (int px = 0; px < g.PW; ++px) {
      gather_dy(g, dy, py, px, d);
      const int base = (py * g.psh * g.OW + px * g.psw) * g.KV;
      for (int v = 0; v < g.NV; ++v) {
        if (g.pool == kAvg) {
          const v8 dv = d[v] * inv;
          for (int u = 0; u < g.pkh; ++u)
            for (int q = 0; q < g.pkw; ++q) {
              float* o = da + base + (u * g.OW + q) * g.KV + 8 * v;
              st(o, ld(o) + dv);
            }
          continue;
        }
        v8 m = ld(a + base + 8 * v);
        for (int u = 0; u < g.pkh; ++u)
          for (int q = 0; q < g.pkw; ++q) {
            const v8 t = ld(a + base + (u * g.OW + q) * g.KV + 8 * v);
            m = t > m ? t : m;
          }
        v8i taken = v8i{0, 0, 0, 0, 0, 0, 0, 0};
        for (int u = 0; u < g.pkh; ++u)
          for (int q = 0; q < g.pkw; ++q) {
            const int off = base + (u * g.OW + q) * g.KV + 8 * v;
            const v8i first = (ld(a + off) == m) & ~taken;
            taken |= first;
            st(da + off, ld(da + off) + (first ? d[v] : splat(0.f)));
          }
      }
    }
}

// dz = da * act'(a), all NHWC; adds each channel's sum to gb (KV doubles)
void kvec_act_bwd(const Geometry& g, const float* a, const float* da, float* dz, double* gb) {
  const int P = g.OH * g.OW;
  for (int v = 0; v < g.NV; ++v) {
    v8 bsum = splat(0.f);
    for (int p = 0; p < P; ++p) {
      const int o = p * g.KV + 8 * v;
      const v8 av = ld(a + o), dv = ld(da + o);
      v8 z;
      switch (g.act) {
        case kSigmoid: z = dv * (av * (1.f - av)); break;
        case kRelu: z = av > 0.f ? dv : splat(0.f); break;
        case kTanh: z = dv * (1.f - av * av); break;
        default: z = dv;
      }
      st(dz + o, z);
      bsum += z;
    }
    for (int l = 0; l < 8; ++l) gb[8 * v + l] += bsum[l];
  }
}

// NCHW planes (K of OH x OW) <-> NHWC (KV lanes, the lanes past K zero)
void to_nhwc(const Geometry& g, const float* src, float* dst) {
  const int P = g.OH * g.OW;
  for (int p = 0; p < P; ++p)
    for (int k = 0; k < g.KV; ++k) dst[p * g.KV + k] = k < g.K ? src[k * P + p] : 0.f;
}

void to_nchw(const Geometry& g, const float* src, float* dst) {
  const int P = g.OH * g.OW;
  for (int k = 0; k < g.K; ++k)
    for (int p = 0; p < P; ++p) dst[k * P + p] = src[p * g.KV + k];
}

// 8 windows at a time: the even and odd columns of 16 floats, and back
const v8i kEven = {0, 2, 4, 6, 8, 10, 12, 14}, kOdd = {1, 3, 5, 7, 9, 11, 13, 15};
const v8i kLo = {0, 8, 1, 9, 2, 10, 3, 11}, kHi = {4, 12, 5, 13, 6, 14, 7, 15};
inline v8i splat_i(int x) { return v8i{x, x, x, x, x, x, x, x}; }

// the window's maximum m and its first position best (0..3, row-major), branch-free: the
// comparisons are unpredictable; works on floats and on vectors of 8 windows alike
template <typename F, typename I>
inline void max4(F v0, F v1, F v2, F v3, I one, I two, I three, F* m, I* best) {
  F mm = v0;
  I b = one - one;
  b = v1 > mm ? one : b; mm = v1 > mm ? v1 : mm;
  b = v2 > mm ? two : b; mm = v2 > mm ? v2 : mm;
  b = v3 > mm ? three : b; mm = v3 > mm ? v3 : mm;
  *m = mm;
  *best = b;
}

// 2x2/2 max pooling of the stride-1 grid z (K planes P1 apart, rows Wp apart) into y, and each
// window's argmax (0..3, row-major in the window, the first maximum) into arg
void pool_max2_arg(const Geometry& g, const float* z, float* y, uint8_t* arg) {
  for (int k = 0; k < g.K; ++k)
    for (int py = 0; py < g.PH; ++py) {
      const float* r0 = z + k * g.P1 + 2 * py * g.Wp;
      const float* r1 = r0 + g.Wp;
      float* yr = y + (k * g.PH + py) * g.PW;
      uint8_t* ar = arg + (k * g.PH + py) * g.PW;
      int px = 0;
      for (; px + 8 <= g.PW; px += 8) {
        const int c = 2 * px;
        const v8 a0 = ld(r0 + c), a1 = ld(r0 + c + 8), b0 = ld(r1 + c), b1 = ld(r1 + c + 8);
        v8 m;
        v8i best;
        max4(__builtin_shuffle(a0, a1, kEven), __builtin_shuffle(a0, a1, kOdd),
             __builtin_shuffle(b0, b1, kEven), __builtin_shuffle(b0, b1, kOdd), splat_i(1),
             splat_i(2), splat_i(3), &m, &best);
        st(yr + px, m);
        for (int l = 0; l < 8; ++l) ar[px + l] = static_cast<uint8_t>(best[l]);
      }
      for (; px < g.PW; ++px) {
        const int c = 2 * px;
        int best;
        max4(r0[c], r0[c + 1], r1[c], r1[c + 1], 1, 2, 3, yr + px, &best);
        ar[px] = static_cast<uint8_t>(best);
      }
    }
}

inline v8 act_grad_vec(int act, v8 a) {
  switch (act) {
    case kSigmoid: return a * (1.f - a);
    case kRelu: return a > 0.f ? splat(1.f) : splat(0.f);
    case kTanh: return 1.f - a * a;
    default: return splat(1.f);
  }
}

// dz on the gradient planes from dy, the pooled output y (the activation at each window's
// maximum) and the argmax: dy * act'(y) at the maximum, 0 at the window's other positions;
// the same values and bias sums (row by row, in order) as pool_bwd + act_bwd
void unpool_act_arg(const Geometry& g, const uint8_t* arg, const float* dy, const float* y,
                    float* dzg, double* gb) {
  const v8 zero = splat(0.f);
  for (int k = 0; k < g.K; ++k) {
    float* plane = dzg + k * g.L + g.lead;
    float bsum = 0.f;
    for (int py = 0; py < g.PH; ++py) {
      const int o = (k * g.PH + py) * g.PW;
      float* d0 = plane + 2 * py * g.Wp;
      float* d1 = d0 + g.Wp;
      float rs0 = 0.f, rs1 = 0.f;
      int px = 0;
      for (; px + 8 <= g.PW; px += 8) {
        const int c = 2 * px;
        v8i t;
        for (int l = 0; l < 8; ++l) t[l] = arg[o + px + l];
        const v8 d = ld(dy + o + px) * act_grad_vec(g.act, ld(y + o + px));
        const v8 e0 = t == 0 ? d : zero, e1 = t == 1 ? d : zero;
        const v8 e2 = t == 2 ? d : zero, e3 = t == 3 ? d : zero;
        st(d0 + c, __builtin_shuffle(e0, e1, kLo));
        st(d0 + c + 8, __builtin_shuffle(e0, e1, kHi));
        st(d1 + c, __builtin_shuffle(e2, e3, kLo));
        st(d1 + c + 8, __builtin_shuffle(e2, e3, kHi));
        for (int l = 0; l < 8; ++l) {
          rs0 += t[l] < 2 ? d[l] : 0.f;
          rs1 += t[l] < 2 ? 0.f : d[l];
        }
      }
      for (; px < g.PW; ++px) {
        const int t = arg[o + px], c = 2 * px;
        const float d = dy[o + px] * act_grad(g.act, y[o + px]);
        d0[c] = t == 0 ? d : 0.f;
        d0[c + 1] = t == 1 ? d : 0.f;
        d1[c] = t == 2 ? d : 0.f;
        d1[c + 1] = t == 3 ? d : 0.f;
        rs0 += t < 2 ? d : 0.f;
        rs1 += t < 2 ? 0.f : d;
      }
      bsum += rs0;
      bsum += rs1;
    }
    gb[k] += bsum;
  }
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
    run_forward(x, w, b, y, g.keep);
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
    const int KA = (g.NV ? g.KV : g.K) * g.OH * g.OW, KP = g.K * g.PH * g.PW;
    const int WK = g.C * g.kh * g.kw;
    const size_t kept = g.arg2 ? arg_.size() : saved_.size();
    if (g.pool != kNoPool &&
        (!saved_valid_ || kept != static_cast<size_t>(g.N) * (g.arg2 ? KP : KA))) {
      // the forward ran without keeping the map (traced outside autograd.record): redo it
      std::vector<float> yy(static_cast<size_t>(g.N) * KP);
      run_forward(x, w, nb ? inputs->at(3).data<float>() : nullptr, yy.data(), true);
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
    // The batch is cut into a fixed number of parts, each summing its own gradient in its own
    // scratch, whatever the thread count: the same bits on 1 core or 64
    const int T = prepare(true);
    auto one = [&](Scratch& s, int n) {
      PROF_START(0)
      const float* dyn = dy + static_cast<size_t>(n) * KP;
      if (g.NV) {
        backward_kvec(s, n, dyn, x, y, dx, wf);
        return;
      }
      if (g.arg2) {
        unpool_act_arg(g, arg_.data() + static_cast<size_t>(n) * KP, dyn,
                       y + static_cast<size_t>(n) * KP, s.dzg.data(), s.gb.data());
      } else {
        const float* a = g.pool != kNoPool ? saved_.data() + static_cast<size_t>(n) * KA
                                           : y + static_cast<size_t>(n) * KA;
        const float* da = dyn;
        if (g.pool != kNoPool) {
          pool_bwd(g, a, dyn, s.da.data());
          da = s.da.data();
        }
        act_bwd(g, a, da, s.dzg.data(), s.gb.data());
      }
      PROF_STOP(0)
      PROF_START(1)
      fill_padded(g, x + static_cast<size_t>(n) * g.C * g.H * g.W, s.xpad.data());
      wgrad_flat(s.dzg.data() + g.lead, g.L, s.xpad.data(), g.C, g.Hp * g.Wp, g.Wp, g.kh, g.kw,
                 g.K, g.P1, s.gw.data());
      PROF_STOP(1)
      PROF_START(2)
      if (dx) input_grad(s, n, dx, wf);
      PROF_STOP(2)
    };
#pragma omp parallel for num_threads(std::min(omp_get_max_threads(), T)) schedule(static)
    for (int part = 0; part < T; ++part)
      for (int n = part * g.N / T; n < (part + 1) * g.N / T; ++n) one(scratch_[part], n);
    PROF_PRINT("backward", unpool_act, wgrad, dgrad)
    if (g.NV) {  // the parts' sums in double, added in part order
      for (int k = 0; k < g.K; ++k)
        for (int q = 0; q < WK; ++q) {
          double t = 0;
          for (int i = 0; i < T; ++i) t += scratch_[i].gwd[q * g.KV + k];
          dw[k * WK + q] = static_cast<float>(t);
        }
    }
    for (int q = 0; q < (g.NV ? 0 : g.K * WK); ++q) {
      double t = 0;
      for (int i = 0; i < T; ++i) t += hsum(scratch_[i].gw[q]);
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
  // y from x, w, b; keep: save what the backward needs (the activation map before pooling).
  // Without it (evaluation: autograd not recording) the map stays in per-thread scratch, and a
  // backward that follows recomputes it
  void run_forward(const float* x, const float* w, const float* b, float* y, bool keep) {
    const Geometry& g = g_;
    const int KA = (g.NV ? g.KV : g.K) * g.OH * g.OW;  // one example's activation map
    keep = keep && g.pool != kNoPool;  // without pooling the backward reads the output itself
    if (keep && g.arg2) arg_.resize(static_cast<size_t>(g.N) * g.K * g.PH * g.PW);
    if (keep && !g.arg2) saved_.resize(static_cast<size_t>(g.N) * KA);
    saved_valid_ = keep;
    if (g.NV) transpose_weights(w, b);
    const int T = prepare(false);
#pragma omp parallel for num_threads(T) schedule(static)
    for (int n = 0; n < g.N; ++n) {
      Scratch& s = scratch_[omp_get_thread_num()];
      PROF_START(0)
      fill_padded(g, x + static_cast<size_t>(n) * g.C * g.H * g.W, s.xpad.data());
      if (g.NV) {
        float* a = keep ? saved_.data() + static_cast<size_t>(n) * KA : s.z.data();
        for (int oh = 0; oh < g.OH; ++oh) {
          const float* in = s.xpad.data() + oh * g.sh * g.Wp;
          float* out = a + oh * g.OW * g.KV;
          if (g.NV == 1)
            kvec_conv_row<1>(in, g.C, g.Hp * g.Wp, g.Wp, g.kh, g.kw, g.sw, wt_.data(), bv_.data(),
                             out, g.OW, g.act);
          else
            kvec_conv_row<2>(in, g.C, g.Hp * g.Wp, g.Wp, g.kh, g.kw, g.sw, wt_.data(), bv_.data(),
                             out, g.OW, g.act);
        }
        PROF_STOP(0)
        PROF_START(1)
        float* yn = y + static_cast<size_t>(n) * g.K * g.PH * g.PW;
        if (g.pool != kNoPool)
          kvec_pool_fwd(g, a, yn);
        else
          to_nchw(g, a, yn);
        PROF_STOP(1)
        continue;
      }
      conv_flat(s.xpad.data(), g.C, g.Hp * g.Wp, g.Wp, g.kh, g.kw, w, g.K, b, s.z.data(), g.P1,
                g.P1, g.act, g.ph, g.ph + g.H);
      PROF_STOP(0)
      PROF_START(1)
      float* yn = y + static_cast<size_t>(n) * g.K * g.PH * g.PW;
      if (keep && g.arg2) {
        pool_max2_arg(g, s.z.data(), yn, arg_.data() + static_cast<size_t>(n) * g.K * g.PH * g.PW);
        PROF_STOP(1)
        continue;
      }
      if (g.pool != kNoPool && !keep && g.sh == 1 && g.sw == 1) {  // pool the grid in place
        pool_fwd(g, s.z.data(), g.Wp, g.P1, yn);
        PROF_STOP(1)
        continue;
      }
      // the strided grid: into y (no pooling), the saved map, or (forward only) scratch
      float* a = g.pool == kNoPool ? y + static_cast<size_t>(n) * KA
                 : keep            ? saved_.data() + static_cast<size_t>(n) * KA
                                   : s.an.data();
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
      if (g.pool != kNoPool) pool_fwd(g, a, g.OW, g.OH * g.OW, yn);
      PROF_STOP(1)
    }
    PROF_PRINT("forward", conv_act, pool, none)
  }

  // the filters as wt_[((c*kh + i)*kw + j)*KV + k] and the bias as bv_[k], zero past K
  void transpose_weights(const float* w, const float* b) {
    const Geometry& g = g_;
    const int taps = g.C * g.kh * g.kw;
    wt_.assign(static_cast<size_t>(taps) * g.KV, 0.f);
    bv_.assign(g.KV, 0.f);
    for (int k = 0; k < g.K; ++k) {
      for (int t = 0; t < taps; ++t) wt_[t * g.KV + k] = w[k * taps + t];
      if (b) bv_[k] = b[k];
    }
  }

  // one example's backward in the output-channel layout: dz (NHWC), the weight gradient from
  // it, and (dx) the input gradient through the flat planes, as the flat layout computes it
  void backward_kvec(Scratch& s, int n, const float* dyn, const float* x, const float* y,
                     float* dx, const std::vector<float>& wf) {
    const Geometry& g = g_;
    PROF_START(0)
    const size_t KA = static_cast<size_t>(g.KV) * g.OH * g.OW;
    const float* a = g.pool != kNoPool ? saved_.data() + n * KA : s.an.data();
    if (g.pool != kNoPool) {
      kvec_pool_bwd(g, a, dyn, s.da.data());
    } else {  // no saved map: the output is the activation map
      to_nhwc(g, y + static_cast<size_t>(n) * g.K * g.OH * g.OW, s.an.data());
      to_nhwc(g, dyn, s.da.data());
    }
    kvec_act_bwd(g, a, s.da.data(), s.dzv.data(), s.gb.data());
    PROF_STOP(0)
    PROF_START(1)
    fill_padded(g, x + static_cast<size_t>(n) * g.C * g.H * g.W, s.xpad.data());
    if (g.NV == 1)
      kvec_wgrad<1>(s.dzv.data(), g.OH, g.OW, s.xpad.data(), g.C, g.Hp * g.Wp, g.Wp, g.kh, g.kw,
                    g.sh, g.sw, s.gwd.data());
    else
      kvec_wgrad<2>(s.dzv.data(), g.OH, g.OW, s.xpad.data(), g.C, g.Hp * g.Wp, g.Wp, g.kh, g.kw,
                    g.sh, g.sw, s.gwd.data());
    PROF_STOP(1)
    PROF_START(2)
    if (dx) {
      // dz onto the flat gradient planes (stride-1 grid, zero elsewhere), then as the flat layout
      for (int k = 0; k < g.K; ++k) {
        float* plane = s.dzg.data() + k * g.L + g.lead;
        for (int oh = 0; oh < g.OH; ++oh)
          for (int ow = 0; ow < g.OW; ++ow)
            plane[oh * g.sh * g.Wp + ow * g.sw] = s.dzv[(oh * g.OW + ow) * g.KV + k];
      }
      input_grad(s, n, dx, wf);
    }
    PROF_STOP(2)
  }

  // dx of example n from the flat gradient planes s.dzg
  void input_grad(Scratch& s, int n, float* dx, const std::vector<float>& wf) {
    const Geometry& g = g_;
    // dxpad[q] = sum_{k,i,j} w[k][c][i][j] * dz[k][q - i*Wp - j]: reads from `back` before q
    const int back = (g.kh - 1) * g.Wp + g.kw - 1;
    // the planes' rows before kh - 1 and from kh - 1 + OH1 on are zero
    conv_flat(s.dzg.data() + g.lead - back, g.K, g.L, g.Wp, g.kh, g.kw, wf.data(), g.C, nullptr,
              s.dxg.data(), g.P2, g.P2, kNone, g.kh - 1, g.kh - 1 + g.OH1);
    float* dxn = dx + static_cast<size_t>(n) * g.C * g.H * g.W;
    for (int c = 0; c < g.C; ++c)
      for (int h = 0; h < g.H; ++h)
        std::memcpy(dxn + (c * g.H + h) * g.W, s.dxg.data() + c * g.P2 + (h + g.ph) * g.Wp + g.pw,
                    sizeof(float) * g.W);
  }

  static std::vector<unsigned> shape_of(const MXTensor& t) {
    return std::vector<unsigned>(t.shape.begin(), t.shape.end());
  }

  // Sizes the scratch for the current shapes and zeroes what must start at zero: the forward's
  // one per thread, the backward's one per part of the batch (kParts, fewer for a small batch).
  // Returns how many.
  int prepare(bool backward) {
    const Geometry& g = g_;
    const int T = std::max(1, std::min(backward ? kParts : omp_get_max_threads(), g.N));
    if (static_cast<int>(scratch_.size()) < T) scratch_.resize(T);
    for (int i = 0; i < T; ++i) {
      Scratch& s = scratch_[i];
      s.xpad.assign(static_cast<size_t>(g.C) * g.Hp * g.Wp + g.Wp + g.kw + kSlack, 0.f);
      if (!backward) {
        if (!g.NV && !g.keep) s.an.resize(static_cast<size_t>(g.K) * g.OH * g.OW);
        s.z.resize(g.NV ? static_cast<size_t>(g.KV) * g.OH * g.OW
                        : static_cast<size_t>(g.K) * g.P1 + kSlack);
        continue;
      }
      // gradient planes: zero outside the outputs (act_bwd writes only those)
      s.dzg.assign(static_cast<size_t>(g.K) * g.L + kSlack, 0.f);
      const size_t KA = static_cast<size_t>(g.NV ? g.KV : g.K) * g.OH * g.OW;
      s.da.resize(KA);
      if (g.NV) {
        s.an.resize(KA);
        s.dzv.resize(KA);
        s.gwd.assign(static_cast<size_t>(g.KV) * g.C * g.kh * g.kw, 0.0);
      } else {
        s.gw.assign(static_cast<size_t>(g.K) * g.C * g.kh * g.kw, splat(0.f));
      }
      s.gb.assign(g.KV, 0.0);
      if (g.data_grad) s.dxg.resize(static_cast<size_t>(g.C) * g.P2 + kSlack);
    }
    return T;
  }

  Geometry g_;
  std::vector<float> saved_;  // activation map before pooling, for the backward pass
  std::vector<uint8_t> arg_;  // or (arg2) each window's argmax
  bool saved_valid_ = false;  // saved_ / arg_ is the last forward's
  std::vector<float> wt_, bv_;  // the output-channel layout's filters and bias (forward)
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

#ifdef FASTOPS_BENCH
// fastops_copy: y = x, for benchmarks/fastops_ab.py only (built with GLUON_CNN_FASTOPS_BENCH=1)
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
#endif  // FASTOPS_BENCH

}  // namespace

MXReturnValue initialize(int version) {
  if (version < 10900) {
    MX_ERROR_MSG << "fastops needs MXNet >= 1.9.0, this is " << version;
    return MX_FAIL;
  }
  return MX_SUCCESS;
}
