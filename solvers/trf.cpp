// Trust Region Reflective (Branch, Coleman & Li, SIAM J. Sci. Comput. 21(1), 1999), following
// scipy.optimize._lsq.trf, on the compressed linearization: the solver sees R (J = Q R), Q^T f and
// the cost, never J or f. With J_h = J D:
//   gradient           g = J^T f = R^T (Q^T f)
//   unbounded          SVD of R D                      (= SVD of J D up to the orthogonal Q)
//   bounded            SVD of the n x n triangular factor of [R D_h; diag(sqrt(diag_h))],
//                      right-hand side [Q^T f; 0] rotated along
//   model              0.5 ||R D p_h||^2 + 0.5 p_h^T diag_h p_h + g_h^T p_h
//
// This file is TRF's strategy for the one trust-region loop (trust_region_driver.h): the scaling,
// the step and the radius rule. Non-finite residuals at a trial point reject the step and shrink
// the radius.
//
// Stopping (what makes the NIST defaults both strict and cheap):
//   - the driver stops with `xtol`, without spending a pass, when the step about to be taken is the
//     full Gauss-Newton step (inside the region and the bounds) and every |step_j| < xtol (xtol + |x_j|);
//   - a full Gauss-Newton step whose predicted reduction is at the cost's rounding level is
//     accepted even when the computed cost does not decrease (tr::at_rounding_level): rejecting it
//     would leave x where cost comparisons stop resolving it, not where the model says;
//   - ftol counts only after a full Gauss-Newton step (a small reduction from a truncated step
//     says the region is small, not that the minimum is near); xtol per parameter (tr::relative_step,
//     so no parameter's units hide another's step); gtol on the
//     largest gradient cosine of the Coleman-Li weighted gradient (tr::largest_gradient_cosine).
#include <algorithm>
#include <cmath>
#include <limits>

#include <Eigen/SVD>

#include "memory/memory_manager.h"
#include "solvers/solve.h"
#include "solvers/trust_region.h"
#include "solvers/trust_region_driver.h"

namespace curvefit {

namespace {

using tr::Vec;
using MapV = Eigen::Map<Vec>;
using MapM = Eigen::Map<Eigen::MatrixXd>;

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

class TrfStrategy final : public tr::TrustRegionStrategy {
 public:
  // Workspace beyond the driver's (algorithm.h, trf: 3 matrices, 15 vectors):
  //   matrices: 0 RD = R diag(d) (the model's J_h), 1 the factor whose SVD is taken, 2 V
  //   vectors:  4 scale, 5 scale_inv, 6 v, 7 dv, 8 d, 9 diag_h, 10 g_h, 11 uf, 12 singular values,
  //             13 rhs of the stacked system, 14 p_h (the step in the scaled variables)
  //   (Eigen's JacobiSVD keeps its own U, V and work arrays: about 3 n x n more, not pooled)
  TrfStrategy(const SolverOptions& options, SolverWorkspace& ws, Eigen::Index n)
      : options_(options), lb_(tr::lower_bounds(options, n)), ub_(tr::upper_bounds(options, n)),
        bounded_(tr::has_finite_bounds(lb_, ub_)),
        RD_(ws.matrix(0), n, n), factor_(ws.matrix(1), n, n), V_(ws.matrix(2), n, n),
        scale_(ws.vector(4), n), scale_inv_(ws.vector(5), n), v_(ws.vector(6), n), dv_(ws.vector(7), n),
        d_(ws.vector(8), n), diag_h_(ws.vector(9), n), g_h_(ws.vector(10), n), uf_(ws.vector(11), n),
        sv_(ws.vector(12), n), rhs_(ws.vector(13), n), p_h_(ws.vector(14), n) {}

