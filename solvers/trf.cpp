// Placeholder until the algorithm lands: every call fails loudly.
#include <stdexcept>

#include "solvers/solve.h"

namespace curvefit {

SolverResult solve_trf(Objective&, const Eigen::VectorXd&, const SolverOptions&) {
  throw std::logic_error("solver 'trf' is not implemented yet");
}

}  // namespace curvefit
