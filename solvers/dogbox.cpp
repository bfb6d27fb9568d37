// Placeholder until the algorithm lands: every call fails loudly.
#include <stdexcept>

#include "solvers/solve.h"

namespace curvefit {

SolverResult solve_dogbox(Objective&, const Eigen::VectorXd&, const SolverOptions&) {
  throw std::logic_error("solver 'dogbox' is not implemented yet");
}

}  // namespace curvefit
