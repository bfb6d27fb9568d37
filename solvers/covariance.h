#pragma once
// Parameter covariance from the R factor of the (weighted) Jacobian at the solution:
//   C = s * (R^T R)^+   with the pseudo-inverse taken through the SVD of R D^-1 (D = the column
// norms of R), never by forming J^T J. The scaling makes the rank decision independent of the
// parameters' units. Singular values of R D^-1 below rcond * s_max make the matrix rank
// deficient: parameters in the null space get +inf variance (and their covariances are inf)
// instead of garbage. s = 2 cost / (m - n) (reduced chi-square) unless sigma is absolute (s = 1).
#include <Eigen/Core>

namespace curvefit {

struct Covariance {
  Eigen::MatrixXd matrix;         // n x n; +inf on rows/columns of undetermined parameters
  Eigen::VectorXd stderr_;        // sqrt of the diagonal
  // n x r, scale included: matrix = root root^T on the determined parameters, so that a variance
  // g^T C g is ||root^T g|| squared, a sum of squares with no cancellation. Empty when the
  // scale is not finite (no degrees of freedom left).
  Eigen::MatrixXd root;
  int rank = 0;                   // numerical rank of R
  Eigen::Matrix<bool, Eigen::Dynamic, 1> determined;  // per parameter
};

// rcond <= 0 selects max(1e-12, eps * n) (see covariance.cpp for why).
Covariance covariance_from_r(const Eigen::MatrixXd& R, double scale, double rcond = 0.0);

// The heteroscedasticity-consistent (sandwich) covariance scale * (J^T J)^+ (sum f_i^2 J_i^T J_i)
// (J^T J)^+ from R (the factor of J) and meat_R (the factor of the rows f_i J_i); scale 1 is
// White's HC0, m / (m - n) is HC1. Rank and undetermined parameters as covariance_from_r.
Covariance sandwich_covariance_from_r(const Eigen::MatrixXd& R, const Eigen::MatrixXd& meat_R, double scale,
                                      double rcond = 0.0);

// scale for covariance_from_r: 2 cost / dof, or 1 for absolute sigma; inf when dof <= 0.
double covariance_scale(double cost, long dof, bool absolute_sigma);

}  // namespace curvefit
