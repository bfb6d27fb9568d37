#pragma once
// A model y = f(x; p) that evaluates a block of points at once, with or without its exact
// Jacobian with respect to the parameters. Structure of arrays: predictor k of point i is
// x[k][i]; the Jacobian block is column-major, jac[j * n + i] = d f(x_i) / d p_j, so that each
// parameter's column is contiguous and loops over points vectorise.
//
// Evaluation is thread-safe (const, no shared mutable state) and does not allocate per call
// (implementations may keep thread_local scratch that grows once).
#include <cstddef>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace curvefit {

class Model {
 public:
  virtual ~Model() = default;
  // Parameter names, in the order of p.
  virtual const std::vector<std::string>& param_names() const = 0;
  std::size_t num_params() const { return param_names().size(); }
  // Number of predictors (columns of x): 1 for y = f(x), 2 for f(x1, x2), ...
  virtual int num_predictors() const = 0;
  // Formula as text, itself a valid curvefit formula.
  virtual std::string formula() const = 0;

  // values[i] = f(x_i; p) for i < n.
  virtual void evaluate(const double* const* x, std::size_t n, const double* p,
                        double* values) const = 0;
  // values as above, and jac (n x num_params, column-major, leading dimension n).
  virtual void evaluate_with_jacobian(const double* const* x, std::size_t n, const double* p,
                                      double* values, double* jac) const = 0;
};

// Natural bounds of a parameter (e.g. widths > 0); infinite where there is none.
struct ParamBounds {
  double lower = -std::numeric_limits<double>::infinity();
  double upper = std::numeric_limits<double>::infinity();
};

}  // namespace curvefit
