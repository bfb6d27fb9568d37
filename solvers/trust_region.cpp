#include "solvers/trust_region.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace curvefit::tr {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

// phi(alpha) = ||p(alpha)|| - Delta and its derivative, with suf = s * uf.
std::pair<double, double> phi_and_derivative(double alpha, const ConstVecRef& suf, const ConstVecRef& s,
                                             double Delta) {
  const Vec denom = s.array().square() + alpha;
  const double p_norm = (suf.array() / denom.array()).matrix().norm();
  const double phi = p_norm - Delta;
  const double phi_prime = -(suf.array().square() / denom.array().cube()).sum() / p_norm;
  return {phi, phi_prime};
}
}  // namespace

TrustRegionSolution solve_trust_region_svd(const ConstVecRef& uf, const ConstVecRef& s, const ConstMatRef& V,
                                           double Delta, double initial_alpha, VecRef p,
                                           double rank_tolerance, double rtol, int max_iter) {
  TrustRegionSolution out;
  const Vec suf = s.cwiseProduct(uf);
  const Eigen::Index n = s.size();
  const bool full_rank = n > 0 && s[n - 1] > rank_tolerance * s[0];
  if (full_rank) {
    p.noalias() = -V * (uf.array() / s.array()).matrix();
    if (p.norm() <= Delta) {
      out.gauss_newton = true;
      return out;
    }
  }
  double alpha_upper = suf.norm() / Delta;
  double alpha_lower = 0;
  if (full_rank) {
    const auto [phi, phi_prime] = phi_and_derivative(0.0, suf, s, Delta);
    alpha_lower = -phi / phi_prime;
  }
  auto safeguarded = [&] { return std::max(0.001 * alpha_upper, std::sqrt(alpha_lower * alpha_upper)); };
  double alpha = (!full_rank && initial_alpha == 0) ? safeguarded() : initial_alpha;
  int it = 0;
  for (; it < max_iter; ++it) {
    if (alpha < alpha_lower || alpha > alpha_upper) alpha = safeguarded();
    const auto [phi, phi_prime] = phi_and_derivative(alpha, suf, s, Delta);
    if (phi < 0) alpha_upper = alpha;
    const double ratio = phi / phi_prime;
    alpha_lower = std::max(alpha_lower, alpha - ratio);
    alpha -= (phi + Delta) * ratio / Delta;
    if (std::abs(phi) < rtol * Delta) break;
  }
  p.noalias() = -V * (suf.array() / (s.array().square() + alpha)).matrix();
  // Land exactly on the boundary: the Newton iteration is stopped at a 1% tolerance.
  const double p_norm = p.norm();
  if (p_norm > 0) p *= Delta / p_norm;
  out.alpha = alpha;
  out.iterations = it + 1;
  return out;
}

std::pair<double, double> intersect_trust_region(const ConstVecRef& x, const ConstVecRef& s, double Delta) {
  const double a = s.squaredNorm();
  const double b = x.dot(s);
  const double c = x.squaredNorm() - Delta * Delta;
  const double d = std::sqrt(std::max(0.0, b * b - a * c));
  // Numerically stable roots of a t^2 + 2 b t + c.
  const double q = -(b + std::copysign(d, b));
  double t1 = q / a;
  double t2 = c / q;
  if (q == 0) t1 = t2 = 0;
  return {std::min(t1, t2), std::max(t1, t2)};
}

Vec lower_bounds(const SolverOptions& options, Eigen::Index n) {
  return options.lower.size() ? Vec(options.lower) : Vec::Constant(n, -kInf);
}
Vec upper_bounds(const SolverOptions& options, Eigen::Index n) {
  return options.upper.size() ? Vec(options.upper) : Vec::Constant(n, kInf);
}
bool has_finite_bounds(const ConstVecRef& lb, const ConstVecRef& ub) {
  return lb.array().isFinite().any() || ub.array().isFinite().any();
}
bool far_bound(double x, double bound) {
  return !std::isfinite(bound) || std::abs(bound - x) > kFarBound * std::max(1.0, std::abs(x));
}
bool has_near_bounds(const ConstVecRef& x, const ConstVecRef& lb, const ConstVecRef& ub) {
  for (Eigen::Index i = 0; i < x.size(); ++i)
    if (!far_bound(x[i], lb[i]) || !far_bound(x[i], ub[i])) return true;
  return false;
}

