// Bounds with trf and dogbox: optimum on a bound (active_mask and the constrained solution from a
// closed form), a start on a bound, an infeasible start (clear error from solve()).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "solvers/dense_objective.h"
#include "solvers/solve.h"

namespace curvefit {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kPoints = 30;
double t_of(int i) { return 0.15 * i; }
double y_of(int i) { return 3.0 * std::exp(-0.7 * t_of(i)); }  // truth (a, b) = (3, 0.7)

// y = a exp(-b t)
DenseObjective decay_objective() {
  auto residuals = [](const Eigen::VectorXd& x, Eigen::VectorXd& f) {
    for (int i = 0; i < kPoints; ++i) f[i] = x[0] * std::exp(-x[1] * t_of(i)) - y_of(i);
  };
  auto jacobian = [](const Eigen::VectorXd& x, Eigen::MatrixXd& J) {
    for (int i = 0; i < kPoints; ++i) {
      const double e = std::exp(-x[1] * t_of(i));
      J(i, 0) = e;
      J(i, 1) = -x[0] * t_of(i) * e;
    }
  };
  return DenseObjective(2, kPoints, residuals, jacobian);
}

// The best a for a fixed b (linear least squares in a).
double best_a_for(double b) {
  double num = 0, den = 0;
  for (int i = 0; i < kPoints; ++i) {
    const double e = std::exp(-b * t_of(i));
    num += e * y_of(i);
    den += e * e;
  }
  return num / den;
}

class Bounds : public ::testing::TestWithParam<Algorithm> {
 protected:
  SolverOptions options(Eigen::Vector2d lower, Eigen::Vector2d upper) const {
    SolverOptions o;
    o.method = GetParam();
    o.lower = lower;
    o.upper = upper;
    return o;
  }
};

TEST_P(Bounds, OptimumOnTheUpperBound) {
  DenseObjective objective = decay_objective();
  const SolverOptions o = options(Eigen::Vector2d(-kInf, 0.0), Eigen::Vector2d(kInf, 0.4));
  const SolverResult r = solve(objective, Eigen::Vector2d(1.0, 0.1), o);
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_NEAR(r.x[1], 0.4, 1e-9);
  EXPECT_NEAR(r.x[0], best_a_for(0.4), 1e-8 * best_a_for(0.4));
  EXPECT_EQ(r.active_mask, Eigen::Vector2i(0, 1));
  EXPECT_LE(r.x[1], 0.4);
}

TEST_P(Bounds, LinearModelWithTheOptimumOnTheLowerBound) {
  // y = p0 + p1 t with data of slope -1; p1 >= 0 forces p1 = 0 and p0 = mean(y).
  auto residuals = [](const Eigen::VectorXd& x, Eigen::VectorXd& f) {
    for (int i = 0; i < kPoints; ++i) f[i] = x[0] + x[1] * t_of(i) - (2.0 - t_of(i));
  };
  auto jacobian = [](const Eigen::VectorXd&, Eigen::MatrixXd& J) {
    for (int i = 0; i < kPoints; ++i) J(i, 0) = 1.0, J(i, 1) = t_of(i);
  };
  DenseObjective objective(2, kPoints, residuals, jacobian);
  double mean = 0;
  for (int i = 0; i < kPoints; ++i) mean += (2.0 - t_of(i)) / kPoints;
  const SolverOptions o = options(Eigen::Vector2d(-kInf, 0.0), Eigen::Vector2d(kInf, kInf));
  const SolverResult r = solve(objective, Eigen::Vector2d(0.0, 1.0), o);
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_NEAR(r.x[1], 0.0, 1e-9);
  EXPECT_NEAR(r.x[0], mean, 1e-8 * std::abs(mean));
  EXPECT_EQ(r.active_mask, Eigen::Vector2i(0, -1));
}

TEST_P(Bounds, StartOnABoundWithTheOptimumInside) {
  DenseObjective objective = decay_objective();
  const SolverOptions o = options(Eigen::Vector2d(0.0, 0.0), Eigen::Vector2d(10.0, 5.0));
  const SolverResult r = solve(objective, Eigen::Vector2d(1.0, 0.0), o);
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_NEAR(r.x[0], 3.0, 1e-9);
  EXPECT_NEAR(r.x[1], 0.7, 1e-9);
  EXPECT_EQ(r.active_mask, Eigen::Vector2i(0, 0));
}

TEST_P(Bounds, StartOnTheBoundThatHoldsTheOptimum) {
  DenseObjective objective = decay_objective();
  const SolverOptions o = options(Eigen::Vector2d(-kInf, 0.0), Eigen::Vector2d(kInf, 0.4));
  const SolverResult r = solve(objective, Eigen::Vector2d(1.0, 0.4), o);
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_NEAR(r.x[1], 0.4, 1e-9);
  EXPECT_NEAR(r.x[0], best_a_for(0.4), 1e-8 * best_a_for(0.4));
  EXPECT_EQ(r.active_mask, Eigen::Vector2i(0, 1));
}

TEST_P(Bounds, InfeasibleStartIsAClearError) {
  DenseObjective objective = decay_objective();
  const SolverOptions o = options(Eigen::Vector2d(-kInf, 0.0), Eigen::Vector2d(kInf, 0.4));
  try {
    solve(objective, Eigen::Vector2d(1.0, 1.0), o);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("infeasible"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("x0[1]"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(TrfAndDogbox, Bounds, ::testing::Values(Algorithm::trf, Algorithm::dogbox),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace curvefit
