// Continuing a run from a saved state (SolverOptions::on_state / resume, trust_region_driver.h):
// for every method, with and without bounds and 'jac' scaling, a run resumed from the state saved
// at any accepted point ends with the uninterrupted run's x, cost, R, counts and history, bit for
// bit; a state that does not fit the objective is refused.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "solvers/dense_objective.h"
#include "solvers/solve.h"

namespace curvefit {
namespace {

// Rosenbrock's valley in 4 variables as least squares: many accepted steps for every method.
DenseObjective extended_rosenbrock() {
  return DenseObjective(
      4, 4,
      [](const Eigen::VectorXd& x, Eigen::VectorXd& f) {
        f << 10 * (x[1] - x[0] * x[0]), 1 - x[0], 10 * (x[3] - x[2] * x[2]), 1 - x[2];
      },
      [](const Eigen::VectorXd& x, Eigen::MatrixXd& J) {
        J.setZero();
        J(0, 0) = -20 * x[0], J(0, 1) = 10, J(1, 0) = -1;
        J(2, 2) = -20 * x[2], J(2, 3) = 10, J(3, 2) = -1;
      });
}

void expect_same_bits(const SolverResult& resumed, const SolverResult& whole, const std::string& where) {
  SCOPED_TRACE(where);
  for (Eigen::Index i = 0; i < whole.x.size(); ++i) EXPECT_EQ(resumed.x[i], whole.x[i]) << "x[" << i << "]";
  EXPECT_EQ(resumed.cost, whole.cost);
  EXPECT_TRUE(resumed.linearization.R == whole.linearization.R);
  EXPECT_TRUE(resumed.start == whole.start);
  EXPECT_EQ(resumed.nfev, whole.nfev);
  EXPECT_EQ(resumed.njev, whole.njev);
  EXPECT_EQ(resumed.iterations, whole.iterations);
  EXPECT_EQ(resumed.status, whole.status);
  ASSERT_EQ(resumed.history.size(), whole.history.size());
  for (std::size_t k = 0; k < whole.history.size(); ++k) {
    EXPECT_EQ(resumed.history[k].cost, whole.history[k].cost) << "history " << k;
    EXPECT_EQ(resumed.history[k].radius, whole.history[k].radius) << "history " << k;
  }
}

struct Case {
  const char* name;
  Algorithm method;
  bool bounded;
  bool jac_scale;
};

class ResumeFromEveryState : public ::testing::TestWithParam<Case> {};

TEST_P(ResumeFromEveryState, GivesTheUninterruptedRunBitForBit) {
  const Case c = GetParam();
  SolverOptions options;
  options.method = c.method;
  options.x_scale_jac = c.jac_scale;
  if (c.bounded) {
    options.lower = Eigen::Vector4d(-2, -1, -2, 0.5);  // x[3] = 1 at the minimum: inside
    options.upper = Eigen::Vector4d(0.9, 2, 3, 3);      // x[0] held below 1: on its bound at the end
  }
  std::vector<SolverState> states;
  options.on_state = [&states](const SolverState& s) { states.push_back(s); };
  const Eigen::Vector4d x0(-1.2, 1, -1.2, 1);
  DenseObjective whole_objective = extended_rosenbrock();
  const SolverResult whole = solve(whole_objective, x0, options);
  ASSERT_GE(whole.iterations, 5) << "a problem with several accepted steps";
  ASSERT_EQ(states.size(), static_cast<std::size_t>(whole.iterations) + 1);

  options.on_state = nullptr;
  for (const SolverState& state : states) {
    options.resume = &state;
    DenseObjective objective = extended_rosenbrock();
    // x0 is ignored: the state's point is where the run goes on from.
    const SolverResult resumed = solve(objective, Eigen::Vector4d(0.5, 0.5, 0.5, 0.5), options);
    expect_same_bits(resumed, whole, std::string(c.name) + " from iteration " + std::to_string(state.iteration));
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, ResumeFromEveryState,
                         ::testing::Values(Case{"trf", Algorithm::trf, false, false},
                                           Case{"trf_bounded_jac", Algorithm::trf, true, true},
                                           Case{"dogbox", Algorithm::dogbox, false, false},
                                           Case{"dogbox_bounded_jac", Algorithm::dogbox, true, true},
                                           Case{"lm", Algorithm::lm, false, true},
                                           Case{"lm_unit_scale", Algorithm::lm, false, false}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Resume, AStateFromOtherResidualsIsRefused) {
  SolverOptions options;
  std::vector<SolverState> states;
  options.on_state = [&states](const SolverState& s) { states.push_back(s); };
  DenseObjective objective = extended_rosenbrock();
  solve(objective, Eigen::Vector4d(-1.2, 1, -1.2, 1), options);
  ASSERT_GE(states.size(), 3u);
  options.on_state = nullptr;
  options.resume = &states[2];
  DenseObjective shifted(
      4, 4,
      [](const Eigen::VectorXd& x, Eigen::VectorXd& f) {
        f << 10 * (x[1] - x[0] * x[0]), 1.5 - x[0], 10 * (x[3] - x[2] * x[2]), 1 - x[2];
      },
      [](const Eigen::VectorXd& x, Eigen::MatrixXd& J) {
        J.setZero();
        J(0, 0) = -20 * x[0], J(0, 1) = 10, J(1, 0) = -1;
        J(2, 2) = -20 * x[2], J(2, 3) = 10, J(3, 2) = -1;
      });
  EXPECT_THROW(solve(shifted, Eigen::Vector4d::Zero(), options), ResumeError);
}

TEST(Resume, AStateOfAnotherMethodIsRefused) {
  SolverOptions options;
  options.method = Algorithm::lm;
  std::vector<SolverState> states;
  options.on_state = [&states](const SolverState& s) { states.push_back(s); };
  DenseObjective objective = extended_rosenbrock();
  solve(objective, Eigen::Vector4d(-1.2, 1, -1.2, 1), options);
  options.on_state = nullptr;
  options.method = Algorithm::trf;
  options.resume = &states.at(1);
  EXPECT_THROW(solve(objective, Eigen::Vector4d::Zero(), options), ResumeError);
}

}  // namespace
}  // namespace curvefit