double step_size_to_bound(const ConstVecRef& x, const ConstVecRef& s, const ConstVecRef& lb,
                          const ConstVecRef& ub, Eigen::VectorXi* hits) {
  const Eigen::Index n = x.size();
  Vec steps = Vec::Constant(n, kInf);
  for (Eigen::Index i = 0; i < n; ++i)
    if (s[i] != 0) steps[i] = std::max((lb[i] - x[i]) / s[i], (ub[i] - x[i]) / s[i]);
  const double min_step = n ? steps.minCoeff() : kInf;
  if (hits) {
    hits->setZero(n);
    for (Eigen::Index i = 0; i < n; ++i)
      if (steps[i] == min_step && s[i] != 0) (*hits)[i] = s[i] > 0 ? 1 : -1;
  }
  return min_step;
}

bool in_bounds(const ConstVecRef& x, const ConstVecRef& lb, const ConstVecRef& ub) {
  return (x.array() >= lb.array()).all() && (x.array() <= ub.array()).all();
}

Eigen::VectorXi find_active_constraints(const ConstVecRef& x, const ConstVecRef& lb, const ConstVecRef& ub,
                                        double rtol) {
  const Eigen::Index n = x.size();
  Eigen::VectorXi active = Eigen::VectorXi::Zero(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    if (rtol == 0) {
      if (x[i] <= lb[i]) active[i] = -1;
      else if (x[i] >= ub[i]) active[i] = 1;
      continue;
    }
    const double lower_dist = x[i] - lb[i];
    const double upper_dist = ub[i] - x[i];
    const double lower_threshold = rtol * std::max(1.0, std::abs(lb[i]));
    const double upper_threshold = rtol * std::max(1.0, std::abs(ub[i]));
    if (std::isfinite(lb[i]) && lower_dist <= std::min(lower_threshold, upper_dist)) active[i] = -1;
    else if (std::isfinite(ub[i]) && upper_dist <= std::min(upper_threshold, lower_dist)) active[i] = 1;
  }
  return active;
}

void make_strictly_feasible(VecRef x, const ConstVecRef& lb, const ConstVecRef& ub, double rstep) {
  const Eigen::VectorXi active = find_active_constraints(x, lb, ub, rstep);
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    if (active[i] == -1)
      x[i] = rstep == 0 ? std::nextafter(lb[i], ub[i]) : lb[i] + rstep * std::max(1.0, std::abs(lb[i]));
    else if (active[i] == 1)
      x[i] = rstep == 0 ? std::nextafter(ub[i], lb[i]) : ub[i] - rstep * std::max(1.0, std::abs(ub[i]));
    // Bounds closer together than the push: the midpoint is the only safe interior point.
    if (x[i] < lb[i] || x[i] > ub[i]) x[i] = 0.5 * (lb[i] + ub[i]);
  }
}

void cl_scaling_vector(const ConstVecRef& x, const ConstVecRef& g, const ConstVecRef& lb, const ConstVecRef& ub,
                       VecRef v, VecRef dv) {
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    v[i] = 1;
    dv[i] = 0;
    if (g[i] < 0 && !far_bound(x[i], ub[i])) {
      v[i] = ub[i] - x[i];
      dv[i] = -1;
    } else if (g[i] > 0 && !far_bound(x[i], lb[i])) {
      v[i] = x[i] - lb[i];
      dv[i] = 1;
    }
  }
}

