#include "solvers/trust_region_driver.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

namespace curvefit::tr {

namespace {
// The driver's own entry in a checkpoint's SolverState::scalars.
constexpr const char* kArrivingNewtonStep = "driver.arriving_newton_step";
}  // namespace

Eigen::VectorXi TrustRegionStrategy::active_mask(const ConstVecRef& x) const {
  return Eigen::VectorXi::Zero(x.size());
}

double saved_scalar(const SolverState& state, const std::string& name) {
  const auto found = state.scalars.find(name);
  if (found == state.scalars.end()) throw ResumeError("the saved state has no " + name);
  return found->second;
}

Vec saved_vector(const SolverState& state, const std::string& name, Eigen::Index size) {
  const auto found = state.vectors.find(name);
  if (found == state.vectors.end() || found->second.size() != size)
    throw ResumeError("the saved state has no " + name + " of " + std::to_string(size) + " values");
  return found->second;
}

namespace {

// The pushed components that could not move from the start: all of them where the residuals or
// the Jacobian are not finite; otherwise those whose Jacobian column does not resolve a move of
// max(1, |x_i|) against the residuals (a column that vanishes to rounding there, as a Gaussian's at
// a width of 1e-10, leaves the variable stuck).
std::vector<Eigen::Index> stuck(const Evaluation& e, const ConstVecRef& x, const std::vector<Eigen::Index>& pushed) {
  if (!e.finite || !e.has_linearization) return pushed;
  const double resolvable = std::sqrt(std::numeric_limits<double>::epsilon() * e.lin.f_norm2);
  std::vector<Eigen::Index> out;
  for (Eigen::Index i : pushed)
    if (!(e.lin.col_norms[i] * std::max(1.0, std::abs(x[i])) >= resolvable)) out.push_back(i);
  return out;
}

// x0's component i moved `relative` * max(1, |bound|) inside from the bound it lies on, at most
// half-way to the other bound.
double pushed_inside(double x0, double lb, double ub, double relative) {
  const double mid = std::isfinite(lb) && std::isfinite(ub) ? 0.5 * (lb + ub) : 0.0;
  if (x0 <= lb) {
    const double x = lb + relative * std::max(1.0, std::abs(lb));
    return std::isfinite(ub) ? std::min(x, mid) : x;
  }
  const double x = ub - relative * std::max(1.0, std::abs(ub));
  return std::isfinite(lb) ? std::max(x, mid) : x;
}

}  // namespace

Start feasible_start(Objective& objective, VecRef x, const ConstVecRef& lb, const ConstVecRef& ub) {
  const Vec x0 = x;
  std::vector<Eigen::Index> pushed;
  const Eigen::VectorXi on_bound = find_active_constraints(x0, lb, ub, 1e-10);
  for (Eigen::Index i = 0; i < x.size(); ++i)
    if (on_bound[i] != 0) pushed.push_back(i);
  Start start;
  // Pushes of 1e-10, 1e-8, ..., 1 relative; each round pushes further only what is still stuck.
  for (int round = 0;; ++round) {
    const double relative = std::pow(10.0, 2 * round - 10);
    for (Eigen::Index i : pushed) x[i] = pushed_inside(x0[i], lb[i], ub[i], relative);
    start.evaluation = objective.evaluate(x, true);
    ++start.evaluations;
    if (start.evaluation.interrupted) return start;
    pushed = stuck(start.evaluation, x, pushed);
    if (pushed.empty() || round == 5) break;
  }
  if (!start.evaluation.finite || !start.evaluation.has_linearization)
    throw std::invalid_argument("residuals or Jacobian are not finite at the starting point x0 = " +
                                point_text(x));
  return start;
}

namespace {

// The run's state and bookkeeping: counts, history, callback, interrupt and the end of the run.
struct Run {
  Objective& objective;
  const SolverOptions& options;
  TrustRegionStrategy& strategy;
  Eigen::Map<Vec> x, g, step, x_new;
  SolverResult result;
  double cost = 0;
  Linearization lin;
  Optimality optimality;
  std::optional<Status> status;
  int iteration = 0;
  int max_nfev = 0;
  bool linearize_trials = false;
  bool has_point = false;  // x has a complete linearization (the start or an accepted step)
  // relative_step() of the full Gauss-Newton step that reached x; infinity when x was reached
  // otherwise (the start, a step the region or a bound cut short).
  double arriving_newton_step = std::numeric_limits<double>::infinity();
  std::optional<Vec> evaluated_x;  // set when x moved by a step taken without a pass

