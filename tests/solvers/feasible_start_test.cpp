// A start on a bound: every method moves it strictly inside, far enough that the variable can
// move, converges to the truth, and reports the start it used (SolverResult::start).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "solvers/dense_objective.h"
#include "solvers/solve.h"

namespace curvefit {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// y = a exp(-(t - mu)^2 / (2 sigma^2)), truth (2, 1, 0.8), t in [-4, 6].
const Eigen::Vector3d kTruth(2.0, 1.0, 0.8);
constexpr int kPoints = 101;
double t_of(int i) { return -4.0 + 0.1 * i; }
double gaussian(const Eigen::VectorXd& p, double t) {
  const double z = (t - p[1]) / p[2];
  return p[0] * std::exp(-0.5 * z * z);
}

DenseObjective gaussian_objective() {
  auto residuals = [](const Eigen::VectorXd& x, Eigen::VectorXd& f) {
    for (int i = 0; i < kPoints; ++i) f[i] = gaussian(x, t_of(i)) - gaussian(kTruth, t_of(i));
  };
  auto jacobian = [](const Eigen::VectorXd& x, Eigen::MatrixXd& J) {
    for (int i = 0; i < kPoints; ++i) {
      const double t = t_of(i), d = t - x[1], s = x[2];
      const double e = std::exp(-0.5 * d * d / (s * s));
      J(i, 0) = e;
      J(i, 1) = x[0] * e * d / (s * s);
      J(i, 2) = x[0] * e * d * d / (s * s * s);
    }
  };
  return DenseObjective(3, kPoints, residuals, jacobian);
}

class StartOnABound : public ::testing::TestWithParam<Algorithm> {};

// sigma starts exactly on its natural lower bound 0 (where the residuals are NaN: 0 * inf), and
// a exactly on an upper bound 5.
TEST_P(StartOnABound, WidthOnZeroAndAmplitudeOnItsUpperBoundConvergeToTheTruth) {
  SolverOptions options;
  options.method = GetParam();
  options.lower = Eigen::Vector3d(-kInf, -10.0, 0.0);
  options.upper = Eigen::Vector3d(5.0, 10.0, kInf);
  DenseObjective objective = gaussian_objective();
  const Eigen::Vector3d x0(5.0, 0.0, 0.0);
  const SolverResult r = solve(objective, x0, options);
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_LT((r.x - kTruth).norm(), 1e-8 * kTruth.norm()) << r.x.transpose();
  // The start used: strictly inside, a barely moved, sigma where its column is alive.
  ASSERT_EQ(r.start.size(), 3);
  EXPECT_LT(r.start[0], 5.0);
  EXPECT_GT(r.start[0], 5.0 - 1e-8);
  EXPECT_EQ(r.start[1], 0.0);
  EXPECT_GT(r.start[2], 0.0);
  EXPECT_LE(r.start[2], 1.0);
}

// A start on a bound where the variable can move at once stays (almost) where it was given.
TEST_P(StartOnABound, ALiveVariableIsMovedOnlyStrictlyInside) {
  SolverOptions options;
  options.method = GetParam();
  options.lower = Eigen::Vector3d(-kInf, -10.0, 0.5);
  options.upper = Eigen::Vector3d(kInf, 10.0, kInf);
  DenseObjective objective = gaussian_objective();
  const SolverResult r = solve(objective, Eigen::Vector3d(1.0, 0.5, 0.5), options);
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_LT((r.x - kTruth).norm(), 1e-8 * kTruth.norm()) << r.x.transpose();
  EXPECT_GT(r.start[2], 0.5);
  EXPECT_LT(r.start[2], 0.5 + 1e-9);
}

INSTANTIATE_TEST_SUITE_P(BoundedMethods, StartOnABound, ::testing::Values(Algorithm::trf, Algorithm::dogbox),
                         [](const auto& info) { return std::string(to_string(info.param)); });

// lm takes no bounds: its start is x0 itself.
TEST(StartOnABound, LmReportsX0AsItsStart) {
  SolverOptions options;
  options.method = Algorithm::lm;
  DenseObjective objective = gaussian_objective();
  const Eigen::Vector3d x0(1.0, 0.5, 0.5);
  const SolverResult r = solve(objective, x0, options);
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_EQ(r.start, Eigen::VectorXd(x0));
  EXPECT_LT((r.x - kTruth).norm(), 1e-8 * kTruth.norm()) << r.x.transpose();
}

}  // namespace
}  // namespace curvefit
