#pragma once
// Elementwise math over arrays of doubles with <= 1 ULP error (SLEEF's u10 functions), vectorised
// with AVX2 when the CPU has it (checked at run time) and plain libm otherwise. No -ffast-math:
// NaN and Inf keep their meaning. out may alias in.
#include <cstddef>

namespace curvefit::vmath {

void exp(const double* in, double* out, std::size_t n);
void expm1(const double* in, double* out, std::size_t n);
void log(const double* in, double* out, std::size_t n);
void log10(const double* in, double* out, std::size_t n);
void log1p(const double* in, double* out, std::size_t n);
void sin(const double* in, double* out, std::size_t n);
void cos(const double* in, double* out, std::size_t n);
void tan(const double* in, double* out, std::size_t n);
void asin(const double* in, double* out, std::size_t n);
void acos(const double* in, double* out, std::size_t n);
void atan(const double* in, double* out, std::size_t n);
void sinh(const double* in, double* out, std::size_t n);
void cosh(const double* in, double* out, std::size_t n);
void tanh(const double* in, double* out, std::size_t n);
void erf(const double* in, double* out, std::size_t n);
void erfc(const double* in, double* out, std::size_t n);
void atan2(const double* y, const double* x, double* out, std::size_t n);
void pow(const double* base, const double* exponent, double* out, std::size_t n);

// The Faddeeva function w(z) = exp(-z^2) erfc(-iz) at z = x + iy (libcerf, relative error
// ~1e-13), its real and imaginary parts apart: what the Voigt profile and its derivatives need.
double faddeeva_re(double x, double y);
double faddeeva_im(double x, double y);
void faddeeva_re(const double* x, const double* y, double* out, std::size_t n);
void faddeeva_im(const double* x, const double* y, double* out, std::size_t n);
// w'(z) = -2 z w(z) + 2i/sqrt(pi), real and imaginary parts; re_w, im_w are w(z). In the upper
// half-plane beyond |z| = 20 the two terms cancel to about |z|^-2 of their size, so there the
// asymptotic series -(2i/sqrt(pi)) sum_{k=1..8} (2k-1)!!/(2z^2)^k is used instead (below an ulp).
void faddeeva_derivative(double x, double y, double re_w, double im_w, double& re, double& im);
double faddeeva_derivative_re(double x, double y);
double faddeeva_derivative_im(double x, double y);
void faddeeva_derivative_re(const double* x, const double* y, double* out, std::size_t n);
void faddeeva_derivative_im(const double* x, const double* y, double* out, std::size_t n);
// The normalized Voigt profile Re w((x + i gamma)/(sigma sqrt 2)) / (sigma sqrt(2 pi)) (libcerf's
// voigt, computed apart from faddeeva_re: the reference tests compare them).
double voigt_profile(double x, double sigma, double gamma);

// Whether the AVX2 path is in use (for benchmarks and logs).
bool using_avx2();

}  // namespace curvefit::vmath
