// Levenberg-Marquardt (solvers/lm.cpp): known solutions, MINPACK's own behaviour, and the edges
// (evaluation limit, non-finite residuals, interruption, bounds). The NIST StRD table for lm is in
// nist_test.cpp (NistStrd.LmSolvesAtLeast53Runs).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>

#include <Eigen/QR>

#include "solvers/dense_objective.h"
#include "solvers/solve.h"

namespace curvefit {
namespace {

SolverOptions lm_options() {
  SolverOptions options;
  options.method = Algorithm::lm;
  return options;
}

double relative_error(const Eigen::VectorXd& x, const Eigen::VectorXd& truth) {
  return (x - truth).cwiseAbs().cwiseQuotient(truth.cwiseAbs()).maxCoeff();
}

// f = [10 (x2 - x1^2), 1 - x1]: Rosenbrock's function as least squares, minimum 0 at (1, 1).
DenseObjective rosenbrock() {
  return DenseObjective(
      2, 2,
      [](const Eigen::VectorXd& x, Eigen::VectorXd& f) {
        f << 10 * (x[1] - x[0] * x[0]), 1 - x[0];
      },
      [](const Eigen::VectorXd& x, Eigen::MatrixXd& J) { J << -20 * x[0], 10, -1, 0; });
}

// y_t = 2 exp(-0.3 t) + 0.01 (-1)^t, t = 0..7, fitted by a exp(-b t): a small problem with a
// nonzero residual, so that every MINPACK termination test can be made to fire.
DenseObjective decay() {
  static const Eigen::VectorXd t = Eigen::VectorXd::LinSpaced(8, 0, 7);
  static const Eigen::VectorXd y = [] {
    Eigen::VectorXd v(8);
    for (int i = 0; i < 8; ++i) v[i] = 2 * std::exp(-0.3 * i) + 0.01 * (i % 2 ? -1 : 1);
    return v;
  }();
  return DenseObjective(
      2, 8,
      [](const Eigen::VectorXd& x, Eigen::VectorXd& f) {
        f = x[0] * (-x[1] * t.array()).exp() - y.array();
      },
      [](const Eigen::VectorXd& x, Eigen::MatrixXd& J) {
        J.col(0) = (-x[1] * t.array()).exp();
        J.col(1) = -x[0] * t.array() * (-x[1] * t.array()).exp();
      });
}

TEST(Lm, LinearRegressionMatchesTheClosedFormLeastSquaresSolution) {
  // y = 1.5 - 2 t + 0.25 t^2 + noise; the nonlinear machinery must land on the linear least-squares
  // solution, computed independently by Householder QR of the design matrix.
  const int m = 200;
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0.0, 0.3);
  Eigen::MatrixXd design(m, 3);
  Eigen::VectorXd y(m);
  for (int i = 0; i < m; ++i) {
    const double t = -3 + 6.0 * i / (m - 1);
    design.row(i) << 1, t, t * t;
    y[i] = 1.5 - 2 * t + 0.25 * t * t + noise(rng);
  }
  const Eigen::VectorXd closed_form = design.householderQr().solve(y);
  DenseObjective objective(
      3, m, [&](const Eigen::VectorXd& x, Eigen::VectorXd& f) { f = design * x - y; },
      [&](const Eigen::VectorXd&, Eigen::MatrixXd& J) { J = design; });
  const SolverResult result = solve(objective, Eigen::VectorXd::Constant(3, 10.0), lm_options());
  EXPECT_TRUE(result.success) << result.message;
  EXPECT_LT(relative_error(result.x, closed_form), 1e-12);
  EXPECT_NEAR(2 * result.cost, (design * closed_form - y).squaredNorm(), 1e-12);
  EXPECT_EQ(result.active_mask, Eigen::VectorXi::Zero(3));
  // grad = J^T f at the solution, independently: the normal equations' residual, ~0.
  EXPECT_LT(result.grad.lpNorm<Eigen::Infinity>(), 1e-8);
  EXPECT_DOUBLE_EQ(result.optimality, result.grad.lpNorm<Eigen::Infinity>());
}

TEST(Lm, RosenbrockFromTheClassicStartReachesOneOne) {
  DenseObjective objective = rosenbrock();
  const SolverResult result = solve(objective, Eigen::Vector2d(-1.2, 1.0), lm_options());
  EXPECT_TRUE(result.success) << result.message;
  EXPECT_NEAR(result.x[0], 1.0, 1e-12);
  EXPECT_NEAR(result.x[1], 1.0, 1e-12);
  EXPECT_LT(result.cost, 1e-25);
  // MINPACK (scipy 1.10 least_squares(method='lm', x_scale='jac')) needs 21 evaluations here.
  EXPECT_EQ(result.nfev, 21);
}

// Reference values from MINPACK's lmder itself, through scipy 1.10:
//   least_squares(f, [1, 1], jac, method='lm', x_scale=..., ftol=..., xtol=..., gtol=..., max_nfev=...)
// with scipy's status 1 gtol, 2 ftol, 3 xtol, 0 max_nfev. MINPACK's njev omits the Jacobian at the
// final point when the last step was accepted; ours always linearizes an accepted point (the
// result carries R there), so njev here is 1 + accepted steps.
struct MinpackCase {
  bool jacobian_scaling;  // x_scale='jac' (else x_scale=1, or the given x_scale below)
  double ftol, xtol, gtol;
  int max_nfev;
  Status status;
  int nfev;
  double a, b;
  double x_scale_a = 0, x_scale_b = 0;  // x_scale=[x_scale_a, x_scale_b] when nonzero
};

class LmAgreesWithMinpack : public ::testing::TestWithParam<MinpackCase> {};

TEST_P(LmAgreesWithMinpack, SameStatusEvaluationsAndPoint) {
  const MinpackCase& c = GetParam();
  DenseObjective objective = decay();
  SolverOptions options = lm_options();
  options.x_scale_jac = c.jacobian_scaling;
  options.ftol = c.ftol;
  options.xtol = c.xtol;
  options.gtol = c.gtol;
  options.max_nfev = c.max_nfev;
  if (c.x_scale_a != 0) options.x_scale = Eigen::Vector2d(c.x_scale_a, c.x_scale_b);
  const SolverResult result = solve(objective, Eigen::Vector2d(1.0, 1.0), options);
  EXPECT_EQ(result.status, c.status) << result.message;
  EXPECT_EQ(result.nfev, c.nfev);
  EXPECT_EQ(result.njev, 1 + result.iterations);
  EXPECT_LT(relative_error(result.x, Eigen::Vector2d(c.a, c.b)), 1e-9);
}

INSTANTIATE_TEST_SUITE_P(
    Decay, LmAgreesWithMinpack,
    ::testing::Values(
        MinpackCase{true, 1e-3, 1e-15, 1e-15, 0, Status::ftol, 8, 2.0053842846027439, 0.30130693059350983},
        MinpackCase{true, 1e-15, 1e-3, 1e-15, 0, Status::xtol, 8, 2.0053842846027439, 0.30130693059350983},
        MinpackCase{true, 1e-15, 1e-15, 1e-3, 0, Status::gtol, 7, 2.0053843697775178, 0.30130679253313292},
        MinpackCase{true, 1e-11, 1e-11, 1e-11, 0, Status::ftol, 9, 2.0053842846027439, 0.30130693059350983},
        // The shared default ftol is read as LM's own default 1e-15: scipy with ftol=1e-15,
        // xtol=gtol=1e-12 stops by xtol after 12 evaluations.
        MinpackCase{true, SolverOptions{}.ftol, 1e-12, 1e-12, 0, Status::xtol, 12, 2.0053842846027439,
                    0.30130693059350983},
        MinpackCase{true, 1e-8, 1e-8, 1e-8, 3, Status::max_evaluations, 3, 1.1047264976713316, 0.72813577720047928},
        MinpackCase{true, 1e-8, 1e-8, 1e-8, 5, Status::max_evaluations, 5, 1.7229915248224608, 0.23976549262935218},
        MinpackCase{false, 1e-8, 1e-8, 1e-8, 0, Status::ftol, 9, 2.0053842848254044, 0.30130693069056957},
        MinpackCase{false, 1e-8, 1e-8, 1e-8, 5, Status::max_evaluations, 5, 1.9943081467901731, 0.25919921395705758},
        MinpackCase{false, 1e-8, 1e-8, 1e-8, 0, Status::ftol, 10, 2.0053842839284099, 0.30130693029956468, 100, 0.01},
        MinpackCase{false, 1e-8, 1e-8, 1e-8, 0, Status::ftol, 14, 2.005384284873116, 0.30130693071136039, 0.5, 3.0}));

TEST(Lm, RobustLossReachesAStationaryPointOfTheRobustCost) {
  // scipy allows only the linear loss with lm; here the ratio tests are those of the cost and its
  // Gauss-Newton model, so LM minimizes 0.5 sum rho(f^2) as well. y = 1 + 2t with 10% gross
  // outliers: soft_l1 must land near the truth, at a point where the cost's central-difference
  // gradient vanishes, and the linear fit must not.
  const int m = 100;
  Eigen::VectorXd t = Eigen::VectorXd::LinSpaced(m, 0, 1), y(m);
  std::mt19937 rng(11);
  std::normal_distribution<double> noise(0.0, 0.01);
  for (int i = 0; i < m; ++i) y[i] = 1 + 2 * t[i] + noise(rng) + (i % 10 == 3 ? 5.0 : 0.0);
  auto residuals = [&](const Eigen::VectorXd& x, Eigen::VectorXd& f) {
    f = (x[0] + x[1] * t.array()).matrix() - y;
  };
  auto jacobian = [&](const Eigen::VectorXd&, Eigen::MatrixXd& J) {
    J.col(0).setOnes();
    J.col(1) = t;
  };
  DenseObjective robust(2, m, residuals, jacobian, Loss::soft_l1, 0.05);
  DenseObjective linear(2, m, residuals, jacobian);
  const SolverResult fit = solve(robust, Eigen::Vector2d(0.0, 0.0), lm_options());
  const SolverResult plain = solve(linear, Eigen::Vector2d(0.0, 0.0), lm_options());
  EXPECT_TRUE(fit.success) << fit.message;
  EXPECT_NEAR(fit.x[0], 1.0, 0.02);
  EXPECT_NEAR(fit.x[1], 2.0, 0.04);
  EXPECT_GT(std::abs(plain.x[0] - 1.0), 0.2);
  for (int j = 0; j < 2; ++j) {
    const double h = 1e-6;
    Eigen::VectorXd up = fit.x, down = fit.x;
    up[j] += h;
    down[j] -= h;
    const double numeric = (robust.evaluate(up, false).cost - robust.evaluate(down, false).cost) / (2 * h);
    EXPECT_NEAR(numeric, 0.0, 1e-6) << "parameter " << j;
    EXPECT_NEAR(fit.grad[j], numeric, 1e-6) << "parameter " << j;
  }
}

TEST(Lm, FewerResidualsThanParametersStillReachesAZeroResidual) {
  // MINPACK refuses m < n; on the compressed linearization R is simply rank deficient, which
  // lmpar and qrsolv handle (least-squares solutions on the singular part).
  DenseObjective objective(
      2, 1, [](const Eigen::VectorXd& x, Eigen::VectorXd& f) { f[0] = x[0] * x[1] - 6; },
      [](const Eigen::VectorXd& x, Eigen::MatrixXd& J) { J << x[1], x[0]; });
  const SolverResult result = solve(objective, Eigen::Vector2d(1.0, 1.0), lm_options());
  EXPECT_TRUE(result.success) << result.message;
  EXPECT_NEAR(result.x[0] * result.x[1], 6.0, 1e-10);
}

TEST(Lm, MaxNfevStopsWithThatStatusAndTheBestPoint) {
  DenseObjective objective = rosenbrock();
  SolverOptions options = lm_options();
  options.max_nfev = 4;
  const Eigen::Vector2d x0(-1.2, 1.0);
  const double start_cost = objective.evaluate(x0, false).cost;
  const SolverResult result = solve(objective, x0, options);
  EXPECT_EQ(result.status, Status::max_evaluations);
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.nfev, 4);
  EXPECT_LE(result.cost, start_cost);
  EXPECT_DOUBLE_EQ(result.cost, objective.evaluate(result.x, false).cost);
}

