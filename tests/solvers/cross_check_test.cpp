// Cross-check: 50 random small problems (three model families, noisy data, random starts near
// the truth); trf, dogbox, lm and Ceres's own trust-region solver (DENSE_QR, tight tolerances)
// must reach the same minimum to 1e-8 relative in the parameters.
#include <gtest/gtest.h>

#include <ceres/ceres.h>

#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "solvers/dense_objective.h"
#include "solvers/solve.h"

namespace curvefit {
namespace {

constexpr int kProblems = 50;

// family 0: a exp(-b t) + c;  1: a / (1 + exp(-(t - m) / w));  2: a exp(-(t - mu)^2 / (2 s^2)) + c
template <int Family, class T>
T model_of(const T* p, double t) {
  using std::exp;
  using ceres::exp;
  if constexpr (Family == 0) return p[0] * exp(-p[1] * t) + p[2];
  if constexpr (Family == 1) return p[0] / (1.0 + exp(-(t - p[1]) / p[2]));
  if constexpr (Family == 2) return p[0] * exp(-(t - p[1]) * (t - p[1]) / (2.0 * p[2] * p[2])) + p[3];
}
template <class T>
T model(int family, const T* p, double t) {
  if (family == 0) return model_of<0>(p, t);
  if (family == 1) return model_of<1>(p, t);
  return model_of<2>(p, t);
}
int params_of(int family) { return family == 2 ? 4 : 3; }

struct Problem {
  int family;
  Eigen::VectorXd t, y, truth, start;
};

Problem make_problem(int index) {
  std::mt19937 rng(1000 + index);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::normal_distribution<double> noise(0.0, 0.02);
  Problem p;
  p.family = index % 3;
  const int n = params_of(p.family);
  const int m = 30 + static_cast<int>(std::abs(u(rng)) * 30);
  p.truth.resize(n);
  if (p.family == 0) p.truth << 2.0 + u(rng), 0.8 + 0.5 * u(rng), 0.5 * u(rng);
  if (p.family == 1) p.truth << 3.0 + u(rng), 2.5 + 0.5 * u(rng), 0.6 + 0.2 * u(rng);
  if (p.family == 2) p.truth << 2.0 + u(rng), 2.5 + 0.5 * u(rng), 0.7 + 0.2 * u(rng), 0.3 * u(rng);
  p.t.resize(m);
  p.y.resize(m);
  for (int i = 0; i < m; ++i) {
    p.t[i] = 5.0 * i / (m - 1);
    p.y[i] = model(p.family, p.truth.data(), p.t[i]) + noise(rng);
  }
  p.start = p.truth;
  for (int j = 0; j < n; ++j) p.start[j] *= 1.0 + 0.2 * u(rng);
  return p;
}

DenseObjective objective_of(const Problem& p) {
  const int n = params_of(p.family);
  auto residuals = [p](const Eigen::VectorXd& x, Eigen::VectorXd& f) {
    for (Eigen::Index i = 0; i < p.t.size(); ++i) f[i] = model(p.family, x.data(), p.t[i]) - p.y[i];
  };
  auto jacobian = [p, n](const Eigen::VectorXd& x, Eigen::MatrixXd& J) {
    using Jet = ceres::Jet<double, 4>;
    Jet xj[4];
    for (int j = 0; j < n; ++j) xj[j] = Jet(x[j], j);
    for (Eigen::Index i = 0; i < p.t.size(); ++i) {
      const Jet v = model(p.family, xj, p.t[i]);
      for (int j = 0; j < n; ++j) J(i, j) = v.v[j];
    }
  };
  return DenseObjective(n, static_cast<std::size_t>(p.t.size()), residuals, jacobian);
}

template <int Family>
struct PointResidual {
  double t, y;
  template <class T>
  bool operator()(const T* p, T* r) const {
    r[0] = model_of<Family>(p, t) - y;
    return true;
  }
};

Eigen::VectorXd solve_with_ceres(const Problem& p) {
  Eigen::VectorXd x = p.start;
  ceres::Problem problem;
  for (Eigen::Index i = 0; i < p.t.size(); ++i) {
    ceres::CostFunction* cost = nullptr;
    if (p.family == 0) cost = new ceres::AutoDiffCostFunction<PointResidual<0>, 1, 3>(new PointResidual<0>{p.t[i], p.y[i]});
    if (p.family == 1) cost = new ceres::AutoDiffCostFunction<PointResidual<1>, 1, 3>(new PointResidual<1>{p.t[i], p.y[i]});
    if (p.family == 2) cost = new ceres::AutoDiffCostFunction<PointResidual<2>, 1, 4>(new PointResidual<2>{p.t[i], p.y[i]});
    problem.AddResidualBlock(cost, nullptr, x.data());
  }
  ceres::Solver::Options options;
  options.linear_solver_type = ceres::DENSE_QR;
  options.function_tolerance = 1e-16;
  options.gradient_tolerance = 1e-16;
  options.parameter_tolerance = 1e-16;
  options.max_num_iterations = 500;
  options.logging_type = ceres::SILENT;
  ceres::Solver::Summary summary;
  ceres::Solve(options, &problem, &summary);
  return x;
}

// Each method against Ceres on all 50 problems (the Ceres solutions are computed once).
class CrossCheck : public ::testing::TestWithParam<Algorithm> {
 protected:
  static void SetUpTestSuite() {
    for (int k = 0; k < kProblems; ++k) {
      problems_.push_back(make_problem(k));
      references_.push_back(solve_with_ceres(problems_.back()));
    }
  }
  static inline std::vector<Problem> problems_;
  static inline std::vector<Eigen::VectorXd> references_;
};

TEST_P(CrossCheck, ReachesTheSameMinimumAsCeres) {
  const Algorithm method = GetParam();
  for (int k = 0; k < kProblems; ++k) {
    const Problem& p = problems_[k];
    const Eigen::VectorXd& reference = references_[k];
    // Ceres found the noisy-data optimum near the truth (the problems are well posed).
    ASSERT_LT((reference - p.truth).norm(), 0.2 * p.truth.norm()) << "problem " << k;
    DenseObjective objective = objective_of(p);
    SolverOptions o;
    o.method = method;
    SolverResult r;
    try {
      r = solve(objective, p.start, o);
    } catch (const std::logic_error& e) {
      if (method == Algorithm::lm && std::string(e.what()).find("not implemented") != std::string::npos)
        GTEST_SKIP() << "lm is not implemented yet: " << e.what();
      throw;
    }
    EXPECT_TRUE(r.success) << to_string(method) << " problem " << k << ": " << r.message;
    EXPECT_LT((r.x - reference).norm(), 1e-8 * reference.norm())
        << to_string(method) << " problem " << k << ": " << r.x.transpose() << " vs ceres " << reference.transpose();
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, CrossCheck, ::testing::Values(Algorithm::trf, Algorithm::dogbox, Algorithm::lm),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace curvefit
