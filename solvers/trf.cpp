// Trust Region Reflective (Branch, Coleman & Li, SIAM J. Sci. Comput. 21(1), 1999), following
// scipy.optimize._lsq.trf, on the compressed linearization: the solver sees R (J = Q R), Q^T f and
// the cost, never J or f. With J_h = J D:
//   gradient           g = J^T f = R^T (Q^T f)
//   unbounded          SVD of R D                      (= SVD of J D up to the orthogonal Q)
//   bounded            SVD of the n x n triangular factor of [R D_h; diag(sqrt(diag_h))],
//                      right-hand side [Q^T f; 0] rotated along
//   model              0.5 ||R D p_h||^2 + 0.5 p_h^T diag_h p_h + g_h^T p_h
//
// Non-finite residuals at the starting point are an error: std::invalid_argument naming the point
// (solve() is the place where bad input is reported; a fit from there cannot start). At a trial
// point they reject the step and shrink the radius.
//
// Stopping (what makes the NIST defaults both strict and cheap):
//   - the step about to be taken is checked before a pass is spent on it: when it is the full
//     Gauss-Newton step (inside the region and the bounds) and ||step|| < xtol (xtol + ||x||),
//     x is already at the model's minimum to that precision: stop with `xtol`, no evaluation;
//   - a full Gauss-Newton step whose predicted reduction is at the cost's rounding level is
//     accepted even when the computed cost does not decrease (tr::at_rounding_level): rejecting it
//     would leave x where cost comparisons stop resolving it, not where the model says;
//   - ftol counts only after a full Gauss-Newton step (a small reduction from a truncated step
//     says the region is small, not that the minimum is near); scipy's xtol and gtol as usual.
#include <cmath>
#include <limits>
#include <stdexcept>

#include <Eigen/SVD>

#include "memory/memory_manager.h"
#include "solvers/solve.h"
#include "solvers/trust_region.h"

