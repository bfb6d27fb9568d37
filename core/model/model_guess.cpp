#include "core/model/model_guess.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>

#include <Eigen/Dense>

#include "core/formula/vector_math.h"

namespace curvefit::guess {
namespace {

using Vector = std::vector<double>;
using Columns = std::vector<Vector>;
constexpr double kPi = std::numbers::pi;
constexpr double kHalfMaxPerSigma = 1.1774100225154747;  // sqrt(2 ln 2): HWHM of a unit Gaussian

// Linear least squares y ~ sum_j coef_j * columns[j] (column-pivoted QR: no normal equations).
// rss, when given, receives the residual sum of squares.
Vector least_squares(const Columns& columns, const Vector& y, double* rss = nullptr) {
  const auto m = static_cast<Eigen::Index>(y.size());
  const auto n = static_cast<Eigen::Index>(columns.size());
  Eigen::MatrixXd a(m, n);
  for (Eigen::Index j = 0; j < n; ++j)
    for (Eigen::Index i = 0; i < m; ++i) a(i, j) = columns[j][i];
  const Eigen::Map<const Eigen::VectorXd> b(y.data(), m);
  const Eigen::VectorXd coef = a.colPivHouseholderQr().solve(b);
  if (rss) {
    *rss = (a * coef - b).squaredNorm();
    if (!std::isfinite(*rss)) *rss = std::numeric_limits<double>::infinity();
  }
  return Vector(coef.data(), coef.data() + n);
}

Vector ones(std::size_t n) { return Vector(n, 1.0); }

template <class F>
Vector map(const Vector& x, F f) {
  Vector out(x.size());
  std::transform(x.begin(), x.end(), out.begin(), f);
  return out;
}

// At most `limit` points at a fixed stride (keeps the x order): for grid searches.
GuessSample thin(const GuessSample& s, std::size_t limit) {
  if (s.y.size() <= limit) return s;
  GuessSample out;
  const double step = static_cast<double>(s.y.size()) / static_cast<double>(limit);
  for (std::size_t k = 0; k < limit; ++k) {
    const auto i = static_cast<std::size_t>(static_cast<double>(k) * step);
    out.x.push_back(s.x[i]);
    if (!s.x2.empty()) out.x2.push_back(s.x2[i]);
    out.y.push_back(s.y[i]);
  }
  return out;
}

// Centred moving average over 2*half+1 points (shrinking at the ends): tames noise before shape
// features (maxima, crossings) are read off.
Vector smooth(const Vector& y, std::size_t half) {
  const std::size_t n = y.size();
  Vector prefix(n + 1, 0.0), out(n);
  for (std::size_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + y[i];
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t lo = i >= half ? i - half : 0, hi = std::min(n, i + half + 1);
    out[i] = (prefix[hi] - prefix[lo]) / static_cast<double>(hi - lo);
  }
  return out;
}
std::size_t smoothing_half_width(std::size_t n) { return std::max<std::size_t>(1, n / 250); }

double mean_of(const Vector& v, std::size_t begin, std::size_t end) {
  return std::accumulate(v.begin() + static_cast<std::ptrdiff_t>(begin),
                         v.begin() + static_cast<std::ptrdiff_t>(end), 0.0) /
         static_cast<double>(end - begin);
}
// Mean of y over the first and the last 10% of the points (in x order).
double left_level(const Vector& y) { return mean_of(y, 0, std::max<std::size_t>(1, y.size() / 10)); }
double right_level(const Vector& y) {
  return mean_of(y, y.size() - std::max<std::size_t>(1, y.size() / 10), y.size());
}

double median(Vector v) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

double span(const Vector& x) { return x.back() - x.front(); }

// Cumulative trapezoid integral of y over x, starting at 0.
Vector cumulative_integral(const Vector& x, const Vector& y) {
  Vector out(x.size(), 0.0);
  for (std::size_t i = 1; i < x.size(); ++i)
    out[i] = out[i - 1] + 0.5 * (y[i] + y[i - 1]) * (x[i] - x[i - 1]);
  return out;
}

// x where the smoothed y first reaches `level` going from left to right (direction given by
// rising), interpolated linearly; the end of the range if it never does.
double first_crossing(const Vector& x, const Vector& ys, double level, bool rising) {
  for (std::size_t i = 0; i < ys.size(); ++i) {
    const bool reached = rising ? ys[i] >= level : ys[i] <= level;
    if (!reached) continue;
    if (i == 0) return x[0];
    const double t = (level - ys[i - 1]) / (ys[i] - ys[i - 1]);
    return x[i - 1] + std::clamp(t, 0.0, 1.0) * (x[i] - x[i - 1]);
  }
  return x.back();
}

// A single peak (or dip) above a baseline: its height (signed), location, and half width at half
// maximum (from whichever sides cross half height within the data).
struct Peak {
  double height = 0, location = 0, half_width = 0;
  double left_half_width = 0, right_half_width = 0;
};
Peak find_peak(const Vector& x, const Vector& y, double baseline) {
  const Vector ys = smooth(y, smoothing_half_width(y.size()) / 2 + 1);
  const auto [lo, hi] = std::minmax_element(ys.begin(), ys.end());
  const bool dip = baseline - *lo > *hi - baseline;
  const auto peak = static_cast<std::size_t>((dip ? lo : hi) - ys.begin());
  Peak result;
  result.height = ys[peak] - baseline;
  result.location = x[peak];
  const double half = baseline + 0.5 * result.height;
  auto above = [&](std::size_t i) { return dip ? ys[i] < half : ys[i] > half; };
  auto interpolate = [&](std::size_t inside, std::size_t outside) {
    const double t = (half - ys[inside]) / (ys[outside] - ys[inside]);
    return x[inside] + std::clamp(t, 0.0, 1.0) * (x[outside] - x[inside]);
  };
  std::size_t i = peak;
  while (i > 0 && above(i - 1)) --i;
  const bool left_found = i > 0;
  result.left_half_width = left_found ? result.location - interpolate(i, i - 1) : 0.0;
  std::size_t j = peak;
  while (j + 1 < ys.size() && above(j + 1)) ++j;
  const bool right_found = j + 1 < ys.size();
  result.right_half_width = right_found ? interpolate(j, j + 1) - result.location : 0.0;
  if (left_found && right_found)
    result.half_width = 0.5 * (result.left_half_width + result.right_half_width);
  else if (left_found || right_found)
    result.half_width = std::max(result.left_half_width, result.right_half_width);
  else
    result.half_width = 0.25 * span(x);
  if (!(result.half_width > 0)) result.half_width = 0.01 * span(x);
  return result;
}

// Minimises f over a grid of `steps` points in [lo, hi] (log-spaced when log_scale), returning the
// best grid point.
template <class F>
double grid_minimum(F f, double lo, double hi, int steps, bool log_scale) {
  double best = lo, best_value = std::numeric_limits<double>::infinity();
  for (int k = 0; k < steps; ++k) {
    const double t = steps > 1 ? static_cast<double>(k) / (steps - 1) : 0.0;
    const double value_at = log_scale ? lo * std::pow(hi / lo, t) : lo + t * (hi - lo);
    const double v = f(value_at);
    if (v < best_value) {
      best_value = v;
      best = value_at;
    }
  }
  return best;
}

// Golden-section refinement of a 1-D minimum bracketed by [lo, hi].
template <class F>
double golden_minimum(F f, double lo, double hi, int iterations = 40) {
  const double ratio = 0.5 * (std::sqrt(5.0) - 1.0);
  double a = lo, b = hi, c = b - ratio * (b - a), d = a + ratio * (b - a);
  double fc = f(c), fd = f(d);
  for (int k = 0; k < iterations; ++k) {
    if (fc < fd) {
      b = d, d = c, fd = fc, c = b - ratio * (b - a), fc = f(c);
    } else {
      a = c, c = d, fc = fd, d = a + ratio * (b - a), fd = f(d);
    }
  }
  return 0.5 * (a + b);
}

// Weighted regression log(|y|) = alpha + beta * u on points with y of the dominant sign, weights y^2
// (the variance of log y is about (sd/y)^2). Returns {alpha, beta, sign}.
struct LogLinear {
  double intercept = 0, slope = 0, sign = 1;
};
LogLinear log_linear_fit(const Vector& u, const Vector& y) {
  const double positive = static_cast<double>(std::count_if(y.begin(), y.end(), [](double v) { return v > 0; }));
  LogLinear result;
  result.sign = positive >= 0.5 * static_cast<double>(y.size()) ? 1.0 : -1.0;
  const double peak = std::abs(*std::max_element(y.begin(), y.end(), [&](double l, double r) {
    return result.sign * l < result.sign * r;
  }));
  double sw = 0, su = 0, sl = 0, suu = 0, sul = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double v = result.sign * y[i];
    if (!(v > 1e-3 * peak) || !std::isfinite(u[i])) continue;
    const double w = v * v, l = std::log(v);
    sw += w, su += w * u[i], sl += w * l, suu += w * u[i] * u[i], sul += w * u[i] * l;
  }
  const double det = sw * suu - su * su;
  if (sw > 0 && det > 0) {
    result.slope = (sw * sul - su * sl) / det;
    result.intercept = (sl - result.slope * su) / sw;
  }
  return result;
}

// Best-fitting frequency of y ~ A sin(w x) + B cos(w x) + c (a periodogram by least squares), on a
// grid from about half a period over the range up to the Nyquist frequency of the sample, then
// refined by golden section.
double dominant_frequency(const GuessSample& sample) {
  const GuessSample s = thin(sample, 1000);
  const double width = span(s.x);
  Vector steps(s.x.size() - 1);
  for (std::size_t i = 0; i + 1 < s.x.size(); ++i) steps[i] = s.x[i + 1] - s.x[i];
  const double dx = std::max(median(steps), width / static_cast<double>(s.x.size()));
  const double w_lo = kPi / width, w_hi = kPi / dx;
  auto rss_at = [&](double w) {
    double rss;
    least_squares({map(s.x, [w](double v) { return std::sin(w * v); }),
                   map(s.x, [w](double v) { return std::cos(w * v); }), ones(s.x.size())},
                  s.y, &rss);
    return rss;
  };
  const double step = 2.0 * kPi / width / 3.0;
  const int count = std::clamp(static_cast<int>((w_hi - w_lo) / step) + 1, 2, 4000);
  const double best = grid_minimum(rss_at, w_lo, w_hi, count, false);
  const double grid_step = (w_hi - w_lo) / (count - 1);
  return golden_minimum(rss_at, std::max(0.5 * w_lo, best - grid_step), best + grid_step);
}

}  // namespace

