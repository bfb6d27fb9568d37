#pragma once
// The arithmetic of what the fit engine allocates, written once. The engine sizes its buffers with
// these functions and the planner predicts each mode's peak with the same functions, so the
// prediction and the allocation cannot drift apart.
#include <cstddef>

namespace curvefit::footprint {

// A table of `rows` observations with `columns` double columns (predictors, y, sigma).
constexpr std::size_t data_bytes(std::size_t rows, std::size_t columns) {
  return sizeof(double) * rows * columns;
}

// One worker's chunk workspace: the data columns of the chunk, the model values, the residuals
// and the Jacobian block (rows x n, column-major).
constexpr std::size_t chunk_workspace_bytes(std::size_t chunk_rows, std::size_t n_params,
                                            std::size_t columns) {
  return sizeof(double) * chunk_rows * (columns + 2 + n_params);
}

// One partial TSQR factor: R (n x n) with Q^T f appended as an extra column, plus the residual
// norm and column sums of squares: (n + 1) x (n + 1) doubles.
constexpr std::size_t tsqr_factor_bytes(std::size_t n_params) {
  return sizeof(double) * (n_params + 1) * (n_params + 1);
}

}  // namespace curvefit::footprint
