#include "core/model/model_library.h"

#include <algorithm>
#include <cctype>
#include <array>
#include <cmath>
#include <numbers>
#include <stdexcept>

#include "core/errors.h"
#include "core/formula/expression.h"
#include "core/model/composite_model.h"
#include "core/model/model_guess.h"
#include "core/formula/vector_math.h"

namespace curvefit {
namespace {

// Scratch for one block, on the stack: the evaluators below never allocate. Each loop fills the
// first n entries before vmath reads them; GCC cannot see that through the call and would warn.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
using Scratch = std::array<double, kModelBlock>;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kTwoOverSqrtPi = 2.0 / 1.7724538509055160273;  // d erf(z)/dz = this * exp(-z^2)
constexpr double kGasConstant = 8.314462618;                    // J/(mol K), exact since 2019
constexpr double kLn2 = std::numbers::ln2;

// Column j of a Jacobian with leading dimension ld.
inline double* column(double* jac, std::size_t ld, std::size_t j) { return jac + j * ld; }

// --- Polynomials ------------------------------------------------------------------------------

BlockEvaluator polynomial_evaluator(int degree) {
  return [degree](const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
                  std::size_t ld) {
    const double* x = xs[0];
    for (std::size_t i = 0; i < n; ++i) {  // Horner
      double acc = p[degree];
      for (int k = degree - 1; k >= 0; --k) acc = acc * x[i] + p[k];
      v[i] = acc;
    }
    if (!jac) return;
    std::fill_n(column(jac, ld, 0), n, 1.0);
    for (int k = 1; k <= degree; ++k) {
      const double* previous = column(jac, ld, k - 1);
      double* current = column(jac, ld, k);
      for (std::size_t i = 0; i < n; ++i) current[i] = previous[i] * x[i];
    }
  };
}

// linear a*x + b and quadratic a*x^2 + b*x + c: the polynomial with coefficients reversed.
BlockEvaluator reversed_polynomial_evaluator(int degree) {
  return [degree](const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
                  std::size_t ld) {
    const double* x = xs[0];
    for (std::size_t i = 0; i < n; ++i) {
      double acc = p[0];
      for (int k = 1; k <= degree; ++k) acc = acc * x[i] + p[k];
      v[i] = acc;
    }
    if (!jac) return;
    std::fill_n(column(jac, ld, degree), n, 1.0);
    for (int k = degree - 1; k >= 0; --k) {
      const double* next = column(jac, ld, k + 1);
      double* current = column(jac, ld, k);
      for (std::size_t i = 0; i < n; ++i) current[i] = next[i] * x[i];
    }
  };
}

// --- Exponentials -----------------------------------------------------------------------------

// a*exp(-b*x) + c
void exponential(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
                 std::size_t ld) {
  const double *x = xs[0], a = p[0], b = p[1], c = p[2];
  Scratch e;
  for (std::size_t i = 0; i < n; ++i) e[i] = -b * x[i];
  vmath::exp(e.data(), e.data(), n);
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
  vmath::exp(e.data(), e.data(), n);
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
  vmath::exp(e1.data(), e1.data(), n);
  vmath::exp(e2.data(), e2.data(), n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a1 * e1[i] + a2 * e2[i] + c;
  if (!jac) return;
  double *j0 = column(jac, ld, 0), *j1 = column(jac, ld, 1), *j2 = column(jac, ld, 2),
         *j3 = column(jac, ld, 3), *j4 = column(jac, ld, 4);
  for (std::size_t i = 0; i < n; ++i) {
    j0[i] = e1[i];
    j1[i] = -a1 * x[i] * e1[i];
    j2[i] = e2[i];
    j3[i] = -a2 * x[i] * e2[i];
    j4[i] = 1.0;
  }
}

// a*exp(-((x/tau)^beta)) + c. (x/tau)^beta = exp(beta*log(x/tau)); at x = 0 it is 0 and so is its
// derivative with respect to beta (the limit of s*log(s)), which the guard below keeps finite.
void stretched_exponential(const double* const* xs, std::size_t n, const double* p, double* v,
                           double* jac, std::size_t ld) {
  const double *x = xs[0], a = p[0], tau = p[1], beta = p[2], c = p[3];
  Scratch log_u, s, e;
  for (std::size_t i = 0; i < n; ++i) log_u[i] = x[i] / tau;
  vmath::log(log_u.data(), log_u.data(), n);
  for (std::size_t i = 0; i < n; ++i) s[i] = beta * log_u[i];
  vmath::exp(s.data(), s.data(), n);
  for (std::size_t i = 0; i < n; ++i) e[i] = -s[i];
  vmath::exp(e.data(), e.data(), n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * e[i] + c;
  if (!jac) return;
  double *j0 = column(jac, ld, 0), *j1 = column(jac, ld, 1), *j2 = column(jac, ld, 2),
         *j3 = column(jac, ld, 3);
  for (std::size_t i = 0; i < n; ++i) {
    j0[i] = e[i];
    j1[i] = a * e[i] * s[i] * beta / tau;
    j2[i] = s[i] == 0.0 ? 0.0 : -a * e[i] * s[i] * log_u[i];
    j3[i] = 1.0;
  }
}

// a*x^b (x^b = exp(b*log(x)); the b-derivative a*x^b*log(x) is 0 where x^b is 0).
void power_law(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
               std::size_t ld) {
  const double *x = xs[0], a = p[0], b = p[1];
  Scratch log_x, s;
  vmath::log(x, log_x.data(), n);
  for (std::size_t i = 0; i < n; ++i) s[i] = b * log_x[i];
  vmath::exp(s.data(), s.data(), n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * s[i];
  if (!jac) return;
  double *ja = column(jac, ld, 0), *jb = column(jac, ld, 1);
  for (std::size_t i = 0; i < n; ++i) {
    ja[i] = s[i];
    jb[i] = s[i] == 0.0 ? 0.0 : a * s[i] * log_x[i];
  }
}

// a + b*log(x)
void logarithmic(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
                 std::size_t ld) {
  const double *x = xs[0], a = p[0], b = p[1];
  Scratch log_x;
  vmath::log(x, log_x.data(), n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a + b * log_x[i];
  if (!jac) return;
  std::fill_n(column(jac, ld, 0), n, 1.0);
  std::copy_n(log_x.data(), n, column(jac, ld, 1));
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
  vmath::exp(g.data(), g.data(), n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * g[i] + c;
  if (!jac) return;
  double *ja = column(jac, ld, 0), *jmu = column(jac, ld, 1), *js = column(jac, ld, 2);
  for (std::size_t i = 0; i < n; ++i) {
    const double d = x[i] - mu, ag = a * g[i];
    ja[i] = g[i];
    jmu[i] = ag * d * inv_var;
    js[i] = ag * d * d * inv_var / sigma;
  }
  if constexpr (with_offset) std::fill_n(column(jac, ld, 3), n, 1.0);
}

// a/(1 + ((x-x0)/gamma)^2)
void lorentzian(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
                std::size_t ld) {
  const double *x = xs[0], a = p[0], x0 = p[1], gamma = p[2];
  for (std::size_t i = 0; i < n; ++i) {
    const double u = (x[i] - x0) / gamma, l = 1.0 / (1.0 + u * u);
    v[i] = a * l;
    if (jac) {
      column(jac, ld, 0)[i] = l;
      column(jac, ld, 1)[i] = 2.0 * a * l * l * u / gamma;
      column(jac, ld, 2)[i] = 2.0 * a * l * l * u * u / gamma;
    }
  }
}

// Pseudo-Voigt: a*((1-eta)*G + eta*L), G Gaussian and L Lorentzian sharing the half width at half
// maximum w.
void pseudo_voigt(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
                  std::size_t ld) {
  const double *x = xs[0], a = p[0], x0 = p[1], w = p[2], eta = p[3];
  Scratch g;
  for (std::size_t i = 0; i < n; ++i) {
    const double u = (x[i] - x0) / w;
    g[i] = -kLn2 * u * u;
  }
  vmath::exp(g.data(), g.data(), n);
  for (std::size_t i = 0; i < n; ++i) {
    const double u = (x[i] - x0) / w, l = 1.0 / (1.0 + u * u);
    v[i] = a * ((1.0 - eta) * g[i] + eta * l);
    if (jac) {
      const double dv_du = a * ((1.0 - eta) * (-2.0 * kLn2 * u * g[i]) + eta * (-2.0 * u * l * l));
      column(jac, ld, 0)[i] = (1.0 - eta) * g[i] + eta * l;
      column(jac, ld, 1)[i] = -dv_du / w;
      column(jac, ld, 2)[i] = -dv_du * u / w;
      column(jac, ld, 3)[i] = a * (l - g[i]);
    }
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
  vmath::log(x, d.data(), n);
  for (std::size_t i = 0; i < n; ++i) {
    d[i] -= mu;
    g[i] = -0.5 * d[i] * d[i] * inv_var;
  }
  vmath::exp(g.data(), g.data(), n);
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
  vmath::exp(q.data(), eq.data(), n);
  vmath::erfc(z.data(), cz.data(), n);
  vmath::exp(gz.data(), gz.data(), n);  // exp(q - z^2) = exp(-(x-mu)^2/(2 sigma^2))
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
  vmath::exp(s.data(), s.data(), n);
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
  vmath::log(x, log_ratio.data(), n);
  for (std::size_t i = 0; i < n; ++i) {
    log_ratio[i] = log_k - log_ratio[i];
    r[i] = hill_n * log_ratio[i];
  }
  vmath::exp(r.data(), r.data(), n);
  for (std::size_t i = 0; i < n; ++i) {
    r[i] = 1.0 / (1.0 + r[i]);
    v[i] = vmax * r[i];
  }
  if (!jac) return;
  for (std::size_t i = 0; i < n; ++i) {
    const double slope = r[i] * (1.0 - r[i]);  // 0 at r = 0 or 1, where log_ratio may be infinite
    column(jac, ld, 0)[i] = r[i];
    column(jac, ld, 1)[i] = slope == 0.0 ? 0.0 : -vmax * slope * log_ratio[i];
    column(jac, ld, 2)[i] = -vmax * slope * hill_n / k;
  }
}

// vmax*x/(km + x)
void michaelis_menten(const double* const* xs, std::size_t n, const double* p, double* v,
                      double* jac, std::size_t ld) {
  const double *x = xs[0], vmax = p[0], km = p[1];
  for (std::size_t i = 0; i < n; ++i) {
    const double r = x[i] / (km + x[i]);
    v[i] = vmax * r;
    if (jac) {
      column(jac, ld, 0)[i] = r;
      column(jac, ld, 1)[i] = -vmax * r / (km + x[i]);
    }
  }
}

// a*exp(-b*exp(-c*x))
void gompertz(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
              std::size_t ld) {
  const double *x = xs[0], a = p[0], b = p[1], c = p[2];
  Scratch f, g;
  for (std::size_t i = 0; i < n; ++i) f[i] = -c * x[i];
  vmath::exp(f.data(), f.data(), n);
  for (std::size_t i = 0; i < n; ++i) g[i] = -b * f[i];
  vmath::exp(g.data(), g.data(), n);
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
  vmath::exp(e.data(), e.data(), n);
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
  vmath::erf(z.data(), f.data(), n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * f[i] + c;
  if (!jac) return;
  vmath::exp(g.data(), g.data(), n);
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
  vmath::sin(arg.data(), s.data(), n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * s[i] + c;
  if (!jac) return;
  vmath::cos(arg.data(), co.data(), n);
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
  vmath::exp(e.data(), e.data(), n);
  vmath::sin(arg.data(), s.data(), n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * e[i] * s[i] + c;
  if (!jac) return;
  vmath::cos(arg.data(), co.data(), n);
  for (std::size_t i = 0; i < n; ++i) {
    const double aec = a * e[i] * co[i];
    column(jac, ld, 0)[i] = e[i] * s[i];
    column(jac, ld, 1)[i] = -a * x[i] * e[i] * s[i];
    column(jac, ld, 2)[i] = aec * x[i];
    column(jac, ld, 3)[i] = aec;
    column(jac, ld, 4)[i] = 1.0;
  }
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
  vmath::exp(g.data(), g.data(), n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * g[i] + c;
  if (!jac) return;
  for (std::size_t i = 0; i < n; ++i) {
    const double d1 = x1[i] - mu1, d2 = x2[i] - mu2, ag = a * g[i];
    column(jac, ld, 0)[i] = g[i];
    column(jac, ld, 1)[i] = ag * d1 * iv1;
    column(jac, ld, 2)[i] = ag * d1 * d1 * iv1 / s1;
    column(jac, ld, 3)[i] = ag * d2 * iv2;
    column(jac, ld, 4)[i] = ag * d2 * d2 * iv2 / s2;
    column(jac, ld, 5)[i] = 1.0;
  }
}

// a*x1 + b*x2 + c
void plane(const double* const* xs, std::size_t n, const double* p, double* v, double* jac,
           std::size_t ld) {
  const double *x1 = xs[0], *x2 = xs[1];
  for (std::size_t i = 0; i < n; ++i) v[i] = p[0] * x1[i] + p[1] * x2[i] + p[2];
  if (!jac) return;
  std::copy_n(x1, n, column(jac, ld, 0));
  std::copy_n(x2, n, column(jac, ld, 1));
  std::fill_n(column(jac, ld, 2), n, 1.0);
}

// --- The table --------------------------------------------------------------------------------

ParamBounds unbounded() { return {}; }
ParamBounds positive() { return {0.0, kInf}; }
ParamBounds unit_interval() { return {0.0, 1.0}; }

std::vector<ModelInfo> build_library() {
  std::vector<ModelInfo> lib;
  const ParamBounds u = unbounded(), pos = positive();
  auto add = [&](std::string name, std::string formula, std::vector<std::string> params,
                 std::vector<double> example, std::vector<ParamBounds> bounds, double x_min,
                 double x_max, std::string description, BlockEvaluator evaluator,
                 GuessFunction guess, int predictors = 1) {
    ModelInfo info;
    info.name = std::move(name);
    info.formula = std::move(formula);
    info.param_names = std::move(params);
    info.num_predictors = predictors;
    info.example = std::move(example);
    info.bounds = std::move(bounds);
    info.x_min = x_min;
    info.x_max = x_max;
    info.description = std::move(description);
    info.evaluate_block = std::move(evaluator);
    info.guess = std::move(guess);
    if (info.example.size() != info.param_names.size() || info.bounds.size() != info.param_names.size())
      throw std::logic_error("model library entry '" + info.name + "' is inconsistent");
    lib.push_back(std::move(info));
  };

  add("linear", "a*x + b", {"a", "b"}, {2.0, 1.0}, {u, u}, 0, 10, "straight line",
      reversed_polynomial_evaluator(1), guess::linear);
  add("quadratic", "a*x^2 + b*x + c", {"a", "b", "c"}, {0.5, -2.0, 1.0}, {u, u, u}, -5, 5,
      "parabola", reversed_polynomial_evaluator(2), guess::quadratic);
  for (int degree = 0; degree <= 10; ++degree) {
    std::string formula = "c0";
    std::vector<std::string> params{"c0"};
    std::vector<double> example{1.0};
    for (int k = 1; k <= degree; ++k) {
      const std::string c = "c" + std::to_string(k);
      formula += " + " + c + "*x" + (k > 1 ? "^" + std::to_string(k) : "");
      params.push_back(c);
      example.push_back((k % 2 ? -1.0 : 1.0) / (k + 1));  // alternating, shrinking: well scaled on [-1, 1]
    }
    add("polynomial" + std::to_string(degree), formula, params, example,
        std::vector<ParamBounds>(params.size(), u), -1, 1,
        "polynomial of degree " + std::to_string(degree), polynomial_evaluator(degree),
        [degree](const GuessSample& s) { return guess::polynomial(s, degree); });
  }
  add("exponential", "a*exp(-b*x) + c", {"a", "b", "c"}, {5.0, 0.5, 1.0}, {u, u, u}, 0, 10,
      "exponential decay to an offset", exponential, guess::exponential);
  add("exponential_growth", "a*exp(b*x)", {"a", "b"}, {1.5, 0.3}, {u, u}, 0, 10,
      "exponential growth", exponential_growth, guess::exponential_growth);
  add("double_exponential", "a1*exp(-b1*x) + a2*exp(-b2*x) + c", {"a1", "b1", "a2", "b2", "c"},
      {3.0, 2.0, 2.0, 0.2, 0.5}, {u, pos, u, pos, u}, 0, 20,
      "two exponential decays (b1 the faster) and an offset", double_exponential,
      guess::double_exponential);
  add("stretched_exponential", "a*exp(-((x/tau)^beta)) + c", {"a", "tau", "beta", "c"},
      {4.0, 2.0, 0.7, 0.5}, {u, pos, pos, u}, 0, 20, "Kohlrausch stretched exponential decay",
      stretched_exponential, guess::stretched_exponential);
  add("power_law", "a*x^b", {"a", "b"}, {2.0, 1.5}, {u, u}, 0.5, 10, "power law (x > 0)",
      power_law, guess::power_law);
  add("logarithmic", "a + b*log(x)", {"a", "b"}, {1.0, 2.0}, {u, u}, 0.5, 10,
      "logarithm (x > 0)", logarithmic, guess::logarithmic);
  add("gaussian", "a*exp(-((x - mu)^2)/(2*sigma^2))", {"a", "mu", "sigma"}, {3.0, 5.0, 1.2},
      {u, u, pos}, 0, 10, "Gaussian peak", gaussian<false>, guess::gaussian);
  add("gaussian_offset", "a*exp(-((x - mu)^2)/(2*sigma^2)) + c", {"a", "mu", "sigma", "c"},
      {3.0, 5.0, 1.2, 0.5}, {u, u, pos, u}, 0, 10, "Gaussian peak on a constant baseline",
      gaussian<true>, guess::gaussian_offset);
  add("lorentzian", "a/(1 + ((x - x0)/gamma)^2)", {"a", "x0", "gamma"}, {3.0, 5.0, 0.8},
      {u, u, pos}, 0, 10, "Lorentzian (Cauchy) peak, gamma the half width at half maximum",
      lorentzian, guess::lorentzian);
  add("pseudo_voigt",
      "a*exp(-log(2)*((x - x0)/w)^2)*(1 - eta) + a*eta/(1 + ((x - x0)/w)^2)",
      {"a", "x0", "w", "eta"}, {3.0, 5.0, 0.9, 0.4}, {u, u, pos, unit_interval()}, 0, 10,
      "pseudo-Voigt peak: Gaussian and Lorentzian of half width w mixed by eta", pseudo_voigt,
      guess::pseudo_voigt);
  add("voigt", "a*voigt(x - mu, sigma, gamma)", {"a", "mu", "sigma", "gamma"}, {3.0, 5.0, 0.6, 0.4},
      {u, u, pos, pos}, 0, 10,
      "Voigt peak (a the area): Gaussian sigma convolved with Lorentzian half width gamma", voigt,
      guess::voigt);
  add("logistic", "a/(1 + exp(-k*(x - x0))) + c", {"a", "k", "x0", "c"}, {4.0, 1.5, 5.0, 0.5},
      {u, u, u, u}, 0, 10, "logistic sigmoid", logistic, guess::logistic);
  add("sigmoid", "a/(1 + exp(-k*(x - x0))) + c", {"a", "k", "x0", "c"}, {4.0, 1.5, 5.0, 0.5},
      {u, u, u, u}, 0, 10, "logistic sigmoid (another name for logistic)", logistic, guess::logistic);
  add("hill", "vmax*x^n/(k^n + x^n)", {"vmax", "n", "k"}, {3.0, 2.0, 2.0}, {u, pos, pos}, 0, 10,
      "Hill equation (x >= 0)", hill, guess::hill);
  add("michaelis_menten", "vmax*x/(km + x)", {"vmax", "km"}, {5.0, 1.5}, {u, pos}, 0, 10,
      "Michaelis-Menten saturation (x >= 0)", michaelis_menten, guess::michaelis_menten);
  add("gompertz", "a*exp(-b*exp(-c*x))", {"a", "b", "c"}, {5.0, 4.0, 0.8}, {u, pos, pos}, 0, 10,
      "Gompertz growth curve", gompertz, guess::gompertz);
  add("arrhenius", "a*exp(-ea/(8.314462618*x))", {"a", "ea"}, {1.0e10, 5.0e4}, {u, u}, 250, 400,
      "Arrhenius rate, x the temperature in K, ea in J/mol", arrhenius, guess::arrhenius);
  add("sine", "a*sin(w*x + phi) + c", {"a", "w", "phi", "c"}, {2.0, 3.0, 0.5, 1.0},
      {pos, pos, u, u}, 0, 10, "sine wave, w the angular frequency", sine, guess::sine);
  add("damped_sine", "a*exp(-d*x)*sin(w*x + phi) + c", {"a", "d", "w", "phi", "c"},
      {3.0, 0.3, 4.0, 0.3, 0.5}, {pos, u, pos, u, u}, 0, 10, "exponentially damped sine wave",
      damped_sine, guess::damped_sine);
  add("erf_step", "a*erf((x - x0)/w) + c", {"a", "x0", "w", "c"}, {2.0, 5.0, 0.7, 1.0},
      {u, u, pos, u}, 0, 10, "error-function step of height 2a", erf_step, guess::erf_step);
  add("log_normal", "a*exp(-((log(x) - mu)^2)/(2*s^2))", {"a", "mu", "s"}, {3.0, 1.0, 0.4},
      {u, u, pos}, 0.1, 10, "log-normal peak (x > 0)", log_normal, guess::log_normal);
  add("exp_modified_gaussian",
      "a*lambda/2*exp(lambda*(mu - x) + lambda^2*sigma^2/2)*erfc((mu + lambda*sigma^2 - x)/(sqrt(2)*sigma))",
      {"a", "lambda", "mu", "sigma"}, {5.0, 0.7, 4.0, 0.6}, {u, pos, u, pos}, 0, 15,
      "exponentially modified Gaussian (a the area)", exp_modified_gaussian,
      guess::exp_modified_gaussian);
  add("gaussian2d", "a*exp(-((x1 - mu1)^2/(2*s1^2) + (x2 - mu2)^2/(2*s2^2))) + c",
      {"a", "mu1", "s1", "mu2", "s2", "c"}, {3.0, 0.5, 1.2, -0.3, 0.8, 0.2},
      {u, u, pos, u, pos, u}, -5, 5, "axis-aligned two-dimensional Gaussian on a baseline",
      gaussian2d, guess::gaussian2d, 2);
  add("plane", "a*x1 + b*x2 + c", {"a", "b", "c"}, {1.5, -0.5, 2.0}, {u, u, u}, -5, 5, "plane",
      plane, guess::plane, 2);
  return lib;
}

class BuiltinModel final : public Model {
 public:
  explicit BuiltinModel(const ModelInfo& info) : info_(info) {}
  const std::vector<std::string>& param_names() const override { return info_.param_names; }
  int num_predictors() const override { return info_.num_predictors; }
  std::string formula() const override { return info_.formula; }

  void evaluate(const double* const* x, std::size_t n, const double* p,
                double* values) const override {
    run(x, n, p, values, nullptr);
  }
  void evaluate_with_jacobian(const double* const* x, std::size_t n, const double* p,
                              double* values, double* jac) const override {
    run(x, n, p, values, jac);
  }

 private:
  // Blocks of kModelBlock points; the Jacobian keeps the caller's leading dimension n.
  void run(const double* const* x, std::size_t n, const double* p, double* values,
           double* jac) const {
    std::array<const double*, 2> block_x{};
    const auto k_count = static_cast<std::size_t>(info_.num_predictors);
    for (std::size_t begin = 0; begin < n; begin += kModelBlock) {
      const std::size_t count = std::min(kModelBlock, n - begin);
      for (std::size_t k = 0; k < k_count; ++k) block_x[k] = x[k] + begin;
      info_.evaluate_block(block_x.data(), count, p, values + begin, jac ? jac + begin : nullptr, n);
    }
  }
  const ModelInfo& info_;  // entries of model_library() live for the whole program
};

}  // namespace

const std::vector<ModelInfo>& model_library() {
  static const std::vector<ModelInfo> library = build_library();
  return library;
}

const ModelInfo* find_model(std::string_view name) {
  for (const ModelInfo& info : model_library())
    if (info.name == name) return &info;
  return nullptr;
}

std::unique_ptr<Model> make_builtin_model(const ModelInfo& info) {
  return std::make_unique<BuiltinModel>(info);
}

std::unique_ptr<Model> make_model(std::string_view name_or_formula,
                                  const std::vector<std::string>& predictor_names) {
  if (const ModelInfo* info = find_model(name_or_formula)) return make_builtin_model(*info);
  if (const auto composite = expand_composite(name_or_formula))
    return compile_formula(composite->formula, predictor_names);
  // A bare word that is not a library name is a misspelt model, not a one-parameter formula.
  const bool bare_word = !name_or_formula.empty() &&
                         std::all_of(name_or_formula.begin(), name_or_formula.end(), [](char c) {
                           return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                         });
  if (bare_word)
    throw ModelError("unknown model '" + std::string(name_or_formula) +
                     "' (see `curvefit models` for the built-in models, or type a formula such as "
                     "\"a*exp(-b*x)+c\")");
  return compile_formula(name_or_formula, predictor_names);
}

GuessSample draw_guess_sample(int num_predictors, const double* const* x, const double* y, std::size_t n) {
  // Deterministic subsample: every stride-th point, finite ones only.
  const std::size_t stride = n > kGuessSamplePoints ? (n + kGuessSamplePoints - 1) / kGuessSamplePoints : 1;
  const bool two = num_predictors == 2;
  std::vector<std::pair<double, double>> xy;  // one predictor: (x, y), sorted below
  GuessSample sample;
  for (std::size_t i = 0; i < n; i += stride) {
    const double xi = x[0][i], yi = y[i];
    if (!std::isfinite(xi) || !std::isfinite(yi)) continue;
    if (two) {
      if (!std::isfinite(x[1][i])) continue;
      sample.x.push_back(xi);
      sample.x2.push_back(x[1][i]);
      sample.y.push_back(yi);
    } else {
      xy.emplace_back(xi, yi);
    }
  }
  if (!two) {
    std::stable_sort(xy.begin(), xy.end(),
                     [](const auto& l, const auto& r) { return l.first < r.first; });
    for (const auto& [xi, yi] : xy) {
      sample.x.push_back(xi);
      sample.y.push_back(yi);
    }
  }
  return sample;
}

void move_inside_bounds(const ModelInfo& info, std::vector<double>& p) {
  // Keep the guess usable: finite, and strictly inside the natural bounds.
  for (std::size_t j = 0; j < p.size(); ++j) {
    const ParamBounds& b = info.bounds[j];
    double value = std::isfinite(p[j]) ? p[j] : (std::isfinite(info.example[j]) ? info.example[j] : 1.0);
    if (value <= b.lower || value >= b.upper) {
      const double span = std::isfinite(b.upper - b.lower) ? b.upper - b.lower : 0.0;
      if (value <= b.lower)
        value = span > 0 ? b.lower + 1e-3 * span : b.lower + std::max(1e-3 * std::abs(b.lower), 1e-8);
      else
        value = span > 0 ? b.upper - 1e-3 * span : b.upper - std::max(1e-3 * std::abs(b.upper), 1e-8);
    }
    p[j] = value;
  }
}

std::vector<double> guess_parameters(const ModelInfo& info, const double* const* x, const double* y,
                                     std::size_t n) {
  const GuessSample sample = draw_guess_sample(info.num_predictors, x, y, n);
  if (sample.y.size() < info.param_names.size())
    throw ModelError("model '" + info.name + "': too few finite points (" +
                     std::to_string(sample.y.size()) + ") to guess " +
                     std::to_string(info.param_names.size()) + " parameters");
  std::vector<double> p = info.guess(sample);
  move_inside_bounds(info, p);
  return p;
}

}  // namespace curvefit