// --- Linear in the parameters: least squares is the answer -------------------------------------

Vector polynomial(const GuessSample& s, int degree) {
  Columns columns{ones(s.x.size())};
  for (int k = 1; k <= degree; ++k)
    columns.push_back(map(s.x, [k](double v) { return std::pow(v, k); }));
  return least_squares(columns, s.y);
}

Vector linear(const GuessSample& s) {
  const Vector c = polynomial(s, 1);
  return {c[1], c[0]};
}

Vector quadratic(const GuessSample& s) {
  const Vector c = polynomial(s, 2);
  return {c[2], c[1], c[0]};
}

Vector logarithmic(const GuessSample& s) {
  return least_squares({ones(s.x.size()), map(s.x, [](double v) { return std::log(v); })}, s.y);
}

Vector plane(const GuessSample& s) { return least_squares({s.x, s.x2, ones(s.x.size())}, s.y); }

// --- Exponentials ------------------------------------------------------------------------------

// Amplitudes are fitted against e^(-b (x - x0)), x0 the first x, which stays in range wherever the
// data lie; a e^(-b (x - x0)) = (a e^(b x0)) e^(-b x) then gives the model's amplitude. Against
// e^(-b x) itself, data at x = 1000 ... 1010 see a column of zeros (or infinities).
double amplitude_at_origin(double amplitude_at_x0, double b, double x0) {
  return amplitude_at_x0 * std::exp(b * x0);
}
Vector decay_from(const Vector& x, double b) {
  const double x0 = x.front();
  return map(x, [b, x0](double v) { return std::exp(-b * (v - x0)); });
}

