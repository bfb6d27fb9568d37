// dogbox on small problems with known truth: unbounded convergence, a frozen variable (on a bound
// with the gradient pointing out) while the others still converge, non-finite residuals,
// callback interruption and max_nfev.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "solvers/dense_objective.h"
#include "solvers/solve.h"

namespace curvefit {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
const Eigen::Vector3d kTruth(3.0, 0.7, 0.5);
constexpr int kPoints = 40;
double t_of(int i) { return 0.1 * i; }
double y_of(int i) { return kTruth[0] * std::exp(-kTruth[1] * t_of(i)) + kTruth[2]; }

// y = a exp(-b t) + c; `nan_calls` lists evaluation numbers whose residuals are NaN.
DenseObjective decay_objective(std::vector<int> nan_calls = {}) {
  auto calls = std::make_shared<int>(0);
  auto residuals = [calls, nan_calls](const Eigen::VectorXd& x, Eigen::VectorXd& f) {
    ++*calls;
    for (int i = 0; i < kPoints; ++i) f[i] = x[0] * std::exp(-x[1] * t_of(i)) + x[2] - y_of(i);
    for (int c : nan_calls)
      if (c == *calls) f[0] = std::numeric_limits<double>::quiet_NaN();
  };
  auto jacobian = [](const Eigen::VectorXd& x, Eigen::MatrixXd& J) {
    for (int i = 0; i < kPoints; ++i) {
      const double e = std::exp(-x[1] * t_of(i));
      J(i, 0) = e;
      J(i, 1) = -x[0] * t_of(i) * e;
      J(i, 2) = 1.0;
    }
  };
  return DenseObjective(3, kPoints, residuals, jacobian);
}

SolverOptions dogbox_options() {
  SolverOptions o;
  o.method = Algorithm::dogbox;
  return o;
}

TEST(Dogbox, RecoversGeneratingParametersWithoutBounds) {
  DenseObjective objective = decay_objective();
  const SolverResult r = solve(objective, Eigen::Vector3d(1.0, 0.1, 0.0), dogbox_options());
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_LT((r.x - kTruth).norm(), 1e-10 * kTruth.norm());
  EXPECT_EQ(r.active_mask, Eigen::Vector3i::Zero());
}

// c <= 0.2 while the data want c = 0.5: c is frozen on its upper bound; a and b are then the
// least-squares fit of y - 0.2, which we verify by the vanishing of their gradient components.
TEST(Dogbox, FrozenVariableOnABoundLeavesTheOthersOptimal) {
  DenseObjective objective = decay_objective();
  SolverOptions o = dogbox_options();
  o.lower = Eigen::Vector3d(-kInf, -kInf, -kInf);
  o.upper = Eigen::Vector3d(kInf, kInf, 0.2);
  const SolverResult r = solve(objective, Eigen::Vector3d(1.0, 0.1, 0.0), o);
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_EQ(r.x[2], 0.2);
  EXPECT_EQ(r.active_mask, Eigen::Vector3i(0, 0, 1));
  // Gradient pushes c up (negative), the free components vanish.
  EXPECT_LT(r.grad[2], 0.0);
  EXPECT_LT(std::abs(r.grad[0]), 1e-10 * std::abs(r.grad[2]));
  EXPECT_LT(std::abs(r.grad[1]), 1e-10 * std::abs(r.grad[2]));
  // Same constrained solution as trf.
  DenseObjective again = decay_objective();
  o.method = Algorithm::trf;
  const SolverResult t = solve(again, Eigen::Vector3d(1.0, 0.1, 0.0), o);
  EXPECT_LT((t.x - r.x).norm(), 1e-8 * r.x.norm());
}

TEST(Dogbox, TrialLinearizationGivesTheSameSolutionWithoutExtraPasses) {
  DenseObjective objective = decay_objective();
  SolverOptions o = dogbox_options();
  o.trial_linearization = SolverOptions::TrialLinearization::always;
  const SolverResult r = solve(objective, Eigen::Vector3d(1.0, 0.1, 0.0), o);
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_LT((r.x - kTruth).norm(), 1e-10 * kTruth.norm());
  EXPECT_EQ(r.njev, r.nfev);
}

TEST(Dogbox, NonFiniteResidualsAtATrialPointRejectTheStep) {
  DenseObjective objective = decay_objective({2, 3});
  const SolverResult r = solve(objective, Eigen::Vector3d(1.0, 0.1, 0.0), dogbox_options());
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_LT((r.x - kTruth).norm(), 1e-10 * kTruth.norm());
  ASSERT_GE(r.history.size(), 2u);
  EXPECT_LT(r.history[1].radius, r.history[0].radius);
}

TEST(Dogbox, NonFiniteResidualsAtTheStartAreAnError) {
  DenseObjective objective = decay_objective({1});
  EXPECT_THROW(solve(objective, Eigen::Vector3d(1.0, 0.1, 0.0), dogbox_options()), std::invalid_argument);
}

TEST(Dogbox, CallbackInterruptsAndMaxNfevStops) {
  DenseObjective objective = decay_objective();
  SolverOptions o = dogbox_options();
  o.callback = [](const IterationInfo& info) { return info.iteration < 1; };
  const SolverResult r = solve(objective, Eigen::Vector3d(1.0, 0.1, 0.0), o);
  EXPECT_EQ(r.status, Status::interrupted);
  EXPECT_EQ(r.iterations, 1);

  DenseObjective again = decay_objective();
  SolverOptions m = dogbox_options();
  m.max_nfev = 2;
  const SolverResult s = solve(again, Eigen::Vector3d(1.0, 0.1, 0.0), m);
  EXPECT_EQ(s.status, Status::max_evaluations);
  EXPECT_EQ(s.nfev, 2);
}

// The far start of issue 11 (a = 20, b = 0.05, c = -3) on the `exponential` model's data
// (y = 5 exp(-0.5 x) + 1 on [0, 10], 200 points, a fixed small perturbation). A first step that
// trusts the Gauss-Newton step of such a start can run off along the valley where b -> 0 and a + c
// stays put (the issue saw a = -27992, c = 27994 with success); every method must reach the truth.
TEST(Dogbox, FarStartOnExponentialDataReachesTheTruth) {
  constexpr int m = 200;
  auto x_of = [](int i) { return 10.0 * i / (m - 1); };
  auto y_of = [&](int i) { return 5.0 * std::exp(-0.5 * x_of(i)) + 1.0 + 0.02 * std::sin(12.9 * i); };
  auto residuals = [&](const Eigen::VectorXd& p, Eigen::VectorXd& f) {
    for (int i = 0; i < m; ++i) f[i] = p[0] * std::exp(-p[1] * x_of(i)) + p[2] - y_of(i);
  };
  auto jacobian = [&](const Eigen::VectorXd& p, Eigen::MatrixXd& J) {
    for (int i = 0; i < m; ++i) {
      const double e = std::exp(-p[1] * x_of(i));
      J(i, 0) = e;
      J(i, 1) = -p[0] * x_of(i) * e;
      J(i, 2) = 1.0;
    }
  };
  for (Algorithm method : {Algorithm::dogbox, Algorithm::trf, Algorithm::lm}) {
    DenseObjective objective(3, m, residuals, jacobian);
    SolverOptions o;
    o.method = method;
    const SolverResult r = solve(objective, Eigen::Vector3d(20.0, 0.05, -3.0), o);
    EXPECT_TRUE(r.success) << to_string(method) << ": " << r.message;
    EXPECT_LT((r.x - Eigen::Vector3d(5.0, 0.5, 1.0)).norm(), 0.05) << to_string(method) << ": " << r.x.transpose();
  }
}

}  // namespace
}  // namespace curvefit
