#pragma once
// Shared by the model tests: data generated from a built-in model with known parameters, and a
// small reference Levenberg-Marquardt (QR of the damped system, never J^T J) that checks a guess
// lies in the basin of the truth without depending on the solvers under construction.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <Eigen/Dense>

#include "core/model/model_library.h"

namespace curvefit::test {

struct Dataset {
  std::vector<std::vector<double>> x;  // per predictor
  std::vector<double> y;
  std::vector<const double*> columns() const {
    std::vector<const double*> c;
    for (const auto& v : x) c.push_back(v.data());
    return c;
  }
};

// n points evenly spaced over the model's default range (two predictors: a side x side grid),
// y from the example parameters (or *truth) plus Gaussian noise of SD relative_noise * (range of clean y).
inline Dataset make_dataset(const ModelInfo& info, std::size_t n, double relative_noise,
                            std::uint64_t seed, const std::vector<double>* truth = nullptr) {
  Dataset d;
  const double lo = info.x_min, hi = info.x_max;
  if (info.num_predictors == 1) {
    d.x.assign(1, std::vector<double>(n));
    for (std::size_t i = 0; i < n; ++i)
      d.x[0][i] = lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(n - 1);
  } else {
    const auto side = static_cast<std::size_t>(std::ceil(std::sqrt(static_cast<double>(n))));
    d.x.assign(2, std::vector<double>(side * side));
    for (std::size_t i = 0; i < side * side; ++i) {
      d.x[0][i] = lo + (hi - lo) * static_cast<double>(i % side) / static_cast<double>(side - 1);
      d.x[1][i] = lo + (hi - lo) * static_cast<double>(i / side) / static_cast<double>(side - 1);
    }
  }
  const std::size_t m = d.x[0].size();
  d.y.resize(m);
  const auto model = make_builtin_model(info);
  const auto cols = d.columns();
  model->evaluate(cols.data(), m, (truth ? *truth : info.example).data(), d.y.data());
  if (relative_noise > 0) {
    const auto [mn, mx] = std::minmax_element(d.y.begin(), d.y.end());
    // Relative to the range of the curve (to its level for a constant, e.g. polynomial0).
    const double scale = *mx > *mn ? *mx - *mn : std::max(std::abs(*mx), 1.0);
    const double sd = relative_noise * scale;
    std::mt19937_64 engine(seed);
    std::normal_distribution<double> normal(0.0, sd);
    for (double& v : d.y) v += normal(engine);
  }
  return d;
}

struct ReferenceFit {
  Eigen::VectorXd p;
  Eigen::VectorXd stderr_;
  double cost = 0;
  bool converged = false;
};

// Levenberg-Marquardt with Marquardt scaling; each step solves [J; sqrt(lambda) D] s = [-f; 0] by QR.
inline ReferenceFit reference_fit(const Model& model, const Dataset& d, std::vector<double> p0,
                                  int max_iterations = 500) {
  const std::size_t m = d.y.size();
  const auto n = static_cast<Eigen::Index>(p0.size());
  const auto cols = d.columns();
  Eigen::VectorXd p = Eigen::Map<Eigen::VectorXd>(p0.data(), n), values(m), f(m), trial_values(m);
  Eigen::MatrixXd jac(m, n);
  auto residuals = [&](const Eigen::VectorXd& q, Eigen::VectorXd& out) {
    model.evaluate(cols.data(), m, q.data(), out.data());
    out -= Eigen::Map<const Eigen::VectorXd>(d.y.data(), static_cast<Eigen::Index>(m));
    const double c = 0.5 * out.squaredNorm();
    return std::isfinite(c) ? c : std::numeric_limits<double>::infinity();
  };
  ReferenceFit result;
  double lambda = 1e-3;
  double cost = residuals(p, f);
  for (int it = 0; it < max_iterations && std::isfinite(cost); ++it) {
    model.evaluate_with_jacobian(cols.data(), m, p.data(), values.data(), jac.data());
    const Eigen::VectorXd scale = jac.colwise().norm().transpose().cwiseMax(1e-300);
    bool accepted = false;
    while (lambda < 1e16) {
      Eigen::MatrixXd augmented(static_cast<Eigen::Index>(m) + n, n);
      augmented << jac, (std::sqrt(lambda) * scale).asDiagonal().toDenseMatrix();
      Eigen::VectorXd rhs = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(m) + n);
      rhs.head(static_cast<Eigen::Index>(m)) = -f;
      const Eigen::VectorXd step = augmented.householderQr().solve(rhs);
      const Eigen::VectorXd trial = p + step;
      const double trial_cost = residuals(trial, trial_values);
      if (trial_cost < cost) {
        const bool small = (cost - trial_cost) <= 1e-15 * cost ||
                           step.norm() <= 1e-13 * (p.norm() + 1e-13);
        p = trial, f = trial_values, cost = trial_cost;
        lambda = std::max(lambda / 10, 1e-12);
        accepted = true;
        if (small) result.converged = true;
        break;
      }
      lambda *= 10;
    }
    if (!accepted) result.converged = true;  // no descent at any damping: a (local) minimum
    if (result.converged) break;
  }
  model.evaluate_with_jacobian(cols.data(), m, p.data(), values.data(), jac.data());
  const double s2 = 2 * cost / static_cast<double>(static_cast<Eigen::Index>(m) - n);
  const Eigen::MatrixXd r = jac.householderQr().matrixQR().topRows(n).triangularView<Eigen::Upper>();
  const Eigen::MatrixXd r_inv = r.triangularView<Eigen::Upper>().solve(Eigen::MatrixXd::Identity(n, n));
  result.stderr_ = ((r_inv * r_inv.transpose()).diagonal() * s2).cwiseSqrt();
  result.p = p;
  result.cost = cost;
  return result;
}

}  // namespace curvefit::test