  // x_scale, and the first radius: ||x0|| in the scaled variables (1 when x0 = 0), as scipy.
  void start(const tr::ConstVecRef& x, const tr::ConstVecRef& g, const Linearization& lin, double) override {
    jac_scale_ = tr::initial_x_scale(options_, x, lin.col_norms, scale_, scale_inv_);
    if (bounded_) {
      scaled_coleman_li(x, g);
      Delta_ = (x.cwiseProduct(scale_inv_).array() / v_.array().sqrt()).matrix().norm();
    } else {
      Delta_ = x.cwiseProduct(scale_inv_).norm();
    }
    if (Delta_ == 0 || !std::isfinite(Delta_)) Delta_ = 1.0;
  }

  // scipy's optimality ||v g||_inf; gtol on the cosine of g weighted by min(1, v / x_scale), which
  // vanishes, as v g does, for a variable held on its bound.
  tr::Optimality measure(const tr::ConstVecRef& x, const tr::ConstVecRef& g, const Linearization& lin,
                         double cost) override {
    tr::Optimality o;
    Vec weighted = g;
    if (bounded_) {
      tr::cl_scaling_vector(x, g, lb_, ub_, v_, dv_);
      o.reported = g.cwiseProduct(v_).lpNorm<Eigen::Infinity>();
      for (Eigen::Index i = 0; i < g.size(); ++i)
        if (dv_[i] != 0) weighted[i] *= std::min(1.0, v_[i] * scale_inv_[i]);
    } else {
      o.reported = g.lpNorm<Eigen::Infinity>();
    }
    o.scale_free = tr::largest_gradient_cosine(weighted, lin.col_norms, std::sqrt(2 * cost));
    scale_free_optimality_ = o.scale_free;
    return o;
  }

  // The subproblem's SVD: of R D (J_h), stacked with diag(sqrt(diag_h)) when bounded.
  void prepare(const tr::ConstVecRef& x, const tr::ConstVecRef& g, const Linearization& lin,
               double cost) override {
    cost_ = cost;
    if (bounded_) {
      scaled_coleman_li(x, g);
      d_ = v_.cwiseSqrt().cwiseProduct(scale_);
      diag_h_ = g.cwiseProduct(dv_).cwiseProduct(scale_);
    } else {
      d_ = scale_;
    }
    g_h_ = d_.cwiseProduct(g);
    RD_ = lin.R * d_.asDiagonal();
    factor_ = RD_;
    rhs_ = lin.qtf;
    if (bounded_) tr::append_diagonal_and_retriangularize(factor_, rhs_, diag_h_.cwiseSqrt());
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(factor_, Eigen::ComputeFullU | Eigen::ComputeFullV);
    sv_ = svd.singularValues();
    V_ = svd.matrixV();
    uf_ = svd.matrixU().transpose() * rhs_;
    // Step-back factor: how close to a bound a step may go (1 - theta of the way is kept clear).
    theta_ = std::max(0.995, 1 - scale_free_optimality_);
  }

  tr::Proposal propose(const tr::ConstVecRef& x, tr::VecRef p, tr::VecRef x_new) override {
    const double rank_tolerance = kEps * static_cast<double>(x.size());
    const tr::TrustRegionSolution sol = tr::solve_trust_region_svd(uf_, sv_, V_, Delta_, alpha_, p_h_, rank_tolerance);
    alpha_ = sol.alpha;
    p = d_.cwiseProduct(p_h_);
    gauss_newton_ = sol.gauss_newton && (!bounded_ || tr::in_bounds(x + p, lb_, ub_));
    const Vec no_diag;
    predicted_reduction_ =
        bounded_ ? select_step(x, RD_, diag_h_, g_h_, p, p_h_, d_, Delta_, lb_, ub_, theta_).predicted_reduction
                 : -tr::evaluate_quadratic(RD_, g_h_, p_h_, no_diag);
    step_norm_ = p.norm();
    relative_step_ = tr::relative_step(p, x, options_.xtol);
    x_new = x + p;
    if (bounded_) tr::make_strictly_feasible(x_new, lb_, ub_, 0.0);
    return {predicted_reduction_, gauss_newton_};
  }