Quadratic1D build_quadratic_1d(const ConstMatRef& R, const ConstVecRef& g, const ConstVecRef& s,
                               const ConstVecRef& diag, const ConstVecRef& s0) {
  Quadratic1D q;
  const Vec v = R.triangularView<Eigen::Upper>() * s;
  q.a = v.squaredNorm();
  if (diag.size()) q.a += s.dot(diag.cwiseProduct(s));
  q.a *= 0.5;
  q.b = g.dot(s);
  if (s0.size()) {
    const Vec u = R.triangularView<Eigen::Upper>() * s0;
    q.b += u.dot(v);
    q.c = 0.5 * u.squaredNorm() + g.dot(s0);
    if (diag.size()) {
      q.b += s0.dot(diag.cwiseProduct(s));
      q.c += 0.5 * s0.dot(diag.cwiseProduct(s0));
    }
  }
  return q;
}

std::pair<double, double> minimize_quadratic_1d(const Quadratic1D& q, double lo, double hi) {
  auto value = [&](double t) { return t * (q.a * t + q.b) + q.c; };
  double best_t = lo, best = value(lo);
  if (const double v = value(hi); v < best) best_t = hi, best = v;
  if (q.a != 0) {
    const double extremum = -0.5 * q.b / q.a;
    if (lo < extremum && extremum < hi)
      if (const double v = value(extremum); v < best) best_t = extremum, best = v;
  }
  return {best_t, best};
}

double evaluate_quadratic(const ConstMatRef& R, const ConstVecRef& g, const ConstVecRef& s, const ConstVecRef& diag) {
  double q = (R.triangularView<Eigen::Upper>() * s).squaredNorm();
  if (diag.size()) q += s.dot(diag.cwiseProduct(s));
  return 0.5 * q + g.dot(s);
}

double largest_gradient_cosine(const ConstVecRef& gradient, const ConstVecRef& col_norms, double f_norm) {
  if (f_norm == 0) return 0;
  double largest = 0;
  for (Eigen::Index j = 0; j < gradient.size(); ++j)
    if (col_norms[j] != 0) largest = std::max(largest, std::abs(gradient[j] / f_norm) / col_norms[j]);
  return largest;
}

RadiusUpdate update_tr_radius(double Delta, double actual_reduction, double predicted_reduction,
                              double step_norm, bool bound_hit) {
  double ratio = 0;
  if (predicted_reduction > 0) ratio = actual_reduction / predicted_reduction;
  else if (predicted_reduction == 0 && actual_reduction == 0) ratio = 1;
  if (ratio < 0.25) Delta = 0.25 * step_norm;
  else if (ratio > 0.75 && bound_hit) Delta *= 2.0;
  return {Delta, ratio};
}

double relative_step(const ConstVecRef& dx, const ConstVecRef& x, double xtol) {
  double largest = 0;
  for (Eigen::Index j = 0; j < dx.size(); ++j) largest = std::max(largest, std::abs(dx[j]) / (xtol + std::abs(x[j])));
  return largest;
}

std::optional<Status> check_termination(double dF, double F, double relative_step, double ratio,
                                        double ftol, double xtol) {
  const bool ftol_satisfied = dF < ftol * F && ratio > 0.25;
  const bool xtol_satisfied = relative_step < xtol;
  if (ftol_satisfied && xtol_satisfied) return Status::ftol_and_xtol;
  if (ftol_satisfied) return Status::ftol;
  if (xtol_satisfied) return Status::xtol;
  return std::nullopt;
}

