#pragma once
// Confidence and prediction bands of a fitted curve by the delta method: the columns that
// `curvefit fit --output` adds, and Python's FitResult.eval_uncertainty.
//
// At a point x, with g = d model(x; p) / d p at the fitted p (the model's exact Jacobian row) and
// C the covariance the fit reports (standard, or the sandwich of --cov robust):
//
//   se_fit(x)  = sqrt(g^T C g) = ||L^T g||     C = L L^T, L = FitResult::covariance_root
//   se_pred(x) = sqrt(se_fit(x)^2 + s^2 sigma(x)^2)
//   half-width = t * se,  t = Student's t quantile at (1 + level) / 2 with dof = m - n_free
//
// L comes from the SVD of R (solvers/covariance.h), so neither J^T J nor C's products are formed
// and the variance is a sum of squares. s^2 is the covariance's own scale: reduced chi-square
// (2 cost / dof; with a robust loss, the loss's cost) or 1 with absolute sigma; sigma(x) is the
// row's sigma (1 / sqrt(w) with weights; 1 without a sigma column). Fixed parameters have zero
// rows in L; tied ones are substituted into the model, so g already follows the ties. A gradient
// with weight on an undetermined parameter (infinite variance) gives +inf; a fit without a
// covariance gives NaN. The confidence half-width is lmfit's ModelResult.eval_uncertainty at
// sigma = level (lmfit 1.1 takes its gradient by central differences; here it is exact).
#include <cstddef>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "core/engine/fit.h"
#include "core/model.h"

namespace curvefit {

class CurveBands {
 public:
  // `model` and `result` (the model's fit) must outlive the bands. Throws UsageError unless
  // 0 < level < 1.
  CurveBands(const Model& model, const FitResult& result, double level);

  // Half-widths at n points (x: one pointer per predictor): of the confidence band into
  // `confidence`, and of the prediction band into `prediction` unless it is null (sigma: the
  // rows' sigma, or null for 1).
  void half_widths(const double* const* x, std::size_t n, const double* sigma, double* confidence,
                   double* prediction) const;

  double level() const { return level_; }
  double t_quantile() const { return t_; }
  // The level as a column suffix: 95 for 0.95, 68.27 for 0.6827.
  std::string percent_label() const;

  // Rows evaluated at once: the Jacobian block and its product with L stay in cache.
  static constexpr std::size_t kBlockRows = 256;
  // Scratch bytes of one half_widths call (the planner counts them).
  static std::size_t scratch_bytes(std::size_t n_model);

 private:
  struct Scratch {
    std::vector<double> values, jac, product;  // kBlockRows x (1, n_model, n_model)
  };
  void block(const double* const* x, std::size_t n, const double* sigma, double* confidence, double* prediction,
             Scratch& scratch) const;

  const Model& model_;
  const FitResult& result_;
  double level_;
  double t_;
  double residual_variance_;               // s^2
  bool has_covariance_;
  std::vector<Eigen::Index> undetermined_;  // parameters of infinite variance
};

}  // namespace curvefit
