#pragma once
// Test problems of J. J. Moré, B. S. Garbow and K. E. Hillstrom, "Testing unconstrained
// optimization software", ACM TOMS 7(1), 1981 — the least-squares ones with n <= 5, from their
// standard starting points, with the minima the paper lists (sum of squares F = ||f||^2 = 2 cost).
// Residuals are written once as templates; Ceres Jets give the exact Jacobian.
#include <ceres/jet.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "solvers/dense_objective.h"

namespace curvefit::mgh {

struct Problem {
  std::string name;
  int n = 0;
  int m = 0;
  std::vector<double> x0;
  std::vector<double> minima;    // sums of squares of the minima the paper lists (local ones too)
  std::vector<double> minimizer; // the point of minima[0] when it is unique; empty otherwise
};

inline const std::vector<Problem>& problems() {
  static const std::vector<Problem> all = {
      {"Rosenbrock", 2, 2, {-1.2, 1}, {0}, {1, 1}},
      {"Freudenstein-Roth", 2, 2, {0.5, -2}, {0, 48.9842}, {}},
      {"Powell badly scaled", 2, 2, {0, 1}, {0}, {}},
      {"Brown badly scaled", 2, 3, {1, 1}, {0}, {1e6, 2e-6}},
      {"Beale", 2, 3, {1, 1}, {0}, {3, 0.5}},
      {"Jennrich-Sampson", 2, 10, {0.3, 0.4}, {124.362}, {}},
      {"Helical valley", 3, 3, {-1, 0, 0}, {0}, {1, 0, 0}},
      {"Bard", 3, 15, {1, 1, 1}, {8.21487e-3, 17.4286}, {}},
      {"Gaussian", 3, 15, {0.4, 1, 0}, {1.12793e-8}, {}},
      {"Meyer", 3, 16, {0.02, 4000, 250}, {87.9458}, {}},
      {"Box 3-D", 3, 10, {0, 10, 20}, {0}, {}},
      {"Powell singular", 4, 4, {3, -1, 0, 1}, {0}, {}},
      {"Wood", 4, 6, {-3, -1, -3, -1}, {0}, {1, 1, 1, 1}},
      {"Kowalik-Osborne", 4, 11, {0.25, 0.39, 0.415, 0.39}, {3.07505e-4, 1.02734e-3}, {}},
      {"Brown-Dennis", 4, 20, {25, 5, -5, -1}, {85822.2}, {}},
      {"Osborne 1", 5, 33, {0.5, 1.5, -1, 0.01, 0.02}, {5.46489e-5}, {}},
  };
  return all;
}

namespace data {
inline constexpr double bard_y[15] = {0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39,
                                      0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39};
inline constexpr double gaussian_y[15] = {0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989,
                                          0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009};
inline constexpr double meyer_y[16] = {34780, 28610, 23650, 19630, 16370, 13720, 11540, 9744,
                                       8261,  7030,  6005,  5147,  4427,  3820,  3307,  2872};
inline constexpr double kowalik_y[11] = {0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627,
                                         0.0456, 0.0342, 0.0323, 0.0235, 0.0246};
inline constexpr double kowalik_u[11] = {4, 2, 1, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625};
inline constexpr double osborne1_y[33] = {0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818,
                                          0.784, 0.751, 0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558,
                                          0.538, 0.522, 0.506, 0.490, 0.478, 0.467, 0.457, 0.448, 0.438,
                                          0.431, 0.424, 0.420, 0.414, 0.411, 0.406};
}  // namespace data

// f(x) of problem `name` (the paper's numbering of the residuals from i = 1).
template <class T>
void residuals(const std::string& name, const T* x, T* f) {
  using std::atan;
  using std::cos;
  using std::exp;
  using std::sin;
  using std::sqrt;
  using ceres::atan;
  using ceres::exp;
  using ceres::sqrt;
  const double pi = 3.14159265358979323846;
  if (name == "Rosenbrock") {
    f[0] = 10.0 * (x[1] - x[0] * x[0]);
    f[1] = 1.0 - x[0];
  } else if (name == "Freudenstein-Roth") {
    f[0] = -13.0 + x[0] + ((5.0 - x[1]) * x[1] - 2.0) * x[1];
    f[1] = -29.0 + x[0] + ((x[1] + 1.0) * x[1] - 14.0) * x[1];
  } else if (name == "Powell badly scaled") {
    f[0] = 1e4 * x[0] * x[1] - 1.0;
    f[1] = exp(-x[0]) + exp(-x[1]) - 1.0001;
  } else if (name == "Brown badly scaled") {
    f[0] = x[0] - 1e6;
    f[1] = x[1] - 2e-6;
    f[2] = x[0] * x[1] - 2.0;
  } else if (name == "Beale") {
    const double y[3] = {1.5, 2.25, 2.625};
    for (int i = 1; i <= 3; ++i) {
      T power = T(1.0);
      for (int k = 0; k < i; ++k) power = power * x[1];
      f[i - 1] = y[i - 1] - x[0] * (1.0 - power);
    }
  } else if (name == "Jennrich-Sampson") {
    for (int i = 1; i <= 10; ++i) f[i - 1] = 2.0 + 2.0 * i - (exp(double(i) * x[0]) + exp(double(i) * x[1]));
  } else if (name == "Helical valley") {
    T theta = atan(x[1] / x[0]) / (2 * pi);
    if (x[0] < 0.0) theta = theta + 0.5;
    f[0] = 10.0 * (x[2] - 10.0 * theta);
    f[1] = 10.0 * (sqrt(x[0] * x[0] + x[1] * x[1]) - 1.0);
    f[2] = x[2];
  } else if (name == "Bard") {
    for (int i = 1; i <= 15; ++i) {
      const double u = i, v = 16 - i, w = std::min(u, v);
      f[i - 1] = data::bard_y[i - 1] - (x[0] + u / (v * x[1] + w * x[2]));
    }
  } else if (name == "Gaussian") {
    for (int i = 1; i <= 15; ++i) {
      const double t = (8.0 - i) / 2.0;
      f[i - 1] = x[0] * exp(-x[1] * (t - x[2]) * (t - x[2]) / 2.0) - data::gaussian_y[i - 1];
    }
  } else if (name == "Meyer") {
    for (int i = 1; i <= 16; ++i) f[i - 1] = x[0] * exp(x[1] / (45.0 + 5.0 * i + x[2])) - data::meyer_y[i - 1];
  } else if (name == "Box 3-D") {
    for (int i = 1; i <= 10; ++i) {
      const double t = 0.1 * i;
      f[i - 1] = exp(-t * x[0]) - exp(-t * x[1]) - x[2] * (std::exp(-t) - std::exp(-10 * t));
    }
  } else if (name == "Powell singular") {
    f[0] = x[0] + 10.0 * x[1];
    f[1] = std::sqrt(5.0) * (x[2] - x[3]);
    f[2] = (x[1] - 2.0 * x[2]) * (x[1] - 2.0 * x[2]);
    f[3] = std::sqrt(10.0) * (x[0] - x[3]) * (x[0] - x[3]);
  } else if (name == "Wood") {
    f[0] = 10.0 * (x[1] - x[0] * x[0]);
    f[1] = 1.0 - x[0];
    f[2] = std::sqrt(90.0) * (x[3] - x[2] * x[2]);
    f[3] = 1.0 - x[2];
    f[4] = std::sqrt(10.0) * (x[1] + x[3] - 2.0);
    f[5] = (x[1] - x[3]) / std::sqrt(10.0);
  } else if (name == "Kowalik-Osborne") {
    for (int i = 0; i < 11; ++i) {
      const double u = data::kowalik_u[i];
      f[i] = data::kowalik_y[i] - x[0] * (u * u + u * x[1]) / (u * u + u * x[2] + x[3]);
    }
  } else if (name == "Brown-Dennis") {
    for (int i = 1; i <= 20; ++i) {
      const double t = i / 5.0;
      const T a = x[0] + t * x[1] - std::exp(t);
      const T b = x[2] + x[3] * std::sin(t) - std::cos(t);
      f[i - 1] = a * a + b * b;
    }
  } else if (name == "Osborne 1") {
    for (int i = 1; i <= 33; ++i) {
      const double t = 10.0 * (i - 1);
      f[i - 1] = data::osborne1_y[i - 1] - (x[0] + x[1] * exp(-t * x[3]) + x[2] * exp(-t * x[4]));
    }
  }
}

inline std::unique_ptr<DenseObjective> make_objective(const Problem& problem) {
  const std::string name = problem.name;
  const int n = problem.n;
  auto f = [name](const Eigen::VectorXd& x, Eigen::VectorXd& out) { residuals<double>(name, x.data(), out.data()); };
  auto jacobian = [name, n, m = problem.m](const Eigen::VectorXd& x, Eigen::MatrixXd& J) {
    using Jet = ceres::Jet<double, 5>;
    std::vector<Jet> xj(static_cast<std::size_t>(n)), fj(static_cast<std::size_t>(m));
    for (int j = 0; j < n; ++j) xj[static_cast<std::size_t>(j)] = Jet(x[j], j);
    residuals<Jet>(name, xj.data(), fj.data());
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) J(i, j) = fj[static_cast<std::size_t>(i)].v[j];
  };
  return std::make_unique<DenseObjective>(n, static_cast<std::size_t>(problem.m), f, jacobian);
}

}  // namespace curvefit::mgh
