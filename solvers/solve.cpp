#include "solvers/solve.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace curvefit {

namespace {
std::string index_text(Eigen::Index j) { return "[" + std::to_string(j) + "]"; }

// Every option checked up front, with a message that names it (as scipy's least_squares does).
void validate(const Objective& objective, const Eigen::VectorXd& x0, const SolverOptions& o) {
  const Eigen::Index n = objective.num_params();
  if (n <= 0) throw std::invalid_argument("the problem has no parameters");
  if (x0.size() != n)
    throw std::invalid_argument("x0 has " + std::to_string(x0.size()) + " values, the problem has " +
                                std::to_string(n) + " parameters");
  for (Eigen::Index j = 0; j < n; ++j)
    if (!std::isfinite(x0[j])) throw std::invalid_argument("x0" + index_text(j) + " is not finite");
  if (o.lower.size() != 0 && o.lower.size() != n)
    throw std::invalid_argument("lower bounds have " + std::to_string(o.lower.size()) +
                                " values, expected " + std::to_string(n));
  if (o.upper.size() != 0 && o.upper.size() != n)
    throw std::invalid_argument("upper bounds have " + std::to_string(o.upper.size()) +
                                " values, expected " + std::to_string(n));
  bool bounded = false;
  for (Eigen::Index j = 0; j < n; ++j) {
    const double lo = o.lower.size() ? o.lower[j] : -std::numeric_limits<double>::infinity();
    const double hi = o.upper.size() ? o.upper[j] : std::numeric_limits<double>::infinity();
    if (std::isnan(lo) || std::isnan(hi))
      throw std::invalid_argument("bound" + index_text(j) + " is NaN");
    if (!(lo < hi))
      throw std::invalid_argument("each lower bound must be strictly less than its upper bound (parameter " +
                                  index_text(j) + ")");
    if (x0[j] < lo || x0[j] > hi)
      throw std::invalid_argument("x0 is infeasible: x0" + index_text(j) + " = " + std::to_string(x0[j]) +
                                  " lies outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    bounded = bounded || std::isfinite(lo) || std::isfinite(hi);
  }
  if (o.method == Algorithm::lm && bounded)
    throw std::invalid_argument("method 'lm' does not support bounds; use 'trf' or 'dogbox'");
  if (o.x_scale.size() != 0) {
    if (o.x_scale.size() != n)
      throw std::invalid_argument("x_scale has " + std::to_string(o.x_scale.size()) +
                                  " values, expected " + std::to_string(n));
    for (Eigen::Index j = 0; j < n; ++j)
      if (!(o.x_scale[j] > 0) || !std::isfinite(o.x_scale[j]))
        throw std::invalid_argument("x_scale" + index_text(j) + " must be positive and finite");
  }
  for (auto [name, value] : {std::pair{"ftol", o.ftol}, std::pair{"xtol", o.xtol}, std::pair{"gtol", o.gtol}})
    if (!(value >= 0) || !std::isfinite(value))
      throw std::invalid_argument(std::string(name) + " must be a finite number >= 0");
  constexpr double eps = std::numeric_limits<double>::epsilon();
  if (o.ftol < eps && o.xtol < eps && o.gtol < eps)
    throw std::invalid_argument("at least one of ftol, xtol and gtol must be above machine epsilon");
  if (o.max_nfev < 0) throw std::invalid_argument("max_nfev must be >= 0");
  if (!(o.initial_radius_factor > 0)) throw std::invalid_argument("initial_radius_factor must be > 0");
}
}  // namespace

SolverResult solve(Objective& objective, const Eigen::VectorXd& x0, const SolverOptions& options) {
  validate(objective, x0, options);
  switch (options.method) {
    case Algorithm::trf: return solve_trf(objective, x0, options);
    case Algorithm::lm: return solve_lm(objective, x0, options);
    case Algorithm::dogbox: return solve_dogbox(objective, x0, options);
  }
  throw std::invalid_argument("unknown method");
}

}  // namespace curvefit
