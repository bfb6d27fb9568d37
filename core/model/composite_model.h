#pragma once
// Composite models: built-in models combined with each other and with formulas,
//
//   "gaussian[p1] + gaussian[p2] + linear"     parameters p1_a, p1_mu, p1_sigma, p2_a, ..., a, b
//   "lorentzian[l] * exp(-k*x) + c"            the formula's own names are parameters as usual
//
// Each built-in name (not followed by '(') is replaced by its library formula in parentheses, its
// parameters renamed prefix_name when a prefix is given in brackets; the result is one formula,
// compiled and differentiated like any other. A formula name equal to a component's parameter is
// that parameter. Two components whose parameters share a name (two unprefixed gaussians) are an
// error naming the clash.
//
// Guesses: each component's own guess on the data, in turn: baselines (linear, quadratic,
// polynomials) fitted to the first and last 15% of x; then peaks, found left to right on what
// the baselines leave and given to the peak components in the order they are written, each
// guessed on its window between the neighbouring peaks; other components on what is left.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/model/model_library.h"

namespace curvefit {

struct CompositeComponent {
  const ModelInfo* info = nullptr;
  std::string prefix;                     // empty: the library's parameter names
  std::vector<std::string> param_names;   // as they appear in the expanded formula
};

struct CompositeModel {
  std::string formula;  // the expanded formula
  std::vector<CompositeComponent> components;

  // The natural bounds of every name in `params` (infinite for names no component owns).
  std::vector<ParamBounds> bounds(const std::vector<std::string>& params) const;
  // Starting values for `params` from data x[k][i], y[i] (NaN for names no component owns).
  std::vector<double> guess(const std::vector<std::string>& params, const double* const* x,
                            const double* y, std::size_t n) const;
};

// The expansion of `text`, or nullopt when it names no built-in model as a component (a plain
// formula, or exactly one library name). Throws ModelError for a malformed prefix or a clash.
std::optional<CompositeModel> expand_composite(std::string_view text);

// One built-in model as a composite of itself (what --tie turns a library model into).
CompositeModel single_component(const ModelInfo& info);

// `formula` with every name found in `replacements` (name, text) replaced by (text).
std::string substitute_names(std::string_view formula,
                             const std::vector<std::pair<std::string, std::string>>& replacements);

}  // namespace curvefit
