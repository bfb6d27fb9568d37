#pragma once
// Pieces shared by the trust-region strategies (TRF and dogbox; the loop itself is
// trust_region_driver.h), as scipy's optimize/_lsq/common.py: the exact trust-region subproblem
// through an SVD, bound handling, 1-D quadratic models, the radius update and the termination tests. Everything works on n-sized quantities: the solvers
// never see m, so "J" below is always represented by an n x n upper-triangular factor R with
// ||J v|| = ||R v|| for every v (J = Q R).
#include <optional>
#include <string>

#include <Eigen/Core>

#include "solvers/objective.h"
#include "solvers/options.h"

namespace curvefit::tr {

using Vec = Eigen::VectorXd;
using Mat = Eigen::MatrixXd;
using VecRef = Eigen::Ref<Vec>;
using ConstVecRef = Eigen::Ref<const Vec>;
using ConstMatRef = Eigen::Ref<const Mat>;

// ---- Exact trust-region subproblem (Moré & Sorensen 1983; scipy's solve_lsq_trust_region) ----
//
// Minimise ||A p + f||^2 subject to ||p|| <= Delta, given the SVD A = U diag(s) V^T and
// uf = U^T f. If the Gauss-Newton step -V (uf / s) is inside the region it is the answer
// (alpha = 0); otherwise p(alpha) = -V (s uf / (s^2 + alpha)) and alpha > 0 solves
// phi(alpha) = ||p(alpha)|| - Delta = 0 by safeguarded Newton iterations.
struct TrustRegionSolution {
  double alpha = 0;       // Levenberg-Marquardt parameter of the solution (0: Gauss-Newton step)
  int iterations = 0;     // Newton iterations on alpha
  bool gauss_newton = false;  // the full-rank Gauss-Newton step was inside the region
};
// rank_tolerance: A is treated as rank deficient when s_min <= rank_tolerance * s_max.
TrustRegionSolution solve_trust_region_svd(const ConstVecRef& uf, const ConstVecRef& s, const ConstMatRef& V,
                                           double Delta, double initial_alpha, VecRef p,
                                           double rank_tolerance, double rtol = 0.01, int max_iter = 10);

// Smallest and largest t with ||x + t s|| = Delta (x inside the ball, s != 0).
std::pair<double, double> intersect_trust_region(const ConstVecRef& x, const ConstVecRef& s, double Delta);

// ---- Bounds ----
// Lower/upper bound vectors with -inf/+inf where none (options' empty vectors become infinite).
Vec lower_bounds(const SolverOptions& options, Eigen::Index n);
Vec upper_bounds(const SolverOptions& options, Eigen::Index n);
bool has_finite_bounds(const ConstVecRef& lb, const ConstVecRef& ub);
// A bound so far from x that it cannot matter: infinite, or beyond kFarBound * max(1, |x|).
// Such bounds still confine the steps, but scale nothing (Coleman-Li) and change no rule, so
// bounds of +-1e300 give the unbounded fit.
constexpr double kFarBound = 1e12;
bool far_bound(double x, double bound);
// Whether some bound is near enough to x to matter.
bool has_near_bounds(const ConstVecRef& x, const ConstVecRef& lb, const ConstVecRef& ub);

// Largest t >= 0 with lb <= x + t s <= ub; `hits` (optional) gets sign(s_i) for the components
// that reach their bound at that t, 0 for the others.
double step_size_to_bound(const ConstVecRef& x, const ConstVecRef& s, const ConstVecRef& lb,
                          const ConstVecRef& ub, Eigen::VectorXi* hits = nullptr);
bool in_bounds(const ConstVecRef& x, const ConstVecRef& lb, const ConstVecRef& ub);
// -1 where x is on (within rtol of) its lower bound, +1 on its upper bound, 0 otherwise;
// rtol = 0 means exactly on the bound (or beyond).
Eigen::VectorXi find_active_constraints(const ConstVecRef& x, const ConstVecRef& lb, const ConstVecRef& ub,
                                        double rtol = 1e-10);
// Moves x strictly inside the bounds: components on a bound are pushed in by rstep (relative), or
// by one ulp when rstep = 0.
void make_strictly_feasible(VecRef x, const ConstVecRef& lb, const ConstVecRef& ub, double rstep = 1e-10);

// Coleman-Li scaling vector v and its derivative dv (Branch, Coleman & Li 1999, eq. 2.3):
// v_i is the distance to the bound the anti-gradient points at (1 if that bound is infinite or
// far: a bound 1e300 away scales nothing, as none).
void cl_scaling_vector(const ConstVecRef& x, const ConstVecRef& g, const ConstVecRef& lb, const ConstVecRef& ub,
                       VecRef v, VecRef dv);

// ---- 1-D quadratic models along a line s0 + t s ----
// Model q(p) = 0.5 ||R p||^2 + 0.5 p^T diag(diag) p + g^T p (diag may be empty).
struct Quadratic1D {
  double a = 0, b = 0, c = 0;  // q(s0 + t s) = a t^2 + b t + c
};
Quadratic1D build_quadratic_1d(const ConstMatRef& R, const ConstVecRef& g, const ConstVecRef& s,
                               const ConstVecRef& diag, const ConstVecRef& s0);
// Minimiser over t in [lo, hi] of a t^2 + b t + c, and the minimum value.
std::pair<double, double> minimize_quadratic_1d(const Quadratic1D& q, double lo, double hi);
double evaluate_quadratic(const ConstMatRef& R, const ConstVecRef& g, const ConstVecRef& s, const ConstVecRef& diag);

// MINPACK's gradient test (Moré 1978, §7), the largest cosine between f and a column of J:
//     max_j |gradient_j| / (||J_j|| ||f||),
// of the gradient the method measures optimality by (J^T f, or it with components weighted or
// masked). It does not change when f is multiplied by a constant or a variable is rescaled;
// zero columns are skipped, and a zero residual counts as converged (0).
double largest_gradient_cosine(const ConstVecRef& gradient, const ConstVecRef& col_norms, double f_norm);

// ---- Radius and termination (scipy's update_tr_radius and check_termination) ----
struct RadiusUpdate {
  double Delta;
  double ratio;  // actual / predicted reduction
};
RadiusUpdate update_tr_radius(double Delta, double actual_reduction, double predicted_reduction,
                              double step_norm, bool bound_hit);
// The step relative to each parameter: max_j |dx_j| / (xtol + |x_j|). scipy's xtol test compares
// ||dx|| with ||x||, so a parameter of 1e15 hides a step of 1e-3 relative in one of 1e5 and the
// answer then depends on units; per parameter it does not.
double relative_step(const ConstVecRef& dx, const ConstVecRef& x, double xtol);
// ftol: dF < ftol F with a trusted model (ratio > 0.25); xtol: relative_step(dx, x) < xtol.
std::optional<Status> check_termination(double dF, double F, double relative_step, double ratio,
                                        double ftol, double xtol);

// ---- Dogleg in a box (Voglis & Lagaris 2004; scipy's dogbox.dogleg_step) ----
// The rectangular trust region |step_i| <= tr_bounds_i intersected with lb - x <= step <= ub - x.
// The path goes from 0 to the Cauchy point (the model's minimiser along -g inside the box, model
// a t^2 + b t along t (-g)) and on towards the Gauss-Newton step, stopped where it leaves the box.
struct DoglegStep {
  Vec step;
  Eigen::VectorXi bound_hits;  // -1 / +1 where the step ends on an original lower / upper bound
  bool tr_hit = false;         // the step ends on the trust-region box
};
DoglegStep dogleg_step(const ConstVecRef& x, const ConstVecRef& newton_step, const ConstVecRef& g,
                       const Quadratic1D& along_anti_gradient, const ConstVecRef& tr_bounds,
                       const ConstVecRef& lb, const ConstVecRef& ub);

// Near the minimum the cost reduction of a step falls below the rounding of the cost itself, and
// the ratio actual / predicted is noise: rejecting such steps would leave x where cost
// comparisons stop resolving it (LRE ~ 7 on NIST), not where the model's minimum is. A full
// Gauss-Newton step whose predicted reduction is below kCostRoundingLevel * cost is therefore
// accepted unless it increases the cost by more than that level.
constexpr double kCostRoundingLevel = 1e-14;
inline bool at_rounding_level(bool gauss_newton, double predicted_reduction, double actual_reduction,
                              double cost) {
  const double noise = kCostRoundingLevel * cost;
  return gauss_newton && predicted_reduction <= noise && actual_reduction >= -noise;
}

// TRF's and dogbox's test of a trial point: it lowers the cost, or it is a Gauss-Newton step at the
// rounding level of the cost.
inline bool lowers_cost(double cost, double trial_cost, bool gauss_newton, double predicted_reduction) {
  const double actual_reduction = cost - trial_cost;
  return actual_reduction > 0 || at_rounding_level(gauss_newton, predicted_reduction, actual_reduction, cost);
}

// ---- Linear algebra on the triangular factor ----
// Re-triangularises [T; diag(sqrt_diag)] in place with Givens rotations (MINPACK qrsolv's
// elimination), applying the same rotations to [rhs; 0]. T is n x n upper triangular; after the
// call T is the n x n triangular factor of the stacked matrix and rhs its rotated right-hand side.
void append_diagonal_and_retriangularize(Eigen::Ref<Mat> T, VecRef rhs, const ConstVecRef& sqrt_diag);

// The x_scale of the solvers: fixed (options.x_scale or ones), or 'jac' = running maximum of the
// Jacobian column norms (zero norms count as 1). scale_inv = 1 / scale.
void update_jac_scale(const ConstVecRef& col_norms, VecRef scale_inv, VecRef scale, bool first);

// The x_scale at the start of a run: options.x_scale, 'jac' (uses_jacobian_scaling) from the first
// column norms, or ones.
// Returns whether 'jac' scaling is on (the solver then updates it every iteration).
bool initial_x_scale(const SolverOptions& options, const ConstVecRef& x0, const ConstVecRef& col_norms, VecRef scale,
                     VecRef scale_inv);

// x as "[x1, x2, ...]" with 17 significant digits, for messages.
std::string point_text(const ConstVecRef& x);

}  // namespace curvefit::tr
