// Covariance from R: against closed forms and an independent long-double (J^T J)^-1, also in
// units that scale the columns of R by up to 1e+-20, and on a model with two redundant parameters
// (a * b * x + c), where a and b must come out undetermined (inf) and c must keep its
// linear-regression variance, whatever the size of a and b.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "solvers/covariance.h"
#include "solvers/dense_objective.h"
#include "solvers/solve.h"

namespace curvefit {
namespace {

constexpr int kPoints = 50;

struct Line {
  Eigen::VectorXd x, y;
};
// x in units of x_unit, y in units of y_unit: the same line in other units.
Line noisy_line(double x_unit = 1.0, double y_unit = 1.0) {
  Line d{Eigen::VectorXd(kPoints), Eigen::VectorXd(kPoints)};
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0.0, 0.3);
  for (int i = 0; i < kPoints; ++i) {
    const double x = 0.2 * i + 1.0;
    d.x[i] = x * x_unit;
    d.y[i] = (1.5 + 0.8 * x + noise(rng)) * y_unit;
  }
  return d;
}

// Closed-form OLS covariance of (intercept, slope), in long double.
struct LineCovariance {
  long double var_intercept, var_slope, cov;
};
LineCovariance ols_covariance(const Line& d) {
  long double sx = 0, sy = 0;
  for (int i = 0; i < kPoints; ++i) sx += d.x[i], sy += d.y[i];
  const long double xbar = sx / kPoints, ybar = sy / kPoints;
  long double sxx = 0, sxy = 0;
  for (int i = 0; i < kPoints; ++i) sxx += (d.x[i] - xbar) * (d.x[i] - xbar), sxy += (d.x[i] - xbar) * (d.y[i] - ybar);
  const long double slope = sxy / sxx, intercept = ybar - slope * xbar;
  long double rss = 0;
  for (int i = 0; i < kPoints; ++i) {
    const long double r = d.y[i] - intercept - slope * d.x[i];
    rss += r * r;
  }
  const long double s2 = rss / (kPoints - 2);
  return {s2 * (1.0L / kPoints + xbar * xbar / sxx), s2 / sxx, -xbar * s2 / sxx};
}

// The closed form holds in any units; 1e-15 for x and 1e12 for y put 27 orders of magnitude
// between the columns of R.
TEST(Covariance, LinearRegressionMatchesTheClosedFormInAnyUnits) {
  for (const auto& [x_unit, y_unit] : {std::pair{1.0, 1.0}, std::pair{1e-15, 1e12}, std::pair{1e9, 1e-12}}) {
  SCOPED_TRACE("x unit " + std::to_string(x_unit) + ", y unit " + std::to_string(y_unit));
  const Line d = noisy_line(x_unit, y_unit);
  DenseObjective objective(
      2, kPoints, [d](const Eigen::VectorXd& p, Eigen::VectorXd& f) { f = (p[0] + p[1] * d.x.array() - d.y.array()).matrix(); },
      [d](const Eigen::VectorXd&, Eigen::MatrixXd& J) {
        J.col(0).setOnes();
        J.col(1) = d.x;
      });
  const SolverResult r = solve(objective, Eigen::Vector2d(0.0, 0.0), SolverOptions{});
  ASSERT_TRUE(r.success) << r.message;
  const Covariance c =
      covariance_from_r(r.linearization.R, covariance_scale(r.cost, kPoints - 2, false));
  const LineCovariance expected = ols_covariance(d);
  EXPECT_EQ(c.rank, 2);
  EXPECT_NEAR(c.matrix(0, 0), static_cast<double>(expected.var_intercept), 1e-10 * static_cast<double>(expected.var_intercept));
  EXPECT_NEAR(c.matrix(1, 1), static_cast<double>(expected.var_slope), 1e-10 * static_cast<double>(expected.var_slope));
  EXPECT_NEAR(c.matrix(0, 1), static_cast<double>(expected.cov), 1e-10 * std::abs(static_cast<double>(expected.cov)));
  EXPECT_NEAR(c.stderr_[1], std::sqrt(static_cast<double>(expected.var_slope)),
              1e-10 * std::sqrt(static_cast<double>(expected.var_slope)));
  }
}

// A well-conditioned R whose columns are scaled by 1e-20 ... 1e20 (parameters in wildly different
// units) has full rank; its covariance is D^-1 (R0^T R0)^-1 D^-1, with (R0^T R0)^-1 = R0^-1 R0^-T
// from back substitution in long double.
TEST(Covariance, ColumnScalingDoesNotChangeTheRankOrTheRelativeErrors) {
  constexpr int n = 5;
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> off_diagonal(-0.3, 0.3);
  Eigen::MatrixXd R0 = Eigen::MatrixXd::Zero(n, n);
  for (int j = 0; j < n; ++j) {
    R0(j, j) = 1.0 + 0.25 * j;
    for (int i = 0; i < j; ++i) R0(i, j) = off_diagonal(rng);
  }
  const double unit[n] = {1e-20, 1e20, 1.0, 1e-7, 1e13};
  Eigen::MatrixXd R = R0;
  for (int j = 0; j < n; ++j) R.col(j) *= unit[j];

  // Inverse of the upper-triangular R0 by back substitution, column by column.
  long double inverse[n][n] = {};
  for (int k = 0; k < n; ++k)
    for (int i = n - 1; i >= 0; --i) {
      long double sum = i == k ? 1.0L : 0.0L;
      for (int j = i + 1; j < n; ++j) sum -= static_cast<long double>(R0(i, j)) * inverse[j][k];
      inverse[i][k] = sum / R0(i, i);
    }
  const Covariance c = covariance_from_r(R, 2.0);
  EXPECT_EQ(c.rank, n);
  for (int j = 0; j < n; ++j) {
    EXPECT_TRUE(c.determined[j]) << j;
    for (int k = 0; k < n; ++k) {
      long double exact = 0;  // 2 * (R0^-1 R0^-T)(j, k) / (unit j * unit k)
      for (int i = 0; i < n; ++i) exact += inverse[j][i] * inverse[k][i];
      exact *= 2.0L / (static_cast<long double>(unit[j]) * unit[k]);
      long double diagonal_j = 0, diagonal_k = 0;
      for (int i = 0; i < n; ++i) diagonal_j += inverse[j][i] * inverse[j][i], diagonal_k += inverse[k][i] * inverse[k][i];
      const double size = static_cast<double>(2.0L * std::sqrt(diagonal_j * diagonal_k) / (static_cast<long double>(unit[j]) * unit[k]));
      EXPECT_NEAR(c.matrix(j, k), static_cast<double>(exact), 1e-13 * size) << j << "," << k;
    }
  }
}

// Nonlinear full-rank: (J^T J)^-1 at the solution by Gauss-Jordan elimination in long double.
TEST(Covariance, NonlinearFullRankMatchesLongDoubleNormalEquations) {
  Eigen::VectorXd t(kPoints), y(kPoints);
  std::mt19937 rng(11);
  std::normal_distribution<double> noise(0.0, 0.05);
  for (int i = 0; i < kPoints; ++i) {
    t[i] = 0.1 * i;
    y[i] = 2.0 * std::exp(-1.3 * t[i]) + 0.4 + noise(rng);
  }
  auto jac = [t](const Eigen::VectorXd& x, Eigen::MatrixXd& J) {
    for (int i = 0; i < kPoints; ++i) {
      const double e = std::exp(-x[1] * t[i]);
      J(i, 0) = e, J(i, 1) = -x[0] * t[i] * e, J(i, 2) = 1.0;
    }
  };
  DenseObjective objective(
      3, kPoints,
      [t, y](const Eigen::VectorXd& x, Eigen::VectorXd& f) { f = (x[0] * (-x[1] * t.array()).exp() + x[2] - y.array()).matrix(); },
      jac);
  const SolverResult r = solve(objective, Eigen::Vector3d(1.0, 1.0, 0.0), SolverOptions{});
  ASSERT_TRUE(r.success) << r.message;
  const Covariance c = covariance_from_r(r.linearization.R, 1.0);

  Eigen::MatrixXd J(kPoints, 3);
  jac(r.x, J);
  long double a[3][6] = {};
  for (int j = 0; j < 3; ++j) {
    for (int k = 0; k < 3; ++k)
      for (int i = 0; i < kPoints; ++i) a[j][k] += static_cast<long double>(J(i, j)) * J(i, k);
    a[j][3 + j] = 1;
  }
  // J^T J is positive definite: Gauss-Jordan without pivoting is stable enough here.
  for (int p = 0; p < 3; ++p) {
    const long double pivot = a[p][p];
    for (int k = 0; k < 6; ++k) a[p][k] /= pivot;
    for (int j = 0; j < 3; ++j)
      if (j != p) {
        const long double factor = a[j][p];
        for (int k = 0; k < 6; ++k) a[j][k] -= factor * a[p][k];
      }
  }
  for (int j = 0; j < 3; ++j)
    for (int k = 0; k < 3; ++k) {
      const double expected = static_cast<double>(a[j][3 + k]);
      EXPECT_NEAR(c.matrix(j, k), expected, 1e-9 * std::sqrt(static_cast<double>(a[j][3 + j] * a[k][3 + k])))
          << j << "," << k;
    }
}

// y = a * b * x + c: only the product a b is determined. The fit converges to the least-squares
// line; a and b get inf (co)variances, c the intercept variance of that line.
TEST(Covariance, RedundantParametersAreReportedUndetermined) {
  const Line d = noisy_line();
  // a and b from 1 and 2, and from 1e10 and 2e-10: their units never make them determined.
  for (const Eigen::Vector3d& start : {Eigen::Vector3d(1.0, 2.0, 0.0), Eigen::Vector3d(1e10, 2e-10, 0.0)}) {
  DenseObjective objective(
      3, kPoints,
      [d](const Eigen::VectorXd& p, Eigen::VectorXd& f) { f = (p[0] * p[1] * d.x.array() + p[2] - d.y.array()).matrix(); },
      [d](const Eigen::VectorXd& p, Eigen::MatrixXd& J) {
        J.col(0) = p[1] * d.x;
        J.col(1) = p[0] * d.x;
        J.col(2).setOnes();
      });
  for (Algorithm method : {Algorithm::trf, Algorithm::dogbox}) {
    SolverOptions o;
    o.method = method;
    const SolverResult r = solve(objective, start, o);
    EXPECT_TRUE(r.success) << r.message;
    const LineCovariance expected = ols_covariance(d);
    const Covariance c = covariance_from_r(r.linearization.R, covariance_scale(r.cost, kPoints - 2, false));
    EXPECT_EQ(c.rank, 2);
    EXPECT_FALSE(c.determined[0]);
    EXPECT_FALSE(c.determined[1]);
    EXPECT_TRUE(c.determined[2]);
    EXPECT_TRUE(std::isinf(c.stderr_[0]));
    EXPECT_TRUE(std::isinf(c.stderr_[1]));
    EXPECT_TRUE(std::isinf(c.matrix(0, 2)));
    EXPECT_NEAR(c.matrix(2, 2), static_cast<double>(expected.var_intercept),
                1e-8 * static_cast<double>(expected.var_intercept));
  }  }
}

TEST(Covariance, ScaleIsReducedChiSquareUnlessAbsolute) {
  EXPECT_DOUBLE_EQ(covariance_scale(10.0, 4, false), 5.0);
  EXPECT_DOUBLE_EQ(covariance_scale(10.0, 4, true), 1.0);
  EXPECT_TRUE(std::isinf(covariance_scale(10.0, 0, false)));
  // No degrees of freedom: every entry inf, none NaN.
  const Covariance c = covariance_from_r(Eigen::Matrix2d::Identity(), covariance_scale(1.0, 0, false));
  EXPECT_TRUE(c.matrix.array().isInf().all());
}

}  // namespace
}  // namespace curvefit
