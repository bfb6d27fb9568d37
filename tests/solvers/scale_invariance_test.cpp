// Stopping tests that do not depend on the units of y or on bounds too far away to matter: data
// with known truth fitted as is, with y * 1e-12 and with y * 1e12, give the same parameters (the
// amplitude-like ones scaled exactly) for every method; bounds of +-1e300 give the unbounded fit.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "solvers/dense_objective.h"
#include "solvers/solve.h"

namespace curvefit {
namespace {

// y = a exp(-b t) + c, truth (3, 0.7, 0.5), plus a fixed, known perturbation so that the minimum
// has a nonzero residual (a zero-residual problem would hide a cost-relative test).
const Eigen::Vector3d kTruth(3.0, 0.7, 0.5);
constexpr int kPoints = 60;
double t_of(int i) { return 0.1 * i; }
double y_of(int i) {
  return kTruth[0] * std::exp(-kTruth[1] * t_of(i)) + kTruth[2] + 0.01 * std::sin(7.3 * i);
}

// The same problem with y multiplied by `s`.
DenseObjective decay(double s) {
  auto residuals = [s](const Eigen::VectorXd& x, Eigen::VectorXd& f) {
    for (int i = 0; i < kPoints; ++i) f[i] = x[0] * std::exp(-x[1] * t_of(i)) + x[2] - s * y_of(i);
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

double relative_difference(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return (a - b).cwiseAbs().cwiseQuotient(b.cwiseAbs()).maxCoeff();
}

// Parameters in the units of y = 1: the amplitudes a and c divided by s.
Eigen::VectorXd unscaled(Eigen::VectorXd x, double s) {
  x[0] /= s;
  x[2] /= s;
  return x;
}

class ScaleInvariance : public ::testing::TestWithParam<Algorithm> {};

TEST_P(ScaleInvariance, MultiplyingYByAConstantGivesTheSameParameters) {
  SolverOptions options;
  options.method = GetParam();
  const Eigen::Vector3d x0(1.0, 0.2, 0.0);
  DenseObjective plain = decay(1.0);
  const SolverResult reference = solve(plain, x0, options);
  ASSERT_TRUE(reference.success) << reference.message;
  ASSERT_LT(relative_difference(reference.x, kTruth), 2e-2);  // the perturbation moves it a little
  for (double s : {1e-12, 1e12}) {
    DenseObjective scaled = decay(s);
    const Eigen::Vector3d scaled_x0(s * x0[0], x0[1], s * x0[2]);
    const SolverResult r = solve(scaled, scaled_x0, options);
    EXPECT_TRUE(r.success) << "y * " << s << ": " << r.message;
    EXPECT_GT(r.iterations, 2) << "y * " << s;
    EXPECT_LT(relative_difference(unscaled(r.x, s), reference.x), 1e-8)
        << "y * " << s << ": " << unscaled(r.x, s).transpose() << " vs " << reference.x.transpose();
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, ScaleInvariance,
                         ::testing::Values(Algorithm::trf, Algorithm::lm, Algorithm::dogbox),
                         [](const auto& info) { return std::string(to_string(info.param)); });

class FarBounds : public ::testing::TestWithParam<Algorithm> {};

TEST_P(FarBounds, BoundsOfPlusMinus1e300AreNoBounds) {
  SolverOptions options;
  options.method = GetParam();
  const Eigen::Vector3d x0(1.0, 0.2, 0.0);
  DenseObjective plain = decay(1.0);
  const SolverResult unbounded = solve(plain, x0, options);
  ASSERT_TRUE(unbounded.success) << unbounded.message;
  options.lower = Eigen::Vector3d::Constant(-1e300);
  options.upper = Eigen::Vector3d::Constant(1e300);
  DenseObjective again = decay(1.0);
  const SolverResult bounded = solve(again, x0, options);
  EXPECT_TRUE(bounded.success) << bounded.message;
  EXPECT_LT(relative_difference(bounded.x, unbounded.x), 1e-12)
      << bounded.x.transpose() << " vs " << unbounded.x.transpose();
  EXPECT_EQ(bounded.active_mask, Eigen::Vector3i::Zero());
}

INSTANTIATE_TEST_SUITE_P(BoundedMethods, FarBounds, ::testing::Values(Algorithm::trf, Algorithm::dogbox),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace curvefit
