#include "core/formula/vector_math.h"

#include <cmath>
#include <complex>

// libcerf's real-valued entry points; its header declares the rest with C99 complex types, which
// C++ does not have.
extern "C" {
double re_w_of_z(double x, double y);
double im_w_of_z(double x, double y);
double voigt(double x, double sigma, double gamma);
}

namespace curvefit::vmath {

namespace avx2 {
#define CURVEFIT_DECLARE(name) void name(const double* in, double* out, std::size_t n);
CURVEFIT_DECLARE(exp) CURVEFIT_DECLARE(expm1) CURVEFIT_DECLARE(log) CURVEFIT_DECLARE(log10)
CURVEFIT_DECLARE(log1p) CURVEFIT_DECLARE(sin) CURVEFIT_DECLARE(cos) CURVEFIT_DECLARE(tan)
CURVEFIT_DECLARE(asin) CURVEFIT_DECLARE(acos) CURVEFIT_DECLARE(atan) CURVEFIT_DECLARE(sinh)
CURVEFIT_DECLARE(cosh) CURVEFIT_DECLARE(tanh) CURVEFIT_DECLARE(erf) CURVEFIT_DECLARE(erfc)
#undef CURVEFIT_DECLARE
void atan2(const double* y, const double* x, double* out, std::size_t n);
void pow(const double* base, const double* exponent, double* out, std::size_t n);
}  // namespace avx2

bool using_avx2() {
  static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return supported;
}

#define CURVEFIT_UNARY(name, scalar)                                  \
  void name(const double* in, double* out, std::size_t n) {           \
    if (using_avx2()) return avx2::name(in, out, n);                  \
    for (std::size_t i = 0; i < n; ++i) out[i] = scalar(in[i]);       \
  }
CURVEFIT_UNARY(exp, std::exp)
CURVEFIT_UNARY(expm1, std::expm1)
CURVEFIT_UNARY(log, std::log)
CURVEFIT_UNARY(log10, std::log10)
CURVEFIT_UNARY(log1p, std::log1p)
CURVEFIT_UNARY(sin, std::sin)
CURVEFIT_UNARY(cos, std::cos)
CURVEFIT_UNARY(tan, std::tan)
CURVEFIT_UNARY(asin, std::asin)
CURVEFIT_UNARY(acos, std::acos)
CURVEFIT_UNARY(atan, std::atan)
CURVEFIT_UNARY(sinh, std::sinh)
CURVEFIT_UNARY(cosh, std::cosh)
CURVEFIT_UNARY(tanh, std::tanh)
CURVEFIT_UNARY(erf, std::erf)
CURVEFIT_UNARY(erfc, std::erfc)
#undef CURVEFIT_UNARY

void atan2(const double* y, const double* x, double* out, std::size_t n) {
  if (using_avx2()) return avx2::atan2(y, x, out, n);
  for (std::size_t i = 0; i < n; ++i) out[i] = std::atan2(y[i], x[i]);
}
void pow(const double* base, const double* exponent, double* out, std::size_t n) {
  if (using_avx2()) return avx2::pow(base, exponent, out, n);
  for (std::size_t i = 0; i < n; ++i) out[i] = std::pow(base[i], exponent[i]);
}

double faddeeva_re(double x, double y) { return re_w_of_z(x, y); }
double faddeeva_im(double x, double y) { return im_w_of_z(x, y); }
void faddeeva_re(const double* x, const double* y, double* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = re_w_of_z(x[i], y[i]);
}
void faddeeva_im(const double* x, const double* y, double* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = im_w_of_z(x[i], y[i]);
}
void faddeeva_derivative(double x, double y, double re_w, double im_w, double& re, double& im) {
  constexpr double kTwoOverSqrtPi = 1.1283791670955126;
  if (y >= 0 && x * x + y * y >= 400) {
    const std::complex<double> inverse_square = 1.0 / (std::complex<double>(x, y) * std::complex<double>(x, y));
    std::complex<double> sum = 0, power = 1;
    double coefficient = 1;
    for (int k = 1; k <= 8; ++k) {
      coefficient *= (2 * k - 1) / 2.0;
      power *= inverse_square;
      sum += coefficient * power;
    }
    const std::complex<double> derivative = std::complex<double>(0, -kTwoOverSqrtPi) * sum;
    re = derivative.real();
    im = derivative.imag();
    return;
  }
  re = -2 * (x * re_w - y * im_w);
  im = kTwoOverSqrtPi - 2 * (x * im_w + y * re_w);
}
double faddeeva_derivative_re(double x, double y) {
  double re = 0, im = 0;
  faddeeva_derivative(x, y, re_w_of_z(x, y), im_w_of_z(x, y), re, im);
  return re;
}
double faddeeva_derivative_im(double x, double y) {
  double re = 0, im = 0;
  faddeeva_derivative(x, y, re_w_of_z(x, y), im_w_of_z(x, y), re, im);
  return im;
}
void faddeeva_derivative_re(const double* x, const double* y, double* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = faddeeva_derivative_re(x[i], y[i]);
}
void faddeeva_derivative_im(const double* x, const double* y, double* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = faddeeva_derivative_im(x[i], y[i]);
}
double voigt_profile(double x, double sigma, double gamma) { return ::voigt(x, sigma, gamma); }

}  // namespace curvefit::vmath
