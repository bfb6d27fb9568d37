#pragma once
// A small in-memory objective built from residual and Jacobian callables. It materialises the
// whole m x n Jacobian and takes a dense Householder QR of it: fine for tests and small problems.
// The chunked objective in core/ computes the same quantities without ever holding J.
#include <functional>

#include <Eigen/Core>

#include "solvers/loss.h"
#include "solvers/objective.h"

namespace curvefit {

class DenseObjective : public Objective {
 public:
  // residuals(x, f): fills f (size m). jacobian(x, J): fills J (m x n), J(i, j) = d f_i / d x_j.
  using ResidualFn = std::function<void(const Eigen::VectorXd& x, Eigen::VectorXd& f)>;
  using JacobianFn = std::function<void(const Eigen::VectorXd& x, Eigen::MatrixXd& J)>;

  DenseObjective(int n_params, std::size_t n_residuals, ResidualFn residuals, JacobianFn jacobian,
                 Loss loss = Loss::linear, double f_scale = 1.0);

  int num_params() const override { return n_; }
  std::size_t num_residuals() const override { return m_; }
  Evaluation evaluate(const Eigen::VectorXd& x, bool with_linearization) override;

 private:
  int n_;
  std::size_t m_;
  ResidualFn residuals_;
  JacobianFn jacobian_;
  Loss loss_;
  double f_scale_;
  Eigen::VectorXd f_;
  Eigen::MatrixXd J_;
};

}  // namespace curvefit
