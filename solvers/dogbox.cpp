// dogbox (Voglis & Lagaris, "A rectangular trust region dogleg approach for unconstrained and
// bound constrained nonlinear optimization", 2004), following scipy.optimize._lsq.dogbox, on the
// compressed linearization (J = Q R; the solver never sees J or f):
//   - the trust region is a box |step_i| <= Delta scale_i, intersected with the bounds;
//   - a variable on a bound whose anti-gradient points out of the box is frozen: its column is
//     removed. J[:, free] = Q R[:, free], so the reduced problem is a small QR of R's free
//     columns (k x k triangle T, right-hand side the rotated Q^T f);
//   - the step follows the dogleg path from the Cauchy point to the Gauss-Newton step of the
//     reduced problem (min-norm least squares through T), stopped at the box.
// Two radius rules differ from scipy's port (SolverOptions::dogbox_radius_rule, where the
// measurements on NIST StRD and on the Moré-Garbow-Hillstrom problems are listed; `scipy` restores
// scipy's):
//   - without bounds, the first trial is the full Gauss-Newton step when it is longer than
//     ||x0||_inf: the size of x0 is then a blind guess of how far to go, the Gauss-Newton step is
//     the model's own answer (with bounds, the box carries the user's scale); if that trial
//     fails, the radius falls back to the guess;
//   - after a poor step the radius shrinks to the minimiser of the quadratic through the cost at
//     both ends and the slope at the start, kept within [0.1, 0.5] of the step (Dennis & Schnabel
//     1983, A6.4.5), instead of a fixed quarter: a wild first step is cut back in one evaluation.
// This file is dogbox's strategy for the one trust-region loop (trust_region_driver.h). Non-finite
// residuals at a trial point reject it and shrink the radius. Stopping as in trf.cpp; gtol on the
// largest gradient cosine of the masked gradient.
#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/QR>
#include <Eigen/SVD>

#include "memory/memory_manager.h"
#include "solvers/solve.h"
#include "solvers/trust_region.h"
#include "solvers/trust_region_driver.h"

namespace curvefit {

namespace {

using tr::Vec;
using MapV = Eigen::Map<Vec>;

class DogboxStrategy final : public tr::TrustRegionStrategy {
 public:
  // Workspace beyond the driver's (algorithm.h, dogbox: 1 matrix, 8 vectors):
  //   matrix 0: the free columns of R (n x k), re-triangularised in place; T = its k x k top
  //   vectors:  4 g with frozen components zeroed, 5 scale, 6 scale_inv, 7 rotated Q^T f of the
  //             reduced system
  //   (the free-variable copies of x, bounds and g, k <= n each, are small temporaries)
  DogboxStrategy(const SolverOptions& options, SolverWorkspace& ws, Eigen::Index n)
      : options_(options), ws_(ws), lb_(tr::lower_bounds(options, n)), ub_(tr::upper_bounds(options, n)),
        g_masked_(ws.vector(4), n), scale_(ws.vector(5), n), scale_inv_(ws.vector(6), n),
        reduced_qtf_(ws.vector(7), n), on_bound_(Eigen::VectorXi::Zero(n)) {}

  // x_scale, and the first radius: ||x0||_inf in the scaled variables (1 when x0 = 0), as scipy.
  void start(const tr::ConstVecRef& x, const tr::ConstVecRef&, const Linearization& lin, double) override {
    jac_scale_ = tr::initial_x_scale(options_, x, lin.col_norms, scale_, scale_inv_);
    Delta_ = x.cwiseProduct(scale_inv_).lpNorm<Eigen::Infinity>();
    if (Delta_ == 0 || !std::isfinite(Delta_)) Delta_ = 1.0;
    initial_guess_ = Delta_;
    bounded_ = tr::has_near_bounds(x, lb_, ub_);
  }

  // Frozen variables (on a bound with the anti-gradient pointing out of the box) do not count.
  tr::Optimality measure(const tr::ConstVecRef&, const tr::ConstVecRef& g, const Linearization& lin,
                         double cost) override {
    for (Eigen::Index i = 0; i < g.size(); ++i) g_masked_[i] = on_bound_[i] * g[i] < 0 ? 0.0 : g[i];
    return {g_masked_.lpNorm<Eigen::Infinity>(),
            tr::largest_gradient_cosine(g_masked_, lin.col_norms, std::sqrt(2 * cost))};
  }

  void prepare(const tr::ConstVecRef& x, const tr::ConstVecRef& g, const Linearization& lin,
               double cost) override {
    cost_ = cost;
    select_free_variables(x, g);
    reduce(lin);
    if (gauss_newton_first() && accepted_steps_ == 0 && k() > 0 && !bounded_) {
      const double newton_length = newton_step_.cwiseQuotient(scale_free_).lpNorm<Eigen::Infinity>();
      if (std::isfinite(newton_length)) Delta_ = std::max(Delta_, newton_length);
    }
  }

