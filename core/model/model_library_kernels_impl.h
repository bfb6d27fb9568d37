// The body of core/model/model_library_kernels.h, compiled twice: by model_library_kernels.cpp
// for any x86-64 and by model_library_kernels_avx2.cpp with -mavx2. CURVEFIT_MODEL_KERNELS_NAMESPACE
// names the build. Include from those two files only. No inline function of a header is
// instantiated here (plain loops and arrays instead of std::fill_n and std::array): the linker
// keeps one copy of such a function, which could be the AVX2 one.
#include <cmath>
#include <cstddef>
#include <limits>
#include <numbers>

#include "core/formula/vector_math.h"
#include "core/model/model_library_kernels.h"

namespace curvefit::model_kernels::CURVEFIT_MODEL_KERNELS_NAMESPACE {

namespace {

// Scratch for one block, on the stack: the evaluators below never allocate. Each loop fills the
// first n entries before vmath reads them; GCC cannot see that through the call and would warn.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
using Scratch = double[kModelBlock];
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kTwoOverSqrtPi = 2.0 / 1.7724538509055160273;  // d erf(z)/dz = this * exp(-z^2)
constexpr double kGasConstant = 8.314462618;                    // J/(mol K), exact since 2019
constexpr double kLn2 = std::numbers::ln2;

// Column j of a Jacobian with leading dimension ld.
inline double* column(double* jac, std::size_t ld, std::size_t j) { return jac + j * ld; }
inline void fill(double* out, std::size_t n, double value) {
  for (std::size_t i = 0; i < n; ++i) out[i] = value;
}
inline void copy(const double* in, std::size_t n, double* out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = in[i];
}
// +0 where factor is 0, else product (of which factor is a factor, while another may be infinite
// there). A mask of the product's bits rather than a branch, so that the loops vectorise: under
// the default -ftrapping-math GCC keeps the product inside a branch and the loop scalar.
inline double zero_where(double factor, double product) {
  const unsigned long long keep = factor == 0.0 ? 0 : ~0ull;
  return __builtin_bit_cast(double, __builtin_bit_cast(unsigned long long, product) & keep);
}

// --- Polynomials ------------------------------------------------------------------------------

// c0 + c1*x + ... + c_degree*x^degree by Horner; Jacobian column k is x^k. The coefficients are
// copied first: a store to v could otherwise alias p, and the loop could not be vectorised.
template <int degree>
void polynomial(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
                std::size_t ld) {
  const double* x = xs[0];
  double c[degree + 1];
  for (int k = 0; k <= degree; ++k) c[k] = p[k];
  for (std::size_t i = 0; i < n; ++i) {
    double acc = c[degree];
    for (int k = degree - 1; k >= 0; --k) acc = acc * x[i] + c[k];
    v[i] = acc;
  }
  if (!jac) return;
  fill(column(jac, ld, 0), n, 1.0);
  for (int k = 1; k <= degree; ++k) {
    const double* previous = column(jac, ld, k - 1);
    double* current = column(jac, ld, k);
    for (std::size_t i = 0; i < n; ++i) current[i] = previous[i] * x[i];
  }
}

// linear a*x + b and quadratic a*x^2 + b*x + c: the polynomial with coefficients reversed.
template <int degree>
void reversed_polynomial(const double* const* xs, std::size_t n, const double* p, double* v,
                         double* jac, std::size_t ld) {
  const double* x = xs[0];
  double c[degree + 1];
  for (int k = 0; k <= degree; ++k) c[k] = p[k];
  for (std::size_t i = 0; i < n; ++i) {
    double acc = c[0];
    for (int k = 1; k <= degree; ++k) acc = acc * x[i] + c[k];
    v[i] = acc;
  }
  if (!jac) return;
  fill(column(jac, ld, degree), n, 1.0);
  for (int k = degree - 1; k >= 0; --k) {
    const double* next = column(jac, ld, k + 1);
    double* current = column(jac, ld, k);
    for (std::size_t i = 0; i < n; ++i) current[i] = next[i] * x[i];
  }
}

// --- Exponentials -----------------------------------------------------------------------------

// a*exp(-b*x) + c
void exponential(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
                 std::size_t ld) {
  const double *x = xs[0], a = p[0], b = p[1], c = p[2];
  Scratch e;
  for (std::size_t i = 0; i < n; ++i) e[i] = -b * x[i];
  vmath::exp(e, e, n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * e[i] + c;
  if (!jac) return;
  double *ja = column(jac, ld, 0), *jb = column(jac, ld, 1), *jc = column(jac, ld, 2);
  for (std::size_t i = 0; i < n; ++i) {
    ja[i] = e[i];
    jb[i] = -a * x[i] * e[i];
    jc[i] = 1.0;
  }
}

// a*exp(b*x)
void exponential_growth(const double* const* xs, std::size_t n, const double* p, double* v,
                        double* jac, std::size_t ld) {
  const double *x = xs[0], a = p[0], b = p[1];
  Scratch e;
  for (std::size_t i = 0; i < n; ++i) e[i] = b * x[i];
  vmath::exp(e, e, n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * e[i];
  if (!jac) return;
  double *ja = column(jac, ld, 0), *jb = column(jac, ld, 1);
  for (std::size_t i = 0; i < n; ++i) {
    ja[i] = e[i];
    jb[i] = a * x[i] * e[i];
  }
}

// a1*exp(-b1*x) + a2*exp(-b2*x) + c
void double_exponential(const double* const* xs, std::size_t n, const double* p, double* v,
                        double* jac, std::size_t ld) {
  const double *x = xs[0], a1 = p[0], b1 = p[1], a2 = p[2], b2 = p[3], c = p[4];
  Scratch e1, e2;
  for (std::size_t i = 0; i < n; ++i) {
    e1[i] = -b1 * x[i];
    e2[i] = -b2 * x[i];
  }
  vmath::exp(e1, e1, n);
  vmath::exp(e2, e2, n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a1 * e1[i] + a2 * e2[i] + c;
  if (!jac) return;
  // A loop per term: GCC vectorises a loop over at most about three columns (alias checks).
  double *j0 = column(jac, ld, 0), *j1 = column(jac, ld, 1), *j2 = column(jac, ld, 2),
         *j3 = column(jac, ld, 3);
  for (std::size_t i = 0; i < n; ++i) {
    j0[i] = e1[i];
    j1[i] = -a1 * x[i] * e1[i];
  }
  for (std::size_t i = 0; i < n; ++i) {
    j2[i] = e2[i];
    j3[i] = -a2 * x[i] * e2[i];
  }
  fill(column(jac, ld, 4), n, 1.0);
}

// a*exp(-((x/tau)^beta)) + c. (x/tau)^beta = exp(beta*log(x/tau)); at x = 0 it is 0 and so is its
// derivative with respect to beta (the limit of s*log(s)), which the guard below keeps finite.
void stretched_exponential(const double* const* xs, std::size_t n, const double* p, double* v,
                           double* jac, std::size_t ld) {
  const double *x = xs[0], a = p[0], tau = p[1], beta = p[2], c = p[3];
  Scratch log_u, s, e;
  for (std::size_t i = 0; i < n; ++i) log_u[i] = x[i] / tau;
  vmath::log(log_u, log_u, n);
  for (std::size_t i = 0; i < n; ++i) s[i] = beta * log_u[i];
  vmath::exp(s, s, n);
  for (std::size_t i = 0; i < n; ++i) e[i] = -s[i];
  vmath::exp(e, e, n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * e[i] + c;
  if (!jac) return;
  double *j0 = column(jac, ld, 0), *j1 = column(jac, ld, 1), *j2 = column(jac, ld, 2),
         *j3 = column(jac, ld, 3);
  for (std::size_t i = 0; i < n; ++i) {
    j0[i] = e[i];
    j1[i] = a * e[i] * s[i] * beta / tau;
    j2[i] = zero_where(s[i], -a * e[i] * s[i] * log_u[i]);
    j3[i] = 1.0;
  }
}

// a*x^b (x^b = exp(b*log(x)); the b-derivative a*x^b*log(x) is 0 where x^b is 0).
void power_law(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
               std::size_t ld) {
  const double *x = xs[0], a = p[0], b = p[1];
  Scratch log_x, s;
  vmath::log(x, log_x, n);
  for (std::size_t i = 0; i < n; ++i) s[i] = b * log_x[i];
  vmath::exp(s, s, n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * s[i];
  if (!jac) return;
  double *ja = column(jac, ld, 0), *jb = column(jac, ld, 1);
  for (std::size_t i = 0; i < n; ++i) {
    ja[i] = s[i];
    jb[i] = zero_where(s[i], a * s[i] * log_x[i]);
  }
}

// a + b*log(x)
void logarithmic(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
                 std::size_t ld) {
  const double *x = xs[0], a = p[0], b = p[1];
  Scratch log_x;
  vmath::log(x, log_x, n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a + b * log_x[i];
  if (!jac) return;
  fill(column(jac, ld, 0), n, 1.0);
  copy(log_x, n, column(jac, ld, 1));
}

// --- Peaks ------------------------------------------------------------------------------------

// a*exp(-(x-mu)^2/(2*sigma^2)) [+ c when with_offset]
template <bool with_offset>
void gaussian(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
              std::size_t ld) {
  const double *x = xs[0], a = p[0], mu = p[1], sigma = p[2], c = with_offset ? p[3] : 0.0;
  const double inv_var = 1.0 / (sigma * sigma);
  Scratch g;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = x[i] - mu;
    g[i] = -0.5 * d * d * inv_var;
  }
  vmath::exp(g, g, n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * g[i] + c;
  if (!jac) return;
  double *ja = column(jac, ld, 0), *jmu = column(jac, ld, 1), *js = column(jac, ld, 2);
  for (std::size_t i = 0; i < n; ++i) {
    const double d = x[i] - mu, ag = a * g[i];
    ja[i] = g[i];
    jmu[i] = ag * d * inv_var;
    js[i] = ag * d * d * inv_var / sigma;
  }
  if constexpr (with_offset) fill(column(jac, ld, 3), n, 1.0);
}

// a/(1 + ((x-x0)/gamma)^2)
void lorentzian(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
                std::size_t ld) {
  const double *x = xs[0], a = p[0], x0 = p[1], gamma = p[2];
  Scratch u, l;
  for (std::size_t i = 0; i < n; ++i) {
    u[i] = (x[i] - x0) / gamma;
    l[i] = 1.0 / (1.0 + u[i] * u[i]);
    v[i] = a * l[i];
  }
  if (!jac) return;
  double *ja = column(jac, ld, 0), *jx0 = column(jac, ld, 1), *jg = column(jac, ld, 2);
  for (std::size_t i = 0; i < n; ++i) {
    ja[i] = l[i];
    jx0[i] = 2.0 * a * l[i] * l[i] * u[i] / gamma;
    jg[i] = 2.0 * a * l[i] * l[i] * u[i] * u[i] / gamma;
  }
}

// Pseudo-Voigt: a*((1-eta)*G + eta*L), G Gaussian and L Lorentzian sharing the half width at half
// maximum w.
void pseudo_voigt(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
                  std::size_t ld) {
  const double *x = xs[0], a = p[0], x0 = p[1], w = p[2], eta = p[3];
  Scratch u, g, l;
  for (std::size_t i = 0; i < n; ++i) {
    u[i] = (x[i] - x0) / w;
    g[i] = -kLn2 * u[i] * u[i];
  }
  vmath::exp(g, g, n);
  for (std::size_t i = 0; i < n; ++i) {
    l[i] = 1.0 / (1.0 + u[i] * u[i]);
    v[i] = a * ((1.0 - eta) * g[i] + eta * l[i]);
  }
  if (!jac) return;
  double *j0 = column(jac, ld, 0), *j1 = column(jac, ld, 1), *j2 = column(jac, ld, 2), *j3 = column(jac, ld, 3);
  for (std::size_t i = 0; i < n; ++i) {
    const double dv_du = a * ((1.0 - eta) * (-2.0 * kLn2 * u[i] * g[i]) + eta * (-2.0 * u[i] * l[i] * l[i]));
    j0[i] = (1.0 - eta) * g[i] + eta * l[i];
    j1[i] = -dv_du / w;
    j2[i] = -dv_du * u[i] / w;
    j3[i] = a * (l[i] - g[i]);
  }
}

// The Voigt profile a*V(x - mu; sigma, gamma), V = Re w(z)/(sigma sqrt(2 pi)),
// z = (x - mu + i gamma)/(sigma sqrt 2), w the Faddeeva function (libcerf); a is the area. With
// w' (vmath::faddeeva_derivative) and Cauchy-Riemann, d Re w/d Re z = Re w', d Re w/d Im z = -Im w'.
void voigt(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
           std::size_t ld) {
  const double *x = xs[0], a = p[0], mu = p[1], sigma = p[2], gamma = p[3];
  const double scale = std::numbers::sqrt2 * sigma, norm = 1.0 / (sigma * std::sqrt(2.0 * std::numbers::pi));
  const double y = gamma / scale;
  for (std::size_t i = 0; i < n; ++i) {
    const double u = (x[i] - mu) / scale;
    const double re = vmath::faddeeva_re(u, y);
    v[i] = a * re * norm;
    if (!jac) continue;
    double w_re = 0, w_im = 0;  // w'
    vmath::faddeeva_derivative(u, y, re, vmath::faddeeva_im(u, y), w_re, w_im);
    const double dre_du = w_re, dre_dy = -w_im;
    column(jac, ld, 0)[i] = re * norm;
    column(jac, ld, 1)[i] = -a * norm * dre_du / scale;
    column(jac, ld, 2)[i] = -a * norm * (dre_du * u + dre_dy * y + re) / sigma;
    column(jac, ld, 3)[i] = a * norm * dre_dy / scale;
  }
}

// a*exp(-(log(x)-mu)^2/(2*s^2))
void log_normal(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
                std::size_t ld) {
  const double *x = xs[0], a = p[0], mu = p[1], s = p[2];
  const double inv_var = 1.0 / (s * s);
  Scratch d, g;
  vmath::log(x, d, n);
  for (std::size_t i = 0; i < n; ++i) {
    d[i] -= mu;
    g[i] = -0.5 * d[i] * d[i] * inv_var;
  }
  vmath::exp(g, g, n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * g[i];
  if (!jac) return;
  double *ja = column(jac, ld, 0), *jmu = column(jac, ld, 1), *js = column(jac, ld, 2);
  for (std::size_t i = 0; i < n; ++i) {
    ja[i] = g[i];
    jmu[i] = a * g[i] * d[i] * inv_var;
    js[i] = a * g[i] * d[i] * d[i] * inv_var / s;
  }
}

// Exponentially modified Gaussian (area a, decay rate lambda, Gaussian mu and sigma):
//   a*lambda/2 * exp(q) * erfc(z),  q = lambda*(mu - x) + lambda^2 sigma^2/2,
//                                   z = (mu + lambda*sigma^2 - x)/(sqrt(2) sigma).
// The erfc derivative multiplies exp(q) by exp(-z^2): computed as one exp(q - z^2) so that a huge
// exp(q) never meets a vanishing exp(-z^2).
void exp_modified_gaussian(const double* const* xs, std::size_t n, const double* p, double* v,
                           double* jac, std::size_t ld) {
  const double *x = xs[0], a = p[0], lambda = p[1], mu = p[2], sigma = p[3];
  const double sqrt2 = std::numbers::sqrt2;
  Scratch q, z, eq, cz, gz;
  for (std::size_t i = 0; i < n; ++i) {
    q[i] = lambda * (mu - x[i]) + 0.5 * lambda * lambda * sigma * sigma;
    z[i] = (mu + lambda * sigma * sigma - x[i]) / (sqrt2 * sigma);
    gz[i] = q[i] - z[i] * z[i];
  }
  vmath::exp(q, eq, n);
  vmath::erfc(z, cz, n);
  vmath::exp(gz, gz, n);  // exp(q - z^2) = exp(-(x-mu)^2/(2 sigma^2))
  for (std::size_t i = 0; i < n; ++i) {
    // Far left of the peak exp(q) overflows while erfc(z) underflows: there use
    // exp(q) erfc(z) = exp(q - z^2) erfcx(z), erfcx from its asymptotic series (z > 20).
    if (z[i] > 20.0 && !(eq[i] * cz[i] < kInf && cz[i] > 0)) {
      const double w = 1.0 / (2.0 * z[i] * z[i]);
      const double erfcx = (1.0 - w * (1.0 - 3.0 * w * (1.0 - 5.0 * w * (1.0 - 7.0 * w)))) /
                           (z[i] * 1.7724538509055160273);
      eq[i] = gz[i];
      cz[i] = erfcx;
    }
    v[i] = 0.5 * a * lambda * eq[i] * cz[i];
  }
  if (!jac) return;
  double *ja = column(jac, ld, 0), *jl = column(jac, ld, 1), *jm = column(jac, ld, 2),
         *js = column(jac, ld, 3);
  const double h = 0.5 * a * lambda;
  for (std::size_t i = 0; i < n; ++i) {
    const double ec = eq[i] * cz[i];        // exp(q) erfc(z)
    const double ed = -kTwoOverSqrtPi * gz[i];  // exp(q) d erfc(z)/dz
    const double dq_dl = mu - x[i] + lambda * sigma * sigma, dz_dl = sigma / sqrt2;
    const double dq_ds = lambda * lambda * sigma;
    const double dz_ds = -(mu - x[i]) / (sqrt2 * sigma * sigma) + lambda / sqrt2;
    ja[i] = 0.5 * lambda * ec;
    jl[i] = 0.5 * a * ec + h * (ec * dq_dl + ed * dz_dl);
    jm[i] = h * (ec * lambda + ed / (sqrt2 * sigma));
    js[i] = h * (ec * dq_ds + ed * dz_ds);
  }
}

// --- Sigmoids and saturation ------------------------------------------------------------------

// a/(1 + exp(-k*(x-x0))) + c
void logistic(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
              std::size_t ld) {
  const double *x = xs[0], a = p[0], k = p[1], x0 = p[2], c = p[3];
  Scratch s;
  for (std::size_t i = 0; i < n; ++i) s[i] = -k * (x[i] - x0);
  vmath::exp(s, s, n);
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = 1.0 / (1.0 + s[i]);
    v[i] = a * s[i] + c;
  }
  if (!jac) return;
  for (std::size_t i = 0; i < n; ++i) {
    const double slope = a * s[i] * (1.0 - s[i]);
    column(jac, ld, 0)[i] = s[i];
    column(jac, ld, 1)[i] = slope * (x[i] - x0);
    column(jac, ld, 2)[i] = -slope * k;
    column(jac, ld, 3)[i] = 1.0;
  }
}

// vmax*x^n/(k^n + x^n) = vmax*r, r = 1/(1 + t), t = (k/x)^n. dr/dt = -r^2 and r^2 t = r(1-r).
void hill(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
          std::size_t ld) {
  const double *x = xs[0], vmax = p[0], hill_n = p[1], k = p[2];
  const double log_k = std::log(k);
  Scratch log_ratio, r;  // log(k/x), then r
  vmath::log(x, log_ratio, n);
  for (std::size_t i = 0; i < n; ++i) {
    log_ratio[i] = log_k - log_ratio[i];
    r[i] = hill_n * log_ratio[i];
  }
  vmath::exp(r, r, n);
  for (std::size_t i = 0; i < n; ++i) {
    r[i] = 1.0 / (1.0 + r[i]);
    v[i] = vmax * r[i];
  }
  if (!jac) return;
  for (std::size_t i = 0; i < n; ++i) {
    const double slope = r[i] * (1.0 - r[i]);  // 0 at r = 0 or 1, where log_ratio may be infinite
    column(jac, ld, 0)[i] = r[i];
    column(jac, ld, 1)[i] = zero_where(slope, -vmax * slope * log_ratio[i]);
    column(jac, ld, 2)[i] = -vmax * slope * hill_n / k;
  }
}

// vmax*x/(km + x)
void michaelis_menten(const double* const* xs, std::size_t n, const double* p, double* v,
                      double* jac, std::size_t ld) {
  const double *x = xs[0], vmax = p[0], km = p[1];
  Scratch r;
  for (std::size_t i = 0; i < n; ++i) {
    r[i] = x[i] / (km + x[i]);
    v[i] = vmax * r[i];
  }
  if (!jac) return;
  double *jv = column(jac, ld, 0), *jk = column(jac, ld, 1);
  for (std::size_t i = 0; i < n; ++i) {
    jv[i] = r[i];
    jk[i] = -vmax * r[i] / (km + x[i]);
  }
}

// a*exp(-b*exp(-c*x))
void gompertz(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
              std::size_t ld) {
  const double *x = xs[0], a = p[0], b = p[1], c = p[2];
  Scratch f, g;
  for (std::size_t i = 0; i < n; ++i) f[i] = -c * x[i];
  vmath::exp(f, f, n);
  for (std::size_t i = 0; i < n; ++i) g[i] = -b * f[i];
  vmath::exp(g, g, n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * g[i];
  if (!jac) return;
  for (std::size_t i = 0; i < n; ++i) {
    column(jac, ld, 0)[i] = g[i];
    column(jac, ld, 1)[i] = -a * g[i] * f[i];
    column(jac, ld, 2)[i] = a * g[i] * b * f[i] * x[i];
  }
}

// a*exp(-ea/(R*x)), x the absolute temperature in K, ea in J/mol.
void arrhenius(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
               std::size_t ld) {
  const double *x = xs[0], a = p[0], ea = p[1];
  Scratch e;
  for (std::size_t i = 0; i < n; ++i) e[i] = -ea / (kGasConstant * x[i]);
  vmath::exp(e, e, n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * e[i];
  if (!jac) return;
  for (std::size_t i = 0; i < n; ++i) {
    column(jac, ld, 0)[i] = e[i];
    column(jac, ld, 1)[i] = -a * e[i] / (kGasConstant * x[i]);
  }
}

// a*erf((x-x0)/w) + c
void erf_step(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
              std::size_t ld) {
  const double *x = xs[0], a = p[0], x0 = p[1], w = p[2], c = p[3];
  Scratch z, f, g;
  for (std::size_t i = 0; i < n; ++i) {
    z[i] = (x[i] - x0) / w;
    g[i] = -z[i] * z[i];
  }
  vmath::erf(z, f, n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * f[i] + c;
  if (!jac) return;
  vmath::exp(g, g, n);
  for (std::size_t i = 0; i < n; ++i) {
    const double slope = a * kTwoOverSqrtPi * g[i] / w;
    column(jac, ld, 0)[i] = f[i];
    column(jac, ld, 1)[i] = -slope;
    column(jac, ld, 2)[i] = -slope * z[i];
    column(jac, ld, 3)[i] = 1.0;
  }
}

// --- Oscillations -----------------------------------------------------------------------------

// a*sin(w*x + phi) + c
void sine(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
          std::size_t ld) {
  const double *x = xs[0], a = p[0], w = p[1], phi = p[2], c = p[3];
  Scratch arg, s, co;
  for (std::size_t i = 0; i < n; ++i) arg[i] = w * x[i] + phi;
  vmath::sin(arg, s, n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * s[i] + c;
  if (!jac) return;
  vmath::cos(arg, co, n);
  for (std::size_t i = 0; i < n; ++i) {
    column(jac, ld, 0)[i] = s[i];
    column(jac, ld, 1)[i] = a * co[i] * x[i];
    column(jac, ld, 2)[i] = a * co[i];
    column(jac, ld, 3)[i] = 1.0;
  }
}

// a*exp(-d*x)*sin(w*x + phi) + c
void damped_sine(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
                 std::size_t ld) {
  const double *x = xs[0], a = p[0], d = p[1], w = p[2], phi = p[3], c = p[4];
  Scratch arg, e, s, co;
  for (std::size_t i = 0; i < n; ++i) {
    arg[i] = w * x[i] + phi;
    e[i] = -d * x[i];
  }
  vmath::exp(e, e, n);
  vmath::sin(arg, s, n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * e[i] * s[i] + c;
  if (!jac) return;
  vmath::cos(arg, co, n);
  double *ja = column(jac, ld, 0), *jd = column(jac, ld, 1), *jw = column(jac, ld, 2), *jphi = column(jac, ld, 3);
  for (std::size_t i = 0; i < n; ++i) {  // two loops of two columns: each vectorises (see above)
    ja[i] = e[i] * s[i];
    jd[i] = -a * x[i] * e[i] * s[i];
  }
  for (std::size_t i = 0; i < n; ++i) {
    const double aec = a * e[i] * co[i];
    jw[i] = aec * x[i];
    jphi[i] = aec;
  }
  fill(column(jac, ld, 4), n, 1.0);
}

// --- Two predictors ---------------------------------------------------------------------------

// a*exp(-((x1-mu1)^2/(2*s1^2) + (x2-mu2)^2/(2*s2^2))) + c
void gaussian2d(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
                std::size_t ld) {
  const double *x1 = xs[0], *x2 = xs[1];
  const double a = p[0], mu1 = p[1], s1 = p[2], mu2 = p[3], s2 = p[4], c = p[5];
  const double iv1 = 1.0 / (s1 * s1), iv2 = 1.0 / (s2 * s2);
  Scratch g;
  for (std::size_t i = 0; i < n; ++i) {
    const double d1 = x1[i] - mu1, d2 = x2[i] - mu2;
    g[i] = -0.5 * (d1 * d1 * iv1 + d2 * d2 * iv2);
  }
  vmath::exp(g, g, n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * g[i] + c;
  if (!jac) return;
  copy(g, n, column(jac, ld, 0));
  double *jmu1 = column(jac, ld, 1), *js1 = column(jac, ld, 2), *jmu2 = column(jac, ld, 3), *js2 = column(jac, ld, 4);
  for (std::size_t i = 0; i < n; ++i) {  // a loop per predictor: each vectorises (see above)
    const double d1 = x1[i] - mu1, ag = a * g[i];
    jmu1[i] = ag * d1 * iv1;
    js1[i] = ag * d1 * d1 * iv1 / s1;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const double d2 = x2[i] - mu2, ag = a * g[i];
    jmu2[i] = ag * d2 * iv2;
    js2[i] = ag * d2 * d2 * iv2 / s2;
  }
  fill(column(jac, ld, 5), n, 1.0);
}

// a*x1 + b*x2 + c
void plane(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
           std::size_t ld) {
  const double *x1 = xs[0], *x2 = xs[1];
  for (std::size_t i = 0; i < n; ++i) v[i] = p[0] * x1[i] + p[1] * x2[i] + p[2];
  if (!jac) return;
  copy(x1, n, column(jac, ld, 0));
  copy(x2, n, column(jac, ld, 1));
  fill(column(jac, ld, 2), n, 1.0);
}


// --- The table --------------------------------------------------------------------------------

constexpr NamedKernel kKernels[] = {
    {"linear", reversed_polynomial<1>},
    {"quadratic", reversed_polynomial<2>},
    {"polynomial0", polynomial<0>},
    {"polynomial1", polynomial<1>},
    {"polynomial2", polynomial<2>},
    {"polynomial3", polynomial<3>},
    {"polynomial4", polynomial<4>},
    {"polynomial5", polynomial<5>},
    {"polynomial6", polynomial<6>},
    {"polynomial7", polynomial<7>},
    {"polynomial8", polynomial<8>},
    {"polynomial9", polynomial<9>},
    {"polynomial10", polynomial<10>},
    {"exponential", exponential},
    {"exponential_growth", exponential_growth},
    {"double_exponential", double_exponential},
    {"stretched_exponential", stretched_exponential},
    {"power_law", power_law},
    {"logarithmic", logarithmic},
    {"gaussian", gaussian<false>},
    {"gaussian_offset", gaussian<true>},
    {"lorentzian", lorentzian},
    {"pseudo_voigt", pseudo_voigt},
    {"voigt", voigt},
    {"logistic", logistic},
    {"sigmoid", logistic},
    {"hill", hill},
    {"michaelis_menten", michaelis_menten},
    {"gompertz", gompertz},
    {"arrhenius", arrhenius},
    {"sine", sine},
    {"damped_sine", damped_sine},
    {"erf_step", erf_step},
    {"log_normal", log_normal},
    {"exp_modified_gaussian", exp_modified_gaussian},
    {"gaussian2d", gaussian2d},
    {"plane", plane},
};

}  // namespace

KernelTable kernel_table() { return {kKernels, sizeof kKernels / sizeof kKernels[0]}; }

}  // namespace curvefit::model_kernels::CURVEFIT_MODEL_KERNELS_NAMESPACE