  Run(Objective& o, const SolverOptions& opts, SolverWorkspace& ws, TrustRegionStrategy& s)
      : objective(o), options(opts), strategy(s),
        x(ws.vector(0), o.num_params()), g(ws.vector(1), o.num_params()),
        step(ws.vector(2), o.num_params()), x_new(ws.vector(3), o.num_params()) {
    const int n = o.num_params();
    max_nfev = options.max_nfev > 0 ? options.max_nfev : 1000 * n;
    using Trials = SolverOptions::TrialLinearization;
    linearize_trials = options.trial_linearization == Trials::always ||
                       (options.trial_linearization == Trials::objective_default &&
                        objective.prefers_linearization_at_trial_points());
  }

  // x has become the current point (start or accepted step): gradient, optimality, history line.
  void arrived(double cost_change, double step_norm) {
    g.noalias() = lin.R.triangularView<Eigen::Upper>().transpose() * lin.qtf;
    optimality = strategy.measure(x, g, lin, cost);
    const IterationInfo info{iteration, cost, cost_change, step_norm, optimality.reported,
                             strategy.radius(), result.nfev, result.njev};
    if (options.keep_history) result.history.push_back(info);
    if (options.on_state) options.on_state(state());
    if (options.callback && !options.callback(info) && !status) status = Status::interrupted;
  }

  // What the next iterations depend on, at the current point.
  SolverState state() const {
    SolverState s;
    s.start = result.start;
    s.x = x;
    s.cost = cost;
    s.iteration = iteration;
    s.nfev = result.nfev;
    s.njev = result.njev;
    s.history = result.history;
    s.status = status;
    s.scalars[kArrivingNewtonStep] = arriving_newton_step;
    strategy.save(s);
    return s;
  }

  // The start: x0 moved strictly inside the bounds, evaluated, the strategy's scaling and radius.
  void begin(const Eigen::VectorXd& x0) {
    const Eigen::Index n = objective.num_params();
    x = x0;
    Start start = feasible_start(objective, x, lower_bounds(options, n), upper_bounds(options, n));
    result.start = x;
    result.nfev = result.njev = start.evaluations;
    if (start.evaluation.interrupted) return end_without_point();
    has_point = true;
    cost = start.evaluation.cost;
    lin = std::move(start.evaluation.lin);
    g.noalias() = lin.R.triangularView<Eigen::Upper>().transpose() * lin.qtf;
    strategy.start(x, g, lin, cost);
    arrived(0, 0);
  }

  // The point, counts, history and strategy of a saved state; x is linearized again (not counted).
  void resume(const SolverState& saved) {
    if (saved.x.size() != x.size() || saved.start.size() != x.size())
      throw ResumeError("the saved state has " + std::to_string(saved.x.size()) + " parameters, the run " +
                        std::to_string(x.size()));
    x = saved.x;
    Evaluation e = objective.evaluate(x, true);
    if (e.interrupted) {
      result.start = saved.start;
      result.nfev = saved.nfev;
      result.njev = saved.njev;
      iteration = saved.iteration;
      return end_without_point();
    }
    if (!e.finite || !e.has_linearization || e.cost != saved.cost)
      throw ResumeError("the cost at the saved point is not the saved one (other data or another model)");
    result.start = saved.start;
    result.nfev = saved.nfev;
    result.njev = saved.njev;
    if (options.keep_history) result.history = saved.history;
    iteration = saved.iteration;
    status = saved.status;
    const auto arriving = saved.scalars.find(kArrivingNewtonStep);
    if (arriving != saved.scalars.end()) arriving_newton_step = arriving->second;
    cost = saved.cost;
    lin = std::move(e.lin);
    g.noalias() = lin.R.triangularView<Eigen::Upper>().transpose() * lin.qtf;
    strategy.restore(saved);
    optimality = strategy.measure(x, g, lin, cost);
    has_point = true;
  }

  // The interrupt cut the pass at x short before x was ever linearized: the run has no point.
  void end_without_point() {
    status = Status::interrupted;
    cost = std::numeric_limits<double>::infinity();
    g.setZero();
  }

  // One evaluation of the trial point; one the strategy would accept also carries the Jacobian,
  // and a non-finite Jacobian makes it a failed trial. An interrupted pass leaves e.interrupted
  // set and the trial unjudged.
  Trial evaluate_trial(Evaluation& e) {
    e = objective.evaluate(x_new, linearize_trials);
    ++result.nfev;
    if (linearize_trials) ++result.njev;
    if (e.interrupted) return {};
    if (e.finite && !e.has_linearization && strategy.acceptable(e.cost)) {
      e = objective.evaluate(x_new, true);
      ++result.njev;
    }
    const bool usable = e.finite && (e.has_linearization || !strategy.acceptable(e.cost));
    return {usable, e.cost};
  }

