#pragma once
// The only thing a solver sees of a problem: its size n and two passes over the data.
//
//   cost(x)       -> 0.5 * sum rho(f_i(x)^2)                       residuals only
//   linearize(x)  -> R, Q^T f, ||f||^2, column norms of J, cost    residuals + Jacobian rows
//
// f and J here are the *scaled* residuals and Jacobian: rows weighted by 1/sigma and, for a robust
// loss, scaled as in scipy's scale_for_robust_loss_function, so that J^T f is the gradient of the
// cost and R^T R is the Gauss-Newton Hessian. J = Q R is a thin QR; the solvers never see m.
#include <cstddef>
#include <Eigen/Core>

namespace curvefit {

struct Linearization {
  Eigen::MatrixXd R;          // n x n upper triangular (entries below the diagonal are zero)
  Eigen::VectorXd qtf;        // Q^T f, n
  double f_norm2 = 0;         // ||f||^2 of the scaled residuals
  Eigen::VectorXd col_norms;  // column norms of the scaled J (= those of R)
};

struct Evaluation {
  double cost = 0;            // 0.5 * sum rho(f_i^2); +inf when any residual is not finite
  bool finite = true;         // every residual (and, when linearized, every Jacobian entry) finite
  bool has_linearization = false;
  Linearization lin;          // filled when has_linearization
  // The pass stopped early on an interrupt (SolverOptions::interrupt): the evaluation says nothing
  // about x (finite = false, cost = +inf) and a solver must neither judge nor accept it.
  bool interrupted = false;
};

class Objective {
 public:
  virtual ~Objective() = default;
  // Number of parameters n.
  virtual int num_params() const = 0;
  // Number of residuals m. Used only for the degrees of freedom of the covariance (m - n);
  // no algorithm depends on it.
  virtual std::size_t num_residuals() const = 0;
  // One pass over the data. With `with_linearization` the Jacobian is evaluated in the same pass
  // and folded into R; otherwise only the cost. A non-finite residual gives finite = false and
  // cost = +inf (never throws for it). An objective may stop a pass on an interrupt and return
  // an evaluation marked `interrupted`.
  virtual Evaluation evaluate(const Eigen::VectorXd& x, bool with_linearization) = 0;
  // Whether evaluating the Jacobian together with the residuals at trial points is worthwhile
  // (true for large data, where a pass costs far more than the extra Jacobian work).
  virtual bool prefers_linearization_at_trial_points() const { return false; }
};

}  // namespace curvefit
