// NIST StRD certification: all 27 problems, both starting points, each method, default options.
// Prints the LRE table; a run that misses LRE 6 is named with its status.
#include <gtest/gtest.h>

#include <cstdio>
#include <numeric>

#include "solvers/solve.h"
#include "solvers/nist_problems.h"

namespace curvefit {
namespace {

struct Run {
  std::string problem;
  int start;
  double lre;
  SolverResult result;
};

std::vector<Run> run_all(Algorithm method, SolverOptions::DogboxRadiusRule rule) {
  std::vector<Run> runs;
  for (const std::string& name : nist::all_names()) {
    const nist::Problem problem = nist::load(CURVEFIT_TEST_DATA_DIR "/nist", name);
    for (int start = 1; start <= 2; ++start) {
      const auto& s = start == 1 ? problem.start1 : problem.start2;
      Eigen::VectorXd x0 = Eigen::Map<const Eigen::VectorXd>(s.data(), static_cast<Eigen::Index>(s.size()));
      auto objective = nist::make_objective(problem);
      SolverOptions options;
      options.method = method;
      options.dogbox_radius_rule = rule;
      SolverResult result = solve(*objective, x0, options);
      runs.push_back({name, start, nist::lre(result.x, problem.certified), std::move(result)});
    }
  }
  return runs;
}

void report_and_check(Algorithm method, int min_runs_at_6, double min_mean,
                      SolverOptions::DogboxRadiusRule rule = SolverOptions::DogboxRadiusRule::gauss_newton_first) {
  const std::vector<Run> runs = run_all(method, rule);
  int at4 = 0, at6 = 0;
  double sum = 0;
  std::printf("\nNIST StRD, method %s, default options\n%-10s %5s %6s %5s %5s  %s\n",
              std::string(to_string(method)).c_str(), "problem", "start", "LRE", "nfev", "njev", "status");
  for (const Run& r : runs) {
    at4 += r.lre >= 4;
    at6 += r.lre >= 6;
    sum += r.lre;
    std::printf("%-10s %5d %6.2f %5d %5d  %s\n", r.problem.c_str(), r.start, r.lre, r.result.nfev,
                r.result.njev, r.result.message.c_str());
  }
  const double mean = sum / static_cast<double>(runs.size());
  std::printf("%s: LRE>=4 %d/%zu, LRE>=6 %d/%zu, mean LRE %.2f\n", std::string(to_string(method)).c_str(),
              at4, runs.size(), at6, runs.size(), mean);
  for (const Run& r : runs)
    if (r.lre < 6)
      std::printf("missed LRE 6: %s start %d, LRE %.2f: %s\n", r.problem.c_str(), r.start, r.lre,
                  r.result.message.c_str());
  EXPECT_GE(at6, min_runs_at_6);
  EXPECT_GE(mean, min_mean);
}

// The loader and the model formulas are right: the certified parameters reproduce the certified
// residual sum of squares (Lanczos1's 1e-25 cannot be reproduced in double precision).
TEST(NistStrd, CertifiedParametersReproduceCertifiedRss) {
  for (const std::string& name : nist::all_names()) {
    const nist::Problem problem = nist::load(CURVEFIT_TEST_DATA_DIR "/nist", name);
    auto objective = nist::make_objective(problem);
    Eigen::VectorXd b = Eigen::Map<const Eigen::VectorXd>(problem.certified.data(), problem.n_params);
    const double rss = 2.0 * objective->evaluate(b, false).cost;
    if (name == "Lanczos1") {
      EXPECT_LT(rss, 1e-20) << name;
    } else {
      EXPECT_NEAR(rss, problem.certified_rss, 1e-6 * problem.certified_rss) << name;
    }
  }
}

TEST(NistStrd, TrfSolvesAll54RunsToSixDigits) { report_and_check(Algorithm::trf, 54, 9.5); }
TEST(NistStrd, LmSolvesAtLeast53Runs) { report_and_check(Algorithm::lm, 53, 0.0); }
TEST(NistStrd, DogboxSolvesAtLeast52Runs) { report_and_check(Algorithm::dogbox, 52, 0.0); }
// For comparison (SolverOptions::dogbox_radius_rule): scipy's radius rule certifies one run fewer.
TEST(NistStrd, DogboxWithScipysRadiusRule) {
  report_and_check(Algorithm::dogbox, 51, 0.0, SolverOptions::DogboxRadiusRule::scipy);
}

}  // namespace
}  // namespace curvefit