  bool acceptable(double trial_cost) const override {
    return tr::lowers_cost(cost_, trial_cost, gauss_newton_, predicted_reduction_);
  }

  tr::Verdict judge(const tr::ConstVecRef&, const tr::Trial& trial) override {
    const double step_h_norm = p_h_.norm();
    if (!trial.finite) {
      // Outside the region where the model can be evaluated: shrink and try again.
      Delta_ = 0.25 * step_h_norm;
      return {};
    }
    const double actual_reduction = cost_ - trial.cost;
    const tr::RadiusUpdate update = tr::update_tr_radius(Delta_, actual_reduction, predicted_reduction_,
                                                         step_h_norm, step_h_norm > 0.95 * Delta_);
    // ftol counts only for a full Gauss-Newton step: a small reduction from a step the region
    // truncated says the region is small, not that the minimum is near.
    tr::Verdict verdict{acceptable(trial.cost),
                    tr::check_termination(actual_reduction, cost_, relative_step_, update.ratio,
                                          gauss_newton_ ? options_.ftol : 0.0, options_.xtol)};
    if (!verdict.status) {
      alpha_ *= Delta_ / update.Delta;
      Delta_ = update.Delta;
    }
    return verdict;
  }

  void accepted(const Linearization& lin) override {
    if (jac_scale_) tr::update_jac_scale(lin.col_norms, scale_inv_, scale_, false);
  }
  double radius() const override { return Delta_; }
  // Between iterations: the radius, the last LM parameter of the subproblem (its next solve starts
  // from it) and the scaling ('jac' grows with the column norms).
  void save(SolverState& state) const override {
    state.scalars["trf.Delta"] = Delta_;
    state.scalars["trf.alpha"] = alpha_;
    state.scalars["trf.jac_scale"] = jac_scale_ ? 1 : 0;
    state.vectors["trf.scale"] = scale_;
    state.vectors["trf.scale_inv"] = scale_inv_;
  }
  void restore(const SolverState& state) override {
    Delta_ = tr::saved_scalar(state, "trf.Delta");
    alpha_ = tr::saved_scalar(state, "trf.alpha");
    jac_scale_ = tr::saved_scalar(state, "trf.jac_scale") != 0;
    scale_ = tr::saved_vector(state, "trf.scale", scale_.size());
    scale_inv_ = tr::saved_vector(state, "trf.scale_inv", scale_inv_.size());
  }
  Eigen::VectorXi active_mask(const tr::ConstVecRef& x) const override {
    return tr::find_active_constraints(x, lb_, ub_);
  }

 private:
  // v and dv at x, with v in the scaled variables where a bound applies.
  void scaled_coleman_li(const tr::ConstVecRef& x, const tr::ConstVecRef& g) {
    tr::cl_scaling_vector(x, g, lb_, ub_, v_, dv_);
    for (Eigen::Index i = 0; i < x.size(); ++i)
      if (dv_[i] != 0) v_[i] *= scale_inv_[i];
  }

  const SolverOptions& options_;
  const Vec lb_, ub_;
  const bool bounded_;
  MapM RD_, factor_, V_;
  MapV scale_, scale_inv_, v_, dv_, d_, diag_h_, g_h_, uf_, sv_, rhs_, p_h_;
  bool jac_scale_ = false;
  double Delta_ = 1, alpha_ = 0, theta_ = 0.995, cost_ = 0, scale_free_optimality_ = 0;
  // The last proposal.
  bool gauss_newton_ = false;
  double predicted_reduction_ = 0, step_norm_ = 0, relative_step_ = 0;
};

}  // namespace

SolverResult solve_trf(Objective& objective, const Eigen::VectorXd& x0, const SolverOptions& options) {
  return tr::run_method<TrfStrategy>(Algorithm::trf, objective, x0, options);
}

}  // namespace curvefit