DoglegStep dogleg_step(const ConstVecRef& x, const ConstVecRef& newton_step, const ConstVecRef& g,
                       const Quadratic1D& along_anti_gradient, const ConstVecRef& tr_bounds,
                       const ConstVecRef& lb, const ConstVecRef& ub) {
  const Eigen::Index k = x.size();
  // The box of admissible steps, and which of its faces are original bounds / region faces.
  const Vec lb_total = (lb - x).cwiseMax(-tr_bounds);
  const Vec ub_total = (ub - x).cwiseMin(tr_bounds);
  DoglegStep out;
  out.bound_hits = Eigen::VectorXi::Zero(k);
  if (in_bounds(newton_step, lb_total, ub_total)) {
    out.step = newton_step;
    return out;
  }
  const Vec zero = Vec::Zero(k);
  const Vec minus_g = -g;
  const double to_bounds = step_size_to_bound(zero, minus_g, lb_total, ub_total);
  const Vec cauchy_step = -minimize_quadratic_1d(along_anti_gradient, 0, to_bounds).first * g;
  const Vec step_diff = newton_step - cauchy_step;
  Eigen::VectorXi hits;
  const double step_size = step_size_to_bound(cauchy_step, step_diff, lb_total, ub_total, &hits);
  for (Eigen::Index i = 0; i < k; ++i) {
    const bool orig_l = lb_total[i] == lb[i] - x[i], orig_u = ub_total[i] == ub[i] - x[i];
    const bool tr_l = lb_total[i] == -tr_bounds[i], tr_u = ub_total[i] == tr_bounds[i];
    if (hits[i] < 0 && orig_l) out.bound_hits[i] = -1;
    if (hits[i] > 0 && orig_u) out.bound_hits[i] = 1;
    if ((hits[i] < 0 && tr_l) || (hits[i] > 0 && tr_u)) out.tr_hit = true;
  }
  out.step = cauchy_step + step_size * step_diff;
  return out;
}

void append_diagonal_and_retriangularize(Eigen::Ref<Mat> T, VecRef rhs, const ConstVecRef& sqrt_diag) {
  const Eigen::Index n = T.cols();
  Vec row(n);
  for (Eigen::Index j = 0; j < n; ++j) {
    if (sqrt_diag[j] == 0) continue;
    row.setZero();
    row[j] = sqrt_diag[j];
    double row_rhs = 0;
    // Rotate the new row into T, column by column from j on (each rotation zeroes row[k]).
    for (Eigen::Index k = j; k < n; ++k) {
      if (row[k] == 0) continue;
      const double r = std::hypot(T(k, k), row[k]);
      const double c = T(k, k) / r;
      const double s = row[k] / r;
      for (Eigen::Index l = k; l < n; ++l) {
        const double t = T(k, l);
        T(k, l) = c * t + s * row[l];
        row[l] = -s * t + c * row[l];
      }
      const double t = rhs[k];
      rhs[k] = c * t + s * row_rhs;
      row_rhs = -s * t + c * row_rhs;
    }
  }
}

void update_jac_scale(const ConstVecRef& col_norms, VecRef scale_inv, VecRef scale, bool first) {
  for (Eigen::Index i = 0; i < col_norms.size(); ++i) {
    const double norm = col_norms[i] == 0 ? 1.0 : col_norms[i];
    scale_inv[i] = first ? norm : std::max(scale_inv[i], norm);
    scale[i] = 1.0 / scale_inv[i];
  }
}

bool initial_x_scale(const SolverOptions& options, const ConstVecRef& x0, const ConstVecRef& col_norms, VecRef scale,
                     VecRef scale_inv) {
  const bool jac_scale = uses_jacobian_scaling(options);
  if (options.x_scale.size()) {
    scale = options.x_scale;
    scale_inv = scale.cwiseInverse();
  } else if (jac_scale) {
    update_jac_scale(col_norms, scale_inv, scale, true);
  } else if (options.method == Algorithm::trf) {
    // The start's magnitudes (1 where it is 0): the region then has the shape of the parameters,
    // whatever their units (SolverOptions::x_scale).
    for (Eigen::Index j = 0; j < scale.size(); ++j) {
      const double magnitude = std::abs(x0[j]);
      scale[j] = magnitude > 0 && std::isfinite(magnitude) ? magnitude : 1.0;
    }
    scale_inv = scale.cwiseInverse();
  } else {
    scale.setOnes();
    scale_inv.setOnes();
  }
  return jac_scale;
}

std::string point_text(const ConstVecRef& x) {
  std::ostringstream out;
  out.precision(17);
  out << "[";
  for (Eigen::Index i = 0; i < x.size(); ++i) out << (i ? ", " : "") << x[i];
  out << "]";
  return out.str();
}

}  // namespace curvefit::tr
