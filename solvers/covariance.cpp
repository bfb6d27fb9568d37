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
}  // namespace

// The rank is decided on R D^-1 (D = column norms), so that the units of a parameter, which
// scale its column, cannot make it look undetermined: the scaled matrix is the same whatever the
// units. Then C = s D^-1 (R_s^T R_s)^+ D^-1, which is (R^T R)^-1 exactly when R has full rank.
Covariance covariance_from_r(const Eigen::MatrixXd& R, double scale, double rcond) {
  const Eigen::Index n = R.cols();
  const double inf = std::numeric_limits<double>::infinity();
  Covariance out;
  out.matrix = Eigen::MatrixXd::Zero(n, n);
  out.stderr_ = Eigen::VectorXd::Zero(n);
  out.determined = Eigen::Matrix<bool, Eigen::Dynamic, 1>::Constant(n, true);
  if (n == 0) return out;
  if (rcond <= 0) rcond = std::max(kDefaultRcond, std::numeric_limits<double>::epsilon() * static_cast<double>(n));

  // (R_s^T R_s)^+ = V diag(1 / s^2) V^T over the singular values above the tolerance.
  const Eigen::MatrixXd upper = R.triangularView<Eigen::Upper>();
  const Eigen::VectorXd inv_d = column_scales(upper).cwiseInverse();
  const Eigen::MatrixXd scaled = upper * inv_d.asDiagonal();
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(scaled, Eigen::ComputeFullV);
  const Eigen::VectorXd& s = svd.singularValues();
  const Eigen::MatrixXd& V = svd.matrixV();
  const double threshold = rcond * s[0];
  int rank = 0;
  while (rank < n && s[rank] > threshold && s[rank] > 0) ++rank;
  out.rank = rank;
  // D^-1 V_r diag(1 / s) is the square root of the covariance (up to scale).
  const Eigen::MatrixXd root = inv_d.asDiagonal() * V.leftCols(rank) * s.head(rank).cwiseInverse().asDiagonal();
  // The product rounds (i,k) and (k,i) differently; average them so the matrix is exactly symmetric.
  const Eigen::MatrixXd product = scale * (root * root.transpose());
  out.matrix = 0.5 * (product + product.transpose());
  // No degrees of freedom left (scale = inf): nothing is determined; avoid inf * 0 = NaN.
  if (!std::isfinite(scale)) out.matrix.setConstant(inf);

  // Parameters with weight in the null space are undetermined: +inf on their rows and columns.
  if (rank < n) {
    const Eigen::MatrixXd null_space = V.rightCols(n - rank);
    for (Eigen::Index j = 0; j < n; ++j) {
      if (null_space.row(j).norm() > kNullSpaceWeight) {
        out.determined[j] = false;
        out.matrix.row(j).setConstant(inf);
        out.matrix.col(j).setConstant(inf);
      }
    }
  }
  // Standard errors from the rows of the root, not from the diagonal: a parameter of 1e217 has a
  // variance beyond the largest double but a standard error well inside it.
  out.stderr_ = out.matrix.diagonal().cwiseSqrt();
  for (Eigen::Index j = 0; j < n; ++j)
    if (out.determined[j] && std::isfinite(scale)) out.stderr_[j] = std::sqrt(scale) * root.row(j).stableNorm();
  return out;
}

double covariance_scale(double cost, long dof, bool absolute_sigma) {
  if (absolute_sigma) return 1.0;
  if (dof <= 0) return std::numeric_limits<double>::infinity();
  return 2.0 * cost / static_cast<double>(dof);
}

}  // namespace curvefit
