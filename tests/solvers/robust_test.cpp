// Robust losses on data with 10% gross outliers: soft_l1, huber, cauchy (and arctan) recover the
// generating parameters where the linear loss is pulled away, with trf and dogbox.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "solvers/dense_objective.h"
#include "solvers/solve.h"

namespace curvefit {
namespace {

const Eigen::Vector3d kTruth(5.0, 0.8, 1.0);  // y = a exp(-b t) + c
constexpr int kPoints = 200;

struct Data {
  Eigen::VectorXd t, y;
};

// Gaussian noise of sd 0.02 and, on every 10th point, a gross outlier of +2..+4 (100-200 sd).
Data make_data() {
  Data d{Eigen::VectorXd(kPoints), Eigen::VectorXd(kPoints)};
  std::mt19937 rng(12345);
  std::normal_distribution<double> noise(0.0, 0.02);
  std::uniform_real_distribution<double> outlier(2.0, 4.0);
  for (int i = 0; i < kPoints; ++i) {
    d.t[i] = 5.0 * i / (kPoints - 1);
    d.y[i] = kTruth[0] * std::exp(-kTruth[1] * d.t[i]) + kTruth[2] + noise(rng);
    if (i % 10 == 3) d.y[i] += outlier(rng);
  }
  return d;
}

SolverResult fit(Loss loss, Algorithm method, const Eigen::Vector3d& x0 = Eigen::Vector3d(1.0, 0.3, 0.0)) {
  const Data d = make_data();
  auto residuals = [d](const Eigen::VectorXd& x, Eigen::VectorXd& f) {
    f = (x[0] * (-x[1] * d.t.array()).exp() + x[2] - d.y.array()).matrix();
  };
  auto jacobian = [d](const Eigen::VectorXd& x, Eigen::MatrixXd& J) {
    const Eigen::ArrayXd e = (-x[1] * d.t.array()).exp();
    J.col(0) = e.matrix();
    J.col(1) = (-x[0] * d.t.array() * e).matrix();
    J.col(2).setOnes();
  };
  DenseObjective objective(3, kPoints, residuals, jacobian, loss, 0.1);
  SolverOptions o;
  o.method = method;
  return solve(objective, x0, o);
}

double max_relative_error(const Eigen::VectorXd& x) {
  return ((x - kTruth).array() / kTruth.array()).abs().maxCoeff();
}

class Robust : public ::testing::TestWithParam<Algorithm> {};

TEST_P(Robust, LinearLossIsPulledAwayByTheOutliers) {
  const SolverResult r = fit(Loss::linear, GetParam());
  EXPECT_TRUE(r.success) << r.message;
  EXPECT_GT(max_relative_error(r.x), 0.1) << r.x.transpose();
}

// trf from the far start; dogbox (not invariant to the strong a/c coupling when b is small, it
// wanders to b -> 0 from there, as scipy's dogbox) from the linear-loss fit, the usual warm start.
TEST_P(Robust, RobustLossesRecoverTheTruth) {
  Eigen::Vector3d x0(1.0, 0.3, 0.0);
  if (GetParam() == Algorithm::dogbox) x0 = fit(Loss::linear, Algorithm::trf).x;
  for (Loss loss : {Loss::soft_l1, Loss::huber, Loss::cauchy, Loss::arctan}) {
    const SolverResult r = fit(loss, GetParam(), x0);
    EXPECT_TRUE(r.success) << to_string(loss) << ": " << r.message;
    EXPECT_LT(max_relative_error(r.x), 0.02) << to_string(loss) << ": " << r.x.transpose();
    // A minimum of the robust cost: the gradient vanishes relative to its size at the start.
    EXPECT_LT(r.optimality, 1e-8 * r.history.front().optimality) << to_string(loss);
  }
}

INSTANTIATE_TEST_SUITE_P(TrfAndDogbox, Robust, ::testing::Values(Algorithm::trf, Algorithm::dogbox),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace curvefit
