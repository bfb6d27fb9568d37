// The least-squares test problems of Moré, Garbow & Hillstrom (1981) with n <= 5, for every
// method. From the standard starts a run that reports convergence must be at a minimum the paper
// lists (a wrong point with success is the worst outcome), and every problem is solved. From 1, 10
// and 100 times the standard starts (the paper's protocol) the table of which method and which
// dogbox radius rule reaches a listed minimum is printed, and the counts measured are kept.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "solvers/mgh_problems.h"
#include "solvers/solve.h"

namespace curvefit {
namespace {

bool at_a_listed_minimum(const mgh::Problem& problem, const SolverResult& r) {
  const double F = 2 * r.cost;
  for (double minimum : problem.minima)
    if (minimum == 0 ? F <= 1e-16 : std::abs(F - minimum) <= 1e-5 * minimum) return true;
  return false;
}

SolverResult run(const mgh::Problem& problem, const SolverOptions& options, double factor) {
  auto objective = mgh::make_objective(problem);
  const Eigen::VectorXd x0 = factor * Eigen::Map<const Eigen::VectorXd>(problem.x0.data(), problem.n);
  return solve(*objective, x0, options);
}

class MghStandardStarts : public ::testing::TestWithParam<Algorithm> {};

TEST_P(MghStandardStarts, EveryRunReachesAListedMinimum) {
  SolverOptions options;
  options.method = GetParam();
  for (const mgh::Problem& problem : mgh::problems()) {
    const SolverResult r = run(problem, options, 1.0);
    EXPECT_TRUE(r.success) << problem.name << ": " << r.message;
    EXPECT_TRUE(at_a_listed_minimum(problem, r))
        << problem.name << " ends at F = " << 2 * r.cost << ", x = " << r.x.transpose();
    if (problem.minimizer.empty() || !at_a_listed_minimum(problem, r)) continue;
    const Eigen::VectorXd truth = Eigen::Map<const Eigen::VectorXd>(problem.minimizer.data(), problem.n);
    EXPECT_LT(((r.x - truth).array().abs() / truth.array().abs().max(1.0)).maxCoeff(), 1e-6)
        << problem.name << ": " << r.x.transpose();
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, MghStandardStarts,
                         ::testing::Values(Algorithm::trf, Algorithm::lm, Algorithm::dogbox),
                         [](const auto& info) { return std::string(to_string(info.param)); });

// Runs at a listed minimum over the 48 starts (16 problems x 1, 10, 100 times the standard start).
int solved_from_all_starts(const char* label, const SolverOptions& options) {
  std::printf("%s\n%-20s %5s %14s %5s  %s\n", label, "problem", "start", "F", "nfev", "status");
  int solved = 0;
  for (double factor : {1.0, 10.0, 100.0}) {
    for (const mgh::Problem& problem : mgh::problems()) {
      const SolverResult r = run(problem, options, factor);
      const bool minimum = at_a_listed_minimum(problem, r);
      std::printf("%-20s %4gx %14.6e %5d  %s%s\n", problem.name.c_str(), factor, 2 * r.cost, r.nfev,
                  r.message.c_str(), minimum ? "" : "  [not at a listed minimum]");
      solved += r.success && minimum;
    }
  }
  std::printf("%s: %d/48 at a listed minimum\n\n", label, solved);
  return solved;
}

TEST(MghAllStarts, MethodsAndDogboxRadiusRules) {
  SolverOptions options;
  options.method = Algorithm::trf;
  const int trf = solved_from_all_starts("trf", options);
  options.method = Algorithm::lm;
  const int lm = solved_from_all_starts("lm", options);
  options.method = Algorithm::dogbox;
  const int dogbox = solved_from_all_starts("dogbox (gauss_newton_first)", options);
  options.dogbox_radius_rule = SolverOptions::DogboxRadiusRule::scipy;
  const int dogbox_scipy = solved_from_all_starts("dogbox (scipy)", options);
  std::printf("at a listed minimum of 48: trf %d, lm %d, dogbox %d, dogbox with scipy's rule %d\n", trf, lm,
              dogbox, dogbox_scipy);
  EXPECT_GE(trf, 41);
  EXPECT_GE(lm, 40);
  EXPECT_GE(dogbox, 38);
  EXPECT_GE(dogbox_scipy, 38);  // the comparison rule, not the default (options.h)
}

}  // namespace
}  // namespace curvefit