TEST(Lm, NonFiniteTrialResidualsShrinkTheRegionAndTheRunStillConverges) {
  // f = log(x) - log(2): the Gauss-Newton step from x = 10 is -x log(x / 2) = -16.1, which lands
  // at x < 0 where the residual is NaN. The step must be rejected and a shorter one found.
  int non_finite_evaluations = 0;
  DenseObjective objective(
      1, 1,
      [&](const Eigen::VectorXd& x, Eigen::VectorXd& f) {
        f[0] = std::log(x[0]) - std::log(2.0);
        if (!std::isfinite(f[0])) ++non_finite_evaluations;
      },
      [](const Eigen::VectorXd& x, Eigen::MatrixXd& J) { J(0, 0) = 1 / x[0]; });
  const SolverResult result = solve(objective, Eigen::VectorXd::Constant(1, 10.0), lm_options());
  EXPECT_GE(non_finite_evaluations, 1);
  EXPECT_TRUE(result.success) << result.message;
  EXPECT_NEAR(result.x[0], 2.0, 1e-10);
  EXPECT_TRUE(std::isfinite(result.cost));
}

TEST(Lm, AnAcceptedPointWithANonFiniteJacobianIsAFailedStep) {
  // f = atan(x) - atan(1) from x = -3: the Gauss-Newton step overshoots to x = 17.3, where the
  // residual is finite and smaller, but the Jacobian is (artificially) NaN beyond x = 5. That
  // point cannot be linearized, so the step must count as failed and a shorter one be taken.
  int non_finite_jacobians = 0;
  DenseObjective objective(
      1, 1, [](const Eigen::VectorXd& x, Eigen::VectorXd& f) { f[0] = std::atan(x[0]) - std::atan(1.0); },
      [&](const Eigen::VectorXd& x, Eigen::MatrixXd& J) {
        J(0, 0) = x[0] > 5 ? std::numeric_limits<double>::quiet_NaN() : 1 / (1 + x[0] * x[0]);
        if (x[0] > 5) ++non_finite_jacobians;
      });
  const SolverResult result = solve(objective, Eigen::VectorXd::Constant(1, -3.0), lm_options());
  EXPECT_GE(non_finite_jacobians, 1);
  EXPECT_TRUE(result.success) << result.message;
  EXPECT_NEAR(result.x[0], 1.0, 1e-10);
  EXPECT_TRUE(result.linearization.R.allFinite());
}

