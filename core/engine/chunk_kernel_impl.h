// The body of core/chunk_kernel.h, compiled twice: by chunk_kernel.cpp for any x86-64 and by
// chunk_kernel_avx2.cpp with -mavx2 (never -mfma's contraction: ISO C++ mode keeps a*b + c two
// roundings). CURVEFIT_KERNEL_NAMESPACE names the build. Include from those two files only.
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

// y[i] -= w x[i]
void subtract_scaled(double* y, double w, const double* x, std::size_t rows) {
  const Vec4 wv = {w, w, w, w};
  std::size_t i = 0;
  for (; i + 4 <= rows; i += 4) store(y + i, load(y + i) - wv * load(x + i));
  for (; i < rows; ++i) y[i] -= w * x[i];
}

// x[i] *= s
void scale(double* x, double s, std::size_t rows) {
  const Vec4 sv = {s, s, s, s};
  std::size_t i = 0;
  for (; i + 4 <= rows; i += 4) store(x + i, load(x + i) * sv);
  for (; i < rows; ++i) x[i] *= s;
}

}  // namespace

// For each column j, a Householder reflection H = I - tau v v^T with v = [1; v_tail] maps
// [R(j,j); B(:,j)] to [beta; 0] (LAPACK's dlarfg convention, beta = -sign(alpha) ||.||) and is
// applied to the columns to its right, including the right-hand side column qtf | b. Rows above j
// of R are untouched, so only row j of [R | qtf] and the block take part.
void fold_rows_into_factor(double* Rqtf, int n, double* B, std::size_t rows, std::size_t ld) {
  if (rows == 0) return;
  const std::size_t un = static_cast<std::size_t>(n);
  for (std::size_t j = 0; j < un; ++j) {
    double* bj = B + j * ld;
    const double tail_norm2 = dot(bj, bj, rows);
    if (tail_norm2 == 0) continue;  // already triangular in this column: H = I
    double& alpha = Rqtf[j + j * un];
    const double norm = std::sqrt(alpha * alpha + tail_norm2);
    const double beta = alpha >= 0 ? -norm : norm;
    const double tau = (beta - alpha) / beta;
    scale(bj, 1.0 / (alpha - beta), rows);  // v_tail, stored in place
    alpha = beta;
    for (std::size_t k = j + 1; k <= un; ++k) {
      double* bk = B + k * ld;
      double& r_jk = Rqtf[j + k * un];
      const double w = tau * (r_jk + dot(bj, bk, rows));
      r_jk -= w;
      subtract_scaled(bk, w, bj, rows);
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
