#pragma once
// The solvers' algorithms, their names, and the workspace each keeps (handed to the memory module
// as a neutral WorkspaceSpec, so that prediction and allocation share one table).
#include <cstddef>
#include <string_view>

#include "memory/solver_workspace.h"

namespace curvefit {

enum class Algorithm { trf, lm, dogbox };

std::string_view to_string(Algorithm algorithm);
// Parses "trf", "lm" or "dogbox"; throws std::invalid_argument naming the bad text.
Algorithm parse_algorithm(std::string_view text);

// How many n x n matrices and n-vectors each solver keeps; the slots are documented next to the
// code that uses them (trust_region_driver.h for the driver's four vectors, each method's file for
// its own).
constexpr WorkspaceSpec workspace_spec(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::trf: return {3, 15, "trf"};
    case Algorithm::lm: return {1, 14, "lm"};
    case Algorithm::dogbox: return {1, 8, "dogbox"};
  }
  return {};
}

constexpr std::size_t solver_workspace_bytes(Algorithm algorithm, std::size_t n_params) {
  return solver_workspace_bytes(workspace_spec(algorithm), n_params);
}

}  // namespace curvefit
