#pragma once
// The size of a solver's workspace, in the memory module's neutral terms: how many n x n matrices
// and n-vectors of doubles it keeps. The solvers own their table (solvers/algorithm.h,
// workspace_spec) and allocate through SolverWorkspace; the planner's prediction
// (solver_workspace_bytes) adds up the same spec, so the prediction and the allocation cannot
// drift apart.
#include <cstddef>
#include <string_view>

namespace curvefit {

struct WorkspaceSpec {
  int square_matrices = 0;      // n x n
  int vectors = 0;              // n
  std::string_view solver = "";  // whose workspace, for reports ("trf", ...)
};

constexpr std::size_t solver_workspace_bytes(const WorkspaceSpec& spec, std::size_t n_params) {
  return sizeof(double) * n_params *
         (static_cast<std::size_t>(spec.square_matrices) * n_params +
          static_cast<std::size_t>(spec.vectors));
}

}  // namespace curvefit