namespace curvefit {

namespace {

using tr::Vec;

constexpr double kEps = std::numeric_limits<double>::epsilon();


// The step TRF takes when the trust-region solution p leaves the feasible box (scipy's
// select_step): the best of (1) p truncated at the bound and stepped back by theta, (2) the
// reflection of p off that bound, (3) the scaled anti-gradient (Cauchy) step; all in the
// Coleman-Li scaled variables p_h, with p = d * p_h. Returns the predicted reduction.
struct SelectedStep {
  double predicted_reduction;
};
SelectedStep select_step(const tr::ConstVecRef& x, const tr::ConstMatRef& RD, const tr::ConstVecRef& diag_h,
                         const tr::ConstVecRef& g_h, tr::VecRef p, tr::VecRef p_h, const tr::ConstVecRef& d,
                         double Delta, const Vec& lb, const Vec& ub, double theta) {
  const Vec none;
  if (tr::in_bounds(x + p, lb, ub)) return {-tr::evaluate_quadratic(RD, g_h, p_h, diag_h)};

  Eigen::VectorXi hits;
  const double p_stride = tr::step_size_to_bound(x, p, lb, ub, &hits);
  // Reflected direction: flip the components that hit a bound.
  Vec r_h = p_h;
  for (Eigen::Index i = 0; i < r_h.size(); ++i)
    if (hits[i] != 0) r_h[i] = -r_h[i];
  Vec r = d.cwiseProduct(r_h);
  // p restricted to the bound.
  p *= p_stride;
  p_h *= p_stride;
  const Vec x_on_bound = x + p;

  // Reflected step: from x_on_bound along r, inside the region and the bounds, strictly interior.
  const double to_tr = tr::intersect_trust_region(p_h, r_h, Delta).second;
  const double to_bound = tr::step_size_to_bound(x_on_bound, r, lb, ub);
  double r_stride = std::min(to_bound, to_tr);
  double r_stride_l = 0, r_stride_u = -1;
  if (r_stride > 0) {
    r_stride_l = (1 - theta) * p_stride / r_stride;
    r_stride_u = r_stride == to_bound ? theta * to_bound : to_tr;
  }
  double r_value = std::numeric_limits<double>::infinity();
  if (r_stride_l <= r_stride_u) {
    const tr::Quadratic1D q = tr::build_quadratic_1d(RD, g_h, r_h, diag_h, p_h);
    const auto [t, value] = tr::minimize_quadratic_1d(q, r_stride_l, r_stride_u);
    r_value = value;
    r_h = p_h + t * r_h;
    r = d.cwiseProduct(r_h);
  }

  // Step back from the bound so that x stays strictly feasible.
  p *= theta;
  p_h *= theta;
  const double p_value = tr::evaluate_quadratic(RD, g_h, p_h, diag_h);

  // Anti-gradient step, truncated by the region and (stepped back from) the bounds.
  Vec ag_h = -g_h;
  Vec ag = d.cwiseProduct(ag_h);
  const double ag_to_tr = Delta / ag_h.norm();
  const double ag_to_bound = tr::step_size_to_bound(x, ag, lb, ub);
  const double ag_max = ag_to_bound < ag_to_tr ? theta * ag_to_bound : ag_to_tr;
  const tr::Quadratic1D q = tr::build_quadratic_1d(RD, g_h, ag_h, diag_h, none);
  const auto [ag_stride, ag_value] = tr::minimize_quadratic_1d(q, 0, ag_max);

  if (p_value < r_value && p_value < ag_value) return {-p_value};
  if (r_value < p_value && r_value < ag_value) {
    p = r;
    p_h = r_h;
    return {-r_value};
  }
  p = ag_stride * ag;
  p_h = ag_stride * ag_h;
  return {-ag_value};
}

}  // namespace

SolverResult solve_trf(Objective& objective, const Eigen::VectorXd& x0, const SolverOptions& options) {
  const Eigen::Index n = objective.num_params();
  const Vec lb = tr::lower_bounds(options, n);
  const Vec ub = tr::upper_bounds(options, n);
  const bool bounded = tr::has_finite_bounds(lb, ub);
  const bool trial_linearization =
      options.trial_linearization == SolverOptions::TrialLinearization::always ||
      (options.trial_linearization == SolverOptions::TrialLinearization::objective_default &&
       objective.prefers_linearization_at_trial_points());
  const int max_nfev = options.max_nfev > 0 ? options.max_nfev : 1000 * static_cast<int>(n);

  // Workspace (memory/solver_workspace.h, trf row: 3 matrices, 15 vectors):
  //   matrices: 0 RD = R diag(d) (the model's J_h), 1 the factor whose SVD is taken, 2 V
  //   vectors:  0 x, 1 g, 2 scale, 3 scale_inv, 4 v, 5 dv, 6 d, 7 diag_h, 8 g_h, 9 uf,
  //             10 singular values, 11 rhs of the stacked system, 12 p_h (step, scaled), 13 p (step), 14 x_new
  //   (Eigen's JacobiSVD keeps its own U, V and work arrays: about 3 n x n more, not pooled)
  SolverWorkspace ws(Algorithm::trf, static_cast<std::size_t>(n));
  using MapV = Eigen::Map<Vec>;
  using MapM = Eigen::Map<Eigen::MatrixXd>;
  MapM RD(ws.matrix(0), n, n), factor(ws.matrix(1), n, n), V(ws.matrix(2), n, n);
  MapV x(ws.vector(0), n), g(ws.vector(1), n), scale(ws.vector(2), n), scale_inv(ws.vector(3), n),
      v(ws.vector(4), n), dv(ws.vector(5), n), d(ws.vector(6), n), diag_h(ws.vector(7), n),
      g_h(ws.vector(8), n), uf(ws.vector(9), n), sv(ws.vector(10), n), rhs(ws.vector(11), n),
      p_h(ws.vector(12), n), p(ws.vector(13), n), x_new(ws.vector(14), n);

  // Start strictly inside the bounds, as scipy's least_squares does for trf.
  x = x0;
  if (bounded) tr::make_strictly_feasible(x, lb, ub);

  SolverResult result;
  Evaluation current = tr::evaluate_start(objective, x);
  result.nfev = 1;
  result.njev = 1;
  double cost = current.cost;
  Linearization lin = std::move(current.lin);
  g = lin.R.transpose() * lin.qtf;
  const bool jac_scale = tr::initial_x_scale(options, lin.col_norms, scale, scale_inv);

  // Initial radius: ||x0|| in the scaled variables (1 when x0 = 0), as scipy.
  double Delta;
  if (bounded) {
    tr::cl_scaling_vector(x, g, lb, ub, v, dv);
    for (Eigen::Index i = 0; i < n; ++i)
      if (dv[i] != 0) v[i] *= scale_inv[i];
    Delta = (x.cwiseProduct(scale_inv).array() / v.array().sqrt()).matrix().norm();
  } else {
    Delta = x.cwiseProduct(scale_inv).norm();
  }
  if (Delta == 0 || !std::isfinite(Delta)) Delta = 1.0;

  double alpha = 0;  // LM parameter, carried between subproblems as a warm start
  double g_norm = 0;
  std::optional<Status> status;
  double step_norm = 0, actual_reduction = 0;
  const Vec no_diag;

  auto optimality = [&] {
    if (!bounded) return g.lpNorm<Eigen::Infinity>();
    tr::cl_scaling_vector(x, g, lb, ub, v, dv);
    return g.cwiseProduct(v).lpNorm<Eigen::Infinity>();
  };
  // History and callback; a callback returning false interrupts a run that has not ended otherwise.
  auto report = [&](int iteration) {
    IterationInfo info{iteration, cost, actual_reduction, step_norm, g_norm, Delta, result.nfev, result.njev};
    if (options.keep_history) result.history.push_back(info);
    if (options.callback && !options.callback(info) && !status) status = Status::interrupted;
  };

  g_norm = optimality();
  report(0);
  int iteration = 0;
  while (!status) {
    // Coleman-Li scaling: v and dv at x (computed by optimality()); gtol on the scaled gradient.
    g_norm = optimality();
    if (g_norm < options.gtol) status = Status::gtol;
    if (status || result.nfev >= max_nfev) break;

    if (bounded) {
      for (Eigen::Index i = 0; i < n; ++i)
        if (dv[i] != 0) v[i] *= scale_inv[i];
      d = v.cwiseSqrt().cwiseProduct(scale);
      diag_h = g.cwiseProduct(dv).cwiseProduct(scale);
    } else {
      d = scale;
    }
    g_h = d.cwiseProduct(g);

    // The subproblem's matrix: R D (J_h), stacked with diag(sqrt(diag_h)) when bounded.
    RD = lin.R * d.asDiagonal();
    factor = RD;
    rhs = lin.qtf;
    if (bounded) tr::append_diagonal_and_retriangularize(factor, rhs, diag_h.cwiseSqrt());
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(factor, Eigen::ComputeFullU | Eigen::ComputeFullV);
    sv = svd.singularValues();
    V = svd.matrixV();
    uf = svd.matrixU().transpose() * rhs;
    const double rank_tolerance = kEps * static_cast<double>(n);

    // Step-back factor: how close to a bound a step may go (1 - theta of the way is kept clear).
    const double theta = std::max(0.995, 1 - g_norm);
    actual_reduction = 0;
    bool accepted = false;
    Evaluation trial;
    while (!accepted && result.nfev < max_nfev) {
      if (interrupt_requested(options)) {
        status = Status::interrupted;
        break;
      }
      const tr::TrustRegionSolution sol =
          tr::solve_trust_region_svd(uf, sv, V, Delta, alpha, p_h, rank_tolerance);
      alpha = sol.alpha;
      p = d.cwiseProduct(p_h);
      // The full Gauss-Newton step: inside the region and (when bounded) inside the box.
      const bool gauss_newton = sol.gauss_newton && (!bounded || tr::in_bounds(x + p, lb, ub));
      double predicted_reduction;
      if (bounded) {
        predicted_reduction =
            select_step(x, RD, diag_h, g_h, p, p_h, d, Delta, lb, ub, theta).predicted_reduction;
      } else {
        predicted_reduction = -tr::evaluate_quadratic(RD, g_h, p_h, no_diag);
      }
      // Converged: the full Gauss-Newton step is already below xtol; no pass is spent on it.
      if (gauss_newton && p.norm() < options.xtol * (options.xtol + x.norm())) {
        status = Status::xtol;
        step_norm = 0;
        break;
      }
      x_new = x + p;
      if (bounded) tr::make_strictly_feasible(x_new, lb, ub, 0.0);
      trial = objective.evaluate(x_new, trial_linearization);
      ++result.nfev;
      if (trial_linearization) ++result.njev;
      const double step_h_norm = p_h.norm();
      if (!trial.finite) {
        // Outside the region where the model can be evaluated: shrink and try again.
        Delta = 0.25 * step_h_norm;
        continue;
      }
      actual_reduction = cost - trial.cost;
      accepted = actual_reduction > 0 || tr::at_rounding_level(gauss_newton, predicted_reduction, actual_reduction, cost);
      const tr::RadiusUpdate update =
          tr::update_tr_radius(Delta, actual_reduction, predicted_reduction, step_h_norm, step_h_norm > 0.95 * Delta);
      step_norm = p.norm();
      // ftol counts only for a full Gauss-Newton step: a small reduction from a step the region
      // truncated says the region is small, not that the minimum is near.
      status = tr::check_termination(actual_reduction, cost, step_norm, x.norm(), update.ratio,
                                     gauss_newton ? options.ftol : 0.0, options.xtol);
      if (status) break;
      alpha *= Delta / update.Delta;
      Delta = update.Delta;
    }

    if (accepted) {
      x = x_new;
      cost = trial.cost;
      if (trial.has_linearization) {
        lin = std::move(trial.lin);
      } else {
        Evaluation at_x = objective.evaluate(x, true);
        ++result.njev;
        if (!at_x.finite || !at_x.has_linearization) {
          status = Status::failed;
          result.message = "the Jacobian is not finite at x = " + tr::point_text(x);
          break;
        }
        lin = std::move(at_x.lin);
      }
      g = lin.R.transpose() * lin.qtf;
      if (jac_scale) tr::update_jac_scale(lin.col_norms, scale_inv, scale, false);
    } else {
      step_norm = 0;
      actual_reduction = 0;
    }
    ++iteration;
    g_norm = optimality();
    report(iteration);
  }

  tr::finish_result(result, x, cost, g, optimality(), iteration, status, tr::find_active_constraints(x, lb, ub), std::move(lin));
  return result;
}

}  // namespace curvefit