// y = a e^(-bx) + c satisfies y' = -b (y - c), so integrating from x0:
//   y - y0 = -b * S(x) + b c (x - x0),  S the running integral of y,
// a linear regression for b that integrates (averages) the noise instead of differentiating it.
// a and c then follow by least squares.
Vector exponential(const GuessSample& s) {
  const Vector integral = cumulative_integral(s.x, s.y);
  const Vector dy = map(s.y, [&](double v) { return v - s.y.front(); });
  const Vector t = map(s.x, [&](double v) { return v - s.x.front(); });
  double b = -least_squares({integral, t}, dy)[0];
  if (!std::isfinite(b) || b == 0) b = 1.0 / span(s.x);
  const Vector ac = least_squares({decay_from(s.x, b), ones(s.x.size())}, s.y);
  return {amplitude_at_origin(ac[0], b, s.x.front()), b, ac[1]};
}

// y = a e^(bx): y - y0 = b S(x) (see exponential above).
Vector exponential_growth(const GuessSample& s) {
  const Vector integral = cumulative_integral(s.x, s.y);
  double b = least_squares({integral, ones(s.x.size())}, s.y)[0];
  if (!std::isfinite(b)) b = 1.0 / span(s.x);
  const Vector a = least_squares({decay_from(s.x, -b)}, s.y);
  return {amplitude_at_origin(a[0], -b, s.x.front()), b};
}

