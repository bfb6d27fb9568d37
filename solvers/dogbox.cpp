// dogbox (Voglis & Lagaris, "A rectangular trust region dogleg approach for unconstrained and
// bound constrained nonlinear optimization", 2004), following scipy.optimize._lsq.dogbox, on the
// compressed linearization (J = Q R; the solver never sees J or f):
//   - the trust region is a box |step_i| <= Delta scale_i, intersected with the bounds;
//   - a variable on a bound whose anti-gradient points out of the box is frozen: its column is
//     removed. J[:, free] = Q R[:, free], so the reduced problem is a small QR of R's free
//     columns (k x k triangle T, right-hand side the rotated Q^T f);
//   - the step follows the dogleg path from the Cauchy point to the Gauss-Newton step of the
//     reduced problem (min-norm least squares through T), stopped at the box.
// Two radius rules differ from scipy's port (measured on NIST StRD, tests/solvers/nist_test.cpp:
// 51/54 -> 52/54 runs at LRE >= 6, about the same evaluations in total):
//   - without bounds, the first trial is the full Gauss-Newton step when it is longer than
//     ||x0||_inf: the size of x0 is then a blind guess of how far to go, the Gauss-Newton step is
//     the model's own answer (with bounds, the box carries the user's scale); if that trial
//     fails, the radius falls back to the guess;
//   - after a poor step the radius shrinks to the minimiser of the quadratic through the cost at
//     both ends and the slope at the start, kept within [0.1, 0.5] of the step (Dennis & Schnabel
//     1983, A6.4.5), instead of a fixed quarter: a wild first step is cut back in one evaluation.
// Non-finite residuals at the start: std::invalid_argument naming the point; at a trial point:
// rejected, the radius shrinks. Stopping as in trf.cpp, including the check that a Gauss-Newton
// step already below xtol ends the run without spending a pass on it.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <Eigen/QR>
#include <Eigen/SVD>

#include "memory/memory_manager.h"
#include "solvers/solve.h"
#include "solvers/trust_region.h"

