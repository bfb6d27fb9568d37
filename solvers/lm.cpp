// Placeholder until the algorithm lands: every call fails loudly.
#include <stdexcept>

#include "solvers/solve.h"

namespace curvefit {

SolverResult solve_lm(Objective&, const Eigen::VectorXd&, const SolverOptions&) {
  throw std::logic_error("solver 'lm' is not implemented yet");
}

}  // namespace curvefit