// Two decays: y'' + (b1+b2) y' + b1 b2 (y - c) = 0. Integrated twice from x0 (t = x - x0):
//   y = -b1 b2 SS - (b1+b2) S + (...) t^2 + (...) t + (...),  S, SS the single and double integrals,
// so a regression on [SS, S, t^2, t, 1] gives b1 b2 and b1 + b2, the roots of
// z^2 - (b1+b2) z + b1 b2. The amplitudes and c follow by least squares.
Vector double_exponential(const GuessSample& s) {
  const Vector integral = cumulative_integral(s.x, s.y);
  const Vector double_integral = cumulative_integral(s.x, integral);
  const Vector t = map(s.x, [&](double v) { return v - s.x.front(); });
  const Vector coef = least_squares(
      {double_integral, integral, map(t, [](double v) { return v * v; }), t, ones(t.size())}, s.y);
  const double product = -coef[0], sum = -coef[1];
  const double discriminant = sum * sum - 4.0 * product;
  double b1, b2;
  if (product > 0 && sum > 0 && discriminant > 0) {
    b1 = 0.5 * (sum + std::sqrt(discriminant));
    b2 = 0.5 * (sum - std::sqrt(discriminant));
  } else {  // not two real decays: split a single decay rate
    const double b = std::max(exponential(s)[1], 1e-3 / span(s.x));
    b1 = 3.0 * b;
    b2 = b / 3.0;
  }
  const Vector amplitudes = least_squares({decay_from(s.x, b1), decay_from(s.x, b2), ones(s.x.size())}, s.y);
  return {amplitude_at_origin(amplitudes[0], b1, s.x.front()), b1, amplitude_at_origin(amplitudes[1], b2, s.x.front()),
          b2, amplitudes[2]};
}

// The best of a 16 x 30 logarithmic grid over two nonlinear parameters: `shape` spans [lo, hi]
// in 16 steps, `scale` [lo, hi] in 30; at each point `fit(shape, scale, rss)` solves the linear
// parameters and returns the guess, rss its residual sum of squares.
struct LogGrid {
  double lo, hi;
  double at(int k, int steps) const { return lo * std::pow(hi / lo, k / static_cast<double>(steps - 1)); }
};
template <class Fit>
Vector best_on_log_grid(LogGrid shapes, LogGrid scales, Vector best, Fit fit) {
  double best_rss = std::numeric_limits<double>::infinity();
  for (int ks = 0; ks < 16; ++ks)
    for (int kc = 0; kc < 30; ++kc) {
      double rss;
      Vector guess = fit(shapes.at(ks, 16), scales.at(kc, 30), rss);
      if (rss < best_rss) best_rss = rss, best = std::move(guess);
    }
  return best;
}

// a e^(-(x/tau)^beta) + c: a grid over (beta, tau) with a and c by least squares at each point.
Vector stretched_exponential(const GuessSample& sample) {
  const GuessSample s = thin(sample, 1000);
  const double width = std::max(std::abs(s.x.back()), span(s.x));
  return best_on_log_grid({0.2, 3.0}, {width * 1e-3, width * 3.0}, {1, width / 4, 1, 0},
                          [&](double beta, double tau, double& rss) -> Vector {
                            const Vector ac = least_squares(
                                {map(s.x, [=](double v) { return std::exp(-std::pow(std::max(v, 0.0) / tau, beta)); }),
                                 ones(s.x.size())},
                                s.y, &rss);
                            return {ac[0], tau, beta, ac[1]};
                          });
}

