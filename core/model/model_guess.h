#pragma once
// Initial-parameter guesses of the built-in models, one function per model family. Each reads a
// GuessSample (finite points, at most kGuessSamplePoints, sorted by x for one predictor) and returns
// parameters in the order of the model's parameter names. They aim for the basin of the least-
// squares solution, not for the solution: shape features (peak, half-maximum width, levels,
// crossings), linearising transforms (logs, integrals), a periodogram for frequencies, and linear
// least squares for parameters that enter linearly once the others are fixed.
#include <vector>

#include "core/model/model_library.h"

namespace curvefit::guess {

std::vector<double> polynomial(const GuessSample& s, int degree);  // c0..c_degree (exact for noiseless data)
std::vector<double> linear(const GuessSample& s);                  // a, b       (a*x + b)
std::vector<double> quadratic(const GuessSample& s);               // a, b, c    (a*x^2 + b*x + c)
std::vector<double> exponential(const GuessSample& s);             // a, b, c
std::vector<double> exponential_growth(const GuessSample& s);      // a, b
std::vector<double> double_exponential(const GuessSample& s);      // a1, b1, a2, b2, c
std::vector<double> stretched_exponential(const GuessSample& s);   // a, tau, beta, c
std::vector<double> power_law(const GuessSample& s);               // a, b
std::vector<double> logarithmic(const GuessSample& s);             // a, b
std::vector<double> gaussian(const GuessSample& s);                // a, mu, sigma
std::vector<double> gaussian_offset(const GuessSample& s);         // a, mu, sigma, c
std::vector<double> lorentzian(const GuessSample& s);              // a, x0, gamma
std::vector<double> pseudo_voigt(const GuessSample& s);            // a, x0, w, eta
std::vector<double> voigt(const GuessSample& s);                   // a, mu, sigma, gamma
std::vector<double> logistic(const GuessSample& s);                // a, k, x0, c
std::vector<double> hill(const GuessSample& s);                    // vmax, n, k
std::vector<double> michaelis_menten(const GuessSample& s);        // vmax, km
std::vector<double> gompertz(const GuessSample& s);                // a, b, c
std::vector<double> arrhenius(const GuessSample& s);               // a, ea
std::vector<double> sine(const GuessSample& s);                    // a, w, phi, c
std::vector<double> damped_sine(const GuessSample& s);             // a, d, w, phi, c
std::vector<double> erf_step(const GuessSample& s);                // a, x0, w, c
std::vector<double> log_normal(const GuessSample& s);              // a, mu, s
std::vector<double> exp_modified_gaussian(const GuessSample& s);   // a, lambda, mu, sigma
std::vector<double> gaussian2d(const GuessSample& s);              // a, mu1, s1, mu2, s2, c
std::vector<double> plane(const GuessSample& s);                   // a, b, c

}  // namespace curvefit::guess