namespace curvefit {

using tr::Vec;

SolverResult solve_dogbox(Objective& objective, const Eigen::VectorXd& x0, const SolverOptions& options) {
  const Eigen::Index n = objective.num_params();
  const Vec lb = tr::lower_bounds(options, n);
  const Vec ub = tr::upper_bounds(options, n);
  const bool trial_linearization =
      options.trial_linearization == SolverOptions::TrialLinearization::always ||
      (options.trial_linearization == SolverOptions::TrialLinearization::objective_default &&
       objective.prefers_linearization_at_trial_points());
  const int max_nfev = options.max_nfev > 0 ? options.max_nfev : 1000 * static_cast<int>(n);

  // Workspace (memory/solver_workspace.h, dogbox row: 1 matrix, 8 vectors):
  //   matrix 0: the free columns of R (n x k), re-triangularised in place; T = its k x k top
  //   vectors:  0 x, 1 g (= J^T f), 2 g with frozen components zeroed, 3 scale, 4 scale_inv,
  //             5 step (n), 6 x_new, 7 rotated Q^T f of the reduced system
  //   (the free-variable copies of x, bounds and g, k <= n each, are small temporaries)
  SolverWorkspace ws(Algorithm::dogbox, static_cast<std::size_t>(n));
  using MapV = Eigen::Map<Vec>;
  MapV x(ws.vector(0), n), g(ws.vector(1), n), g_masked(ws.vector(2), n), scale(ws.vector(3), n),
      scale_inv(ws.vector(4), n), step(ws.vector(5), n), x_new(ws.vector(6), n), reduced_qtf(ws.vector(7), n);

  x = x0;
  SolverResult result;
  Evaluation current = tr::evaluate_start(objective, x);
  result.nfev = 1;
  result.njev = 1;
  double cost = current.cost;
  Linearization lin = std::move(current.lin);
  g = lin.R.transpose() * lin.qtf;
  const bool jac_scale = tr::initial_x_scale(options, lin.col_norms, scale, scale_inv);
  double Delta = x.cwiseProduct(scale_inv).lpNorm<Eigen::Infinity>();
  if (Delta == 0 || !std::isfinite(Delta)) Delta = 1.0;
  const double initial_guess = Delta;
  const bool bounded = tr::has_finite_bounds(lb, ub);

  // -1 / +1: the variable sits exactly on its lower / upper bound.
  Eigen::VectorXi on_bound = Eigen::VectorXi::Zero(n);
  for (Eigen::Index i = 0; i < n; ++i) on_bound[i] = x[i] == lb[i] ? -1 : (x[i] == ub[i] ? 1 : 0);

  std::optional<Status> status;
  double step_norm = 0, actual_reduction = 0, g_norm = 0;
  // Frozen variables: on a bound with the anti-gradient pointing out of the box.
  auto masked_gradient_norm = [&] {
    for (Eigen::Index i = 0; i < n; ++i) g_masked[i] = on_bound[i] * g[i] < 0 ? 0.0 : g[i];
    return g_masked.lpNorm<Eigen::Infinity>();
  };
  auto report = [&](int iteration) {
    IterationInfo info{iteration, cost, actual_reduction, step_norm, g_norm, Delta, result.nfev, result.njev};
    if (options.keep_history) result.history.push_back(info);
    if (options.callback && !options.callback(info) && !status) status = Status::interrupted;
  };
  g_norm = masked_gradient_norm();
  report(0);

  int iteration = 0;
  while (!status) {
    g_norm = masked_gradient_norm();
    if (g_norm < options.gtol) status = Status::gtol;
    if (status || result.nfev >= max_nfev) break;

    std::vector<Eigen::Index> free;
    for (Eigen::Index i = 0; i < n; ++i)
      if (!(on_bound[i] * g[i] < 0)) free.push_back(i);
    const Eigen::Index k = static_cast<Eigen::Index>(free.size());
    Vec x_free(k), lb_free(k), ub_free(k), scale_free(k), g_free(k);
    for (Eigen::Index j = 0; j < k; ++j) {
      x_free[j] = x[free[j]];
      lb_free[j] = lb[free[j]];
      ub_free[j] = ub[free[j]];
      scale_free[j] = scale[free[j]];
      g_free[j] = g[free[j]];
    }

    // Reduced system: QR of R[:, free] (J[:, free] = Q R[:, free]); T is its k x k triangle.
    Eigen::Map<Eigen::MatrixXd> R_free(ws.matrix(0), n, k);
    for (Eigen::Index j = 0; j < k; ++j) R_free.col(j) = lin.R.col(free[j]);
    Eigen::HouseholderQR<Eigen::Ref<Eigen::MatrixXd>> qr(R_free);
    reduced_qtf = qr.householderQ().adjoint() * lin.qtf;
    const Eigen::MatrixXd T = R_free.topRows(k).triangularView<Eigen::Upper>();
    // Gauss-Newton step of the reduced problem, min-norm when T is rank deficient (as lstsq).
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(T, Eigen::ComputeFullU | Eigen::ComputeFullV);
    const Vec newton_step = -svd.solve(reduced_qtf.head(k));
    const Vec none;
    const tr::Quadratic1D along_anti_gradient = tr::build_quadratic_1d(T, g_free, -g_free, none, none);
    if (iteration == 0 && k > 0 && !bounded) {
      const double newton_length = newton_step.cwiseQuotient(scale_free).lpNorm<Eigen::Infinity>();
      if (std::isfinite(newton_length)) Delta = std::max(Delta, newton_length);
    }

    actual_reduction = 0;
    bool accepted = false;
    Evaluation trial;
    Eigen::VectorXi on_bound_free;
    while (!accepted && result.nfev < max_nfev) {
      if (interrupt_requested(options)) {
        status = Status::interrupted;
        break;
      }
      const Vec tr_bounds = Delta * scale_free;
      tr::DoglegStep dog =
          tr::dogleg_step(x_free, newton_step, g_free, along_anti_gradient, tr_bounds, lb_free, ub_free);
      step.setZero();
      for (Eigen::Index j = 0; j < k; ++j) step[free[j]] = dog.step[j];
      const double predicted_reduction = -tr::evaluate_quadratic(T, g_free, dog.step, none);
      // Converged: the full Gauss-Newton step is already below xtol; no pass is spent on it.
      const bool gauss_newton = !dog.tr_hit && (dog.step - newton_step).norm() == 0;
      if (gauss_newton && step.norm() < options.xtol * (options.xtol + x.norm())) {
        status = Status::xtol;
        step_norm = 0;
        break;
      }
      x_new = (x + step).cwiseMax(lb).cwiseMin(ub);
      trial = objective.evaluate(x_new, trial_linearization);
      ++result.nfev;
      if (trial_linearization) ++result.njev;
      const double step_h_norm = step.cwiseProduct(scale_inv).lpNorm<Eigen::Infinity>();
      if (!trial.finite) {
        Delta = 0.25 * step_h_norm;
        if (iteration == 0) Delta = std::min(Delta, initial_guess);
        continue;
      }
      actual_reduction = cost - trial.cost;
      accepted = actual_reduction > 0 || tr::at_rounding_level(gauss_newton, predicted_reduction, actual_reduction, cost);
      const tr::RadiusUpdate update =
          tr::update_tr_radius(Delta, actual_reduction, predicted_reduction, step_h_norm, dog.tr_hit);
      Delta = update.Delta;
      if (update.ratio < 0.25) {
        // cost(x + t step) ~ cost + slope t + curvature t^2, fitted to t = 0 (value, slope) and t = 1.
        const double slope = g_free.dot(dog.step);
        const double curvature = -actual_reduction - slope;
        const double t = curvature > 0 ? -0.5 * slope / curvature : 0.5;
        Delta = std::clamp(t, 0.1, 0.5) * step_h_norm;
        if (iteration == 0) Delta = std::min(Delta, initial_guess);  // the optimistic first trial failed
      }
      step_norm = step.norm();
      on_bound_free = dog.bound_hits;
      // ftol counts only for a full Gauss-Newton step (see trf.cpp).
      status = tr::check_termination(actual_reduction, cost, step_norm, x.norm(), update.ratio,
                                     gauss_newton ? options.ftol : 0.0, options.xtol);
      if (status) break;
    }

    if (accepted) {
      for (Eigen::Index j = 0; j < k; ++j) on_bound[free[j]] = on_bound_free[j];
      x = x_new;
      // Variables that reached a bound are put exactly on it.
      for (Eigen::Index i = 0; i < n; ++i) {
        if (on_bound[i] == -1) x[i] = lb[i];
        if (on_bound[i] == 1) x[i] = ub[i];
      }
      cost = trial.cost;
      const bool moved_by_snap = (x - x_new).norm() != 0;
      if (trial.has_linearization && !moved_by_snap) {
        lin = std::move(trial.lin);
      } else {
        Evaluation at_x = objective.evaluate(x, true);
        ++result.njev;
        if (!at_x.finite || !at_x.has_linearization) {
          status = Status::failed;
          result.message = "the Jacobian is not finite at x = " + tr::point_text(x);
          break;
        }
        cost = at_x.cost;
        lin = std::move(at_x.lin);
      }
      g = lin.R.transpose() * lin.qtf;
      if (jac_scale) tr::update_jac_scale(lin.col_norms, scale_inv, scale, false);
    } else {
      step_norm = 0;
      actual_reduction = 0;
    }
    ++iteration;
    g_norm = masked_gradient_norm();
    report(iteration);
  }

  tr::finish_result(result, x, cost, g, masked_gradient_norm(), iteration, status, on_bound, std::move(lin));
  return result;
}

}  // namespace curvefit
