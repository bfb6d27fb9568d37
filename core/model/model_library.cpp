#include "core/model/model_library.h"

#include <algorithm>
#include <cctype>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "core/errors.h"
#include "core/formula/expression.h"
#include "core/model/composite_model.h"
#include "core/model/model_guess.h"
#include "core/model/model_library_kernels.h"

namespace curvefit {
namespace {

// --- The table: each entry's evaluator is its namesake in core/model/model_library_kernels_impl.h.

ParamBounds unbounded() { return {}; }
ParamBounds positive() { return {0.0, std::numeric_limits<double>::infinity()}; }
ParamBounds unit_interval() { return {0.0, 1.0}; }

std::vector<ModelInfo> build_library() {
  std::vector<ModelInfo> lib;
  const ParamBounds u = unbounded(), pos = positive();
  const model_kernels::KernelTable kernels = model_kernels::kernel_table();
  auto add = [&](std::string name, std::string formula, std::vector<std::string> params,
                 std::vector<double> example, std::vector<ParamBounds> bounds, double x_min,
                 double x_max, std::string description, GuessFunction guess, int predictors = 1) {
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
    info.evaluate_block = model_kernels::find_kernel(kernels, info.name);
    info.guess = std::move(guess);
    if (!info.evaluate_block || info.example.size() != info.param_names.size() ||
        info.bounds.size() != info.param_names.size())
      throw std::logic_error("model library entry '" + info.name + "' is inconsistent");
    lib.push_back(std::move(info));
  };

  add("linear", "a*x + b", {"a", "b"}, {2.0, 1.0}, {u, u}, 0, 10, "straight line", guess::linear);
  add("quadratic", "a*x^2 + b*x + c", {"a", "b", "c"}, {0.5, -2.0, 1.0}, {u, u, u}, -5, 5,
      "parabola", guess::quadratic);
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
        "polynomial of degree " + std::to_string(degree),
        [degree](const GuessSample& s) { return guess::polynomial(s, degree); });
  }
  add("exponential", "a*exp(-b*x) + c", {"a", "b", "c"}, {5.0, 0.5, 1.0}, {u, u, u}, 0, 10,
      "exponential decay to an offset", guess::exponential);
  add("exponential_growth", "a*exp(b*x)", {"a", "b"}, {1.5, 0.3}, {u, u}, 0, 10,
      "exponential growth", guess::exponential_growth);
  add("double_exponential", "a1*exp(-b1*x) + a2*exp(-b2*x) + c", {"a1", "b1", "a2", "b2", "c"},
      {3.0, 2.0, 2.0, 0.2, 0.5}, {u, pos, u, pos, u}, 0, 20,
      "two exponential decays (b1 the faster) and an offset", guess::double_exponential);
  add("stretched_exponential", "a*exp(-((x/tau)^beta)) + c", {"a", "tau", "beta", "c"},
      {4.0, 2.0, 0.7, 0.5}, {u, pos, pos, u}, 0, 20, "Kohlrausch stretched exponential decay",
      guess::stretched_exponential);
  add("power_law", "a*x^b", {"a", "b"}, {2.0, 1.5}, {u, u}, 0.5, 10, "power law (x > 0)",
      guess::power_law);
  add("logarithmic", "a + b*log(x)", {"a", "b"}, {1.0, 2.0}, {u, u}, 0.5, 10,
      "logarithm (x > 0)", guess::logarithmic);
  add("gaussian", "a*exp(-((x - mu)^2)/(2*sigma^2))", {"a", "mu", "sigma"}, {3.0, 5.0, 1.2},
      {u, u, pos}, 0, 10, "Gaussian peak", guess::gaussian);
  add("gaussian_offset", "a*exp(-((x - mu)^2)/(2*sigma^2)) + c", {"a", "mu", "sigma", "c"},
      {3.0, 5.0, 1.2, 0.5}, {u, u, pos, u}, 0, 10, "Gaussian peak on a constant baseline",
      guess::gaussian_offset);
  add("lorentzian", "a/(1 + ((x - x0)/gamma)^2)", {"a", "x0", "gamma"}, {3.0, 5.0, 0.8},
      {u, u, pos}, 0, 10, "Lorentzian (Cauchy) peak, gamma the half width at half maximum",
      guess::lorentzian);
  add("pseudo_voigt",
      "a*exp(-log(2)*((x - x0)/w)^2)*(1 - eta) + a*eta/(1 + ((x - x0)/w)^2)",
      {"a", "x0", "w", "eta"}, {3.0, 5.0, 0.9, 0.4}, {u, u, pos, unit_interval()}, 0, 10,
      "pseudo-Voigt peak: Gaussian and Lorentzian of half width w mixed by eta", guess::pseudo_voigt);
  add("voigt", "a*voigt(x - mu, sigma, gamma)", {"a", "mu", "sigma", "gamma"}, {3.0, 5.0, 0.6, 0.4},
      {u, u, pos, pos}, 0, 10,
      "Voigt peak (a the area): Gaussian sigma convolved with Lorentzian half width gamma", guess::voigt);
  add("logistic", "a/(1 + exp(-k*(x - x0))) + c", {"a", "k", "x0", "c"}, {4.0, 1.5, 5.0, 0.5},
      {u, u, u, u}, 0, 10, "logistic sigmoid", guess::logistic);
  add("sigmoid", "a/(1 + exp(-k*(x - x0))) + c", {"a", "k", "x0", "c"}, {4.0, 1.5, 5.0, 0.5},
      {u, u, u, u}, 0, 10, "logistic sigmoid (another name for logistic)", guess::logistic);
  add("hill", "vmax*x^n/(k^n + x^n)", {"vmax", "n", "k"}, {3.0, 2.0, 2.0}, {u, pos, pos}, 0, 10,
      "Hill equation (x >= 0)", guess::hill);
  add("michaelis_menten", "vmax*x/(km + x)", {"vmax", "km"}, {5.0, 1.5}, {u, pos}, 0, 10,
      "Michaelis-Menten saturation (x >= 0)", guess::michaelis_menten);
  add("gompertz", "a*exp(-b*exp(-c*x))", {"a", "b", "c"}, {5.0, 4.0, 0.8}, {u, pos, pos}, 0, 10,
      "Gompertz growth curve", guess::gompertz);
  add("arrhenius", "a*exp(-ea/(8.314462618*x))", {"a", "ea"}, {1.0e10, 5.0e4}, {u, u}, 250, 400,
      "Arrhenius rate, x the temperature in K, ea in J/mol", guess::arrhenius);
  add("sine", "a*sin(w*x + phi) + c", {"a", "w", "phi", "c"}, {2.0, 3.0, 0.5, 1.0},
      {pos, pos, u, u}, 0, 10, "sine wave, w the angular frequency", guess::sine);
  add("damped_sine", "a*exp(-d*x)*sin(w*x + phi) + c", {"a", "d", "w", "phi", "c"},
      {3.0, 0.3, 4.0, 0.3, 0.5}, {pos, u, pos, u, u}, 0, 10, "exponentially damped sine wave",
      guess::damped_sine);
  add("erf_step", "a*erf((x - x0)/w) + c", {"a", "x0", "w", "c"}, {2.0, 5.0, 0.7, 1.0},
      {u, u, pos, u}, 0, 10, "error-function step of height 2a", guess::erf_step);
  add("log_normal", "a*exp(-((log(x) - mu)^2)/(2*s^2))", {"a", "mu", "s"}, {3.0, 1.0, 0.4},
      {u, u, pos}, 0.1, 10, "log-normal peak (x > 0)", guess::log_normal);
  add("exp_modified_gaussian",
      "a*lambda/2*exp(lambda*(mu - x) + lambda^2*sigma^2/2)*erfc((mu + lambda*sigma^2 - x)/(sqrt(2)*sigma))",
      {"a", "lambda", "mu", "sigma"}, {5.0, 0.7, 4.0, 0.6}, {u, pos, u, pos}, 0, 15,
      "exponentially modified Gaussian (a the area)", guess::exp_modified_gaussian);
  add("gaussian2d", "a*exp(-((x1 - mu1)^2/(2*s1^2) + (x2 - mu2)^2/(2*s2^2))) + c",
      {"a", "mu1", "s1", "mu2", "s2", "c"}, {3.0, 0.5, 1.2, -0.3, 0.8, 0.2},
      {u, u, pos, u, pos, u}, -5, 5, "axis-aligned two-dimensional Gaussian on a baseline",
      guess::gaussian2d, 2);
  add("plane", "a*x1 + b*x2 + c", {"a", "b", "c"}, {1.5, -0.5, 2.0}, {u, u, u}, -5, 5, "plane",
      guess::plane, 2);
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