// a x^b: weighted log-log regression.
Vector power_law(const GuessSample& s) {
  const LogLinear fit = log_linear_fit(map(s.x, [](double v) { return v > 0 ? std::log(v) : NAN; }), s.y);
  const double b = fit.slope;
  const Vector a = least_squares({map(s.x, [b](double v) { return std::pow(v, b); })}, s.y);
  return {a[0], b};
}

// a e^(-ea/(R x)): weighted regression of log y on 1/x.
Vector arrhenius(const GuessSample& s) {
  constexpr double kGasConstant = 8.314462618;
  const LogLinear fit = log_linear_fit(map(s.x, [](double v) { return 1.0 / v; }), s.y);
  const double ea = -fit.slope * kGasConstant;
  const Vector a = least_squares({map(s.x, [ea](double v) { return std::exp(-ea / (kGasConstant * v)); })}, s.y);
  return {a[0], ea};
}

// --- Peaks -------------------------------------------------------------------------------------

Vector gaussian(const GuessSample& s) {
  const Peak peak = find_peak(s.x, s.y, 0.0);
  return {peak.height, peak.location, peak.half_width / kHalfMaxPerSigma};
}

// The baseline is the level of the flanks: the lower (for a peak) of the two edge levels.
Vector gaussian_offset(const GuessSample& s) {
  const double l = left_level(s.y), r = right_level(s.y), m = median(s.y);
  const Vector ys = smooth(s.y, smoothing_half_width(s.y.size()));
  const double top = *std::max_element(ys.begin(), ys.end()), bottom = *std::min_element(ys.begin(), ys.end());
  const bool dip = m - bottom > top - m;
  const double baseline = dip ? std::max(l, r) : std::min(l, r);
  const Peak peak = find_peak(s.x, s.y, baseline);
  return {peak.height, peak.location, peak.half_width / kHalfMaxPerSigma, baseline};
}

Vector lorentzian(const GuessSample& s) {
  const Peak peak = find_peak(s.x, s.y, 0.0);
  return {peak.height, peak.location, peak.half_width};
}

Vector pseudo_voigt(const GuessSample& s) {
  const Peak peak = find_peak(s.x, s.y, 0.0);
  return {peak.height, peak.location, peak.half_width, 0.5};
}

// sigma = gamma = s: the Voigt FWHM is then about 3.6013 s (Olivero's approximation,
// 0.5346 fL + sqrt(0.2166 fL^2 + fG^2) with fL = 2s, fG = 2 sqrt(2 ln 2) s); the area a makes the
// height, V(0) = Re w(i/sqrt 2)/(s sqrt(2 pi)).
Vector voigt(const GuessSample& s) {
  const Peak peak = find_peak(s.x, s.y, 0.0);
  const double width = 2.0 * peak.half_width / 3.6013;
  const double centre = vmath::faddeeva_re(0.0, 1.0 / std::numbers::sqrt2) / (width * std::sqrt(2.0 * kPi));
  return {peak.height / centre, peak.location, width, width};
}

// A Gaussian in log(x).
Vector log_normal(const GuessSample& s) {
  GuessSample log_sample;
  for (std::size_t i = 0; i < s.x.size(); ++i)
    if (s.x[i] > 0) log_sample.x.push_back(std::log(s.x[i])), log_sample.y.push_back(s.y[i]);
  return gaussian(log_sample);
}

// Exponentially modified Gaussian from the moments of the peak region (where y exceeds 5% of the
// peak): mean = mu + tau, variance = sigma^2 + tau^2, skewness = 2 tau^3 / variance^(3/2),
// tau = 1/lambda. The area a then follows by least squares.
Vector exp_modified_gaussian(const GuessSample& s) {
  const Peak peak = find_peak(s.x, s.y, 0.0);
  const Vector ys = smooth(s.y, smoothing_half_width(s.y.size()));
  double w0 = 0, w1 = 0, w2 = 0, w3 = 0;
  for (std::size_t i = 0; i + 1 < s.x.size(); ++i) {
    if (ys[i] / peak.height < 0.05) continue;
    const double w = s.y[i] * (s.x[i + 1] - s.x[i]);
    w0 += w, w1 += w * s.x[i];
  }
  const double mean = w1 / w0;
  for (std::size_t i = 0; i + 1 < s.x.size(); ++i) {
    if (ys[i] / peak.height < 0.05) continue;
    const double w = s.y[i] * (s.x[i + 1] - s.x[i]), d = s.x[i] - mean;
    w2 += w * d * d, w3 += w * d * d * d;
  }
  const double variance = w2 / w0;
  const double skew = std::clamp(w3 / w0 / std::pow(variance, 1.5), 0.05, 1.8);
  const double sd = std::sqrt(variance);
  const double tau = sd * std::cbrt(0.5 * skew);
  const double sigma = std::sqrt(std::max(variance - tau * tau, 0.01 * variance));
  const double lambda = 1.0 / tau, mu = mean - tau;
  Vector shape(s.x.size());
  const double p[4] = {1.0, lambda, mu, sigma};
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    const double z = (mu + lambda * sigma * sigma - s.x[i]) / (std::numbers::sqrt2 * sigma);
    shape[i] = 0.5 * p[1] * std::exp(lambda * (mu - s.x[i]) + 0.5 * lambda * lambda * sigma * sigma) * std::erfc(z);
    if (!std::isfinite(shape[i])) shape[i] = 0.0;
  }
  const Vector a = least_squares({shape}, s.y);
  return {a[0], lambda, mu, sigma};
}

