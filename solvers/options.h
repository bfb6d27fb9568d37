#pragma once
// Options and results of the solvers, named and behaving as scipy.optimize.least_squares users
// know them. Every field is documented where it is declared.
#include <atomic>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "solvers/algorithm.h"
#include "solvers/objective.h"

namespace curvefit {

// How a run ended. The numeric values follow scipy's `status`.
enum class Status {
  interrupted = -2,      // the callback or the interrupt flag stopped the run; x is the best point so far
  failed = -1,           // could not proceed (e.g. non-finite residuals at the start)
  max_evaluations = 0,   // max_nfev reached
  gtol = 1,              // gradient (optimality) test satisfied
  ftol = 2,              // relative cost reduction test satisfied
  xtol = 3,              // relative step size test satisfied
  ftol_and_xtol = 4,     // both ftol and xtol satisfied
};
// The message scipy prints for each status, e.g. "`ftol` termination condition is satisfied.".
std::string_view status_message(Status status);
// true for gtol, ftol, xtol and ftol_and_xtol.
bool status_converged(Status status);


// One line of the iteration history, also what the per-iteration callback receives.
struct IterationInfo {
  int iteration = 0;         // 0 is the starting point
  double cost = 0;           // cost at the current (accepted) point
  double cost_change = 0;    // reduction achieved by the step just taken (0 at iteration 0)
  double step_norm = 0;      // 2-norm of that step (0 at iteration 0)
  double optimality = 0;     // infinity norm of the (Coleman-Li scaled, for TRF) gradient
  double radius = 0;         // trust-region radius after the update
  int nfev = 0;              // evaluations so far
  int njev = 0;              // linearizations (Jacobian passes) so far
};

// Everything a run needs to continue from an accepted point exactly as it would have gone on
// (a checkpoint): the point, its cost, the counts and history so far, and the strategy's own state
// by name (radius, scaling, LM parameter, ...). The linearization is not kept: it is recomputed at
// x, which gives the same bits (the objective is deterministic).
struct SolverState {
  Eigen::VectorXd start;     // SolverResult::start of the run
  Eigen::VectorXd x;         // the current (accepted) point
  double cost = 0;           // at x
  int iteration = 0;
  int nfev = 0;
  int njev = 0;
  std::vector<IterationInfo> history;
  // Set when the step that reached x also met a stopping test: the run ends here, and a run
  // resumed from this state only reports.
  std::optional<Status> status;
  std::map<std::string, double> scalars;
  std::map<std::string, Eigen::VectorXd> vectors;
};

// A state that cannot continue this run (wrong size, a missing entry, or a cost at x that differs
// from the one recorded: other data or another model).
struct ResumeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct SolverOptions {
  // Algorithm: trf (bounds allowed), lm (no bounds), dogbox (bounds allowed).
  Algorithm method = Algorithm::trf;
  // Bounds; empty means unbounded. Either may contain -inf / +inf. lower < upper required.
  Eigen::VectorXd lower;
  Eigen::VectorXd upper;
  // Characteristic scale of each variable. Empty with x_scale_jac = true: 'jac', the inverse of
  // the running maximum of the Jacobian column norms. Empty with x_scale_jac = false: all ones.
  // Unset (the default) is each method's own best on NIST StRD:
  // - trf: the magnitudes of the start, |x0_j| (1 where x0_j = 0), so that the trust region has the
  //   shape of the parameters in any units (with all ones, scipy's default, a = 1e27 next to
  //   ea = 1e5 stops at the start); NIST 54/54 either way.
  // - dogbox: all ones, as scipy. 'jac' costs it 5 of its 51 certified runs (it drives Lanczos1-3,
  //   Thurber, MGH10 from their first starts into flat regions), |x0| one.
  // - lm: 'jac' (MINPACK's mode 1). All ones loses MGH10 from its first start (53/54).
  Eigen::VectorXd x_scale;
  std::optional<bool> x_scale_jac;
  // Termination tolerances, as in scipy (ftol: relative cost reduction; xtol: relative step),
  // except gtol, which every method compares with MINPACK's largest cosine between f and a column
  // of J (of the gradient the method measures optimality by: Coleman-Li weighted for trf, masked for
  // dogbox), so that no test depends on the units of y. A value of 0 disables that test. Defaults chosen on NIST StRD
  // (tests/solvers/nist_test.cpp): ftol on the cost is a square-root-precision test on x (a
  // relative cost change of 1e-12 still leaves x wrong in the 6th-8th digit on the nonzero-residual
  // problems), so it is kept at rounding level; x is certified by xtol, which trf and dogbox
  // also apply to the Gauss-Newton step they are about to take (stopping without spending a pass
  // on it). TRF with these: 54/54 runs LRE >= 6, mean LRE ~9.9.
  double ftol = 1e-15;
  double xtol = 1e-12;
  double gtol = 1e-15;
  // Maximum number of cost evaluations (passes over the data); 0 means 1000 * n. scipy's 100 * n
  // stops MGH17 and Bennett5 from their first NIST starting points while they still make progress
  // (they need ~940 and ~1400); converging runs stop long before the limit, so it costs nothing there.
  int max_nfev = 0;
  // dogbox's radius rules. `gauss_newton_first`: without bounds the first trial is the full
  // Gauss-Newton step when it is longer than ||x0||_inf (falling back to ||x0||_inf if it fails), and
  // a poor step shrinks the radius to the minimiser of the quadratic through the cost at both ends
  // (within [0.1, 0.5] of the step). `scipy`: radius ||x0||_inf and a fixed quarter, as scipy's
  // dogbox. Measured (tests/solvers/nist_test.cpp, mgh_test.cpp): NIST StRD 52/54 vs 51/54 runs at
  // LRE >= 6 (scipy's stops Rat43 start 1 at a wrong point with `gtol`); Moré-Garbow-Hillstrom from
  // 1, 10 and 100 times the standard starts 38/48 for both at a listed minimum (trf 41, lm 40).
  enum class DogboxRadiusRule { gauss_newton_first, scipy };
  DogboxRadiusRule dogbox_radius_rule = DogboxRadiusRule::gauss_newton_first;
  // Initial trust-region radius factor (MINPACK's `factor`), for lm. trf and dogbox start, as
  // scipy, from the norm of x0 in the scaled variables (1 when x0 = 0).
  double initial_radius_factor = 100.0;
  // Rank tolerance for the covariance pseudo-inverse: singular values of the column-scaled R below
  // rcond * largest are treated as zero; <= 0 means max(1e-12, eps * n) (solvers/covariance.cpp).
  double covariance_rcond = 0.0;
  // Evaluate the Jacobian together with the residuals at trial points. Defaults to what the
  // objective prefers (prefers_linearization_at_trial_points).
  enum class TrialLinearization { objective_default, always, never };
  TrialLinearization trial_linearization = TrialLinearization::objective_default;
  // Called after every iteration (and once at the start with iteration 0). Returning false stops
  // the run with Status::interrupted.
  std::function<bool(const IterationInfo&)> callback;
  // Set from outside (a signal handler, another thread) to stop the run before its next evaluation
  // — also between rejected trial steps, where a huge fit spends whole passes — with
  // Status::interrupted and the best point so far. An objective that watches the same flag may
  // also cut the pass in progress short (Evaluation::interrupted): that trial is dropped unjudged
  // and the run ends at its last accepted point; a start whose first evaluation is cut short ends
  // with no point (empty linearization, cost +inf, x the start). Null: never.
  const std::atomic<bool>* interrupt = nullptr;
  // Keep the per-iteration history in the result.
  bool keep_history = true;
  // Called with the run's state at the start and after every accepted step (before `callback`),
  // for checkpoints.
  std::function<void(const SolverState&)> on_state;
  // Continue the run from this state (saved by on_state of a run with the same objective and
  // options) instead of starting from x0; the counts and history go on from it, so that the
  // result is the one the uninterrupted run gives. Throws ResumeError when it does not fit.
  const SolverState* resume = nullptr;
};

// Whether x_scale is 'jac' for this method: x_scale empty and x_scale_jac, whose default is each
// method's own (lm: true, trf and dogbox: false; see x_scale above).
inline bool uses_jacobian_scaling(const SolverOptions& options) {
  return options.x_scale.size() == 0 && options.x_scale_jac.value_or(options.method == Algorithm::lm);
}

// Whether options.interrupt asks the run to stop.
inline bool interrupt_requested(const SolverOptions& options) {
  return options.interrupt && options.interrupt->load(std::memory_order_relaxed);
}

struct SolverResult {
  Eigen::VectorXd start;          // the point the run started from: x0, moved strictly inside the
                                  // bounds where it lay on one (report this as the initial point)
  Eigen::VectorXd x;              // solution (the best point found)
  // The point cost, grad and linearization were evaluated at: x, or the point one last
  // Gauss-Newton step before x when that step was taken without a pass (trust_region_driver.cpp,
  // last_step_is_settled: it moves the cost by less than its rounding).
  Eigen::VectorXd evaluated_x;
  double cost = 0;                // 0.5 * sum rho(f^2) at evaluated_x
  Eigen::VectorXd grad;           // gradient J^T f at evaluated_x
  double optimality = 0;          // first-order optimality (inf-norm, scaled as the method does)
  Eigen::VectorXi active_mask;    // 0 free, -1 on the lower bound, +1 on the upper bound
  int nfev = 0;                   // cost evaluations (each a pass over the data)
  int njev = 0;                   // linearizations (each a pass with the Jacobian)
  int iterations = 0;
  Status status = Status::failed;
  std::string message;
  bool success = false;           // status_converged(status)
  Linearization linearization;    // at evaluated_x: R for the covariance, Q^T f, column norms
  std::vector<IterationInfo> history;
};

}  // namespace curvefit
