// The built-in model library: every entry is checked (the tests iterate over model_library(), so a
// new model is covered automatically) for consistent metadata, an exact Jacobian, block-invariant
// evaluation, and a guess from which a fit recovers the truth.
#include "core/model/model_library.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <random>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/model/model_test_support.h"

namespace curvefit {
namespace {

std::string all_names() {
  std::string s;
  for (const auto& info : model_library()) s += info.name + " ";
  return s;
}

TEST(ModelLibrary, HasTheModelsTheIssueAsksFor) {
  for (const char* name :
       {"linear", "quadratic", "polynomial0", "polynomial5", "polynomial10", "exponential",
        "exponential_growth", "double_exponential", "stretched_exponential", "power_law",
        "logarithmic", "gaussian", "gaussian_offset", "lorentzian", "pseudo_voigt", "logistic",
        "hill", "michaelis_menten", "gompertz", "arrhenius", "sine", "damped_sine", "erf_step",
        "log_normal", "exp_modified_gaussian", "gaussian2d", "plane"})
    EXPECT_NE(find_model(name), nullptr) << name << " missing; have: " << all_names();
  EXPECT_GE(model_library().size(), 25u);
  EXPECT_EQ(find_model("no_such_model"), nullptr);
}

TEST(ModelLibrary, NamesAreUnique) {
  std::set<std::string> seen;
  for (const auto& info : model_library()) EXPECT_TRUE(seen.insert(info.name).second) << info.name;
}

// Identifiers of a formula in order of first appearance, minus functions, constants and predictors:
// the parameters a formula compiler will find, in its order.
std::vector<std::string> formula_parameters(const std::string& formula) {
  static const std::set<std::string> reserved{
      "exp", "log", "log10", "sqrt", "abs", "sin", "cos", "tan", "asin", "acos", "atan", "atan2",
      "sinh", "cosh", "tanh", "erf", "erfc", "pow", "min", "max", "pi", "e", "x", "x1", "x2",
      "log2", "sign", "floor", "ceil", "heaviside", "if", "voigt"};
  std::vector<std::string> names;
  for (std::size_t i = 0; i < formula.size();) {
    const unsigned char c = static_cast<unsigned char>(formula[i]);
    if (std::isdigit(c) || c == '.') {  // a number, including its exponent (1e-3)
      while (i < formula.size() && (std::isdigit(static_cast<unsigned char>(formula[i])) || formula[i] == '.')) ++i;
      if (i < formula.size() && (formula[i] == 'e' || formula[i] == 'E')) {
        ++i;
        if (i < formula.size() && (formula[i] == '+' || formula[i] == '-')) ++i;
        while (i < formula.size() && std::isdigit(static_cast<unsigned char>(formula[i]))) ++i;
      }
    } else if (std::isalpha(c) || c == '_') {
      std::size_t j = i;
      while (j < formula.size() && (std::isalnum(static_cast<unsigned char>(formula[j])) || formula[j] == '_')) ++j;
      const std::string word = formula.substr(i, j - i);
      if (!reserved.count(word) && std::find(names.begin(), names.end(), word) == names.end())
        names.push_back(word);
      i = j;
    } else {
      EXPECT_NE(std::string("+-*/^(), ").find(static_cast<char>(c)), std::string::npos)
          << "unexpected character '" << formula[i] << "' in " << formula;
      ++i;
    }
  }
  return names;
}

TEST(ModelLibrary, MetadataIsConsistentAndFormulaNamesTheParametersInOrder) {
  for (const auto& info : model_library()) {
    SCOPED_TRACE(info.name);
    const std::size_t n = info.param_names.size();
    EXPECT_GE(n, 1u);
    EXPECT_EQ(info.example.size(), n);
    EXPECT_EQ(info.bounds.size(), n);
    EXPECT_TRUE(info.num_predictors == 1 || info.num_predictors == 2);
    EXPECT_LT(info.x_min, info.x_max);
    EXPECT_FALSE(info.description.empty());
    EXPECT_EQ(formula_parameters(info.formula), info.param_names) << info.formula;
    int parentheses = 0;
    for (char c : info.formula) {
      parentheses += c == '(' ? 1 : c == ')' ? -1 : 0;
      EXPECT_GE(parentheses, 0) << info.formula;
    }
    EXPECT_EQ(parentheses, 0) << info.formula;
    for (std::size_t j = 0; j < n; ++j) {
      EXPECT_LT(info.bounds[j].lower, info.example[j]) << info.param_names[j];
      EXPECT_GT(info.bounds[j].upper, info.example[j]) << info.param_names[j];
    }
    const auto model = make_model(info.name);
    EXPECT_EQ(model->param_names(), info.param_names);
    EXPECT_EQ(model->num_predictors(), info.num_predictors);
    EXPECT_EQ(model->formula(), info.formula);
  }
}

TEST(ModelLibrary, UnknownModelIsAModelError) {
  try {
    make_model("gausian");
    FAIL() << "no exception";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown model 'gausian'"), std::string::npos) << e.what();
  }
}

// Ridders' extrapolated central difference (Numerical Recipes dfridr): error far below the 1e-8
// asked for on these smooth functions, and an error estimate.
double ridders_derivative(const std::function<double(double)>& f, double x, double h, double* error) {
  constexpr int kSize = 10;
  constexpr double kShrink = 1.4, kShrink2 = kShrink * kShrink;
  double table[kSize][kSize];
  table[0][0] = (f(x + h) - f(x - h)) / (2 * h);
  double best = table[0][0];
  *error = std::numeric_limits<double>::infinity();
  for (int i = 1; i < kSize; ++i) {
    h /= kShrink;
    table[0][i] = (f(x + h) - f(x - h)) / (2 * h);
    double factor = kShrink2;
    for (int j = 1; j <= i; ++j) {
      table[j][i] = (table[j - 1][i] * factor - table[j - 1][i - 1]) / (factor - 1);
      factor *= kShrink2;
      const double err = std::max(std::abs(table[j][i] - table[j - 1][i]), std::abs(table[j][i] - table[j - 1][i - 1]));
      if (err <= *error) {
        *error = err;
        best = table[j][i];
      }
    }
    if (std::abs(table[i][i] - table[i - 1][i - 1]) >= 2 * *error) break;
  }
  return best;
}

TEST(ModelLibrary, JacobianMatchesExtrapolatedFiniteDifferences) {
  std::mt19937_64 engine(20261127);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  for (const auto& info : model_library()) {
    SCOPED_TRACE(info.name);
    const auto model = make_builtin_model(info);
    const std::size_t np = info.param_names.size(), m = 40;
    std::vector<std::vector<double>> x(static_cast<std::size_t>(info.num_predictors), std::vector<double>(m));
    for (auto& column : x)
      for (double& v : column) v = info.x_min + (info.x_max - info.x_min) * 0.5 * (1 + unit(engine));
    std::vector<const double*> cols;
    for (const auto& column : x) cols.push_back(column.data());
    for (int trial = 0; trial < 3; ++trial) {
      std::vector<double> p = info.example;
      for (std::size_t j = 0; j < np; ++j) {
        p[j] *= 1 + 0.1 * unit(engine);
        p[j] = std::clamp(p[j], info.bounds[j].lower + 1e-3, info.bounds[j].upper - 1e-3);
      }
      std::vector<double> values(m), jac(m * np), plain(m);
      model->evaluate_with_jacobian(cols.data(), m, p.data(), values.data(), jac.data());
      model->evaluate(cols.data(), m, p.data(), plain.data());
      for (std::size_t i = 0; i < m; ++i) EXPECT_EQ(values[i], plain[i]);
      for (std::size_t j = 0; j < np; ++j) {
        double column_scale = 0;
        for (std::size_t i = 0; i < m; ++i) column_scale = std::max(column_scale, std::abs(jac[j * m + i]));
        for (std::size_t i = 0; i < m; ++i) {
          const double* xi[2] = {&x[0][i], info.num_predictors == 2 ? &x[1][i] : nullptr};
          auto f = [&](double pj) {
            std::vector<double> q = p;
            q[j] = pj;
            double v;
            model->evaluate(xi, 1, q.data(), &v);
            return v;
          };
          double error;
          const double h = 0.05 * std::max(std::abs(p[j]), 1e-2);
          const double numeric = ridders_derivative(f, p[j], h, &error);
          const double analytic = jac[j * m + i];
          // 1e-8 relative, beyond the difference quotient's own rounding floor (eps |f| / h) and
          // Ridders' error estimate, which bound what any finite difference can resolve.
          const double rounding_floor = 64 * std::numeric_limits<double>::epsilon() * std::abs(values[i]) / h;
          EXPECT_NEAR(analytic, numeric, 1e-8 * std::abs(analytic) + 10 * error + rounding_floor + 1e-300)
              << "d f / d " << info.param_names[j] << " at x=" << x[0][i] << " (ridders error " << error << ")";
        }
      }
    }
  }
}

// Blocks of kModelBlock points: results must not depend on where a block starts or how many points
// one call gets (the Jacobian keeps the caller's leading dimension).
TEST(ModelLibrary, EvaluationDoesNotDependOnBlocking) {
  for (const auto& info : model_library()) {
    SCOPED_TRACE(info.name);
    const auto model = make_builtin_model(info);
    const test::Dataset d = test::make_dataset(info, 2 * kModelBlock + 77, 0.0, 1);
    const std::size_t m = d.y.size(), np = info.param_names.size();
    const auto cols = d.columns();
    std::vector<double> values(m), jac(m * np);
    model->evaluate_with_jacobian(cols.data(), m, info.example.data(), values.data(), jac.data());
    for (std::size_t i = 0; i < m; i += 13) {
      const double* xi[2] = {cols[0] + i, info.num_predictors == 2 ? cols[1] + i : nullptr};
      double v, row[16];
      model->evaluate_with_jacobian(xi, 1, info.example.data(), &v, row);
      EXPECT_EQ(v, values[i]);
      EXPECT_EQ(v, d.y[i]);  // make_dataset evaluated the whole range with evaluate()
      for (std::size_t j = 0; j < np; ++j) EXPECT_EQ(row[j], jac[j * m + i]) << info.param_names[j];
    }
  }
}

// Far left of an exponentially modified Gaussian, exp(q) overflows and erfc(z) underflows; the
// value must still be the (tiny, finite) limit, compared with a long-double evaluation of
// a*lambda/2 * exp(q - z^2) * erfcx(z), erfcx by its continued fraction.
TEST(ModelLibrary, ExpModifiedGaussianStaysFiniteFarFromThePeak) {
  const auto model = make_model("exp_modified_gaussian");
  const double p[4] = {5.0, 100.0, 100.0, 0.6};  // q = lambda (mu - x) + lambda^2 sigma^2 / 2 > 1000
  const double xs[3] = {98.5, 100.0, 101.5};
  const double* cols[1] = {xs};
  double v[3], jac[12];
  model->evaluate_with_jacobian(cols, 3, p, v, jac);
  for (int i = 0; i < 3; ++i) {
    const long double x = xs[i], lambda = p[1], mu = p[2], sigma = p[3];
    const long double z = (mu + lambda * sigma * sigma - x) / (std::sqrt(2.0L) * sigma);
    long double fraction = 0;  // erfcx(z) = 1/sqrt(pi) * 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + ...))))
    for (int k = 60; k >= 1; --k) fraction = (k / 2.0L) / (z + fraction);
    const long double erfcx = 1.0L / (std::sqrt(3.14159265358979323846L) * (z + fraction));
    const long double expected = 0.5L * p[0] * lambda * std::exp(-(x - mu) * (x - mu) / (2 * sigma * sigma)) * erfcx;
    EXPECT_TRUE(std::isfinite(v[i])) << xs[i];
    EXPECT_GT(expected, 1e-10L);
    EXPECT_NEAR(v[i], static_cast<double>(expected), 1e-10 * static_cast<double>(expected)) << xs[i];
    for (int j = 0; j < 4; ++j) EXPECT_TRUE(std::isfinite(jac[j * 3 + i])) << "column " << j << " x " << xs[i];
  }
}

TEST(ModelLibrary, GuessNeedsEnoughFinitePoints) {
  const ModelInfo& info = *find_model("gaussian");
  const double x[2] = {1, 2}, y[2] = {1, NAN};
  const double* cols[1] = {x};
  EXPECT_THROW(guess_parameters(info, cols, y, 2), ModelError);
}

// From noiseless data the guess must lead a fit back to the example parameters; with 1% noise to
// within 5 standard errors. The fit is the reference LM in model_test_support.h (independent of the
// solvers module; model_recovery_test.cpp repeats this with solve()).
void expect_recovery(const ModelInfo& info, double relative_noise, const std::vector<double>* truth_in = nullptr,
                     std::uint64_t seed = 42) {
  const std::vector<double>& truth_values = truth_in ? *truth_in : info.example;
  const auto model = make_builtin_model(info);
  const test::Dataset d = test::make_dataset(info, 2000, relative_noise, seed, &truth_values);
  const auto cols = d.columns();
  const std::vector<double> p0 = guess_parameters(info, cols.data(), d.y.data(), d.y.size());
  const test::ReferenceFit fit = test::reference_fit(*model, d, p0);
  std::string guess_text;
  for (std::size_t j = 0; j < p0.size(); ++j) guess_text += info.param_names[j] + "=" + std::to_string(p0[j]) + " ";
  for (std::size_t j = 0; j < p0.size(); ++j) {
    const double truth = truth_values[j];
    if (relative_noise == 0)
      EXPECT_NEAR(fit.p[static_cast<Eigen::Index>(j)], truth, 1e-6 * std::max(std::abs(truth), 1.0))
          << info.param_names[j] << "; guess " << guess_text;
    else
      EXPECT_NEAR(fit.p[static_cast<Eigen::Index>(j)], truth, 5 * fit.stderr_[static_cast<Eigen::Index>(j)])
          << info.param_names[j] << "; guess " << guess_text;
  }
}

TEST(ModelLibrary, GuessFromNoiselessDataLeadsToTheTruth) {
  for (const auto& info : model_library()) {
    SCOPED_TRACE(info.name);
    expect_recovery(info, 0.0);
  }
}

TEST(ModelLibrary, GuessFromOnePercentNoiseLeadsToTheTruth) {
  for (const auto& info : model_library()) {
    SCOPED_TRACE(info.name);
    expect_recovery(info, 0.01);
  }
}

// The guesses read the data, not the examples: truths away from the example (each parameter scaled
// by a factor in [0.75, 1.25]) are recovered as well.
TEST(ModelLibrary, GuessWorksAwayFromTheExampleParameters) {
  std::mt19937_64 engine(99);
  std::uniform_real_distribution<double> factor(0.75, 1.25);
  for (const auto& info : model_library()) {
    for (int trial = 0; trial < 4; ++trial) {
      std::vector<double> truth = info.example;
      for (double& v : truth) v *= factor(engine);
      SCOPED_TRACE(info.name + " trial " + std::to_string(trial));
      expect_recovery(info, 0.01, &truth, 1000 + static_cast<std::uint64_t>(trial));
    }
  }
}

// Shapes the examples do not show: dips, falling steps, negative amplitudes, fast or slow decays,
// a sine with barely more than one period, a narrow peak.
TEST(ModelLibrary, GuessHandlesDipsFallingCurvesAndOtherScales) {
  const std::vector<std::pair<std::string, std::vector<double>>> cases = {
      {"gaussian", {-2, 7, 1.5}},          {"gaussian", {3, 2, 0.2}},
      {"gaussian_offset", {-2, 4, 0.7, 5}}, {"lorentzian", {-1, 3, 0.3}},
      {"logistic", {-3, 2, 4, 1}},          {"erf_step", {-1, 2, 0.3, 0}},
      {"exponential", {-2, 0.1, 4}},        {"exponential", {5, 3, 1}},
      {"exponential", {5, -0.2, 1}},        {"sine", {2, 0.8, -2.5, 1}},
      {"sine", {0.5, 20, 1, -3}},           {"damped_sine", {3, 0.8, 8, -1, 2}},
      {"power_law", {3, -0.7}},             {"gaussian2d", {-1, -2, 0.5, 2, 1.5, 1}},
      {"michaelis_menten", {2, 20}},        {"double_exponential", {1, 5, 3, 0.1, 0}}};
  for (const auto& [name, truth] : cases) {
    SCOPED_TRACE(name);
    expect_recovery(*find_model(name), 0.01, &truth, 3);
  }
}

// Large inputs are subsampled deterministically: the same data give the same guess, and a guess
// from 10^6 points is close to one from the first 2000-point grid of the same curve.
TEST(ModelLibrary, GuessFromLargeDataIsDeterministicAndSensible) {
  const ModelInfo& info = *find_model("gaussian");
  const test::Dataset d = test::make_dataset(info, 1'000'000, 0.01, 7);
  const auto cols = d.columns();
  const auto first = guess_parameters(info, cols.data(), d.y.data(), d.y.size());
  const auto second = guess_parameters(info, cols.data(), d.y.data(), d.y.size());
  EXPECT_EQ(first, second);
  for (std::size_t j = 0; j < first.size(); ++j)
    EXPECT_NEAR(first[j], info.example[j], 0.1 * std::abs(info.example[j])) << info.param_names[j];
}

}  // namespace
}  // namespace curvefit
