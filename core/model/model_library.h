#pragma once
// The built-in model library: named models with an exact analytic Jacobian, a formula that is
// itself valid curvefit formula syntax, example parameters (for `generate` and the docs), natural
// bounds, and an initial guess from the data.
//
//   model_library()            every entry, in the order `curvefit models` lists them
//   find_model("gaussian")     one entry, or nullptr
//   make_model("gaussian")     a Model: the built-in of that name, else the formula compiled
//   guess_parameters(info, ..) initial parameters from (a deterministic subsample of) the data
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"
#include "core/model/model_library_kernels.h"  // kModelBlock

namespace curvefit {

// Evaluates n <= kModelBlock points: values[i], and when jac is not null the Jacobian columns
// jac[j * ld + i]. x[k][i] is predictor k of point i.
using BlockEvaluator = std::function<void(const double* const* x, std::size_t n, const double* p,
                                          double* values, double* jac, std::size_t ld)>;

// What a guess sees: at most kGuessSamplePoints points, taken at a fixed stride from the data
// (deterministic), finite only; for one-predictor models sorted by x.
struct GuessSample {
  std::vector<double> x;   // the predictor (x1 for two-predictor models)
  std::vector<double> x2;  // second predictor, empty for one-predictor models
  std::vector<double> y;
};
inline constexpr std::size_t kGuessSamplePoints = 10000;
using GuessFunction = std::function<std::vector<double>(const GuessSample&)>;

struct ModelInfo {
  std::string name;
  std::string formula;                   // curvefit formula syntax; parameters appear in order
  std::vector<std::string> param_names;
  int num_predictors = 1;                // 1: x; 2: x1, x2
  std::vector<double> example;           // example parameters, one per name
  std::vector<ParamBounds> bounds;       // natural bounds, one per name (infinite where none)
  double x_min = 0, x_max = 10;          // default predictor range for `generate` (each predictor)
  std::string description;               // one line for `curvefit models`
  BlockEvaluator evaluate_block;         // values and exact Jacobian
  GuessFunction guess;                   // initial parameters from a GuessSample
};

// Every built-in model (built once, thread-safe).
const std::vector<ModelInfo>& model_library();

// The entry called `name`, or nullptr.
const ModelInfo* find_model(std::string_view name);

// A built-in model, evaluating in blocks of kModelBlock points.
std::unique_ptr<Model> make_builtin_model(const ModelInfo& info);

// A model from a built-in name, else a composite of built-ins (core/model/composite_model.h), else
// the text compiled as a formula.
// predictor_names: the names formulas may use for predictors (empty: x, or x1, x2, ...).
// Throws ModelError("unknown model 'X'") when it is neither.
std::unique_ptr<Model> make_model(std::string_view name_or_formula,
                                  const std::vector<std::string>& predictor_names = {});

// Initial parameters for `info` from data x[k][i], y[i], i < n: draws the deterministic
// subsample, calls info.guess, and moves the result strictly inside the natural bounds.
// Throws ModelError when there are too few finite points.
std::vector<double> guess_parameters(const ModelInfo& info, const double* const* x, const double* y,
                                     std::size_t n);
// The steps of guess_parameters: the deterministic sample, and a guess made finite and strictly
// inside info's natural bounds.
GuessSample draw_guess_sample(int num_predictors, const double* const* x, const double* y, std::size_t n);
void move_inside_bounds(const ModelInfo& info, std::vector<double>& p);

}  // namespace curvefit
