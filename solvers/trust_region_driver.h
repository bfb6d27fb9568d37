#pragma once
// One trust-region loop for every method, in the shape of Ceres's TrustRegionMinimizer +
// TrustRegionStrategy: the driver owns the start (moved strictly inside the bounds and evaluated),
// the counts, the interrupt, the history and callback, the gradient test, the max_nfev limit, the
// "Gauss-Newton step already below xtol" test, the last Gauss-Newton step taken without a pass when
// no pass could judge it (last_step_is_settled) and the result; a strategy (trf.cpp, dogbox.cpp,
// lm.cpp) owns only its scaling, its step, its radius rule and its own cost/step tests.
//
// Per accepted point x the driver calls measure() (optimality for the history and the gtol test)
// and prepare() (the factorization the steps from x need); then propose() / judge() until a trial
// is accepted or a test stops the run. A trial the strategy would accept is linearized before it is
// judged, so that a point whose Jacobian is not finite is judged as a failed step. A trial whose
// pass the interrupt cut short (Evaluation::interrupted) is never judged: the run ends at the last
// accepted point, with the linearization it already holds.
//
// Checkpoints: at the start and at every accepted point (after measure(), before prepare()) the
// driver hands options.on_state the run's SolverState, with the strategy's own part from save().
// A run with options.resume linearizes the saved x again (not counted: the run it continues has
// counted it), checks that the cost there is the saved one bit for bit, and calls restore() where
// a new run calls start(); every later step is then the uninterrupted run's.
#include <optional>
#include <string>

#include <Eigen/Core>

#include "memory/memory_manager.h"
#include "solvers/algorithm.h"
#include "solvers/objective.h"
#include "solvers/options.h"
#include "solvers/trust_region.h"

namespace curvefit::tr {

// Optimality at a point: `reported` is the scipy-style measure the history and the result carry;
// `scale_free` is what gtol is compared with, unchanged when the residuals are multiplied by a
// constant (MINPACK's largest gradient cosine, of the gradient the method measures optimality by).
struct Optimality {
  double reported = 0;
  double scale_free = 0;
};

struct Proposal {
  double predicted_reduction = 0;  // of the method's model (for the strategy's own use)
  bool model_minimum = false;      // the step is the model's minimiser (full Gauss-Newton step
                                   // inside the region and the bounds): below xtol, x has converged
};

struct Trial {
  bool finite = false;  // residuals (and Jacobian, when the point is to be accepted) finite
  double cost = 0;
};

struct Verdict {
  bool accept = false;
  std::optional<Status> status;  // the strategy's own tests (ftol, xtol) after this trial
};

class TrustRegionStrategy {
 public:
  virtual ~TrustRegionStrategy() = default;
  // Scaling and first radius, from the start point and its linearization.
  virtual void start(const ConstVecRef& x, const ConstVecRef& g, const Linearization& lin, double cost) = 0;
  // Optimality at x (g = J^T f); called at the start and at every accepted point.
  virtual Optimality measure(const ConstVecRef& x, const ConstVecRef& g, const Linearization& lin,
                             double cost) = 0;
  // The factorization every step from x uses; called once per accepted point, before propose().
  virtual void prepare(const ConstVecRef& x, const ConstVecRef& g, const Linearization& lin, double cost) = 0;
  // A trial step from x: writes step and the trial point x_new (feasible).
  virtual Proposal propose(const ConstVecRef& x, VecRef step, VecRef x_new) = 0;
  // Whether the last proposal would be accepted at this trial cost (a pure question).
  virtual bool acceptable(double trial_cost) const = 0;
  // Updates the radius from the trial's outcome, decides acceptance, applies the method's tests.
  virtual Verdict judge(const ConstVecRef& x_new, const Trial& trial) = 0;
  // x moved to the accepted trial point, whose linearization is `lin`.
  virtual void accepted(const Linearization& lin) { (void)lin; }
  virtual double radius() const = 0;
  // The state the next iterations depend on (radius, scaling, ...), into state.scalars / vectors;
  // and its restoration in place of start() when a run continues from a checkpoint.
  virtual void save(SolverState& state) const = 0;
  virtual void restore(const SolverState& state) = 0;
  // -1 / 0 / +1 per variable at the end of the run.
  virtual Eigen::VectorXi active_mask(const ConstVecRef& x) const;
};

// A saved entry of a strategy's state; ResumeError when it is missing (or has the wrong size).
double saved_scalar(const SolverState& state, const std::string& name);
Vec saved_vector(const SolverState& state, const std::string& name, Eigen::Index size);

// The driver's own slots in the run's SolverWorkspace: vectors 0..3 hold x, g = J^T f, the step
// and the trial point; a strategy takes its vectors from kDriverVectors on, and all the matrices.
constexpr int kDriverVectors = 4;

// Runs the loop from x0 (validated by solve()). Non-finite residuals or Jacobian at the start
// throw std::invalid_argument naming the point.
SolverResult run_trust_region(Objective& objective, const Eigen::VectorXd& x0, const SolverOptions& options,
                              SolverWorkspace& workspace, TrustRegionStrategy& strategy);

// A method's whole run: its workspace from the memory module (workspace_spec), its strategy over
// that workspace, and the one loop.
template <class Strategy>
SolverResult run_method(Algorithm algorithm, Objective& objective, const Eigen::VectorXd& x0,
                        const SolverOptions& options) {
  const Eigen::Index n = objective.num_params();
  SolverWorkspace workspace(workspace_spec(algorithm), static_cast<std::size_t>(n));
  Strategy strategy(options, workspace, n);
  return run_trust_region(objective, x0, options, workspace, strategy);
}

// The start actually used: x0 with every component that lies on a bound moved strictly inside
// (scipy's make_strictly_feasible, by 1e-10 relative). A component whose Jacobian column vanishes
// there to rounding (a Gaussian's width at 1e-10), or where the residuals are not finite, could not
// move: it is pushed further in, by factors of 100 up to max(1, |bound|), at most half-way to its
// other bound, until it can. Every method starts from this point; SolverResult::start reports it.
struct Start {
  Evaluation evaluation;
  int evaluations = 0;
};
Start feasible_start(Objective& objective, VecRef x, const ConstVecRef& lb, const ConstVecRef& ub);

}  // namespace curvefit::tr
