#pragma once
// Entry points of the solvers. `solve` validates the options (a message naming the bad one,
// std::invalid_argument) and dispatches to the algorithm's own file: trf.cpp, lm.cpp, dogbox.cpp,
// each a strategy of the one trust-region loop (trust_region_driver.h).
#include <Eigen/Core>

#include "solvers/objective.h"
#include "solvers/options.h"

namespace curvefit {

SolverResult solve(Objective& objective, const Eigen::VectorXd& x0, const SolverOptions& options);

// Called by solve() after validation (x0 within bounds, sizes consistent). Not for direct use.
SolverResult solve_trf(Objective& objective, const Eigen::VectorXd& x0, const SolverOptions& options);
SolverResult solve_lm(Objective& objective, const Eigen::VectorXd& x0, const SolverOptions& options);
SolverResult solve_dogbox(Objective& objective, const Eigen::VectorXd& x0, const SolverOptions& options);

}  // namespace curvefit
