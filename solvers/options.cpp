#include "solvers/options.h"

namespace curvefit {

std::string_view status_message(Status status) {
  switch (status) {
    case Status::interrupted: return "Interrupted; the best point so far is reported.";
    case Status::failed: return "The solver could not proceed.";
    case Status::max_evaluations: return "The maximum number of function evaluations is exceeded.";
    case Status::gtol: return "`gtol` termination condition is satisfied.";
    case Status::ftol: return "`ftol` termination condition is satisfied.";
    case Status::xtol: return "`xtol` termination condition is satisfied.";
    case Status::ftol_and_xtol: return "Both `ftol` and `xtol` termination conditions are satisfied.";
  }
  return "";
}

bool status_converged(Status status) {
  return status == Status::gtol || status == Status::ftol || status == Status::xtol ||
         status == Status::ftol_and_xtol;
}

}  // namespace curvefit