  tr::Proposal propose(const tr::ConstVecRef& x, tr::VecRef step, tr::VecRef x_new) override {
    const Vec none;
    dog_ = tr::dogleg_step(x_free_, newton_step_, g_free_, along_anti_gradient_, Delta_ * scale_free_,
                           lb_free_, ub_free_);
    step.setZero();
    for (Eigen::Index j = 0; j < k(); ++j) step[free_[j]] = dog_.step[j];
    predicted_reduction_ = -tr::evaluate_quadratic(T_, g_free_, dog_.step, none);
    gauss_newton_ = !dog_.tr_hit && (dog_.step - newton_step_).norm() == 0;
    step_norm_ = step.norm();
    relative_step_ = tr::relative_step(step, x, options_.xtol);
    step_h_norm_ = step.cwiseProduct(scale_inv_).lpNorm<Eigen::Infinity>();
    // Variables that reach a bound are put exactly on it.
    x_new = (x + step).cwiseMax(lb_).cwiseMin(ub_);
    for (Eigen::Index j = 0; j < k(); ++j) {
      if (dog_.bound_hits[j] == -1) x_new[free_[j]] = lb_[free_[j]];
      if (dog_.bound_hits[j] == 1) x_new[free_[j]] = ub_[free_[j]];
    }
    return {predicted_reduction_, gauss_newton_};
  }

  bool acceptable(double trial_cost) const override {
    return tr::lowers_cost(cost_, trial_cost, gauss_newton_, predicted_reduction_);
  }

  tr::Verdict judge(const tr::ConstVecRef&, const tr::Trial& trial) override {
    if (!trial.finite) {
      Delta_ = 0.25 * step_h_norm_;
      if (accepted_steps_ == 0) Delta_ = std::min(Delta_, initial_guess_);
      return {};
    }
    const double actual_reduction = cost_ - trial.cost;
    const tr::RadiusUpdate update =
        tr::update_tr_radius(Delta_, actual_reduction, predicted_reduction_, step_h_norm_, dog_.tr_hit);
    Delta_ = update.Delta;
    if (gauss_newton_first() && update.ratio < 0.25) shrink_to_quadratic_minimum(actual_reduction);
    // ftol counts only for a full Gauss-Newton step (see trf.cpp).
    return {acceptable(trial.cost), tr::check_termination(actual_reduction, cost_, relative_step_, update.ratio,
                                                          gauss_newton_ ? options_.ftol : 0.0, options_.xtol)};
  }

  void accepted(const Linearization& lin) override {
    for (Eigen::Index j = 0; j < k(); ++j) on_bound_[free_[j]] = dog_.bound_hits[j];
    if (jac_scale_) tr::update_jac_scale(lin.col_norms, scale_inv_, scale_, false);
    ++accepted_steps_;
  }
  double radius() const override { return Delta_; }
  // Between iterations: the radius and its first value, the scaling, the variables held on a
  // bound, and how many steps were accepted (the radius rules treat the first step apart).
  void save(SolverState& state) const override {
    state.scalars["dogbox.Delta"] = Delta_;
    state.scalars["dogbox.initial_guess"] = initial_guess_;
    state.scalars["dogbox.accepted_steps"] = accepted_steps_;
    state.scalars["dogbox.bounded"] = bounded_ ? 1 : 0;
    state.scalars["dogbox.jac_scale"] = jac_scale_ ? 1 : 0;
    state.vectors["dogbox.scale"] = scale_;
    state.vectors["dogbox.scale_inv"] = scale_inv_;
    state.vectors["dogbox.on_bound"] = on_bound_.cast<double>();
  }
  void restore(const SolverState& state) override {
    Delta_ = tr::saved_scalar(state, "dogbox.Delta");
    initial_guess_ = tr::saved_scalar(state, "dogbox.initial_guess");
    accepted_steps_ = static_cast<int>(tr::saved_scalar(state, "dogbox.accepted_steps"));
    bounded_ = tr::saved_scalar(state, "dogbox.bounded") != 0;
    jac_scale_ = tr::saved_scalar(state, "dogbox.jac_scale") != 0;
    scale_ = tr::saved_vector(state, "dogbox.scale", scale_.size());
    scale_inv_ = tr::saved_vector(state, "dogbox.scale_inv", scale_inv_.size());
    on_bound_ = tr::saved_vector(state, "dogbox.on_bound", on_bound_.size()).cast<int>();
  }
  Eigen::VectorXi active_mask(const tr::ConstVecRef&) const override { return on_bound_; }

