// Guesses that survive offsets and units: for every built-in model, noiseless data from its
// example parameters on its example range, then the same curve on x shifted by 1000 range widths
// and on x scaled by 1e-6 and 1e6 (the parameters transformed as the model family allows: a shifted
// exponential keeps its shape with a rescaled amplitude, a shifted peak moves its centre, ...).
// A fit from guess() alone (the project's lm, whose scaling follows the Jacobian) must reproduce
// the curve to 1e-6 of its range. Iterates over model_library(): a new model must get its
// transformations here (the test fails for a model it does not know).
//
// Combinations a model cannot represent are skipped with a message: a shift where x has an origin
// (x^b, log x, 1/x, x >= 0), and transformed parameters that double precision cannot hold (e^(b c)
// overflowing, or polynomial coefficients whose cancellation loses the curve); for those the
// largest offset of 100 or 10 range widths that can be represented is tried instead.
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <numbers>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/model/model_library.h"
#include "core/model/model_test_support.h"
#include "solvers/dense_objective.h"
#include "solvers/solve.h"

namespace curvefit {
namespace {

using Params = std::vector<double>;
// Parameters for x' = x + c (shift) or x' = s x (scale) that give the same y; nullopt when the
// family has no such parameters.
using Transform = std::function<std::optional<Params>(Params, double)>;

struct Rules {
  Transform shift, scale;
};

// Coefficients c_k of sum c_k x^k for x = x' - c: sum_k c_k (x' - c)^k expanded in x'.
Params shift_polynomial(const Params& c, double offset) {
  Params out(c.size(), 0.0);
  for (std::size_t k = 0; k < c.size(); ++k) {
    double binomial = 1.0;  // C(k, j) (-offset)^(k - j), from j = k down
    for (std::size_t j = k + 1; j-- > 0;) {
      out[j] += c[k] * binomial;
      binomial *= static_cast<double>(j) / static_cast<double>(k - j + 1) * -offset;
    }
  }
  return out;
}

Rules polynomial_rules() {
  return {[](Params p, double c) -> std::optional<Params> { return shift_polynomial(p, c); },
          [](Params p, double s) -> std::optional<Params> {
            for (std::size_t k = 0; k < p.size(); ++k) p[k] /= std::pow(s, static_cast<double>(k));
            return p;
          }};
}

const Transform kNone = [](Params, double) -> std::optional<Params> { return std::nullopt; };

// Per model: how its parameters follow a shift and a scale of x.
const std::map<std::string, Rules>& rules() {
  static const std::map<std::string, Rules> table = {
      {"linear", {[](Params p, double c) -> std::optional<Params> { return Params{p[0], p[1] - p[0] * c}; },
                  [](Params p, double s) -> std::optional<Params> { return Params{p[0] / s, p[1]}; }}},
      {"quadratic",
       {[](Params p, double c) -> std::optional<Params> {
          return Params{p[0], p[1] - 2 * p[0] * c, p[2] - p[1] * c + p[0] * c * c};
        },
        [](Params p, double s) -> std::optional<Params> { return Params{p[0] / (s * s), p[1] / s, p[2]}; }}},
      {"exponential", {[](Params p, double c) -> std::optional<Params> { return Params{p[0] * std::exp(p[1] * c), p[1], p[2]}; },
                       [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1] / s, p[2]}; }}},
      {"exponential_growth",
       {[](Params p, double c) -> std::optional<Params> { return Params{p[0] * std::exp(-p[1] * c), p[1]}; },
        [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1] / s}; }}},
      {"double_exponential",
       {[](Params p, double c) -> std::optional<Params> {
          return Params{p[0] * std::exp(p[1] * c), p[1], p[2] * std::exp(p[3] * c), p[3], p[4]};
        },
        [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1] / s, p[2], p[3] / s, p[4]}; }}},
      {"stretched_exponential",
       {kNone, [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1] * s, p[2], p[3]}; }}},
      {"power_law", {kNone, [](Params p, double s) -> std::optional<Params> { return Params{p[0] * std::pow(s, -p[1]), p[1]}; }}},
      {"logarithmic", {kNone, [](Params p, double s) -> std::optional<Params> { return Params{p[0] - p[1] * std::log(s), p[1]}; }}},
      {"gaussian", {[](Params p, double c) -> std::optional<Params> { return Params{p[0], p[1] + c, p[2]}; },
                    [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1] * s, p[2] * s}; }}},
      {"gaussian_offset", {[](Params p, double c) -> std::optional<Params> { return Params{p[0], p[1] + c, p[2], p[3]}; },
                           [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1] * s, p[2] * s, p[3]}; }}},
      {"lorentzian", {[](Params p, double c) -> std::optional<Params> { return Params{p[0], p[1] + c, p[2]}; },
                      [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1] * s, p[2] * s}; }}},
      {"pseudo_voigt", {[](Params p, double c) -> std::optional<Params> { return Params{p[0], p[1] + c, p[2], p[3]}; },
                        [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1] * s, p[2] * s, p[3]}; }}},
      {"logistic", {[](Params p, double c) -> std::optional<Params> { return Params{p[0], p[1], p[2] + c, p[3]}; },
                    [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1] / s, p[2] * s, p[3]}; }}},
      {"sigmoid", {[](Params p, double c) -> std::optional<Params> { return Params{p[0], p[1], p[2] + c, p[3]}; },
                   [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1] / s, p[2] * s, p[3]}; }}},
      // a is the area: it scales with x.
      {"voigt", {[](Params p, double c) -> std::optional<Params> { return Params{p[0], p[1] + c, p[2], p[3]}; },
                 [](Params p, double s) -> std::optional<Params> { return Params{p[0] * s, p[1] * s, p[2] * s, p[3] * s}; }}},
      {"hill", {kNone, [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1], p[2] * s}; }}},
      {"michaelis_menten", {kNone, [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1] * s}; }}},
      {"gompertz", {[](Params p, double c) -> std::optional<Params> { return Params{p[0], p[1] * std::exp(p[2] * c), p[2]}; },
                    [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1], p[2] / s}; }}},
      {"arrhenius", {kNone, [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1] * s}; }}},
      {"sine", {[](Params p, double c) -> std::optional<Params> { return Params{p[0], p[1], p[2] - p[1] * c, p[3]}; },
                [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1] / s, p[2], p[3]}; }}},
      {"damped_sine",
       {[](Params p, double c) -> std::optional<Params> {
          return Params{p[0] * std::exp(p[1] * c), p[1], p[2], p[3] - p[2] * c, p[4]};
        },
        [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1] / s, p[2] / s, p[3], p[4]}; }}},
      {"erf_step", {[](Params p, double c) -> std::optional<Params> { return Params{p[0], p[1] + c, p[2], p[3]}; },
                    [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1] * s, p[2] * s, p[3]}; }}},
      {"log_normal", {kNone, [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1] + std::log(s), p[2]}; }}},
      {"exp_modified_gaussian",
       {[](Params p, double c) -> std::optional<Params> { return Params{p[0], p[1], p[2] + c, p[3]}; },
        [](Params p, double s) -> std::optional<Params> { return Params{p[0] * s, p[1] / s, p[2] * s, p[3] * s}; }}},
      // Two predictors: both move (shift) or change units (scale) together.
      {"gaussian2d",
       {[](Params p, double c) -> std::optional<Params> { return Params{p[0], p[1] + c, p[2], p[3] + c, p[4], p[5]}; },
        [](Params p, double s) -> std::optional<Params> { return Params{p[0], p[1] * s, p[2] * s, p[3] * s, p[4] * s, p[5]}; }}},
      {"plane", {[](Params p, double c) -> std::optional<Params> { return Params{p[0], p[1], p[2] - (p[0] + p[1]) * c}; },
                 [](Params p, double s) -> std::optional<Params> { return Params{p[0] / s, p[1] / s, p[2]}; }}},
  };
  return table;
}