  // Near the minimum of a large fit the last Gauss-Newton step is typically just above xtol and
  // predicts a cost reduction far below the cost's rounding: its pass over the data can only
  // accept it (lowers_cost, at_rounding_level) and the step after it is below xtol, ending the run
  // (a 1e7-point fit spends a fourth pass of four on this). The pass is skipped when
  //   - the step is the model's minimum (a full Gauss-Newton step inside the region and bounds),
  //   - it predicts a reduction below the rounding level of the cost, and
  //   - the Gauss-Newton step that reached x converged fast enough that the next one, at the rate
  //     observed (relative / arriving), is predicted below xtol / 10.
  bool last_step_is_settled(const Proposal& proposal, double relative) const {
    if (!proposal.model_minimum || !(proposal.predicted_reduction <= kCostRoundingLevel * cost)) return false;
    if (!std::isfinite(arriving_newton_step) || !(arriving_newton_step > relative)) return false;
    return relative * (relative / arriving_newton_step) < 0.1 * options.xtol;
  }

  // Trial steps from x until one is accepted or a test ends the run.
  void iterate() {
    for (;;) {
      if (interrupt_requested(options)) {
        status = Status::interrupted;
        return;
      }
      const Proposal proposal = strategy.propose(x, step, x_new);
      const double relative = relative_step(step, x, options.xtol);
      // x is already at the model's minimum to xtol: no pass is spent on the step.
      if (proposal.model_minimum && relative < options.xtol) {
        status = Status::xtol;
        return;
      }
      if (last_step_is_settled(proposal, relative)) {
        // The pass that would judge this step could only accept it, and the step after it would
        // end the run on xtol: take it without the pass. x, its linearization and cost are then
        // those of the point one rounding-level step before (J moves by O(step), the cost by less
        // than its rounding), which is what the covariance and the statistics are computed from.
        // Not counted as an iteration: iterations, history lines and checkpoints are of evaluated
        // points, one each.
        evaluated_x = x;
        x = x_new;
        status = Status::xtol;
        return;
      }
      Evaluation e;
      const Trial trial = evaluate_trial(e);
      // Neither the radius nor x may move on a pass that did not see all the data.
      if (e.interrupted) {
        status = Status::interrupted;
        return;
      }
      const Verdict verdict = strategy.judge(x_new, trial);
      status = verdict.status;
      if (verdict.accept) {
        const double cost_change = cost - trial.cost;
        const double step_norm = step.norm();
        arriving_newton_step = proposal.model_minimum ? relative : std::numeric_limits<double>::infinity();
        x = x_new;
        cost = e.cost;
        lin = std::move(e.lin);
        strategy.accepted(lin);
        ++iteration;
        arrived(cost_change, step_norm);
      }
      if (!status && result.nfev >= max_nfev) status = Status::max_evaluations;
      if (status || verdict.accept) return;
    }
  }

  SolverResult finish() {
    result.x = x;
    result.evaluated_x = evaluated_x.value_or(x);
    result.cost = cost;
    result.grad = g;
    result.optimality = optimality.reported;
    result.iterations = iteration;
    result.status = status.value_or(Status::max_evaluations);
    result.message = has_point ? std::string(status_message(result.status))
                               : "Interrupted before the first pass over the data ended: there is no best point "
                                 "yet (the parameters are where the fit started).";
    result.success = status_converged(result.status);
    result.active_mask = has_point ? strategy.active_mask(x) : Eigen::VectorXi::Zero(x.size());
    result.linearization = std::move(lin);
    return std::move(result);
  }
};

}  // namespace

SolverResult run_trust_region(Objective& objective, const Eigen::VectorXd& x0, const SolverOptions& options,
                              SolverWorkspace& workspace, TrustRegionStrategy& strategy) {
  Run run(objective, options, workspace, strategy);
  if (options.resume)
    run.resume(*options.resume);
  else
    run.begin(x0);
  while (!run.status) {
    if (run.optimality.scale_free <= options.gtol) {
      run.status = Status::gtol;
      break;
    }
    if (run.result.nfev >= run.max_nfev) break;
    strategy.prepare(run.x, run.g, run.lin, run.cost);
    run.iterate();
  }
  return run.finish();
}

}  // namespace curvefit::tr
