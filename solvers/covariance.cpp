#include "solvers/covariance.h"

#include <cmath>
#include <limits>

#include <Eigen/SVD>

namespace curvefit {

namespace {
// Default rank tolerance (rcond <= 0), relative to the largest singular value of the column-scaled
// R. eps * n alone is too strict: exactly redundant parameters leave a singular value of order
// sqrt(m) eps (rounding in the QR of J), which eps * n would count as information. A direction
// with s_min / s_max below 1e-12 moves its parameters by more than 1e-4 relative under data
// perturbations at rounding level: it is not determined in double precision.
constexpr double kDefaultRcond = 1e-12;
// A parameter whose unit vector has more than this weight in the null space of R is undetermined.
const double kNullSpaceWeight = std::sqrt(std::numeric_limits<double>::epsilon());

// Column norms of R (those of J), computed without squaring (a column of 1e-217 has squares that
// underflow). A parameter that moves nothing has norm 0: it keeps scale 1 so that its zero column
// shows up as a null direction.
Eigen::VectorXd column_scales(const Eigen::MatrixXd& upper) {
  Eigen::VectorXd d(upper.cols());
  for (Eigen::Index j = 0; j < d.size(); ++j) d[j] = upper.col(j).stableNorm();
  for (Eigen::Index j = 0; j < d.size(); ++j)
    if (!(d[j] > 0) || !std::isfinite(d[j])) d[j] = 1.0;
  return d;
}

// The square root of (R^T R)^+, its rank and which parameters it determines. The rank is decided
// on R D^-1 (D = column norms), so that the units of a parameter, which scale its column, cannot
// make it look undetermined: the scaled matrix is the same whatever the units. The root is
// D^-1 V_r diag(1 / s) (R_s = U S V^T), whose square is (R^T R)^-1 exactly when R has full rank.
struct PseudoInverseRoot {
  Eigen::MatrixXd root;
  int rank = 0;
  Eigen::Matrix<bool, Eigen::Dynamic, 1> determined;
};

PseudoInverseRoot pseudo_inverse_root(const Eigen::MatrixXd& R, double rcond) {
  const Eigen::Index n = R.cols();
  if (rcond <= 0) rcond = std::max(kDefaultRcond, std::numeric_limits<double>::epsilon() * static_cast<double>(n));
  const Eigen::MatrixXd upper = R.triangularView<Eigen::Upper>();
  const Eigen::VectorXd inv_d = column_scales(upper).cwiseInverse();
  const Eigen::MatrixXd scaled = upper * inv_d.asDiagonal();
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(scaled, Eigen::ComputeFullV);
  const Eigen::VectorXd& s = svd.singularValues();
  const Eigen::MatrixXd& V = svd.matrixV();
  const double threshold = rcond * s[0];
  PseudoInverseRoot out;
  while (out.rank < n && s[out.rank] > threshold && s[out.rank] > 0) ++out.rank;
  out.root = inv_d.asDiagonal() * V.leftCols(out.rank) * s.head(out.rank).cwiseInverse().asDiagonal();
  // Parameters with weight in the null space are undetermined.
  out.determined = Eigen::Matrix<bool, Eigen::Dynamic, 1>::Constant(n, true);
  if (out.rank < n)
    for (Eigen::Index j = 0; j < n; ++j)
      out.determined[j] = V.rightCols(n - out.rank).row(j).norm() <= kNullSpaceWeight;
  return out;
}

// scale * root_rows * root_rows^T, symmetric, +inf on the rows and columns of undetermined
// parameters; standard errors from the rows of the root, not from the diagonal: a parameter of
// 1e217 has a variance beyond the largest double but a standard error well inside it.
Covariance covariance_from_root(const Eigen::MatrixXd& root_rows, const PseudoInverseRoot& p, double scale) {
  const double inf = std::numeric_limits<double>::infinity();
  const Eigen::Index n = root_rows.rows();
  Covariance out;
  out.rank = p.rank;
  out.determined = p.determined;
  // The product rounds (i,k) and (k,i) differently; average them so the matrix is exactly symmetric.
  const Eigen::MatrixXd product = scale * (root_rows * root_rows.transpose());
  out.matrix = 0.5 * (product + product.transpose());
  // No degrees of freedom left (scale = inf): nothing is determined; avoid inf * 0 = NaN.
  if (!std::isfinite(scale)) out.matrix.setConstant(inf);
  for (Eigen::Index j = 0; j < n; ++j)
    if (!out.determined[j]) {
      out.matrix.row(j).setConstant(inf);
      out.matrix.col(j).setConstant(inf);
    }
  if (std::isfinite(scale)) out.root = std::sqrt(scale) * root_rows;
  out.stderr_ = out.matrix.diagonal().cwiseSqrt();
  for (Eigen::Index j = 0; j < n; ++j)
    if (out.determined[j] && std::isfinite(scale)) out.stderr_[j] = std::sqrt(scale) * root_rows.row(j).stableNorm();
  return out;
}

Covariance empty_covariance(Eigen::Index n) {
  Covariance out;
  out.matrix = Eigen::MatrixXd::Zero(n, n);
  out.stderr_ = Eigen::VectorXd::Zero(n);
  out.determined = Eigen::Matrix<bool, Eigen::Dynamic, 1>::Constant(n, true);
  return out;
}

}  // namespace

Covariance covariance_from_r(const Eigen::MatrixXd& R, double scale, double rcond) {
  if (R.cols() == 0) return empty_covariance(0);
  const PseudoInverseRoot p = pseudo_inverse_root(R, rcond);
  return covariance_from_root(p.root, p, scale);
}

// (R^T R)^+ M^T M (R^T R)^+ = W W^T with W = root root^T M^T: the sandwich's own square root, so
// that neither J^T J nor the meat is ever formed.
Covariance sandwich_covariance_from_r(const Eigen::MatrixXd& R, const Eigen::MatrixXd& meat_R, double scale,
                                      double rcond) {
  if (R.cols() == 0) return empty_covariance(0);
  const PseudoInverseRoot p = pseudo_inverse_root(R, rcond);
  const Eigen::MatrixXd meat_upper = meat_R.triangularView<Eigen::Upper>();
  const Eigen::MatrixXd W = p.root * (p.root.transpose() * meat_upper.transpose());
  return covariance_from_root(W, p, scale);
}

double covariance_scale(double cost, long dof, bool absolute_sigma) {
  if (absolute_sigma) return 1.0;
  if (dof <= 0) return std::numeric_limits<double>::infinity();
  return 2.0 * cost / static_cast<double>(dof);
}

}  // namespace curvefit