 private:
  Eigen::Index k() const { return static_cast<Eigen::Index>(free_.size()); }
  bool gauss_newton_first() const {
    return options_.dogbox_radius_rule == SolverOptions::DogboxRadiusRule::gauss_newton_first;
  }

  // The variables that may move: all but those on a bound with the anti-gradient pointing out.
  void select_free_variables(const tr::ConstVecRef& x, const tr::ConstVecRef& g) {
    free_.clear();
    for (Eigen::Index i = 0; i < x.size(); ++i)
      if (!(on_bound_[i] * g[i] < 0)) free_.push_back(i);
    x_free_.resize(k()), lb_free_.resize(k()), ub_free_.resize(k()), scale_free_.resize(k()), g_free_.resize(k());
    for (Eigen::Index j = 0; j < k(); ++j) {
      x_free_[j] = x[free_[j]];
      lb_free_[j] = lb_[free_[j]];
      ub_free_[j] = ub_[free_[j]];
      scale_free_[j] = scale_[free_[j]];
      g_free_[j] = g[free_[j]];
    }
  }

  // Reduced system: QR of R[:, free] (J[:, free] = Q R[:, free]); T is its k x k triangle. The
  // Gauss-Newton step of the reduced problem is min-norm when T is rank deficient (as lstsq).
  void reduce(const Linearization& lin) {
    const Eigen::Index n = lin.R.cols();
    Eigen::Map<Eigen::MatrixXd> R_free(ws_.matrix(0), n, k());
    for (Eigen::Index j = 0; j < k(); ++j) R_free.col(j) = lin.R.col(free_[j]);
    Eigen::HouseholderQR<Eigen::Ref<Eigen::MatrixXd>> qr(R_free);
    reduced_qtf_ = qr.householderQ().adjoint() * lin.qtf;
    T_ = R_free.topRows(k()).triangularView<Eigen::Upper>();
    // The Gauss-Newton step as the least-squares solution of T p = -Q^T f, computed on the
    // column-scaled T: the SVD's cut-off for small singular values then does not depend on the
    // parameters' units (unscaled, an amplitude of 1e15 beside a rate of 1e2 truncates the step).
    Vec column_norms(k());
    for (Eigen::Index j = 0; j < k(); ++j) column_norms[j] = T_.col(j).stableNorm();
    for (Eigen::Index j = 0; j < k(); ++j)
      if (!(column_norms[j] > 0) || !std::isfinite(column_norms[j])) column_norms[j] = 1.0;
    const Eigen::MatrixXd scaled = T_ * column_norms.cwiseInverse().asDiagonal();
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(scaled, Eigen::ComputeFullU | Eigen::ComputeFullV);
    newton_step_ = -svd.solve(reduced_qtf_.head(k())).cwiseQuotient(column_norms);
    const Vec none;
    along_anti_gradient_ = tr::build_quadratic_1d(T_, g_free_, -g_free_, none, none);
  }

  // After a poor step: the minimiser of the quadratic through the cost at both ends and the slope
  // at the start, kept within [0.1, 0.5] of the step (Dennis & Schnabel 1983, A6.4.5).
  void shrink_to_quadratic_minimum(double actual_reduction) {
    const double slope = g_free_.dot(dog_.step);
    const double curvature = -actual_reduction - slope;
    const double t = curvature > 0 ? -0.5 * slope / curvature : 0.5;
    Delta_ = std::clamp(t, 0.1, 0.5) * step_h_norm_;
    if (accepted_steps_ == 0) Delta_ = std::min(Delta_, initial_guess_);  // the first trial failed
  }

  const SolverOptions& options_;
  SolverWorkspace& ws_;
  const Vec lb_, ub_;
  MapV g_masked_, scale_, scale_inv_, reduced_qtf_;
  Eigen::VectorXi on_bound_;  // -1 / +1: the variable sits exactly on its lower / upper bound
  bool jac_scale_ = false, bounded_ = false;
  double Delta_ = 1, initial_guess_ = 1, cost_ = 0;
  int accepted_steps_ = 0;
  // The reduced problem at x.
  std::vector<Eigen::Index> free_;
  Vec x_free_, lb_free_, ub_free_, scale_free_, g_free_, newton_step_;
  Eigen::MatrixXd T_;
  tr::Quadratic1D along_anti_gradient_;
  // The last proposal.
  tr::DoglegStep dog_;
  bool gauss_newton_ = false;
  double predicted_reduction_ = 0, step_norm_ = 0, step_h_norm_ = 0, relative_step_ = 0;
};

}  // namespace

SolverResult solve_dogbox(Objective& objective, const Eigen::VectorXd& x0, const SolverOptions& options) {
  return tr::run_method<DogboxStrategy>(Algorithm::dogbox, objective, x0, options);
}

}  // namespace curvefit
