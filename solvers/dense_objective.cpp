#include "solvers/dense_objective.h"

#include <cmath>
#include <limits>

#include <Eigen/Householder>
#include <Eigen/QR>

namespace curvefit {

DenseObjective::DenseObjective(int n_params, std::size_t n_residuals, ResidualFn residuals,
                               JacobianFn jacobian, Loss loss, double f_scale)
    : n_(n_params),
      m_(n_residuals),
      residuals_(std::move(residuals)),
      jacobian_(std::move(jacobian)),
      loss_(loss),
      f_scale_(f_scale),
      f_(static_cast<Eigen::Index>(n_residuals)),
      J_(static_cast<Eigen::Index>(n_residuals), n_params) {}

Evaluation DenseObjective::evaluate(const Eigen::VectorXd& x, bool with_linearization) {
  Evaluation result;
  residuals_(x, f_);
  if (!f_.allFinite()) {
    result.finite = false;
    result.cost = std::numeric_limits<double>::infinity();
    return result;
  }
  double cost = 0;
  for (Eigen::Index i = 0; i < f_.size(); ++i) cost += evaluate_loss(loss_, f_[i] * f_[i], f_scale_).rho;
  result.cost = 0.5 * cost;
  if (!with_linearization) return result;

  jacobian_(x, J_);
  if (!J_.allFinite()) {
    result.finite = false;
    result.cost = std::numeric_limits<double>::infinity();
    return result;
  }
  Eigen::VectorXd f = f_;
  if (loss_ != Loss::linear) {
    for (Eigen::Index i = 0; i < f.size(); ++i) {
      const RowScale s = robust_row_scale(f[i], evaluate_loss(loss_, f[i] * f[i], f_scale_));
      J_.row(i) *= s.jacobian_scale;
      f[i] *= s.residual_scale;
    }
  }
  Linearization& lin = result.lin;
  lin.col_norms = J_.colwise().norm().transpose();
  lin.f_norm2 = f.squaredNorm();
  // Thin QR of J; Q^T f by applying the same reflections to f.
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(J_);
  const Eigen::Index k = std::min<Eigen::Index>(J_.rows(), n_);
  lin.R = Eigen::MatrixXd::Zero(n_, n_);
  lin.R.topRows(k) = qr.matrixQR().topRows(k).triangularView<Eigen::Upper>();
  Eigen::VectorXd qtf = qr.householderQ().transpose() * f;
  lin.qtf = Eigen::VectorXd::Zero(n_);
  lin.qtf.head(k) = qtf.head(k);
  result.has_linearization = true;
  return result;
}

}  // namespace curvefit