// --- Steps and saturation ----------------------------------------------------------------------

// Left and right levels, and where the smoothed curve crosses 25%, 50%, 75% of the way between.
struct Step {
  double left = 0, right = 0, x25 = 0, x50 = 0, x75 = 0;
};
Step find_step(const GuessSample& s) {
  Step step;
  step.left = left_level(s.y);
  step.right = right_level(s.y);
  const Vector ys = smooth(s.y, smoothing_half_width(s.y.size()));
  const bool rising = step.right > step.left;
  auto level = [&](double f) { return step.left + f * (step.right - step.left); };
  step.x25 = first_crossing(s.x, ys, level(0.25), rising);
  step.x50 = first_crossing(s.x, ys, level(0.5), rising);
  step.x75 = first_crossing(s.x, ys, level(0.75), rising);
  if (!(step.x75 > step.x25)) step.x75 = step.x25 + 0.05 * span(s.x);
  return step;
}

// a/(1+e^(-k(x-x0))) + c: from left level c to c + a; x75 - x25 = 2 ln 3 / k.
Vector logistic(const GuessSample& s) {
  const Step step = find_step(s);
  return {step.right - step.left, 2.0 * std::log(3.0) / (step.x75 - step.x25), step.x50, step.left};
}

// a erf((x-x0)/w) + c: from c - a to c + a; erf(z) = 1/2 at z = 0.476936.
Vector erf_step(const GuessSample& s) {
  const Step step = find_step(s);
  return {0.5 * (step.right - step.left), step.x50, (step.x75 - step.x25) / (2.0 * 0.4769362762044699),
          0.5 * (step.left + step.right)};
}

// vmax x^n/(k^n + x^n): a grid over (n, k), vmax by least squares.
Vector hill(const GuessSample& sample) {
  const GuessSample s = thin(sample, 1000);
  const double x_top = std::max(std::abs(s.x.back()), std::abs(s.x.front()));
  return best_on_log_grid({0.3, 6.0}, {x_top * 1e-3, x_top * 10.0}, {1, 1, x_top / 2},
                          [&](double n, double k, double& rss) -> Vector {
                            const Vector v = least_squares(
                                {map(s.x, [=](double x) { return x > 0 ? 1.0 / (1.0 + std::pow(k / x, n)) : 0.0; })},
                                s.y, &rss);
                            return {v[0], n, k};
                          });
}

// vmax x/(km + x): a grid over km, vmax by least squares, refined by golden section.
Vector michaelis_menten(const GuessSample& sample) {
  const GuessSample s = thin(sample, 1000);
  const double x_top = std::max(std::abs(s.x.back()), std::abs(s.x.front()));
  auto rss_at = [&](double km) {
    double rss;
    least_squares({map(s.x, [km](double x) { return x / (km + x); })}, s.y, &rss);
    return rss;
  };
  const double coarse = grid_minimum(rss_at, x_top * 1e-3, x_top * 1e2, 60, true);
  const double km = golden_minimum(rss_at, coarse / 1.3, coarse * 1.3);
  const Vector v = least_squares({map(s.x, [km](double x) { return x / (km + x); })}, s.y);
  return {v[0], km};
}

