// Fused CPU butterfly multiply (forward and backward), compiled at first use by
// kmatrix/kernels/cpu.py (plain C ABI, called through ctypes; no torch headers).
//
// Math (layout of kmatrix/kernels/__init__.py): twiddle (S, L, N/2, 2, 2), x rows of length
// N = 2^L. Stage k has stride s = 2^k (increasing) or N/2^(k+1) (decreasing); pair p acts on
// (x_i, x_{i+s}), i = (p/s)*2s + p%s:  [y_i, y_{i+s}] = [[a, b], [c, d]] [x_i, x_{i+s}].
//
// Schedule. A tile of V batch rows (V = one 512-bit vector of lanes: 16 float / 8 double) is
// transposed into a scratch buffer tile[n][plane][lane], so every butterfly pair is a pair of
// whole vectors whatever its stride and every 2x2 block is a broadcast scalar shared by the V
// rows. Stages are fused R at a time (radix 2^R): the 2^R vectors that interact in R
// consecutive stages are loaded once, go through the R stages in registers and are stored
// once, so the tile (N*V scalars, L1/L2-resident) is read and written ceil(L/R) times and
// global memory exactly once. The transposes in and out are in-register V x V shuffles. Tiles
// are distributed over threads (OpenMP, sharing torch's pool; std::thread without OpenMP).
//
// Normalised forward (Passes::normalize): from KMX_NORM_MIN_ROWS rows per stack index, every
// block is rewritten diag(pivots) [[1, p], [q, 1]] with the pivots carried into the next stage,
// so a pair costs two fused multiply-adds instead of two products and two multiply-adds (the
// direct stages run at the FP pipes' throughput: measured 12 stages 2.22 -> 1.44 ms at
// N = 4096, 1024 rows, one thread, with the next sentence's change); the final scales
// are applied once when the tile is stored. Passes whose lowest stride 2^lo has lo < KMX_LO_MAX
// are compiled with lo fixed (immediate offsets instead of spilled addresses).
//
// Backward (reverse mode, torch's convention: grad_x = B^H g, grad_W = g x^H): per tile the
// inputs of each fused pass are kept (ceil(L/R) tile-sized checkpoints per thread, independent
// of the batch), then passes run in reverse, recomputing the R intermediate activations of each
// group in registers. Real backward tiles hold 2V rows (two vectors per element) so that the
// twiddle-gradient products of both are added before the lane reduction (the reduction's
// shuffles dominate the backward); the reduction is also deferred: each block's 4 products are
// folded to one vector of partial sums added to a per-thread accumulator (one vector per
// 4 gradient entries, reduced to scalars once per thread), unless that accumulator would exceed
// KMX_DEFER_MAX_KB on one thread (huge N) or KMX_DEFER_MAX_KB_MT on several (from N = 2048:
// the accumulators then contend for L3), where each block is reduced at once. Twiddle
// gradients are summed over the threads that ran (OpenMP may start fewer than asked).
//
// Half precision: bfloat16 / float16 data (ST) with float32 twiddles; rows are converted to
// float32 when the tile is gathered and rounded once (to nearest even) when it is scattered, so
// all stages of all factors and the gradient sums are float32 arithmetic.
//
// Errors (allocation failure, bad arguments) are returned as codes at the C boundary, never
// thrown across it.
// Extra memory: O(threads * N * V * L/R) + O(threads * |twiddle| * V/4) (at most 8 MiB per
// thread for the deferred accumulators), none of it proportional to the batch.
#include <algorithm>
#include <atomic>
#include <exception>
#include <new>
#include <stdexcept>
#include <cstdint>
#include <cstring>
#include <thread>
#include <utility>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <vector>
#if defined(__AVX512F__) || (defined(__F16C__) && defined(__AVX__)) || defined(__AVX512BF16__)
#include <immintrin.h>
#endif

typedef int64_t i64;

#ifndef KMX_RMAX_F
#define KMX_RMAX_F 3
#endif
#ifndef KMX_MV_F
#define KMX_MV_F 1
#endif
#ifndef KMX_MV_B
#define KMX_MV_B 2
#endif
#ifndef KMX_RMAX_B
#define KMX_RMAX_B 2
#endif
#ifndef KMX_LO_MAX  // passes whose lowest stride 2^lo has lo below this get a compiled-in lo
#define KMX_LO_MAX 12
#endif
#ifndef KMX_NORM_MIN_ROWS  // forward calls with at least this many rows per stack run normalised
#define KMX_NORM_MIN_ROWS 256
#endif
#ifndef KMX_NORM_MAX_MB  // largest normalised copy of the twiddles a forward call allocates
#define KMX_NORM_MAX_MB 64
#endif
#ifndef KMX_DEFER_MAX_KB
#define KMX_DEFER_MAX_KB 8192
#endif
#ifndef KMX_DEFER_MAX_KB_MT  // the same bound when several threads run the backward
#define KMX_DEFER_MAX_KB_MT 512
#endif

template <class T> struct VT;
template <> struct VT<float> {
  static constexpr int V = 16;
  typedef float vec __attribute__((vector_size(64)));
  typedef float vec4 __attribute__((vector_size(16)));
};
template <> struct VT<double> {
  static constexpr int V = 8;
  typedef double vec __attribute__((vector_size(64)));
  typedef double vec4 __attribute__((vector_size(32)));
};

#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define KMX_SHUFFLE 1
#endif

// Storage types. Data (x, y, grad) may be stored in a narrower type ST than the compute type T:
// bfloat16 and float16 rows are converted to float when a tile is loaded (gather) and rounded
// back (round to nearest even) when it is stored (scatter); everything in between — all the
// stages of all the factors, the twiddle-gradient sums — is float32 arithmetic.
struct bf16_t { uint16_t bits; };
#if defined(__FLT16_MANT_DIG__) && !defined(KMX_NO_NATIVE_F16)
typedef _Float16 f16_t;
#define KMX_NATIVE_F16 1
#else
struct f16_t { uint16_t bits; };
#endif

static inline float bf16_to_f(bf16_t h) {
  const uint32_t w = uint32_t(h.bits) << 16;
  float f;
  std::memcpy(&f, &w, 4);
  return f;
}
static inline bf16_t f_to_bf16(float f) {
  uint32_t w;
  std::memcpy(&w, &f, 4);
  if ((w & 0x7fffffffu) > 0x7f800000u) return bf16_t{uint16_t((w >> 16) | 0x40)};  // quiet NaN
  w += 0x7fffu + ((w >> 16) & 1u);  // round to nearest, ties to even
  return bf16_t{uint16_t(w >> 16)};
}
#ifdef KMX_NATIVE_F16
static inline float f16_to_f(f16_t h) { return float(h); }
static inline f16_t f_to_f16(float f) { return f16_t(f); }
#else
static inline float f16_to_f(f16_t h) {  // IEEE binary16 -> binary32, exact
  const uint32_t sign = uint32_t(h.bits & 0x8000u) << 16, e = (h.bits >> 10) & 0x1fu,
                 m = h.bits & 0x3ffu;
  uint32_t w;
  if (e == 0x1f) {
    w = sign | 0x7f800000u | (m << 13);
  } else if (e != 0) {
    w = sign | ((e + 112) << 23) | (m << 13);
  } else if (m == 0) {
    w = sign;
  } else {  // subnormal: m * 2^-24
    float f = float(m) * 5.9604644775390625e-08f;
    std::memcpy(&w, &f, 4);
    w |= sign;
  }
  float f;
  std::memcpy(&f, &w, 4);
  return f;
}
static inline f16_t f_to_f16(float f) {  // binary32 -> binary16, round to nearest even
  uint32_t w;
  std::memcpy(&w, &f, 4);
  const uint16_t sign = uint16_t((w >> 16) & 0x8000u);
  const uint32_t a = w & 0x7fffffffu;
  if (a > 0x7f800000u) return f16_t{uint16_t(sign | 0x7e00u)};
  if (a >= 0x477ff000u) return f16_t{uint16_t(sign | 0x7c00u)};  // rounds to >= 65520: inf
  if (a < 0x38800000u) {  // below 2^-14: subnormal half, units of 2^-24
    float af;
    std::memcpy(&af, &a, 4);
    const float q = af * 16777216.0f;  // exact (power of two)
    uint32_t n = uint32_t(q);
    const float r = q - float(n);
    if (r > 0.5f || (r == 0.5f && (n & 1u))) ++n;
    return f16_t{uint16_t(sign | n)};
  }
  uint32_t v = a - 0x38000000u;  // rebias exponent 127 -> 15
  v += 0xfffu + ((v >> 13) & 1u);
  return f16_t{uint16_t(sign | (v >> 13))};
}
#endif

