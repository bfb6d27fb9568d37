#pragma once
// The block evaluators of the built-in models (core/model/model_library.h): values and exact
// Jacobian over up to kModelBlock points. They are compiled twice: by model_library_kernels.cpp
// for any x86-64 (SSE2) and by model_library_kernels_avx2.cpp with -mavx2 (never -mfma: ISO C++
// mode keeps a*b + c two roundings), and builtin_kernel picks one build at run time. Every step is
// an IEEE operation per point or a call of core/formula/vector_math.h (the same function, so the
// same bits, from both builds), in the same order in both builds: they give the same bits.
#include <cstddef>
#include <string_view>

namespace curvefit {

// Points per block inside a built-in's evaluation: scratch for one block lives on the stack.
inline constexpr std::size_t kModelBlock = 256;

namespace model_kernels {

// Evaluates n <= kModelBlock points: values[i], and when jac is not null the Jacobian columns
// jac[j * ld + i]. x[k][i] is predictor k of point i.
using BlockFunction = void (*)(const double* const* x, std::size_t n, const double* p, double* values,
                               double* jac, std::size_t ld);

// The evaluator of the built-in model called `name` (polynomial degrees one entry each).
struct NamedKernel {
  const char* name;
  BlockFunction evaluate;
};
struct KernelTable {
  const NamedKernel* entries;
  std::size_t size;
};

namespace baseline {
KernelTable kernel_table();
}
namespace avx2 {
KernelTable kernel_table();
}

// The table of the AVX2 build when the CPU has AVX2, of the baseline build otherwise.
KernelTable kernel_table();
// The entry of `table` called `name`, or null.
BlockFunction find_kernel(KernelTable table, std::string_view name);

}  // namespace model_kernels
}  // namespace curvefit
