// The portable build of the chunk kernel and the run-time choice between it and the AVX2 build.
#define CURVEFIT_KERNEL_NAMESPACE portable
#include "core/engine/chunk_kernel_impl.h"

namespace curvefit::kernel {

bool using_avx2() {
  static const bool supported = __builtin_cpu_supports("avx2");
  return supported;
}

void fold_rows_into_factor(double* Rqtf, int n, double* B, std::size_t rows, std::size_t ld) {
  if (using_avx2()) return avx2::fold_rows_into_factor(Rqtf, n, B, rows, ld);
  portable::fold_rows_into_factor(Rqtf, n, B, rows, ld);
}

void linear_residuals(const double* values, const double* y, const double* sigma, std::size_t rows,
                      double* f, double* jac, std::size_t jac_columns, std::size_t ld,
                      LinearSums& sums) {
  if (using_avx2()) return avx2::linear_residuals(values, y, sigma, rows, f, jac, jac_columns, ld, sums);
  portable::linear_residuals(values, y, sigma, rows, f, jac, jac_columns, ld, sums);
}

}  // namespace curvefit::kernel
