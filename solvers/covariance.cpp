// Placeholder until the covariance lands.
#include "solvers/covariance.h"

#include <stdexcept>

namespace curvefit {

Covariance covariance_from_r(const Eigen::MatrixXd&, double, double) {
  throw std::logic_error("covariance_from_r is not implemented yet");
}
double covariance_scale(double, long, bool) {
  throw std::logic_error("covariance_scale is not implemented yet");
}

}  // namespace curvefit
