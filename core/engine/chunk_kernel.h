#pragma once
// The arithmetic of one pass over a block of rows, shared by every mode of the chunked objective:
// the residual sums of the plain (linear-loss) fit and the Householder fold of [J | f] into the
// running triangular factor [R | Q^T f]. Written with 4-lane vectors that the compiler maps to
// AVX2 on CPUs that have it (checked at run time) and to SSE2 otherwise. The two builds perform
// the same IEEE operations in the same order (no FMA contraction), so they give the same bits.
#include <cstddef>

namespace curvefit::kernel {

// Folds the rows of the block [B | b] (rows x (n + 1), column-major, leading dimension ld) into
// the upper-triangular [R | qtf] (n x (n + 1), column-major, leading dimension n): a Householder
// QR of [R qtf; B b] whose triangle replaces [R | qtf]. B is overwritten. Allocation-free.
void fold_rows_into_factor(double* Rqtf, int n, double* B, std::size_t rows, std::size_t ld);

// Sums of the plain least-squares residuals r_i = (value_i - y_i) / sigma_i of a block.
struct LinearSums {
  double chi2 = 0;         // sum r_i^2 (also the cost's sum rho and ||f||^2 for the linear loss)
  double ss_residual = 0;  // sum (value_i - y_i)^2
  bool finite = true;      // every r_i finite
};

// The residuals of `rows` rows: sums into `sums` (added to what it holds, in a fixed order); when
// f is not null, r_i is written to f[i] and, with sigma, the Jacobian columns jac[j * ld + i]
// (j < jac_columns) are divided by sigma_i. sigma may be null (all ones). f may alias values.
void linear_residuals(const double* values, const double* y, const double* sigma, std::size_t rows,
                      double* f, double* jac, std::size_t jac_columns, std::size_t ld,
                      LinearSums& sums);

// Whether the AVX2 build is in use.
bool using_avx2();

// The two builds themselves, for the test that they agree bit for bit (call avx2:: only when
// using_avx2() says the CPU has it).
#define CURVEFIT_KERNEL_DECLARATIONS                                                                \
  void fold_rows_into_factor(double* Rqtf, int n, double* B, std::size_t rows, std::size_t ld);   \
  void linear_residuals(const double* values, const double* y, const double* sigma,              \
                        std::size_t rows, double* f, double* jac, std::size_t jac_columns,       \
                        std::size_t ld, LinearSums& sums);
namespace portable {
CURVEFIT_KERNEL_DECLARATIONS
}
namespace avx2 {
CURVEFIT_KERNEL_DECLARATIONS
}
#undef CURVEFIT_KERNEL_DECLARATIONS

}  // namespace curvefit::kernel