TEST(Lm, NonFiniteResidualsAtTheStartAreAnErrorNamingThePoint) {
  DenseObjective objective(
      1, 1, [](const Eigen::VectorXd& x, Eigen::VectorXd& f) { f[0] = std::sqrt(x[0]); },
      [](const Eigen::VectorXd& x, Eigen::MatrixXd& J) { J(0, 0) = 0.5 / std::sqrt(x[0]); });
  try {
    solve(objective, Eigen::VectorXd::Constant(1, -4.5), lm_options());
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("x0"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("-4.5"));
  }
}

TEST(Lm, CallbackInterruptionReturnsTheBestPointSoFar) {
  DenseObjective objective = rosenbrock();
  SolverOptions options = lm_options();
  int calls = 0;
  options.callback = [&](const IterationInfo& info) {
    EXPECT_EQ(info.iteration, calls);
    ++calls;
    return info.iteration < 3;
  };
  const SolverResult result = solve(objective, Eigen::Vector2d(-1.2, 1.0), options);
  EXPECT_EQ(result.status, Status::interrupted);
  EXPECT_FALSE(result.success);
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(result.iterations, 3);
  ASSERT_EQ(result.history.size(), 4u);
  // LM only accepts decreases: the reported point is the best seen and its cost is the true one.
  for (std::size_t i = 1; i < result.history.size(); ++i) {
    EXPECT_LT(result.history[i].cost, result.history[i - 1].cost);
    EXPECT_NEAR(result.history[i].cost_change, result.history[i - 1].cost - result.history[i].cost, 1e-15);
  }
  EXPECT_DOUBLE_EQ(result.cost, result.history.back().cost);
  EXPECT_DOUBLE_EQ(result.cost, objective.evaluate(result.x, false).cost);
}

