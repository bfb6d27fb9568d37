#include "solvers/loss.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace curvefit {

std::string_view to_string(Loss loss) {
  switch (loss) {
    case Loss::linear: return "linear";
    case Loss::soft_l1: return "soft_l1";
    case Loss::huber: return "huber";
    case Loss::cauchy: return "cauchy";
    case Loss::arctan: return "arctan";
  }
  return "?";
}

Loss parse_loss(std::string_view text) {
  if (text == "linear") return Loss::linear;
  if (text == "soft_l1") return Loss::soft_l1;
  if (text == "huber") return Loss::huber;
  if (text == "cauchy") return Loss::cauchy;
  if (text == "arctan") return Loss::arctan;
  throw std::invalid_argument("unknown loss '" + std::string(text) +
                              "' (expected linear, soft_l1, huber, cauchy or arctan)");
}

// rho(u) for u = z / C^2, and its first two derivatives in u.
static LossValue unscaled(Loss loss, double u) {
  switch (loss) {
    case Loss::linear: return {u, 1.0, 0.0};
    case Loss::soft_l1: {
      const double t = 1.0 + u;
      const double s = std::sqrt(t);
      return {2.0 * (s - 1.0), 1.0 / s, -0.5 / (t * s)};
    }
    case Loss::huber:
      if (u <= 1.0) return {u, 1.0, 0.0};
      {
        const double s = std::sqrt(u);
        return {2.0 * s - 1.0, 1.0 / s, -0.5 / (u * s)};
      }
    case Loss::cauchy: {
      const double t = 1.0 + u;
      return {std::log1p(u), 1.0 / t, -1.0 / (t * t)};
    }
    case Loss::arctan: {
      const double t = 1.0 + u * u;
      return {std::atan(u), 1.0 / t, -2.0 * u / (t * t)};
    }
  }
  return {u, 1.0, 0.0};
}

LossValue evaluate_loss(Loss loss, double z, double f_scale) {
  if (loss == Loss::linear) return {z, 1.0, 0.0};
  const double c2 = f_scale * f_scale;
  const LossValue v = unscaled(loss, z / c2);
  return {c2 * v.rho, v.drho, v.d2rho / c2};
}

RowScale robust_row_scale(double f, const LossValue& v) {
  // As scipy: J_scale = rho' + 2 rho'' f^2, clipped below at eps; J *= sqrt(J_scale);
  // f *= rho' / sqrt(J_scale).
  constexpr double kEps = 2.220446049250313e-16;
  double j_scale = v.drho + 2.0 * v.d2rho * f * f;
  if (j_scale < kEps) j_scale = kEps;
  const double root = std::sqrt(j_scale);
  return {root, v.drho / root};
}

}  // namespace curvefit
