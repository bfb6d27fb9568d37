#pragma once
// Robust loss functions rho(z) of z = f^2, as in scipy.optimize.least_squares, with f_scale C:
//   rho_C(z) = C^2 * rho(z / C^2).
// The objective applies them to each residual row before the row enters the QR: it needs rho,
// rho' and rho'' per row, and the row scaling of scale_for_robust_loss_function.
#include <string_view>

namespace curvefit {

enum class Loss { linear, soft_l1, huber, cauchy, arctan };

std::string_view to_string(Loss loss);
// Throws std::invalid_argument naming the bad text and the valid names.
Loss parse_loss(std::string_view text);

struct LossValue {
  double rho;   // rho_C(z)
  double drho;  // d rho_C / dz
  double d2rho; // d2 rho_C / dz2
};

// Evaluates the scaled loss at z = f^2 >= 0.
LossValue evaluate_loss(Loss loss, double z, double f_scale);

// Row scaling for a residual f with loss values v (scipy's scale_for_robust_loss_function):
// the Jacobian row is multiplied by jacobian_scale and the residual by residual_scale, so that
// J_s^T f_s is the gradient of 0.5 * sum rho and J_s^T J_s the Gauss-Newton-like Hessian.
struct RowScale {
  double jacobian_scale;
  double residual_scale;
};
RowScale robust_row_scale(double f, const LossValue& v);

}  // namespace curvefit
