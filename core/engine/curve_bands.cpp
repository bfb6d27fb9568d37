#include "core/engine/curve_bands.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include <boost/math/distributions/students_t.hpp>

#include "core/errors.h"
#include "solvers/covariance.h"

namespace curvefit {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Two-sided: the quantile at (1 + level) / 2 of Student's t with dof degrees of freedom.
double two_sided_t(double level, long dof) {
  if (dof <= 0) return kNaN;
  return boost::math::quantile(boost::math::students_t(static_cast<double>(dof)), 0.5 * (1.0 + level));
}

}  // namespace

CurveBands::CurveBands(const Model& model, const FitResult& result, double level)
    : model_(model), result_(result), level_(level) {
  if (!(level > 0 && level < 1))
    throw UsageError("band level: must be between 0 and 1 (e.g. 0.95), got " + std::to_string(level));
  t_ = two_sided_t(level, result.dof);
  residual_variance_ = covariance_scale(result.cost, result.dof, result.used.absolute_sigma);
  const auto n_model = static_cast<Eigen::Index>(model.num_params());
  has_covariance_ = result.covariance.rows() == n_model && result.params.size() == n_model &&
                    (result.covariance_root.size() == 0 || result.covariance_root.rows() == n_model);
  if (!has_covariance_) return;
  for (Eigen::Index j = 0; j < n_model; ++j)
    if (!std::isfinite(result.covariance(j, j))) undetermined_.push_back(j);
}

std::string CurveBands::percent_label() const {
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", 100.0 * level_);
  return text;
}

std::size_t CurveBands::scratch_bytes(std::size_t n_model) {
  return sizeof(double) * kBlockRows * (1 + 2 * n_model);
}

void CurveBands::half_widths(const double* const* x, std::size_t n, const double* sigma, double* confidence,
                             double* prediction) const {
  const std::size_t rows = std::min(n, kBlockRows), n_model = model_.num_params();
  Scratch scratch{std::vector<double>(rows), std::vector<double>(rows * n_model), std::vector<double>(rows * n_model)};
  std::vector<const double*> xs(static_cast<std::size_t>(model_.num_predictors()));
  for (std::size_t begin = 0; begin < n; begin += kBlockRows) {
    for (std::size_t q = 0; q < xs.size(); ++q) xs[q] = x[q] + begin;
    block(xs.data(), std::min(kBlockRows, n - begin), sigma ? sigma + begin : nullptr, confidence + begin,
          prediction ? prediction + begin : nullptr, scratch);
  }
}

// One block of at most kBlockRows rows: the Jacobian rows G, then se_fit = ||row of G L||.
void CurveBands::block(const double* const* x, std::size_t n, const double* sigma, double* confidence,
                       double* prediction, Scratch& scratch) const {
  const auto rows = static_cast<Eigen::Index>(n);
  const auto n_model = static_cast<Eigen::Index>(model_.num_params());
  model_.evaluate_with_jacobian(x, n, result_.params.data(), scratch.values.data(), scratch.jac.data());
  const Eigen::Map<const Eigen::MatrixXd> G(scratch.jac.data(), rows, n_model);
  const Eigen::MatrixXd& L = result_.covariance_root;
  Eigen::Map<Eigen::MatrixXd> GL(scratch.product.data(), rows, L.cols());
  if (has_covariance_ && L.size() > 0) GL.noalias() = G * L;
  const double residual_sd = std::sqrt(residual_variance_);
  for (Eigen::Index i = 0; i < rows; ++i) {
    double se = kNaN;
    if (has_covariance_) {
      se = L.size() > 0 ? GL.row(i).stableNorm() : 0.0;
      // (With a covariance but an empty L there are no degrees of freedom: every free parameter
      // is undetermined.)
      for (const Eigen::Index j : undetermined_)
        if (G(i, j) != 0 || std::isnan(G(i, j))) se = std::numeric_limits<double>::infinity();
    }
    confidence[i] = t_ * se;
    if (prediction) prediction[i] = t_ * std::hypot(se, residual_sd * (sigma ? sigma[i] : 1.0));
  }
}

}  // namespace curvefit