TEST(Lm, BoundsAreRejectedBySolve) {
  DenseObjective objective = rosenbrock();
  SolverOptions options = lm_options();
  options.lower = Eigen::Vector2d(-5, -5);
  options.upper = Eigen::Vector2d(5, 5);
  EXPECT_THROW(solve(objective, Eigen::Vector2d(-1.2, 1.0), options), std::invalid_argument);
  // Infinite bounds are no bounds.
  options.lower = Eigen::Vector2d::Constant(-std::numeric_limits<double>::infinity());
  options.upper = Eigen::Vector2d::Constant(std::numeric_limits<double>::infinity());
  EXPECT_TRUE(solve(objective, Eigen::Vector2d(-1.2, 1.0), options).success);
}

TEST(Lm, TrialLinearizationIsReusedOnAcceptanceAndChangesNothingElse) {
  DenseObjective plain = decay();
  DenseObjective linearized = decay();
  SolverOptions options = lm_options();
  options.trial_linearization = SolverOptions::TrialLinearization::never;
  const SolverResult a = solve(plain, Eigen::Vector2d(1.0, 1.0), options);
  options.trial_linearization = SolverOptions::TrialLinearization::always;
  const SolverResult b = solve(linearized, Eigen::Vector2d(1.0, 1.0), options);
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.nfev, b.nfev);
  EXPECT_EQ(a.njev, 1 + a.iterations);  // the start plus one per accepted point
  EXPECT_EQ(b.njev, b.nfev);            // every evaluation carried the Jacobian; none repeated
}

TEST(Lm, ResultLinearizationIsAtTheFinalPoint) {
  DenseObjective objective = decay();
  const SolverResult result = solve(objective, Eigen::Vector2d(1.0, 1.0), lm_options());
  const Evaluation at_x = objective.evaluate(result.x, true);
  EXPECT_TRUE(result.linearization.R.isApprox(at_x.lin.R, 1e-14));
  EXPECT_TRUE(result.linearization.qtf.isApprox(at_x.lin.qtf, 1e-14));
}

TEST(Lm, GivenXScaleReachesTheSameMinimum) {
  DenseObjective objective = decay();
  SolverOptions options = lm_options();
  const SolverResult jac = solve(objective, Eigen::Vector2d(1.0, 1.0), options);
  options.x_scale = Eigen::Vector2d(100.0, 0.01);
  const SolverResult scaled = solve(objective, Eigen::Vector2d(1.0, 1.0), options);
  EXPECT_TRUE(scaled.success) << scaled.message;
  EXPECT_LT(relative_error(scaled.x, jac.x), 1e-9);
}

}  // namespace
}  // namespace curvefit