// Scalar and V-wide conversions between a storage type and the compute type.
template <class ST, class T> struct Conv;
template <class T> struct Conv<T, T> {
  typedef typename VT<T>::vec vec;
  static inline T get(const T* p) { return *p; }
  static inline void put(T* p, T v) { *p = v; }
  static inline vec load(const T* p) {
    vec v;
    std::memcpy(&v, p, sizeof(vec));
    return v;
  }
  static inline void store(T* p, vec v) { std::memcpy(p, &v, sizeof(vec)); }
};
template <> struct Conv<bf16_t, float> {
  typedef VT<float>::vec vec;
  typedef uint16_t hvec __attribute__((vector_size(32)));
  typedef uint32_t wvec __attribute__((vector_size(64)));
  static inline float get(const bf16_t* p) { return bf16_to_f(*p); }
  static inline void put(bf16_t* p, float v) { *p = f_to_bf16(v); }
  static inline vec load(const bf16_t* p) {
    hvec h;
    std::memcpy(&h, p, sizeof(h));
    const wvec w = __builtin_convertvector(h, wvec) << 16;
    vec v;
    std::memcpy(&v, &w, sizeof(v));
    return v;
  }
  // Round to nearest even, NaNs quieted (as torch's float -> bfloat16).
  static inline void store_rne(bf16_t* p, vec v) {
    wvec w;
    std::memcpy(&w, &v, sizeof(w));
    const wvec nan = (wvec)((w & 0x7fffffffu) > 0x7f800000u);  // all-ones lanes where NaN
    const wvec rounded = (w + 0x7fffu + ((w >> 16) & 1u)) >> 16;
    const wvec quiet = (w >> 16) | 0x40u;
    const hvec h = __builtin_convertvector((rounded & ~nan) | (quiet & nan), hvec);
    std::memcpy(p, &h, sizeof(h));
  }
#if defined(__AVX512BF16__)
  // vcvtneps2bf16: the same rounding and NaN quieting in one instruction, except that it
  // flushes subnormal inputs to zero, so a vector holding one takes store_rne (measured: the
  // bfloat16 forward at (1024, 1024) 1.32x -> ~1.1x the float32 time).
  static inline void store(bf16_t* p, vec v) {
    __m512i w;
    std::memcpy(&w, &v, sizeof(w));
    const __mmask16 tiny = _mm512_cmpeq_epi32_mask(
        _mm512_and_si512(w, _mm512_set1_epi32(0x7f800000)), _mm512_setzero_si512());
    const __m512i mant = _mm512_and_si512(w, _mm512_set1_epi32(0x007fffff));
    if (_mm512_mask_test_epi32_mask(tiny, mant, mant)) return store_rne(p, v);
    __m512 f;
    std::memcpy(&f, &v, sizeof(f));
    const __m256bh h = _mm512_cvtneps_pbh(f);
    std::memcpy(p, &h, sizeof(h));
  }
#else
  static inline void store(bf16_t* p, vec v) { store_rne(p, v); }
#endif
};
template <> struct Conv<f16_t, float> {
  typedef VT<float>::vec vec;
  static inline float get(const f16_t* p) { return f16_to_f(*p); }
  static inline void put(f16_t* p, float v) { *p = f_to_f16(v); }
#if defined(__AVX512F__)
  // The hardware conversions (vcvtph2ps / vcvtps2ph, round to nearest even, NaNs quieted): GCC 12
  // lowers __builtin_convertvector on _Float16 vectors to one conversion per element without
  // AVX512-FP16 (measured: float16 rows 1.8x the float32 time, bfloat16 1.02x).
  static inline vec load(const f16_t* p) {
    __m256i h;
    std::memcpy(&h, p, sizeof(h));
    const __m512 f = _mm512_cvtph_ps(h);
    vec v;
    std::memcpy(&v, &f, sizeof(v));
    return v;
  }
  static inline void store(f16_t* p, vec v) {
    __m512 f;
    std::memcpy(&f, &v, sizeof(f));
    const __m256i h = _mm512_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    std::memcpy(p, &h, sizeof(h));
  }
#elif defined(__F16C__) && defined(__AVX__)
  static inline vec load(const f16_t* p) {
    __m128i h0, h1;
    std::memcpy(&h0, p, sizeof(h0));
    std::memcpy(&h1, reinterpret_cast<const char*>(p) + 16, sizeof(h1));
    const __m256 f0 = _mm256_cvtph_ps(h0), f1 = _mm256_cvtph_ps(h1);
    vec v;
    std::memcpy(&v, &f0, sizeof(f0));
    std::memcpy(reinterpret_cast<char*>(&v) + 32, &f1, sizeof(f1));
    return v;
  }
  static inline void store(f16_t* p, vec v) {
    __m256 f0, f1;
    std::memcpy(&f0, &v, sizeof(f0));
    std::memcpy(&f1, reinterpret_cast<const char*>(&v) + 32, sizeof(f1));
    const __m128i h0 = _mm256_cvtps_ph(f0, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m128i h1 = _mm256_cvtps_ph(f1, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    std::memcpy(p, &h0, sizeof(h0));
    std::memcpy(reinterpret_cast<char*>(p) + 16, &h1, sizeof(h1));
  }
#elif defined(KMX_NATIVE_F16)
  typedef _Float16 hvec __attribute__((vector_size(32)));
  static inline vec load(const f16_t* p) {
    hvec h;
    std::memcpy(&h, p, sizeof(h));
    return __builtin_convertvector(h, vec);
  }
  static inline void store(f16_t* p, vec v) {
    const hvec h = __builtin_convertvector(v, hvec);
    std::memcpy(p, &h, sizeof(h));
  }
#else
  static inline vec load(const f16_t* p) {
    vec v;
    for (int i = 0; i < 16; ++i) v[i] = f16_to_f(p[i]);
    return v;
  }
  static inline void store(f16_t* p, vec v) {
    for (int i = 0; i < 16; ++i) p[i] = f_to_f16(v[i]);
  }
#endif
};

// (sum v0, sum v1, sum v2, sum v3) over the lanes, added to out[0..3].
static inline void hsum4_add(VT<float>::vec v0, VT<float>::vec v1, VT<float>::vec v2,
                             VT<float>::vec v3, float* out) {
#ifdef KMX_SHUFFLE
  typedef VT<float>::vec vec;
  typedef VT<float>::vec4 vec4;
  vec w01 = __builtin_shufflevector(v0, v1, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
            __builtin_shufflevector(v0, v1, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  vec w23 = __builtin_shufflevector(v2, v3, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
            __builtin_shufflevector(v2, v3, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  vec u = __builtin_shufflevector(w01, w23, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
          __builtin_shufflevector(w01, w23, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  // u = [p0(4) | p1(4) | p2(4) | p3(4)]; transpose the 4x4 and add the rows.
  vec t = __builtin_shufflevector(u, u, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  vec4 r = __builtin_shufflevector(t, t, 0, 1, 2, 3) + __builtin_shufflevector(t, t, 4, 5, 6, 7) +
           __builtin_shufflevector(t, t, 8, 9, 10, 11) + __builtin_shufflevector(t, t, 12, 13, 14, 15);
  vec4 o;
  std::memcpy(&o, out, sizeof(o));
  o += r;
  std::memcpy(out, &o, sizeof(o));
#else
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (int j = 0; j < 16; ++j) { s0 += v0[j]; s1 += v1[j]; s2 += v2[j]; s3 += v3[j]; }
  out[0] += s0; out[1] += s1; out[2] += s2; out[3] += s3;
#endif
}

static inline void hsum4_add(VT<double>::vec v0, VT<double>::vec v1, VT<double>::vec v2,
                             VT<double>::vec v3, double* out) {
#ifdef KMX_SHUFFLE
  typedef VT<double>::vec vec;
  typedef VT<double>::vec4 vec4;
  vec w01 = __builtin_shufflevector(v0, v1, 0, 1, 2, 3, 8, 9, 10, 11) +
            __builtin_shufflevector(v0, v1, 4, 5, 6, 7, 12, 13, 14, 15);
  vec w23 = __builtin_shufflevector(v2, v3, 0, 1, 2, 3, 8, 9, 10, 11) +
            __builtin_shufflevector(v2, v3, 4, 5, 6, 7, 12, 13, 14, 15);
  vec u = __builtin_shufflevector(w01, w23, 0, 1, 4, 5, 8, 9, 12, 13) +
          __builtin_shufflevector(w01, w23, 2, 3, 6, 7, 10, 11, 14, 15);
  // u = [p0(2) | p1(2) | p2(2) | p3(2)]
  vec4 r = __builtin_shufflevector(u, u, 0, 2, 4, 6) + __builtin_shufflevector(u, u, 1, 3, 5, 7);
  vec4 o;
  std::memcpy(&o, out, sizeof(o));
  o += r;
  std::memcpy(out, &o, sizeof(o));
#else
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (int j = 0; j < 8; ++j) { s0 += v0[j]; s1 += v1[j]; s2 += v2[j]; s3 += v3[j]; }
  out[0] += s0; out[1] += s1; out[2] += s2; out[3] += s3;
#endif
}

// Deferred lane reduction: (v0, v1, v2, v3) folded to one vector whose lane group q (V/4
// consecutive lanes) holds partial sums of v_q, added to *acc (6 shuffles and 3 adds instead
// of a full reduction); part4_flush sums the groups into out[0..3] once at the end.
static inline void part4_add(VT<float>::vec v0, VT<float>::vec v1, VT<float>::vec v2,
                             VT<float>::vec v3, VT<float>::vec* acc) {
#ifdef KMX_SHUFFLE
  typedef VT<float>::vec vec;
  vec w01 = __builtin_shufflevector(v0, v1, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
            __builtin_shufflevector(v0, v1, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  vec w23 = __builtin_shufflevector(v2, v3, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
            __builtin_shufflevector(v2, v3, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  *acc += __builtin_shufflevector(w01, w23, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
          __builtin_shufflevector(w01, w23, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
#else
  float s[4] = {0, 0, 0, 0};
  for (int j = 0; j < 16; ++j) { s[0] += v0[j]; s[1] += v1[j]; s[2] += v2[j]; s[3] += v3[j]; }
  for (int q = 0; q < 4; ++q) (*acc)[4 * q] += s[q];
#endif
}

static inline void part4_add(VT<double>::vec v0, VT<double>::vec v1, VT<double>::vec v2,
                             VT<double>::vec v3, VT<double>::vec* acc) {
#ifdef KMX_SHUFFLE
  typedef VT<double>::vec vec;
  vec w01 = __builtin_shufflevector(v0, v1, 0, 1, 2, 3, 8, 9, 10, 11) +
            __builtin_shufflevector(v0, v1, 4, 5, 6, 7, 12, 13, 14, 15);
  vec w23 = __builtin_shufflevector(v2, v3, 0, 1, 2, 3, 8, 9, 10, 11) +
            __builtin_shufflevector(v2, v3, 4, 5, 6, 7, 12, 13, 14, 15);
  *acc += __builtin_shufflevector(w01, w23, 0, 1, 4, 5, 8, 9, 12, 13) +
          __builtin_shufflevector(w01, w23, 2, 3, 6, 7, 10, 11, 14, 15);
#else
  double s[4] = {0, 0, 0, 0};
  for (int j = 0; j < 8; ++j) { s[0] += v0[j]; s[1] += v1[j]; s[2] += v2[j]; s[3] += v3[j]; }
  for (int q = 0; q < 4; ++q) (*acc)[2 * q] += s[q];
#endif
}

template <class T> static inline void part4_flush(const typename VT<T>::vec& u, T* out) {
  constexpr int G = VT<T>::V / 4;
  for (int q = 0; q < 4; ++q) {
    T sum = 0;
    for (int i = 0; i < G; ++i) sum += u[q * G + i];
    out[q] += sum;
  }
}

// Pair index of element i at the stage whose stride is 2^b: i with bit b removed.
static inline i64 pair_index(i64 i, int b) { return ((i >> (b + 1)) << b) | (i & ((i64(1) << b) - 1)); }

// Bit position (log2 stride) of stage k.
static inline int stage_bit(int k, int L, bool inc) { return inc ? k : L - 1 - k; }

#if defined(__clang__)
#define KMX_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define KMX_UNROLL _Pragma("GCC unroll 64")
#else
#define KMX_UNROLL
#endif

// In-register V x V transposes and (de)interleaving of complex pairs.
template <class T> struct Shuf {
  typedef typename VT<T>::vec vec;
  static constexpr int V = VT<T>::V;
#ifdef KMX_SHUFFLE
  template <int D, std::size_t... I> static vec lo(vec a, vec b, std::index_sequence<I...>) {
    return __builtin_shufflevector(a, b, ((I & D) ? int(I) - D + V : int(I))...);
  }
  template <int D, std::size_t... I> static vec hi(vec a, vec b, std::index_sequence<I...>) {
    return __builtin_shufflevector(a, b, ((I & D) ? int(I) + V : int(I) + D)...);
  }
  template <int D> static inline void stage(vec* r) {
    KMX_UNROLL for (int j = 0; j < V; ++j) {
      if (j & D) continue;
      vec a = r[j], b = r[j + D];
      r[j] = lo<D>(a, b, std::make_index_sequence<V>{});
      r[j + D] = hi<D>(a, b, std::make_index_sequence<V>{});
    }
  }
  // r[j][i] -> r[i][j]: swap bit D of the row and the lane index, for every D.
  static inline void transpose(vec* r) {
    if constexpr (V >= 16) stage<8>(r);
    stage<4>(r);
    stage<2>(r);
    stage<1>(r);
  }
  template <std::size_t... I> static vec evens(vec a, vec b, std::index_sequence<I...>) {
    return __builtin_shufflevector(a, b, int(2 * I)...);
  }
  template <std::size_t... I> static vec odds(vec a, vec b, std::index_sequence<I...>) {
    return __builtin_shufflevector(a, b, int(2 * I + 1)...);
  }
  template <int OFF, std::size_t... I> static vec inter(vec a, vec b, std::index_sequence<I...>) {
    return __builtin_shufflevector(a, b, ((I & 1) ? V + OFF + int(I / 2) : OFF + int(I / 2))...);
  }
  // (a0 a1 ..), (b0 b1 ..) -> lo = (a0 b0 a1 b1 ..), hi = second halves interleaved.
  static inline void interleave(vec a, vec b, vec& lo_, vec& hi_) {
    lo_ = inter<0>(a, b, std::make_index_sequence<V>{});
    hi_ = inter<V / 2>(a, b, std::make_index_sequence<V>{});
  }
  static inline void deinterleave(vec lo_, vec hi_, vec& a, vec& b) {
    a = evens(lo_, hi_, std::make_index_sequence<V>{});
    b = odds(lo_, hi_, std::make_index_sequence<V>{});
  }
#else
  static inline void transpose(vec* r) {
    T tmp[V][V];
    std::memcpy(tmp, r, sizeof(tmp));
    for (int j = 0; j < V; ++j)
      for (int i = 0; i < V; ++i) r[j][i] = tmp[i][j];
  }
  static inline void interleave(vec a, vec b, vec& lo_, vec& hi_) {
    for (int i = 0; i < V; ++i) {
      T va = a[i / 2 + (i >= V ? 0 : 0)], vb = b[i / 2];
      lo_[i] = (i & 1) ? vb : va;
    }
    for (int i = 0; i < V; ++i) hi_[i] = (i & 1) ? b[V / 2 + i / 2] : a[V / 2 + i / 2];
  }
  static inline void deinterleave(vec lo_, vec hi_, vec& a, vec& b) {
    for (int i = 0; i < V; ++i) {
      const int k = 2 * i;
      a[i] = k < V ? lo_[k] : hi_[k - V];
      b[i] = k + 1 < V ? lo_[k + 1] : hi_[k + 1 - V];
    }
  }
#endif
};

// MV: row planes per tile for real data (a tile holds V*MV batch rows; element n of the tile
// is MV vectors, plane p holding rows p*V .. p*V+V-1). Complex data: one plane, two vectors
// (re, im) per element.
// The stage arithmetic on a tile (independent of the storage type of the rows, so bfloat16,
// float16 and float32 rows share one instantiation).
template <class T, bool CPLX, int MV = 1> struct Passes {
  typedef typename VT<T>::vec vec;
  static constexpr int V = VT<T>::V;
  static constexpr int PL = CPLX ? 1 : MV;  // row planes
  static constexpr int RT = V * PL;         // batch rows per tile
  static constexpr int C = CPLX ? 2 : MV;   // vectors per element
  static constexpr int TW = CPLX ? 8 : 4;   // scalars per 2x2 block

  // y = [[a,b],[c,d]] x on one pair (x0, x1), in place.
  static inline void block(const T* t, vec* x0, vec* x1) {
    if constexpr (!CPLX) {
      const T a = t[0], b = t[1], c = t[2], d = t[3];
      KMX_UNROLL for (int p = 0; p < C; ++p) {
        vec u = x0[p], v = x1[p];
        x0[p] = a * u + b * v;
        x1[p] = c * u + d * v;
      }
    } else {
      vec ur = x0[0], ui = x0[1], vr = x1[0], vi = x1[1];
      x0[0] = t[0] * ur - t[1] * ui + t[2] * vr - t[3] * vi;
      x0[1] = t[0] * ui + t[1] * ur + t[2] * vi + t[3] * vr;
      x1[0] = t[4] * ur - t[5] * ui + t[6] * vr - t[7] * vi;
      x1[1] = t[4] * ui + t[5] * ur + t[6] * vi + t[7] * vr;
    }
  }

  // A normalised block (see normalize()): [x0, x1] <- [[1, p], [q, 1]] [x0, x1], p and q
  // where b and c were (real: t[1], t[2]; complex: t[2..3], t[4..5]): per pair of vectors
  // two fused multiply-adds instead of four products (complex: 8 real instead of 16).
  static inline void block_n(const T* t, vec* x0, vec* x1) {
    if constexpr (!CPLX) {
      const T p = t[1], q = t[2];
      KMX_UNROLL for (int c = 0; c < C; ++c) {
        const vec u = x0[c], v = x1[c];
        x0[c] = u + p * v;
        x1[c] = q * u + v;
      }
    } else {
      const T pr = t[2], pi = t[3], qr = t[4], qi = t[5];
      const vec ur = x0[0], ui = x0[1], vr = x1[0], vi = x1[1];
      x0[0] = ur + pr * vr - pi * vi;
      x0[1] = ui + pr * vi + pi * vr;
      x1[0] = qr * ur - qi * ui + vr;
      x1[1] = qr * ui + qi * ur + vi;
    }
  }

  // Backward of one block: g <- [[a,b],[c,d]]^H g, gt += g x^H (lane sums; DEFER: partial
  // lane sums added to the accumulator vectors ga, reduced once per thread at the end).
  template <bool DEFER>
  static inline void block_bwd(const T* t, const vec* x0, const vec* x1, vec* g0, vec* g1, T* gt,
                               vec* ga) {
    if constexpr (!CPLX) {
      // products summed over the planes first: one lane reduction per RT rows
      vec pa = g0[0] * x0[0], pb = g0[0] * x1[0], pc = g1[0] * x0[0], pd = g1[0] * x1[0];
      KMX_UNROLL for (int p = 1; p < C; ++p) {
        pa += g0[p] * x0[p];
        pb += g0[p] * x1[p];
        pc += g1[p] * x0[p];
        pd += g1[p] * x1[p];
      }
      if constexpr (DEFER) part4_add(pa, pb, pc, pd, ga);
      else hsum4_add(pa, pb, pc, pd, gt);
      const T a = t[0], b = t[1], c = t[2], d = t[3];
      KMX_UNROLL for (int p = 0; p < C; ++p) {
        vec u = g0[p], v = g1[p];
        g0[p] = a * u + c * v;
        g1[p] = b * u + d * v;
      }
    } else {
      vec ur = g0[0], ui = g0[1], vr = g1[0], vi = g1[1];
      // g * conj(x): re = gr xr + gi xi, im = gi xr - gr xi
      const vec p0 = ur * x0[0] + ui * x0[1], p1 = ui * x0[0] - ur * x0[1];
      const vec p2 = ur * x1[0] + ui * x1[1], p3 = ui * x1[0] - ur * x1[1];
      const vec p4 = vr * x0[0] + vi * x0[1], p5 = vi * x0[0] - vr * x0[1];
      const vec p6 = vr * x1[0] + vi * x1[1], p7 = vi * x1[0] - vr * x1[1];
      if constexpr (DEFER) {
        part4_add(p0, p1, p2, p3, ga);
        part4_add(p4, p5, p6, p7, ga + 1);
      } else {
        hsum4_add(p0, p1, p2, p3, gt);
        hsum4_add(p4, p5, p6, p7, gt + 4);
      }
      // conj(a) g0 + conj(c) g1 ; conj(b) g0 + conj(d) g1
      g0[0] = t[0] * ur + t[1] * ui + t[4] * vr + t[5] * vi;
      g0[1] = t[0] * ui - t[1] * ur + t[4] * vi - t[5] * vr;
      g1[0] = t[2] * ur + t[3] * ui + t[6] * vr + t[7] * vi;
      g1[1] = t[2] * ui - t[3] * ur + t[6] * vi - t[7] * vr;
    }
  }

  // Stages k0 .. k0+R-1, whose bits (log2 strides) form the range [lo, lo+R): src -> dst
  // (may alias). Group (h, l) = the 2^R elements base + m 2^lo, base = h 2^(lo+R) + l; at the
  // stage of bit lo+q, element m pairs with m | 2^q and its pair index is
  // h 2^(lo+R-1) + (m without bit q) 2^lo + l. LO >= 0 fixes lo at compile time: every
  // element and twiddle offset of a group is then an immediate from one data pointer and one
  // twiddle pointer per stage, where a runtime lo needs ~20 live addresses (spilled: measured
  // 7% of the stage time, 25% once the arithmetic is halved by the normalised stages).
  template <int R, bool INC, int LO = -1, bool NORM = false>
  static void fwd_pass(const vec* src, vec* dst, const T* tw, int L, i64 N, int k0) {
    constexpr int M = 1 << R;
    const int lo = LO >= 0 ? LO : (INC ? k0 : L - k0 - R);
    const i64 half = N / 2, nh = N >> (lo + R), nl = i64(1) << lo;
    const T* tk[R];
    KMX_UNROLL for (int j = 0; j < R; ++j) tk[j] = tw + i64(k0 + j) * half * TW;
    for (i64 h = 0; h < nh; ++h) {
      const vec* sp = src + (h << (lo + R)) * C;
      vec* dp = dst + (h << (lo + R)) * C;
      const i64 ph = (h << (lo + R - 1)) * TW;
      for (i64 l = 0; l < nl; ++l) {
        vec v[M][C];
        KMX_UNROLL for (int m = 0; m < M; ++m)
          KMX_UNROLL for (int c = 0; c < C; ++c) v[m][c] = sp[(l + (i64(m) << lo)) * C + c];
        KMX_UNROLL for (int j = 0; j < R; ++j) {
          const int q = INC ? j : R - 1 - j;
          const T* tj = tk[j] + ph + l * TW;
          KMX_UNROLL for (int m = 0; m < M; ++m) {
            if ((m >> q) & 1) continue;
            const int mp = ((m >> (q + 1)) << q) | (m & ((1 << q) - 1));
            if constexpr (NORM) block_n(tj + (i64(mp) << lo) * TW, v[m], v[m | (1 << q)]);
            else block(tj + (i64(mp) << lo) * TW, v[m], v[m | (1 << q)]);
          }
        }
        KMX_UNROLL for (int m = 0; m < M; ++m)
          KMX_UNROLL for (int c = 0; c < C; ++c) dp[(l + (i64(m) << lo)) * C + c] = v[m][c];
      }
    }
  }

  // Reverse of fwd_pass<R>: act = input of the pass, G = grad of its output (in place -> grad
  // of its input); gtw accumulates the twiddle gradient of stages k0 .. k0+R-1.
  template <int R, bool INC, bool DEFER>
  static void bwd_pass(const vec* act, vec* G, const T* tw, T* gtw, vec* gacc, int L, i64 N,
                       int k0) {
    constexpr int M = 1 << R;
    const int lo = INC ? k0 : L - k0 - R;
    const i64 half = N / 2, nh = N >> (lo + R), nl = i64(1) << lo;
    i64 koff[R];
    KMX_UNROLL for (int j = 0; j < R; ++j) koff[j] = i64(k0 + j) * half * TW;
    for (i64 h = 0; h < nh; ++h) {
      for (i64 l = 0; l < nl; ++l) {
        const i64 base = (h << (lo + R)) | l, pbase = ((h << (lo + R - 1)) | l) * TW;
        vec xs[R][M][C];
        vec g[M][C];
        KMX_UNROLL for (int m = 0; m < M; ++m)
          KMX_UNROLL for (int c = 0; c < C; ++c) xs[0][m][c] = act[(base + (i64(m) << lo)) * C + c];
        KMX_UNROLL for (int j = 0; j + 1 < R; ++j) {
          const int q = INC ? j : R - 1 - j;
          KMX_UNROLL for (int m = 0; m < M; ++m)
            KMX_UNROLL for (int c = 0; c < C; ++c) xs[j + 1][m][c] = xs[j][m][c];
          KMX_UNROLL for (int m = 0; m < M; ++m) {
            if ((m >> q) & 1) continue;
            const int mp = ((m >> (q + 1)) << q) | (m & ((1 << q) - 1));
            block(tw + koff[j] + pbase + (i64(mp) << lo) * TW, xs[j + 1][m], xs[j + 1][m | (1 << q)]);
          }
        }
        KMX_UNROLL for (int m = 0; m < M; ++m)
          KMX_UNROLL for (int c = 0; c < C; ++c) g[m][c] = G[(base + (i64(m) << lo)) * C + c];
        KMX_UNROLL for (int j = R - 1; j >= 0; --j) {
          const int q = INC ? j : R - 1 - j;
          KMX_UNROLL for (int m = 0; m < M; ++m) {
            if ((m >> q) & 1) continue;
            const int m1 = m | (1 << q);
            const int mp = ((m >> (q + 1)) << q) | (m & ((1 << q) - 1));
            const i64 o = koff[j] + pbase + (i64(mp) << lo) * TW;
            block_bwd<DEFER>(tw + o, xs[j][m], xs[j][m1], g[m], g[m1], gtw + o,
                             DEFER ? gacc + o / 4 : nullptr);
          }
        }
        KMX_UNROLL for (int m = 0; m < M; ++m)
          KMX_UNROLL for (int c = 0; c < C; ++c) G[(base + (i64(m) << lo)) * C + c] = g[m][c];
      }
    }
  }

  // Complex forward passes: 3 stages with 32 vector registers (AVX-512: 8 elements x (re, im)
  // = 16 live vectors; measured 20% faster than 2 for a complex64 K-matrix at N = 1024 and
  // 4096), 2 with 16 (AVX2).
#ifdef __AVX512F__
  static constexpr int RMAX_F = CPLX ? 3 : KMX_RMAX_F;
#else
  static constexpr int RMAX_F = CPLX ? 2 : KMX_RMAX_F;
#endif
  static constexpr int RMAX_B = CPLX ? 2 : KMX_RMAX_B;

  // fwd_pass<R, INC, lo> for lo in [LO, KMX_LO_MAX); false when lo is outside (runtime lo).
  template <int R, bool INC, bool NORM, int LO = 0>
  static bool fwd_pass_at(int lo, const vec* src, vec* dst, const T* tw, int L, i64 N, int k0) {
    if constexpr (LO < KMX_LO_MAX) {
      if (lo == LO) {
        fwd_pass<R, INC, LO, NORM>(src, dst, tw, L, N, k0);
        return true;
      }
      return fwd_pass_at<R, INC, NORM, LO + 1>(lo, src, dst, tw, L, N, k0);
    }
    return false;
  }

  template <bool INC, bool NORM>
  static void run_fwd(int r, const vec* src, vec* dst, const T* tw, int L, i64 N, int k0) {
    const int lo = INC ? k0 : L - k0 - r;
    if constexpr (RMAX_F >= 3) {
      if (r == 3 && fwd_pass_at<3, INC, NORM>(lo, src, dst, tw, L, N, k0)) return;
    }
    if (r == 2 && fwd_pass_at<2, INC, NORM>(lo, src, dst, tw, L, N, k0)) return;
    switch (r) {
      case 1: fwd_pass<1, INC, -1, NORM>(src, dst, tw, L, N, k0); break;
      case 2: fwd_pass<2, INC, -1, NORM>(src, dst, tw, L, N, k0); break;
      case 3: if constexpr (RMAX_F >= 3) fwd_pass<3, INC, -1, NORM>(src, dst, tw, L, N, k0); break;
      default: if constexpr (RMAX_F >= 4) fwd_pass<4, INC, -1, NORM>(src, dst, tw, L, N, k0); break;
    }
  }
  // norm: the twiddles are normalize()'s ([[1, p], [q, 1]] blocks).
  static void run_fwd_pass(int r, const vec* src, vec* dst, const T* tw, int L, i64 N, int k0, bool inc,
                           bool norm = false) {
    if (norm) {
      if (inc) run_fwd<true, true>(r, src, dst, tw, L, N, k0);
      else run_fwd<false, true>(r, src, dst, tw, L, N, k0);
      return;
    }
    if (inc) run_fwd<true, false>(r, src, dst, tw, L, N, k0);
    else run_fwd<false, false>(r, src, dst, tw, L, N, k0);
  }

  // The normalised chain (real twiddles; complex ones at the end). Each 2x2 block of each stage, applied to entries
  // (i, j) that carry the scales (s_i, s_j) left by the blocks before it (1 at the start), is
  //   [[a, b], [c, d]] diag(s_i, s_j) = diag(a s_i, d s_j) [[1, p], [q, 1]],
  //   p = b s_j / (a s_i),  q = c s_i / (d s_j),
  // and (a s_i, d s_j) become the scales of (i, j). So y = diag(s) P_{K-1} ... P_0 x with every
  // P_k made of [[1, p], [q, 1]] blocks: two fused multiply-adds per pair instead of two
  // products and two multiply-adds, and one product per entry (the final scale s, applied when
  // the tile is stored). The identity is exact for any s; rounding the computed p, q and s adds
  // one rounding per stage and entry, the same order as the direct products' (each computed
  // value is the direct one times known scales). nt gets [0, p, q, 0] in tw's layout
  // (F, S, L, N/2, 4), scale the final s (S, N). Scales drift down stage after stage (|a| < 1
  // for rotations: the default Butterfly and KMatrix inits reach 2^-35 at N = 4096, a width-2
  // KMatrix 2^-83), which is harmless: the tile then holds x / s, far from overflow for data
  // below ~2^38 (and a tile whose result is not finite is recomputed directly, see forward).
  // Refused (false: the caller runs the direct stages) when a pivot a s_i or d s_j is not in
  // [2^-90, 2^30] or a coefficient |p|, |q| exceeds 2^90, NaN and infinities included: blocks
  // like [[0, 1], [1, 0]] (a zero pivot), non-finite twiddles, scales that would bring the
  // tile's entries near float32's range ends. O(F S L N) arithmetic, in T (real) or double
  // (complex: the same with complex a, b, c, d, s; nt gets [0, 0, p, q, 0, 0] in tw's layout
  // (F, S, L, N/2, 8), scale (S, N, 2) interleaved; the range tests bound max(|re|, |im|)).
  static bool normalize(const T* tw, i64 S, int L, int F, const int* inc, T* nt, T* scale) {
    const i64 N = i64(1) << L, half = N / 2;
    const T p90 = T(i64(1) << 45) * T(i64(1) << 45);
    const T lo = T(1) / p90, hi = T(i64(1) << 30);
    constexpr int NC = CPLX ? 2 : 1;
    for (i64 s = 0; s < S; ++s) {
      T* sc = scale + s * N * NC;
      for (i64 n = 0; n < N; ++n) {
        sc[n * NC] = T(1);
        if constexpr (CPLX) sc[n * NC + 1] = T(0);
      }
      for (int f = 0; f < F; ++f) {
        for (int k = 0; k < L; ++k) {
          const i64 off = ((i64(f) * S + s) * L + k) * half * TW;
          const i64 st = inc[f] ? (i64(1) << k) : (N >> (k + 1));
          auto stage_bad = [&]() -> int {  // normalise stage k of factor f; nonzero: refused
            if constexpr (!CPLX) {
              if (st < 16 && half >= 16)  // short runs: 16 pairs at a time through SoA buffers
                return normalize_strided(tw + off, nt + off, sc, half, st, lo, hi, p90);
            }
            int bad = 0;
            for (i64 g = 0; g < N; g += 2 * st) {
              const T* t = tw + off + (g / 2) * TW;
              T* o = nt + off + (g / 2) * TW;
              if constexpr (CPLX)
                bad |= normalize_run_c(t, o, sc + 2 * g, sc + 2 * (g + st), st, lo, hi, p90);
              else
                bad |= normalize_run(t, o, sc + g, sc + g + st, st, lo, hi, p90);
            }
            return bad;
          };
          if (stage_bad()) return false;
        }
      }
    }
    return true;
  }

  // normalize() for complex blocks, in double: (a s0, b s1, c s0, d s1), p = b s1 / (a s0),
  // q = c s0 / (d s1), new scales (a s0, d s1).
  static int normalize_run_c(const T* t, T* o, T* s0, T* s1, i64 st, T lo, T hi, T p90) {
    typedef double R;
    auto mul = [](R ar, R ai, R br, R bi, R& cr, R& ci) {
      cr = ar * br - ai * bi;
      ci = ar * bi + ai * br;
    };
    auto mag = [](R r, R i) { return std::max(r < 0 ? -r : r, i < 0 ? -i : i); };
    int bad = 0;
    for (i64 j = 0; j < st; ++j) {
      const T* b = t + 8 * j;
      const R s0r = s0[2 * j], s0i = s0[2 * j + 1], s1r = s1[2 * j], s1i = s1[2 * j + 1];
      R ar, ai, br, bi, cr, ci, dr, di;
      mul(b[0], b[1], s0r, s0i, ar, ai);
      mul(b[2], b[3], s1r, s1i, br, bi);
      mul(b[4], b[5], s0r, s0i, cr, ci);
      mul(b[6], b[7], s1r, s1i, dr, di);
      const R na = ar * ar + ai * ai, nd = dr * dr + di * di;  // |a|^2, |d|^2 (double: no underflow)
      const R pr = (br * ar + bi * ai) / na, pi = (bi * ar - br * ai) / na;
      const R qr = (cr * dr + ci * di) / nd, qi = (ci * dr - cr * di) / nd;
      T* u = o + 8 * j;
      u[0] = u[1] = u[6] = u[7] = T(0);
      u[2] = T(pr);
      u[3] = T(pi);
      u[4] = T(qr);
      u[5] = T(qi);
      s0[2 * j] = T(ar);
      s0[2 * j + 1] = T(ai);
      s1[2 * j] = T(dr);
      s1[2 * j + 1] = T(di);
      const R ma = mag(ar, ai), md = mag(dr, di);
      bad |= !((ma >= lo) & (ma <= hi) & (md >= lo) & (md <= hi) & (mag(pr, pi) <= p90) &
               (mag(qr, qi) <= p90));
    }
    return bad;
  }

  // normalize() on a whole stage of stride st < 16 (runs of st blocks too short to vectorise):
  // 16 pairs p at a time, their scales sc[i0], sc[i0 + st] (i0 = p's first entry) gathered
  // into local arrays, normalize_run on those (vectorised: the two divisions per block were
  // the cost), the new scales scattered back.
  static int normalize_strided(const T* t, T* o, T* sc, i64 half, i64 st, T lo, T hi, T p90) {
    int bad = 0;
    for (i64 p0 = 0; p0 < half; p0 += 16) {
      T s0[16], s1[16];
      i64 i0[16];
      for (int k = 0; k < 16; ++k) {
        const i64 p = p0 + k;
        i0[k] = (p / st) * 2 * st + p % st;
        s0[k] = sc[i0[k]];
        s1[k] = sc[i0[k] + st];
      }
      bad |= normalize_run(t + 4 * p0, o + 4 * p0, s0, s1, 16, lo, hi, p90);
      for (int k = 0; k < 16; ++k) {
        sc[i0[k]] = s0[k];
        sc[i0[k] + st] = s1[k];
      }
    }
    return bad;
  }

  // normalize() on the st consecutive blocks of one stage that pair entries s0[j] with s1[j]
  // (restrict pointers and an int flag: vectorised, 16 blocks per step, for st >= 16).
  static int normalize_run(const T* __restrict t, T* __restrict o, T* __restrict s0,
                           T* __restrict s1, i64 st, T lo, T hi, T p90) {
    int bad = 0;
    for (i64 j = 0; j < st; ++j) {
      const T a = t[4 * j] * s0[j], b = t[4 * j + 1] * s1[j];
      const T c = t[4 * j + 2] * s0[j], d = t[4 * j + 3] * s1[j];
      const T p = b / a, q = c / d;
      o[4 * j] = T(0);
      o[4 * j + 1] = p;
      o[4 * j + 2] = q;
      o[4 * j + 3] = T(0);
      s0[j] = a;
      s1[j] = d;
      const T aa = a < 0 ? -a : a, ad = d < 0 ? -d : d;
      const T ap = p < 0 ? -p : p, aq = q < 0 ? -q : q;
      bad |= !((aa >= lo) & (aa <= hi) & (ad >= lo) & (ad <= hi) & (ap <= p90) & (aq <= p90));
    }
    return bad;
  }
  template <bool INC, bool DEFER>
  static void run_bwd(int r, const vec* act, vec* G, const T* tw, T* gtw, vec* gacc, int L, i64 N,
                      int k0) {
    switch (r) {
      case 1: bwd_pass<1, INC, DEFER>(act, G, tw, gtw, gacc, L, N, k0); break;
      case 2: bwd_pass<2, INC, DEFER>(act, G, tw, gtw, gacc, L, N, k0); break;
      case 3: if constexpr (RMAX_B >= 3) bwd_pass<3, INC, DEFER>(act, G, tw, gtw, gacc, L, N, k0); break;
      default: if constexpr (RMAX_B >= 4) bwd_pass<4, INC, DEFER>(act, G, tw, gtw, gacc, L, N, k0); break;
    }
  }
  static void run_bwd_pass(int r, const vec* act, vec* G, const T* tw, T* gtw, vec* gacc, int L,
                           i64 N, int k0, bool inc) {
    if (gacc) {
      if (inc) run_bwd<true, true>(r, act, G, tw, gtw, gacc, L, N, k0);
      else run_bwd<false, true>(r, act, G, tw, gtw, gacc, L, N, k0);
    } else {
      if (inc) run_bwd<true, false>(r, act, G, tw, gtw, gacc, L, N, k0);
      else run_bwd<false, false>(r, act, G, tw, gtw, gacc, L, N, k0);
    }
  }

  // Split L stages into passes of at most rmax stages, as equal as possible.
  static std::vector<int> schedule(int L, int rmax) {
    std::vector<int> rs;
    if (L == 0) return rs;
    const int P = (L + rmax - 1) / rmax;
    for (int j = 0; j < P; ++j) rs.push_back(L / P + (j < L % P ? 1 : 0));
    return rs;
  }

};

template <class T, bool CPLX, int MV = 1, class ST = T> struct Kern : Passes<T, CPLX, MV> {
  typedef Passes<T, CPLX, MV> P;
  typedef typename P::vec vec;
  typedef Conv<ST, T> CV;
  typedef Shuf<T> SH;
  using P::C;
  using P::PL;
  using P::RMAX_B;
  using P::RMAX_F;
  using P::RT;
  using P::TW;
  using P::V;
  using P::run_bwd_pass;
  using P::run_fwd_pass;
  using P::normalize;
  using P::schedule;

  // Row r of the batch (r in [0, rows)), stack s: offset in scalars.
  struct Strides {
    i64 b, c, s, n;  // batch, row-component, stack, element (scalars)
    i64 crow;        // row components per batch index (2 when complex data meets real twiddles)
    i64 off(i64 r, i64 st) const { return (r / crow) * b + (r % crow) * c + st * s; }
  };

  // Layout classes with a vectorised transpose; anything else takes the scalar loop.
  //   1: real kernel, unit element stride;  2: complex kernel, interleaved (re, im), stride 2;
  //   3: real kernel on complex data (two rows per batch index: re, im), stride 2.
  static int fast_kind(const Strides& st, i64 N) {
    if (N < V) return 0;
    if (!CPLX && st.crow == 1 && st.n == 1) return 1;
    if (CPLX && st.crow == 1 && st.n == 2) return 2;
    if (!CPLX && st.crow == 2 && st.n == 2 && st.c == 1 && V % 2 == 0) return 3;
    return 0;
  }

  static void gather(vec* tile, const ST* x, const Strides& st, i64 r0, i64 nv, i64 s, i64 N) {
    const int kind = fast_kind(st, N);
    if (kind == 0) {
      T* t = reinterpret_cast<T*>(tile);
      if (nv < RT) std::memset(static_cast<void*>(tile), 0, sizeof(vec) * N * C);
      for (i64 j = 0; j < nv; ++j) {
        const ST* row = x + st.off(r0 + j, s);
        const i64 pl = j / V, lane = j % V;
        for (i64 n = 0; n < N; ++n) {
          if constexpr (CPLX) {
            t[(n * C) * V + lane] = CV::get(row + n * st.n);
            t[(n * C + 1) * V + lane] = CV::get(row + n * st.n + 1);
          } else {
            t[(n * C + pl) * V + lane] = CV::get(row + n * st.n);
          }
        }
      }
      return;
    }
    for (int pl = 0; pl < PL; ++pl) {
      const i64 jb = i64(pl) * V, nvp = std::max<i64>(0, std::min<i64>(V, nv - jb));
      if (nvp == 0) {
        for (i64 n = 0; n < N; ++n) tile[n * C + pl] = vec{};
        continue;
      }
      const ST* rp[V];
      for (i64 j = 0; j < nvp; ++j) rp[j] = x + st.off(r0 + jb + j, s);
      for (i64 n0 = 0; n0 < N; n0 += V) {
        constexpr int NC = CPLX ? 2 : 1;
        vec r[NC][V];
        for (int j = 0; j < V; ++j) {
          if (j >= nvp) {
            for (int c = 0; c < NC; ++c) r[c][j] = vec{};
            continue;
          }
          if (kind == 1) {
            r[0][j] = CV::load(rp[j] + n0);
          } else if (kind == 2) {
            vec a, b;
            a = CV::load(rp[j] + 2 * n0);
            b = CV::load(rp[j] + 2 * n0 + V);
            SH::deinterleave(a, b, r[0][j], r[NC - 1][j]);
          } else {  // kind 3: rows j (re) and j + 1 (im) share one interleaved batch row
            vec a, b;
            a = CV::load(rp[j] + 2 * n0);
            b = CV::load(rp[j] + 2 * n0 + V);
            if (j + 1 < nvp) {
              SH::deinterleave(a, b, r[0][j], r[0][j + 1]);
              ++j;
            } else {
              vec im;
              SH::deinterleave(a, b, r[0][j], im);
            }
          }
        }
        for (int c = 0; c < NC; ++c) {
          SH::transpose(r[c]);
          const int plane = CPLX ? c : pl;
          for (int i = 0; i < V; ++i) tile[(n0 + i) * C + plane] = r[c][i];
        }
      }
    }
  }

  // Stores the tile's rows; scale (normalised stages): entry n of every row is multiplied by
  // scale[n] first (complex: the complex scale[2n], scale[2n + 1]). Returns false when a scale
  // was given and a stored value is not finite (true otherwise).
  static bool scatter(const vec* tile, ST* y, const Strides& st, i64 r0, i64 nv, i64 s, i64 N,
                      const T* scale = nullptr) {
    const int kind = fast_kind(st, N);
    if (kind == 0) {
      const T* t = reinterpret_cast<const T*>(tile);
      T bad = T(0);  // sum of v - v: 0 while every v is finite, NaN after an inf or a NaN
      for (i64 j = 0; j < nv; ++j) {
        ST* row = y + st.off(r0 + j, s);
        const i64 pl = j / V, lane = j % V;
        for (i64 n = 0; n < N; ++n) {
          if constexpr (CPLX) {
            T re = t[(n * C) * V + lane], im = t[(n * C + 1) * V + lane];
            if (scale) {
              const T r2 = re * scale[2 * n] - im * scale[2 * n + 1];
              im = re * scale[2 * n + 1] + im * scale[2 * n];
              re = r2;
              bad += (re - re) + (im - im);
            }
            CV::put(row + n * st.n, re);
            CV::put(row + n * st.n + 1, im);
          } else {
            const T v = scale ? t[(n * C + pl) * V + lane] * scale[n] : t[(n * C + pl) * V + lane];
            if (scale) bad += v - v;
            CV::put(row + n * st.n, v);
          }
        }
      }
      return bad == T(0);
    }
    vec bad{};
    for (int pl = 0; pl < PL; ++pl) {
      const i64 jb = i64(pl) * V, nvp = std::max<i64>(0, std::min<i64>(V, nv - jb));
      if (nvp == 0) continue;
      ST* rp[V];
      for (i64 j = 0; j < nvp; ++j) rp[j] = y + st.off(r0 + jb + j, s);
      for (i64 n0 = 0; n0 < N; n0 += V) {
        constexpr int NC = CPLX ? 2 : 1;
        vec r[NC][V];
        for (int c = 0; c < NC; ++c) {
          const int plane = CPLX ? c : pl;
          for (int i = 0; i < V; ++i) r[c][i] = tile[(n0 + i) * C + plane];
        }
        if (scale) {
          for (int i = 0; i < V; ++i) {
            if constexpr (CPLX) {
              const T sr = scale[2 * (n0 + i)], si = scale[2 * (n0 + i) + 1];
              const vec re = r[0][i], im = r[1][i];
              r[0][i] = sr * re - si * im;
              r[1][i] = sr * im + si * re;
              bad += (r[0][i] - r[0][i]) + (r[1][i] - r[1][i]);
            } else {
              r[0][i] *= scale[n0 + i];
              bad += r[0][i] - r[0][i];
            }
          }
        }
        for (int c = 0; c < NC; ++c) SH::transpose(r[c]);
        for (int j = 0; j < nvp; ++j) {
          if (kind == 1) {
            CV::store(rp[j] + n0, r[0][j]);
          } else if (kind == 2) {
            vec a, b;
            SH::interleave(r[0][j], r[NC - 1][j], a, b);
            CV::store(rp[j] + 2 * n0, a);
            CV::store(rp[j] + 2 * n0 + V, b);
          } else {  // kind 3: rows always come in (re, im) pairs here (rows = 2 B, V even)
            vec a, b;
            SH::interleave(r[0][j], r[0][j + 1], a, b);
            CV::store(rp[j] + 2 * n0, a);
            CV::store(rp[j] + 2 * n0 + V, b);
            ++j;
          }
        }
      }
    }
    for (int i = 0; i < V; ++i)
      if (bad[i] != T(0)) return false;
    return true;
  }

  // Tiles [0, ntiles) split into contiguous ranges over the threads that actually run,
  // f(thread, begin, end); returns that team size (<= nt). OpenMP may give fewer threads than
  // asked (OMP_THREAD_LIMIT, OMP_DYNAMIC, nested regions), so callers size per-thread state by
  // the returned count, never by nt. With OpenMP this runs on the OpenMP pool — torch's own
  // when the library resolves to the libgomp torch has already loaded, so the kernel does not
  // compete with spinning torch workers. An exception thrown by f (std::bad_alloc) must not
  // leave a parallel region (that is std::terminate): each thread catches it, the first one is
  // kept and rethrown here, after the region, for the C boundary to turn into an error code.
  template <class F>
  static int parallel_tiles(i64 ntiles, int nt, F f) {
    if (nt <= 1) {
      f(0, 0, ntiles);
      return 1;
    }
    std::exception_ptr err = nullptr;
    std::atomic<int> failed{0};
    int team = 1;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num(), n = omp_get_num_threads();
      if (t == 0) team = n;
      try {
        if (t < nt) f(t, ntiles * t / n, ntiles * (t + 1) / n);
      } catch (...) {
        if (failed.exchange(1) == 0) err = std::current_exception();
      }
    }
#else
    std::vector<std::thread> th;
    try {
      for (int t = 1; t < nt; ++t)
        th.emplace_back([=, &err, &failed] {
          try {
            f(t, ntiles * t / nt, ntiles * (t + 1) / nt);
          } catch (...) {
            if (failed.exchange(1) == 0) err = std::current_exception();
          }
        });
    } catch (...) {  // could not start a thread: the started ones still cover their ranges
      if (failed.exchange(1) == 0) err = std::current_exception();
    }
    try {
      f(0, 0, ntiles / nt);
    } catch (...) {
      if (failed.exchange(1) == 0) err = std::current_exception();
    }
    for (auto& x : th) x.join();
    team = nt;
#endif
    if (err) std::rethrow_exception(err);
    return team;
  }

  // Threads: at most one per tile and one per ~2^16 butterfly pair-rows of work, so that
  // small products are not slowed down by thread start-up.
  static int num_threads(int requested, i64 ntiles, i64 N, int L) {
    const i64 work = ntiles * RT * (N / 2) * std::max(L, 1);
    i64 nt = std::min<i64>(requested, ntiles);
    nt = std::min<i64>(nt, std::max<i64>(1, work >> 16));
    return int(std::max<i64>(1, nt));
  }

  // Few rows (at most 2 per stack index, e.g. one vector): forward() row by row on a scalar
  // buffer of N elements, one thread. A tile would compute RT rows (8 or 16) to keep 1 or 2;
  // here each row costs N/2 * L * F blocks of scalar arithmetic, in the same operation order
  // as block() (so the same rounding). Measured (N = 256 and 1024, AVX2): faster than a tile
  // up to 2 rows for every dtype, slower from 3 float32 rows. Same math and arguments as
  // forward().
  static void forward_rows(const T* tw, const ST* x, ST* y, i64 rows, i64 S, int L, int F,
                           const int* inc, const Strides& xs, const Strides& ys) {
    const i64 N = i64(1) << L, half = N / 2, fsize = S * i64(L) * half * TW;
    constexpr int NC = CPLX ? 2 : 1;
    // planar buffer: real parts u[0, N), imaginary parts u[N, 2N) (complex data), so that no
    // vectoriser pairs a real with an imaginary expression (x86 fmaddsub would fuse other
    // products than block() does, and the bits would depend on the batch size)
    std::vector<T> buf(N * NC);
    T* u = buf.data();
    for (i64 s = 0; s < S; ++s) {
      for (i64 r = 0; r < rows; ++r) {
        const ST* xr = x + xs.off(r, s);
        for (i64 n = 0; n < N; ++n)
          for (int c = 0; c < NC; ++c) u[c * N + n] = CV::get(xr + n * xs.n + c);
        for (int f = 0; f < F; ++f) {
          const T* tws = tw + f * fsize + s * i64(L) * half * TW;
          for (int k = 0; k < L; ++k) {
            const i64 st = inc[f] ? (i64(1) << k) : (N >> (k + 1));
            const T* tk = tws + i64(k) * half * TW;
            for (i64 g = 0; g < N; g += 2 * st) {
              const T* tp = tk + (g / 2) * TW;
              if constexpr (!CPLX) {
                T* u0 = u + g;
                T* u1 = u + g + st;
                for (i64 j = 0; j < st; ++j) {
                  const T* t = tp + j * TW;
                  const T a = t[0], b = t[1], c = t[2], d = t[3];
                  const T p = u0[j], q = u1[j];
                  u0[j] = a * p + b * q;
                  u1[j] = c * p + d * q;
                }
              } else {
                T* r0 = u + g;
                T* r1 = u + g + st;
                T* i0 = u + N + g;
                T* i1 = u + N + g + st;
                for (i64 j = 0; j < st; ++j) {
                  const T* t = tp + j * TW;
                  const T ur = r0[j], ui = i0[j], vr = r1[j], vi = i1[j];
                  r0[j] = t[0] * ur - t[1] * ui + t[2] * vr - t[3] * vi;
                  i0[j] = t[0] * ui + t[1] * ur + t[2] * vi + t[3] * vr;
                  r1[j] = t[4] * ur - t[5] * ui + t[6] * vr - t[7] * vi;
                  i1[j] = t[4] * ui + t[5] * ur + t[6] * vi + t[7] * vr;
                }
              }
            }
          }
        }
        ST* yr = y + ys.off(r, s);
        for (i64 n = 0; n < N; ++n)
          for (int c = 0; c < NC; ++c) CV::put(yr + n * ys.n + c, u[c * N + n]);
      }
    }
  }

  // y = B_{F-1} ... B_1 B_0 x: F butterflies (factor f: twiddles tw[f] of shape (S, L, N/2, .),
  // stride order inc[f]) applied to each tile while it stays in cache: one read of x and one
  // write of y whatever F (a K-matrix B B* of width w is F = 2w factors). Few rows (at most
  // 2 per stack index): forward_rows().
  static void forward(const T* tw, const ST* x, ST* y, i64 rows, i64 S, int L, int F, const int* inc,
                      const Strides& xs, const Strides& ys, int nthreads) {
    if (rows <= 2) return forward_rows(tw, x, y, rows, S, L, F, inc, xs, ys);
    const i64 N = i64(1) << L, half = N / 2, fsize = S * i64(L) * half * TW;
    const i64 tps = (rows + RT - 1) / RT;  // tiles per stack index
    const auto rs = schedule(L, RMAX_F);
    const i64 ntiles = tps * S;
    // Calls with at least KMX_NORM_MIN_ROWS rows per stack index (normalize() costs
    // O(F S L N), the stages it halves O(rows F S L N)) run the normalised stages, unless
    // normalize() refuses the twiddles, y is x (a tile is re-read from x if its normalised
    // result overflows) or the normalised copy of the twiddles would exceed KMX_NORM_MAX_MB
    // (it is as large as the twiddles: 75 MiB for a float32 K-matrix at N = 2^18).
    const bool small_enough = F * fsize * i64(sizeof(T)) <= (i64(KMX_NORM_MAX_MB) << 20);
    const bool try_norm =
        rows >= KMX_NORM_MIN_ROWS && L > 0 && static_cast<const void*>(x) != y && small_enough;
    constexpr int NSC = CPLX ? 2 : 1;  // scalars per final scale (complex: re, im)
    parallel_tiles(ntiles, num_threads(nthreads, ntiles, N, L * F), [&](int, i64 t0, i64 t1) {
      std::vector<vec> tile(N * C);
      // Each thread normalises into its own buffers, kept between calls up to 8 MiB (a K-matrix
      // to N = 2^14 in float32) and released after larger ones: reading one thread's
      // freshly written copy from another core cost more than normalising twice (measured at
      // 2 threads, K-matrix N = 4096, 256 rows: 0.88 ms shared, 0.61 ms per thread, 0.69 direct).
      thread_local std::vector<T> nt_buf, scale_buf;
      bool norm = false;
      if (try_norm && t1 > t0) {
        nt_buf.resize(std::size_t(F * fsize));
        scale_buf.resize(std::size_t(S * N * NSC));
        norm = normalize(tw, S, L, F, inc, nt_buf.data(), scale_buf.data());
      }
      const T* nt_data = nt_buf.data();
      const T* scale_data = scale_buf.data();
      auto stages = [&](const T* chain, i64 s, bool normalised) {
        for (int f = 0; f < F; ++f) {
          const T* tws = chain + f * fsize + s * i64(L) * half * TW;
          int k0 = 0;
          for (int r : rs) {
            run_fwd_pass(r, tile.data(), tile.data(), tws, L, N, k0, inc[f] != 0, normalised);
            k0 += r;
          }
        }
      };
      for (i64 t = t0; t < t1; ++t) {
        const i64 s = t / tps, r0 = (t % tps) * RT, nv = std::min<i64>(RT, rows - r0);
        gather(tile.data(), x, xs, r0, nv, s, N);
        stages(norm ? nt_data : tw, s, norm);
        const T* sc = norm ? scale_data + s * N * NSC : nullptr;
        if (!scatter(tile.data(), y, ys, r0, nv, s, N, sc)) {
          // the scaled entries overflowed (data beyond ~2^38 times the scales), or x holds
          // an inf or a NaN: this tile again by the direct stages
          gather(tile.data(), x, xs, r0, nv, s, N);
          stages(tw, s, false);
          scatter(tile.data(), y, ys, r0, nv, s, N);
        }
      }
      if (nt_buf.capacity() * sizeof(T) > (std::size_t(8) << 20)) {  // keep at most 8 MiB
        std::vector<T>().swap(nt_buf);
        std::vector<T>().swap(scale_buf);
      }
    });
  }

  // Reverse mode of forward(). Per tile: the F factor inputs are kept; going back through the
  // factors, the inputs of each fused pass of factor f are recomputed from its factor input,
  // then the passes run backwards. Scratch per thread: F + ceil(L/R) + 1 tiles.
  static void backward(const T* tw, const ST* x, const ST* gy, ST* gx, T* gtw, i64 rows, i64 S, int L,
                       int F, const int* inc, const Strides& xs, const Strides& gys,
                       const Strides& gxs, int nthreads) {
    const i64 N = i64(1) << L, half = N / 2, fsize = S * i64(L) * half * TW;
    const i64 tps = (rows + RT - 1) / RT;
    const auto rs = schedule(L, RMAX_B);
    const i64 P = i64(rs.size());
    const i64 twsize = F * fsize;
    const i64 ntiles = tps * S;
    const int nt = num_threads(nthreads, ntiles, N, L * F);
    // One accumulator slot per requested thread; a slot is filled only by a thread that ran,
    // and the sum below covers exactly the filled slots (the team may be smaller than nt).
    std::vector<std::vector<T>> acc(nt);
    // Deferred twiddle-gradient reduction (part4_add) when its per-thread accumulator — one
    // vector per 4 gradient entries, V/4 times the scalar accumulator (640 KB for a K-matrix
    // at N = 1024) — stays under KMX_DEFER_MAX_KB on one thread, KMX_DEFER_MAX_KB_MT on
    // several; otherwise each block is reduced at once. With several threads the accumulators
    // spill from L2 and contend for L3: measured on 2 threads, Butterfly(4096) at 1024 rows
    // 9.6 ms deferred (1.5 MiB each) against 6.7 ms reduced at once, Butterfly(2048) 7.4
    // against 6.2 (704 KiB); on one thread deferring stays 3-10% faster.
    const i64 defer_kb = nt > 1 ? KMX_DEFER_MAX_KB_MT : KMX_DEFER_MAX_KB;
    const bool defer = i64(sizeof(vec)) * (twsize / 4) <= (defer_kb << 10);
    parallel_tiles(ntiles, nt, [&](int tid, i64 t0, i64 t1) {
      std::vector<T>& a = acc[tid];
      a.assign(twsize, T(0));
      std::vector<vec> av(defer ? twsize / 4 : 0, vec{});
      const i64 TS = N * C;  // vectors per tile
      std::vector<vec> fin(F * TS), ck(std::max<i64>(P - 1, 1) * TS), G(TS);
      for (i64 t = t0; t < t1; ++t) {
        const i64 s = t / tps, r0 = (t % tps) * RT, nv = std::min<i64>(RT, rows - r0);
        gather(fin.data(), x, xs, r0, nv, s, N);
        for (int f = 0; f + 1 < F; ++f) {  // factor inputs
          const T* tws = tw + f * fsize + s * i64(L) * half * TW;
          int k0 = 0;
          const vec* src = fin.data() + f * TS;
          vec* dst = fin.data() + (f + 1) * TS;
          for (int r : rs) {
            run_fwd_pass(r, src, dst, tws, L, N, k0, inc[f] != 0);
            src = dst;
            k0 += r;
          }
        }
        gather(G.data(), gy, gys, r0, nv, s, N);
        for (int f = F - 1; f >= 0; --f) {
          const T* tws = tw + f * fsize + s * i64(L) * half * TW;
          const i64 goff = f * fsize + s * i64(L) * half * TW;
          T* gts = a.data() + goff;
          vec* gav = defer ? av.data() + goff / 4 : nullptr;
          const bool fi = inc[f] != 0;
          auto act = [&](i64 j) { return j == 0 ? fin.data() + f * TS : ck.data() + (j - 1) * TS; };
          int k0 = 0;
          for (i64 j = 0; j + 1 < P; ++j) {  // pass inputs of factor f
            run_fwd_pass(rs[j], act(j), act(j + 1), tws, L, N, k0, fi);
            k0 += rs[j];
          }
          for (i64 j = P - 1; j >= 0; --j) {
            run_bwd_pass(rs[j], act(j), G.data(), tws, gts, gav, L, N, k0, fi);
            if (j > 0) k0 -= rs[j - 1];
          }
        }
        scatter(G.data(), gx, gxs, r0, nv, s, N);
      }
      for (std::size_t i = 0; i < av.size(); ++i) part4_flush<T>(av[i], a.data() + 4 * i);
    });
    std::memset(gtw, 0, sizeof(T) * twsize);
    for (int t = 0; t < nt; ++t) {
      if (i64(acc[t].size()) != twsize) continue;  // this slot's thread did not run
      const T* at = acc[t].data();
      for (i64 i = 0; i < twsize; ++i) gtw[i] += at[i];
    }
  }
};

// C boundary. Every entry returns 0 on success, else an error code (the Python wrapper raises):
//   1 KMX_ENOMEM   an allocation failed (std::bad_alloc), in the calling or a worker thread
//   2 KMX_EINVAL   an argument is out of range (null pointer, L outside [0, 40], F < 0, ...)
//   3 KMX_EFAIL    any other C++ exception
// No exception crosses this boundary. The Python side (cpu.py) checks dtypes, shapes, devices
// and strides before calling; the checks here are the last line for callers that bypass it.
enum { KMX_OK = 0, KMX_ENOMEM = 1, KMX_EINVAL = 2, KMX_EFAIL = 3 };

static int check_args(const void* tw, const void* x, const void* y, i64 rows, i64 S, int L, int F,
                      const int* inc, const i64* xst, const i64* yst) {
  if (rows < 0 || S < 0 || L < 0 || L > 40 || F < 0) return KMX_EINVAL;
  if (rows == 0 || S == 0 || F == 0) return KMX_OK;
  if (!tw || !x || !y || !inc || !xst || !yst) return KMX_EINVAL;
  for (const i64* st : {xst, yst}) {
    if (st[0] < 0 || st[1] < 0 || st[2] < 0 || st[3] < 0 || (st[4] != 1 && st[4] != 2))
      return KMX_EINVAL;
  }
  return KMX_OK;
}

template <class G> static int guarded(G g) {
  try {
    g();
    return KMX_OK;
  } catch (const std::bad_alloc&) {
    return KMX_ENOMEM;
  } catch (const std::length_error&) {
    return KMX_ENOMEM;
  } catch (...) {
    return KMX_EFAIL;
  }
}

#define KMX_EXPORT(NAME, T, ST, CPLX, MVF, MVB)                                                    \
  extern "C" int kmx_fwd_##NAME(const T* tw, const ST* x, ST* y, i64 rows, i64 S, int L, int F,    \
                                const int* inc, const i64* xst, const i64* yst, int nthreads) {    \
    typedef Kern<T, CPLX, MVF, ST> K;                                                              \
    const int bad = check_args(tw, x, y, rows, S, L, F, inc, xst, yst);                            \
    if (bad || rows == 0 || S == 0 || F == 0) return bad;                                          \
    return guarded([&] {                                                                           \
      typename K::Strides xs{xst[0], xst[1], xst[2], xst[3], xst[4]};                              \
      typename K::Strides ys{yst[0], yst[1], yst[2], yst[3], yst[4]};                              \
      K::forward(tw, x, y, rows, S, L, F, inc, xs, ys, nthreads);                                  \
    });                                                                                            \
  }                                                                                                \
  extern "C" int kmx_bwd_##NAME(const T* tw, const ST* x, const ST* gy, ST* gx, T* gtw, i64 rows,  \
                                i64 S, int L, int F, const int* inc, const i64* xst,               \
                                const i64* gyst, const i64* gxst, int nthreads) {                  \
    typedef Kern<T, CPLX, MVB, ST> K;                                                              \
    int bad = check_args(tw, x, gy, rows, S, L, F, inc, xst, gyst);                                \
    if (!bad) bad = check_args(tw, x, gx, rows, S, L, F, inc, xst, gxst);                          \
    if (!bad && rows > 0 && S > 0 && F > 0 && !gtw) bad = KMX_EINVAL;                              \
    if (bad || rows == 0 || S == 0 || F == 0) return bad;                                          \
    return guarded([&] {                                                                           \
      typename K::Strides xs{xst[0], xst[1], xst[2], xst[3], xst[4]};                              \
      typename K::Strides gys{gyst[0], gyst[1], gyst[2], gyst[3], gyst[4]};                        \
      typename K::Strides gxs{gxst[0], gxst[1], gxst[2], gxst[3], gxst[4]};                        \
      K::backward(tw, x, gy, gx, gtw, rows, S, L, F, inc, xs, gys, gxs, nthreads);                 \
    });                                                                                            \
  }

KMX_EXPORT(f32, float, float, false, KMX_MV_F, KMX_MV_B)
KMX_EXPORT(f64, double, double, false, KMX_MV_F, KMX_MV_B)
KMX_EXPORT(c64, float, float, true, 1, 1)
KMX_EXPORT(c128, double, double, true, 1, 1)
// Half-precision data (float32 twiddles, float32 arithmetic, gradient of the twiddles float32).
KMX_EXPORT(bf16, float, bf16_t, false, KMX_MV_F, KMX_MV_B)
KMX_EXPORT(f16, float, f16_t, false, KMX_MV_F, KMX_MV_B)

extern "C" int kmx_abi_version() { return 5; }
// Forward calls with at least this many rows per stack index run the normalised
// stages (Passes::normalize).
extern "C" int kmx_norm_min_rows() { return KMX_NORM_MIN_ROWS; }