// a e^(-b e^(-c x)): a grid over (b, c), a by least squares.
Vector gompertz(const GuessSample& sample) {
  const GuessSample s = thin(sample, 1000);
  const double width = std::max(span(s.x), std::abs(s.x.back()));
  double best_rss = std::numeric_limits<double>::infinity();
  Vector best{1, 1, 1 / width};
  for (int kb = 0; kb < 25; ++kb) {
    const double b = 0.05 * std::pow(4e3, kb / 24.0);  // 0.05 .. 200
    for (int kc = 0; kc < 30; ++kc) {
      const double c = 0.1 / width * std::pow(1e3, kc / 29.0);
      double rss;
      const Vector a = least_squares({map(s.x, [=](double x) { return std::exp(-b * std::exp(-c * x)); })}, s.y, &rss);
      if (rss < best_rss) best_rss = rss, best = {a[0], b, c};
    }
  }
  return best;
}

// --- Oscillations ------------------------------------------------------------------------------

// y ~ A sin(w x) + B cos(w x) + c = a sin(w x + phi) + c with a = hypot(A, B), phi = atan2(B, A).
Vector sine(const GuessSample& s) {
  const double w = dominant_frequency(s);
  const Vector coef = least_squares({map(s.x, [w](double v) { return std::sin(w * v); }),
                                     map(s.x, [w](double v) { return std::cos(w * v); }), ones(s.x.size())},
                                    s.y);
  return {std::hypot(coef[0], coef[1]), w, std::atan2(coef[1], coef[0]), coef[2]};
}

// The periodogram frequency, then the damping rate on a grid and the frequency refined with it;
// amplitude, phase and offset by least squares.
Vector damped_sine(const GuessSample& sample) {
  const GuessSample s = thin(sample, 1000);
  const double width = span(s.x);
  auto fit_at = [&](double d, double w, double* rss) {
    return least_squares({map(s.x, [=](double v) { return std::exp(-d * v) * std::sin(w * v); }),
                          map(s.x, [=](double v) { return std::exp(-d * v) * std::cos(w * v); }),
                          ones(s.x.size())},
                         s.y, rss);
  };
  double w = dominant_frequency(s), rss;
  const double d = grid_minimum([&](double dd) { return fit_at(dd, w, &rss), rss; }, -1.0 / width,
                                10.0 / width, 45, false);
  const double dw = 2.0 * kPi / width / 3.0;
  w = golden_minimum([&](double ww) { return fit_at(d, ww, &rss), rss; }, std::max(0.5 * w, w - dw), w + dw);
  const Vector coef = fit_at(d, w, &rss);
  return {std::hypot(coef[0], coef[1]), d, w, std::atan2(coef[1], coef[0]), coef[2]};
}

// --- Two predictors ----------------------------------------------------------------------------

// Baseline the median; peak at the most extreme value (largest, or smallest for a dip); widths
// from the extent of the half-maximum region along each axis.
Vector gaussian2d(const GuessSample& s) {
  const double c = median(s.y);
  const auto [lowest, highest] = std::minmax_element(s.y.begin(), s.y.end());
  const double sign = c - *lowest > *highest - c ? -1.0 : 1.0;  // a dip: work on -y
  std::vector<std::size_t> order(s.y.size());
  std::iota(order.begin(), order.end(), 0);
  const std::size_t top = std::min<std::size_t>(5, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(top), order.end(),
                    [&](std::size_t l, std::size_t r) { return sign * s.y[l] > sign * s.y[r]; });
  double height = 0;
  for (std::size_t k = 0; k < top; ++k) height += sign * s.y[order[k]] / static_cast<double>(top);
  const double mu1 = s.x[order[0]], mu2 = s.x2[order[0]];
  const double a = height - sign * c;  // > 0 on the sign-flipped data
  double extent1 = 0, extent2 = 0;
  for (std::size_t i = 0; i < s.y.size(); ++i)
    if (sign * (s.y[i] - c) > 0.5 * a) {
      extent1 = std::max(extent1, std::abs(s.x[i] - mu1));
      extent2 = std::max(extent2, std::abs(s.x2[i] - mu2));
    }
  const double fallback = 0.05 * (*std::max_element(s.x.begin(), s.x.end()) - *std::min_element(s.x.begin(), s.x.end()));
  return {sign * a, mu1, extent1 > 0 ? extent1 / kHalfMaxPerSigma : fallback, mu2,
          extent2 > 0 ? extent2 / kHalfMaxPerSigma : fallback, c};
}

}  // namespace curvefit::guess