const Rules* rules_for(const ModelInfo& info) {
  if (info.name.rfind("polynomial", 0) == 0) {
    static const Rules polynomial = polynomial_rules();
    return &polynomial;
  }
  const auto it = rules().find(info.name);
  return it == rules().end() ? nullptr : &it->second;
}

using Curve = test::Dataset;  // x per predictor, y

// Points on the example range (a 40 x 40 grid for two predictors), y from the example parameters.
Curve example_curve(const ModelInfo& info) {
  Curve d;
  const double lo = info.x_min, hi = info.x_max;
  const std::size_t side = info.num_predictors == 1 ? 500 : 40;
  const std::size_t m = info.num_predictors == 1 ? side : side * side;
  d.x.assign(static_cast<std::size_t>(info.num_predictors), std::vector<double>(m));
  for (std::size_t i = 0; i < m; ++i) {
    d.x[0][i] = lo + (hi - lo) * static_cast<double>(i % side) / static_cast<double>(side - 1);
    if (info.num_predictors == 2) d.x[1][i] = lo + (hi - lo) * static_cast<double>(i / side) / static_cast<double>(side - 1);
  }
  d.y.resize(m);
  const auto cols = d.columns();
  make_builtin_model(info)->evaluate(cols.data(), m, info.example.data(), d.y.data());
  return d;
}

