// TRF on small problems with known truth: convergence, x_scale, trial linearization, non-finite
// residuals (start: error; trial point: rejected), callback interruption, max_nfev.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "solvers/dense_objective.h"
#include "solvers/solve.h"

namespace curvefit {
namespace {

// y = a exp(-b t) + c on t = 0..4, data generated without noise from (a, b, c) = (3, 0.7, 0.5).
const Eigen::Vector3d kTruth(3.0, 0.7, 0.5);
constexpr int kPoints = 40;

double t_of(int i) { return 0.1 * i; }

DenseObjective decay_objective() {
  auto residuals = [](const Eigen::VectorXd& x, Eigen::VectorXd& f) {
    for (int i = 0; i < kPoints; ++i) {
      const double t = t_of(i);
      const double y = kTruth[0] * std::exp(-kTruth[1] * t) + kTruth[2];
      f[i] = x[0] * std::exp(-x[1] * t) + x[2] - y;
    }
  };
  auto jacobian = [](const Eigen::VectorXd& x, Eigen::MatrixXd& J) {
    for (int i = 0; i < kPoints; ++i) {
      const double t = t_of(i);
      const double e = std::exp(-x[1] * t);
      J(i, 0) = e;
      J(i, 1) = -x[0] * t * e;
      J(i, 2) = 1.0;
    }
  };
  return DenseObjective(3, kPoints, residuals, jacobian);
}

SolverOptions trf_options() {
  SolverOptions o;
  o.method = Algorithm::trf;
  return o;
}

TEST(Trf, RecoversGeneratingParametersOfZeroResidualProblem) {
  DenseObjective objective = decay_objective();
  const SolverResult r = solve(objective, Eigen::Vector3d(1.0, 0.1, 0.0), trf_options());
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_LT((r.x - kTruth).norm(), 1e-10 * kTruth.norm());
  EXPECT_LT(r.cost, 1e-20);
  EXPECT_EQ(r.linearization.R.rows(), 3);
  EXPECT_EQ(r.active_mask, Eigen::Vector3i::Zero());
  EXPECT_EQ(static_cast<int>(r.history.size()), r.iterations + 1);
}

TEST(Trf, FixedXScaleReachesTheSameSolution) {
  DenseObjective objective = decay_objective();
  SolverOptions o = trf_options();
  o.x_scale = Eigen::Vector3d(10.0, 0.1, 1.0);
  const SolverResult r = solve(objective, Eigen::Vector3d(1.0, 0.1, 0.0), o);
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_LT((r.x - kTruth).norm(), 1e-10 * kTruth.norm());
}

TEST(Trf, JacobianXScaleReachesTheSameSolutionWithAndWithoutBounds) {
  SolverOptions o = trf_options();
  o.x_scale_jac = true;
  DenseObjective objective = decay_objective();
  const SolverResult r = solve(objective, Eigen::Vector3d(1.0, 0.1, 0.0), o);
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_LT((r.x - kTruth).norm(), 1e-10 * kTruth.norm());
  // Inactive bounds exercise the Coleman-Li path and must not change the solution.
  o.lower = Eigen::Vector3d(0.0, 0.0, -10.0);
  o.upper = Eigen::Vector3d(10.0, 5.0, 10.0);
  DenseObjective again = decay_objective();
  const SolverResult b = solve(again, Eigen::Vector3d(1.0, 0.1, 0.0), o);
  EXPECT_TRUE(b.success) << b.message;
  EXPECT_LT((b.x - kTruth).norm(), 1e-10 * kTruth.norm());
  EXPECT_EQ(b.active_mask, Eigen::Vector3i::Zero());
}

TEST(Trf, TrialLinearizationIsReusedOnAcceptance) {
  DenseObjective objective = decay_objective();
  SolverOptions o = trf_options();
  o.trial_linearization = SolverOptions::TrialLinearization::always;
  const SolverResult r = solve(objective, Eigen::Vector3d(1.0, 0.1, 0.0), o);
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_LT((r.x - kTruth).norm(), 1e-10 * kTruth.norm());
  // Every evaluation carried the Jacobian and no accepted point needed a second pass.
  EXPECT_EQ(r.njev, r.nfev);

  DenseObjective again = decay_objective();
  o.trial_linearization = SolverOptions::TrialLinearization::never;
  const SolverResult plain = solve(again, Eigen::Vector3d(1.0, 0.1, 0.0), o);
  EXPECT_LT((plain.x - r.x).norm(), 1e-12 * kTruth.norm());
  // Without trial linearization: one Jacobian pass at the start and one per accepted step.
  int accepted = 0;
  for (const IterationInfo& info : plain.history) accepted += info.cost_change > 0;
  EXPECT_EQ(plain.njev, 1 + accepted);
  EXPECT_LT(plain.njev, plain.nfev + 1);
}

TEST(Trf, NonFiniteResidualsAtTheStartAreAnErrorNamingThePoint) {
  auto residuals = [](const Eigen::VectorXd& x, Eigen::VectorXd& f) { f.setConstant(std::log(x[0])); };
  auto jacobian = [](const Eigen::VectorXd& x, Eigen::MatrixXd& J) { J.setConstant(1.0 / x[0]); };
  DenseObjective objective(1, 3, residuals, jacobian);
  try {
    solve(objective, Eigen::VectorXd::Constant(1, -2.0), trf_options());
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("starting point"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("-2"), std::string::npos) << e.what();
  }
}

// Residuals that are NaN at the first two trial points the solver tries: those steps must be
// rejected (radius shrinks) and the run still reaches the solution.
TEST(Trf, NonFiniteResidualsAtATrialPointRejectTheStep) {
  int calls = 0;
  auto residuals = [&](const Eigen::VectorXd& x, Eigen::VectorXd& f) {
    ++calls;
    for (int i = 0; i < kPoints; ++i) {
      const double t = t_of(i);
      f[i] = x[0] * std::exp(-x[1] * t) + x[2] - (kTruth[0] * std::exp(-kTruth[1] * t) + kTruth[2]);
    }
    if (calls == 2 || calls == 3) f[5] = std::numeric_limits<double>::quiet_NaN();
  };
  auto jacobian = [](const Eigen::VectorXd& x, Eigen::MatrixXd& J) {
    for (int i = 0; i < kPoints; ++i) {
      const double t = t_of(i), e = std::exp(-x[1] * t);
      J(i, 0) = e;
      J(i, 1) = -x[0] * t * e;
      J(i, 2) = 1.0;
    }
  };
  DenseObjective objective(3, kPoints, residuals, jacobian);
  const SolverResult r = solve(objective, Eigen::Vector3d(1.0, 0.1, 0.0), trf_options());
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_LT((r.x - kTruth).norm(), 1e-10 * kTruth.norm());
  // The two rejected trials are visible: the radius after iteration 1 is below the initial one.
  ASSERT_GE(r.history.size(), 2u);
  EXPECT_LT(r.history[1].radius, r.history[0].radius);
}

TEST(Trf, CallbackReturningFalseInterrupts) {
  DenseObjective objective = decay_objective();
  SolverOptions o = trf_options();
  int seen = 0;
  o.callback = [&](const IterationInfo& info) {
    EXPECT_EQ(info.iteration, seen);
    ++seen;
    return info.iteration < 2;
  };
  const SolverResult r = solve(objective, Eigen::Vector3d(1.0, 0.1, 0.0), o);
  EXPECT_EQ(r.status, Status::interrupted);
  EXPECT_FALSE(r.success);
  EXPECT_EQ(r.iterations, 2);
  EXPECT_EQ(seen, 3);
  EXPECT_EQ(r.history.size(), 3u);
  // x is the point reached, and its cost is the reported one.
  EXPECT_DOUBLE_EQ(objective.evaluate(r.x, false).cost, r.cost);
}

TEST(Trf, MaxNfevStopsWithItsStatus) {
  DenseObjective objective = decay_objective();
  SolverOptions o = trf_options();
  o.max_nfev = 3;
  const SolverResult r = solve(objective, Eigen::Vector3d(1.0, 0.1, 0.0), o);
  EXPECT_EQ(r.status, Status::max_evaluations);
  EXPECT_EQ(r.nfev, 3);
  EXPECT_FALSE(r.success);
  EXPECT_EQ(r.message, status_message(Status::max_evaluations));
}

TEST(Trf, GradientAndLinearizationAreThoseOfTheFinalPoint) {
  DenseObjective objective = decay_objective();
  const SolverResult r = solve(objective, Eigen::Vector3d(1.0, 0.1, 0.0), trf_options());
  const Evaluation e = objective.evaluate(r.x, true);
  EXPECT_NEAR((e.lin.R.transpose() * e.lin.R - r.linearization.R.transpose() * r.linearization.R).norm(), 0.0,
              1e-12 * (e.lin.R.transpose() * e.lin.R).norm());
}

// A large noisy fit ends with a Gauss-Newton step whose predicted reduction is far below the
// cost's rounding (trust_region_driver.cpp, last_step_is_settled): it is taken without the pass
// that could only accept it. The pass it skipped would have ended the run on xtol: the
// Gauss-Newton step from the returned x, computed here from a fresh linearization there, is
// below xtol, and the cost there is the returned one to its rounding.
TEST(Trf, ASettledLastGaussNewtonStepIsTakenWithoutAPass) {
  constexpr int m = 20000;
  auto t_at = [](int i) { return 4.0 * i / m; };
  // Deterministic "noise" of amplitude 0.05: the residuals at the minimum are not small.
  auto y_at = [&](int i) { return 3.0 * std::exp(-0.7 * t_at(i)) + 0.5 + 0.05 * std::sin(12345.678 * i); };
  DenseObjective objective(
      3, m,
      [&](const Eigen::VectorXd& x, Eigen::VectorXd& f) {
        for (int i = 0; i < m; ++i) f[i] = x[0] * std::exp(-x[1] * t_at(i)) + x[2] - y_at(i);
      },
      [&](const Eigen::VectorXd& x, Eigen::MatrixXd& J) {
        for (int i = 0; i < m; ++i) {
          const double e = std::exp(-x[1] * t_at(i));
          J(i, 0) = e, J(i, 1) = -x[0] * t_at(i) * e, J(i, 2) = 1.0;
        }
      });
  const SolverOptions options = trf_options();
  const SolverResult r = solve(objective, Eigen::Vector3d(2.5, 0.6, 0.4), options);
  ASSERT_EQ(r.status, Status::xtol);
  ASSERT_EQ(r.evaluated_x.size(), 3);
  ASSERT_TRUE(r.evaluated_x != r.x) << "the last step was evaluated: this data no longer exercises the rule";
  EXPECT_EQ(r.nfev, static_cast<int>(r.history.size())) << "every pass evaluated a point the run moved to";

  const Evaluation at_x = objective.evaluate(r.x, true);
  ASSERT_TRUE(at_x.has_linearization);
  const Eigen::Vector3d next_step =
      -at_x.lin.R.triangularView<Eigen::Upper>().solve(at_x.lin.qtf);
  double relative = 0;
  for (int j = 0; j < 3; ++j) relative = std::max(relative, std::abs(next_step[j]) / (options.xtol + std::abs(r.x[j])));
  EXPECT_LT(relative, options.xtol);
  EXPECT_LE(std::abs(at_x.cost - r.cost), 1e-14 * r.cost);
  // The covariance's R is that of the evaluated point, which differs from R at x by O(step).
  const Eigen::Matrix3d rtr = at_x.lin.R.transpose() * at_x.lin.R;
  EXPECT_LE((rtr - r.linearization.R.transpose() * r.linearization.R).norm(), 1e-9 * rtr.norm());
}

}  // namespace
}  // namespace curvefit
