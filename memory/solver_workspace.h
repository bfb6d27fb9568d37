#pragma once
// The workspace each solver allocates, written once: the solvers allocate through SolverWorkspace,
// and the planner's prediction (solver_workspace_bytes) adds up the same table, so the prediction and
// the allocation cannot drift apart.
#include <cstddef>
#include <string_view>

namespace curvefit {

enum class Algorithm { trf, lm, dogbox };

std::string_view to_string(Algorithm algorithm);
// Parses "trf", "lm" or "dogbox"; throws std::invalid_argument naming the bad text.
Algorithm parse_algorithm(std::string_view text);

// How many n x n matrices and n-vectors of doubles a solver keeps for a problem with n parameters.
// Each solver documents, next to its SolverWorkspace, what every slot holds.
struct WorkspaceSpec {
  int square_matrices = 0;  // n x n
  int vectors = 0;          // n
};

constexpr WorkspaceSpec workspace_spec(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::trf: return {3, 15};     // documented in solvers/trf.cpp
    case Algorithm::lm: return {1, 11};      // documented in solvers/lm.cpp, LmWorkspace
    case Algorithm::dogbox: return {1, 8};   // documented in solvers/dogbox.cpp
  }
  return {};
}

constexpr std::size_t solver_workspace_bytes(Algorithm algorithm, std::size_t n_params) {
  const WorkspaceSpec spec = workspace_spec(algorithm);
  return sizeof(double) * n_params *
         (static_cast<std::size_t>(spec.square_matrices) * n_params +
          static_cast<std::size_t>(spec.vectors));
}

}  // namespace curvefit