double curve_range(const std::vector<double>& y) {
  const auto [lo, hi] = std::minmax_element(y.begin(), y.end());
  return std::max(*hi - *lo, std::abs(*hi));
}

// Largest |model(p) - y| over the points, relative to the curve's range (inf when not finite).
double misfit(const ModelInfo& info, const Curve& d, const Params& p) {
  std::vector<double> values(d.y.size());
  const auto cols = d.columns();
  make_builtin_model(info)->evaluate(cols.data(), d.y.size(), p.data(), values.data());
  double worst = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double e = std::abs(values[i] - d.y[i]);
    worst = std::isfinite(e) ? std::max(worst, e) : std::numeric_limits<double>::infinity();
  }
  return worst / curve_range(d.y);
}

// The fit from guess() alone by lm; returns the fitted parameters. lm works on the parameters
// relative to the guess (p = q * guess, q starting at 1): a shifted exponential's amplitude of
// 1e217 next to a rate of 0.5 would otherwise end the run on xtol at the first step, since the
// solvers' stopping tests still see ||x|| in the model's units (issue 11 item 7).
Params fit_from_guess(const ModelInfo& info, const Curve& d, Params* guess_out) {
  const auto model = make_builtin_model(info);
  const auto cols = d.columns();
  const std::size_t m = d.y.size();
  const auto n = static_cast<int>(info.param_names.size());
  const Params guess = guess_parameters(info, cols.data(), d.y.data(), m);
  *guess_out = guess;
  Eigen::VectorXd unit(n);
  for (int j = 0; j < n; ++j) unit[j] = guess[static_cast<std::size_t>(j)] != 0 ? guess[static_cast<std::size_t>(j)] : 1.0;
  const Eigen::Map<const Eigen::VectorXd> y(d.y.data(), static_cast<Eigen::Index>(m));
  DenseObjective objective(
      n, m,
      [&](const Eigen::VectorXd& q, Eigen::VectorXd& f) {
        const Eigen::VectorXd p = q.cwiseProduct(unit);
        model->evaluate(cols.data(), m, p.data(), f.data());
        f -= y;
      },
      [&](const Eigen::VectorXd& q, Eigen::MatrixXd& jac) {
        const Eigen::VectorXd p = q.cwiseProduct(unit);
        Eigen::VectorXd values(static_cast<Eigen::Index>(m));
        model->evaluate_with_jacobian(cols.data(), m, p.data(), values.data(), jac.data());
        jac = jac * unit.asDiagonal();
      });
  SolverOptions options;
  options.method = Algorithm::lm;
  Eigen::VectorXd q0 = Eigen::Map<const Eigen::VectorXd>(guess.data(), n).cwiseQuotient(unit);
  const Eigen::VectorXd p = solve(objective, q0, options).x.cwiseProduct(unit);
  return Params(p.data(), p.data() + p.size());
}

