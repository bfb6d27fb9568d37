// The body of core/chunk_kernel.h, compiled twice: by chunk_kernel.cpp for any x86-64 and by
// chunk_kernel_avx2.cpp with -mavx2 (never -mfma's contraction: ISO C++ mode keeps a*b + c two
// roundings). CURVEFIT_KERNEL_NAMESPACE names the build. Include from those two files only.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "core/engine/chunk_kernel.h"

namespace curvefit::kernel::CURVEFIT_KERNEL_NAMESPACE {

// The 4-lane helpers below are internal and inlined: the portable build's note that passing a
// 32-byte vector by value differs from the AVX ABI concerns no caller.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace {

// Four doubles, added and multiplied lane by lane.
typedef double Vec4 __attribute__((vector_size(32)));
typedef long long Mask4 __attribute__((vector_size(32)));

inline Vec4 load(const double* p) {
  Vec4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(double* p, Vec4 v) { std::memcpy(p, &v, sizeof v); }
// The first `count` (< 4) values at p, zeros after them.
inline Vec4 load_partial(const double* p, std::size_t count) {
  double lanes[4] = {0, 0, 0, 0};
  for (std::size_t k = 0; k < count; ++k) lanes[k] = p[k];
  return load(lanes);
}
inline double sum_lanes(Vec4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }

// sum a[i] b[i] with eight partial sums (rows i mod 8, as two vectors) added in a fixed order:
// deterministic, and not bound by the latency of a single chain of additions.
double dot(const double* a, const double* b, std::size_t rows) {
  Vec4 s0 = {0, 0, 0, 0}, s1 = {0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 8 <= rows; i += 8) {
    s0 += load(a + i) * load(b + i);
    s1 += load(a + i + 4) * load(b + i + 4);
  }
  if (i + 4 <= rows) {
    s0 += load(a + i) * load(b + i);
    i += 4;
  }
  if (i < rows) s1 += load_partial(a + i, rows - i) * load_partial(b + i, rows - i);
  return sum_lanes(s0 + s1);
}

// The fold's column sweeps, over up to kGroup columns at once: each row of the reflected column
// is loaded once for all of them, not once per column. The loops over the group are unrolled
// (GCC's -O2 would not), so that each column's partial sums stay in registers. Every sum is
// added in dot()'s order and every update is c - w v with one rounding per operation, so the
// results are the bits of the column-by-column algorithm (a dot, a scaling, then a dot and an
// update per column).
constexpr int kGroup = 4;

// sums[q] = v . c[q] for the G columns c. With kScale, v is first made in place as v[i] * s (the
// reflected column scaled into the reflector's tail) and those products are what is dotted.
template <int G, bool kScale>
void scaled_dots(double* v, double s, double* const* c, std::size_t rows, double* sums) {
  const Vec4 sv = {s, s, s, s};
  const auto next_v = [&](std::size_t i) {
    Vec4 a = load(v + i);
    if constexpr (kScale) {
      a *= sv;
      store(v + i, a);
    }
    return a;
  };
  Vec4 s0[G], s1[G];
  #pragma GCC unroll 4
  for (int q = 0; q < G; ++q) s0[q] = s1[q] = Vec4{0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 8 <= rows; i += 8) {
    const Vec4 a0 = next_v(i), a1 = next_v(i + 4);
    #pragma GCC unroll 4
    for (int q = 0; q < G; ++q) {
      s0[q] += a0 * load(c[q] + i);
      s1[q] += a1 * load(c[q] + i + 4);
    }
  }
  if (i + 4 <= rows) {
    const Vec4 a0 = next_v(i);
    #pragma GCC unroll 4
    for (int q = 0; q < G; ++q) s0[q] += a0 * load(c[q] + i);
    i += 4;
  }
  if (i < rows) {
    if constexpr (kScale)
      for (std::size_t t = i; t < rows; ++t) v[t] *= s;
    const Vec4 a = load_partial(v + i, rows - i);
    #pragma GCC unroll 4
    for (int q = 0; q < G; ++q) s1[q] += a * load_partial(c[q] + i, rows - i);
  }
  #pragma GCC unroll 4
  for (int q = 0; q < G; ++q) sums[q] = sum_lanes(s0[q] + s1[q]);
}

// c[q][i] -= w[q] v[i] for the G columns c. With kNorm, also returns c[0] . c[0] after its update
// (the next column's norm, which the next reflection needs), else 0.
template <int G, bool kNorm>
double update_columns(double* const* c, const double* w, const double* v, std::size_t rows) {
  Vec4 wv[G];
  #pragma GCC unroll 4
  for (int q = 0; q < G; ++q) wv[q] = Vec4{w[q], w[q], w[q], w[q]};
  Vec4 n0 = {0, 0, 0, 0}, n1 = {0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 8 <= rows; i += 8) {
    const Vec4 a0 = load(v + i), a1 = load(v + i + 4);
    #pragma GCC unroll 4
    for (int q = 0; q < G; ++q) {
      const Vec4 u0 = load(c[q] + i) - wv[q] * a0, u1 = load(c[q] + i + 4) - wv[q] * a1;
      store(c[q] + i, u0);
      store(c[q] + i + 4, u1);
      if (kNorm && q == 0) {
        n0 += u0 * u0;
        n1 += u1 * u1;
      }
    }
  }
  if (i + 4 <= rows) {
    const Vec4 a0 = load(v + i);
    #pragma GCC unroll 4
    for (int q = 0; q < G; ++q) {
      const Vec4 u0 = load(c[q] + i) - wv[q] * a0;
      store(c[q] + i, u0);
      if (kNorm && q == 0) n0 += u0 * u0;
    }
    i += 4;
  }
  if (i < rows) {
    #pragma GCC unroll 4
    for (int q = 0; q < G; ++q)
      for (std::size_t t = i; t < rows; ++t) c[q][t] -= w[q] * v[t];
    if constexpr (kNorm) {
      const Vec4 u = load_partial(c[0] + i, rows - i);
      n1 += u * u;
    }
  }
  return kNorm ? sum_lanes(n0 + n1) : 0.0;
}

// The run-time group size (1..kGroup) to the templates above.
template <bool kScale>
void scaled_dots(int g, double* v, double s, double* const* c, std::size_t rows, double* sums) {
  switch (g) {
    case 1: return scaled_dots<1, kScale>(v, s, c, rows, sums);
    case 2: return scaled_dots<2, kScale>(v, s, c, rows, sums);
    case 3: return scaled_dots<3, kScale>(v, s, c, rows, sums);
    default: return scaled_dots<4, kScale>(v, s, c, rows, sums);
  }
}
template <bool kNorm>
double update_columns(int g, double* const* c, const double* w, const double* v, std::size_t rows) {
  switch (g) {
    case 1: return update_columns<1, kNorm>(c, w, v, rows);
    case 2: return update_columns<2, kNorm>(c, w, v, rows);
    case 3: return update_columns<3, kNorm>(c, w, v, rows);
    default: return update_columns<4, kNorm>(c, w, v, rows);
  }
}

}  // namespace

// For each column j, a Householder reflection H = I - tau v v^T with v = [1; v_tail] maps
// [R(j,j); B(:,j)] to [beta; 0] (LAPACK's dlarfg convention, beta = -sign(alpha) ||.||) and is
// applied to the columns to its right, including the right-hand side column qtf | b. Rows above j
// of R are untouched, so only row j of [R | qtf] and the block take part.
//
// Per column, two sweeps over the rows do the work of 2 (n - j) + 2: one makes v_tail and dots
// it with every column to the right, the other updates those columns and takes the norm of the
// next one. The arithmetic is that of one column at a time (same operations, same order).
void fold_rows_into_factor(double* Rqtf, int n, double* B, std::size_t rows, std::size_t ld) {
  if (rows == 0) return;
  const std::size_t un = static_cast<std::size_t>(n);
  double tail_norm2 = un > 0 ? dot(B, B, rows) : 0.0;
  for (std::size_t j = 0; j < un; ++j) {
    double* bj = B + j * ld;
    const bool has_next = j + 1 < un;
    if (tail_norm2 == 0) {  // already triangular in this column: H = I
      if (has_next) tail_norm2 = dot(bj + ld, bj + ld, rows);
      continue;
    }
    double& alpha = Rqtf[j + j * un];
    const double norm = std::sqrt(alpha * alpha + tail_norm2);
    const double beta = alpha >= 0 ? -norm : norm;
    const double tau = (beta - alpha) / beta;
    const double to_tail = 1.0 / (alpha - beta);
    alpha = beta;
    tail_norm2 = 0;
    // Columns j+1 .. n (the last one qtf | b), kGroup at a time: the first group also scales bj
    // into v_tail and, updating column j+1 first, gives the next reflection's norm.
    for (std::size_t first = j + 1; first <= un; first += kGroup) {
      const int g = static_cast<int>(std::min<std::size_t>(kGroup, un + 1 - first));
      double* columns[kGroup];
      double dots[kGroup], w[kGroup];
      for (int q = 0; q < g; ++q) columns[q] = B + (first + static_cast<std::size_t>(q)) * ld;
      if (first == j + 1)
        scaled_dots<true>(g, bj, to_tail, columns, rows, dots);
      else
        scaled_dots<false>(g, bj, to_tail, columns, rows, dots);
      for (int q = 0; q < g; ++q) {
        double& r_jk = Rqtf[j + (first + static_cast<std::size_t>(q)) * un];
        w[q] = tau * (r_jk + dots[q]);
        r_jk -= w[q];
      }
      if (first == j + 1 && has_next)
        tail_norm2 = update_columns<true>(g, columns, w, bj, rows);
      else
        update_columns<false>(g, columns, w, bj, rows);
    }
  }
}

void linear_residuals(const double* values, const double* y, const double* sigma, std::size_t rows,
                      double* f, double* jac, std::size_t jac_columns, std::size_t ld,
                      LinearSums& sums) {
  Vec4 chi2 = {0, 0, 0, 0}, ss = {0, 0, 0, 0};
  Mask4 bad = {0, 0, 0, 0};
  const Vec4 zero = {0, 0, 0, 0};
  // One group of four rows (the last one padded with y = value = 0, sigma = 1: adds zeros).
  auto group = [&](Vec4 value, Vec4 observed, const Vec4* sigma4, double* f_out) {
    const Vec4 difference = value - observed;
    const Vec4 r = sigma4 ? difference / *sigma4 : difference;
    bad |= (r - r) != zero;  // NaN for +-inf and NaN
    ss += difference * difference;
    chi2 += r * r;
    if (f_out) store(f_out, r);
  };
  std::size_t i = 0;
  for (; i + 4 <= rows; i += 4) {
    const Vec4 s = sigma ? load(sigma + i) : Vec4{1, 1, 1, 1};
    group(load(values + i), load(y + i), sigma ? &s : nullptr, f ? f + i : nullptr);
  }
  if (i < rows) {
    const std::size_t count = rows - i;
    double r[4];
    Vec4 s = {1, 1, 1, 1};
    if (sigma) {
      double lanes[4] = {1, 1, 1, 1};
      for (std::size_t k = 0; k < count; ++k) lanes[k] = sigma[i + k];
      s = load(lanes);
    }
    group(load_partial(values + i, count), load_partial(y + i, count), sigma ? &s : nullptr,
          f ? r : nullptr);
    if (f)
      for (std::size_t k = 0; k < count; ++k) f[i + k] = r[k];
  }
  if (f && sigma && jac)
    for (std::size_t j = 0; j < jac_columns; ++j) {
      double* column = jac + j * ld;
      std::size_t k = 0;
      for (; k + 4 <= rows; k += 4) store(column + k, load(column + k) * (1.0 / load(sigma + k)));
      for (; k < rows; ++k) column[k] *= 1.0 / sigma[k];
    }
  sums.chi2 += sum_lanes(chi2);
  sums.ss_residual += sum_lanes(ss);
  sums.finite = sums.finite && !(bad[0] | bad[1] | bad[2] | bad[3]);
}

}  // namespace curvefit::kernel::CURVEFIT_KERNEL_NAMESPACE