std::string text(const Params& p) {
  std::string s;
  char item[32];
  for (double v : p) std::snprintf(item, sizeof item, "%s%.6g", s.empty() ? "" : " ", v), s += item;
  return s;
}

// The curve in transformed x (x' = x + c or s x); nullopt (with the reason) when the parameters
// for x' cannot reproduce it in double precision.
std::optional<Curve> transformed(const ModelInfo& info, const Curve& d, const Params& p, bool shift, double amount,
                                 std::string* why) {
  Curve out = d;
  for (auto& column : out.x)
    for (double& v : column) v = shift ? v + amount : v * amount;
  if (misfit(info, out, p) > 1e-9) {
    *why = "its parameters for x' (" + text(p) + ") do not reproduce the curve in double precision";
    return std::nullopt;
  }
  return out;
}

void expect_guess_survives(const ModelInfo& info, bool shift, double amount) {
  const Rules* r = rules_for(info);
  ASSERT_NE(r, nullptr) << info.name << ": add its shift and scale rules to this test";
  const Curve base = example_curve(info);
  const double width = info.x_max - info.x_min;
  const Transform& rule = shift ? r->shift : r->scale;
  // A shift tries 1000, 100, 10 widths: the largest the model can represent.
  std::vector<double> amounts = shift ? std::vector<double>{1e3 * width, 1e2 * width, 10 * width} : std::vector<double>{amount};
  std::string why;
  for (double a : amounts) {
    const std::optional<Params> p = rule(info.example, a);
    if (!p) {
      std::printf("skip %s with x %s %g: the family has no parameters for it (x has an origin)\n", info.name.c_str(),
                  shift ? "+" : "*", a);
      return;
    }
    const std::optional<Curve> d = transformed(info, base, *p, shift, a, &why);
    if (!d) {
      std::printf("skip %s with x %s %g: %s\n", info.name.c_str(), shift ? "+" : "*", a, why.c_str());
      continue;
    }
    Params guess;
    const Params fitted = fit_from_guess(info, *d, &guess);
    EXPECT_LT(misfit(info, *d, fitted), 1e-6)
        << info.name << " with x " << (shift ? "+ " : "* ") << a << ": truth " << text(*p) << ", guess "
        << text(guess) << ", fit " << text(fitted);
    return;
  }
}

TEST(ModelGuessOffset, TheExampleItselfIsRecovered) {
  for (const auto& info : model_library()) expect_guess_survives(info, false, 1.0);
}

TEST(ModelGuessOffset, XShiftedByAThousandRangeWidths) {
  for (const auto& info : model_library()) expect_guess_survives(info, true, 0.0);
}

TEST(ModelGuessOffset, XInUnitsAMillionTimesSmaller) {
  for (const auto& info : model_library()) expect_guess_survives(info, false, 1e6);
}

TEST(ModelGuessOffset, XInUnitsAMillionTimesLarger) {
  for (const auto& info : model_library()) expect_guess_survives(info, false, 1e-6);
}

// The report in issue 11: an exponential decay on t = 1000 ... 1010 was guessed as a flat line.
TEST(ModelGuessOffset, ExponentialOnTimesFrom1000To1010) {
  const ModelInfo& info = *find_model("exponential");
  Curve d;
  d.x.assign(1, std::vector<double>(200));
  d.y.resize(200);
  for (std::size_t i = 0; i < 200; ++i) {
    d.x[0][i] = 1000.0 + 10.0 * static_cast<double>(i) / 199.0;
    d.y[0 + i] = 5.0 * std::exp(-0.5 * (d.x[0][i] - 1000.0)) + 1.0;
  }
  Params guess;
  const Params fitted = fit_from_guess(info, d, &guess);
  EXPECT_LT(misfit(info, d, fitted), 1e-6) << "guess " << text(guess) << ", fit " << text(fitted);
  EXPECT_NEAR(fitted[1], 0.5, 1e-6);
  EXPECT_NEAR(fitted[2], 1.0, 1e-6);
}

}  // namespace
}  // namespace curvefit
