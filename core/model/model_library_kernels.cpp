// The baseline (SSE2) build of the built-in models' evaluators, and the choice between the two
// builds.
#define CURVEFIT_MODEL_KERNELS_NAMESPACE baseline
#include "core/model/model_library_kernels_impl.h"

namespace curvefit::model_kernels {

KernelTable kernel_table() {
  static const KernelTable table = __builtin_cpu_supports("avx2") ? avx2::kernel_table() : baseline::kernel_table();
  return table;
}

BlockFunction find_kernel(KernelTable table, std::string_view name) {
  for (std::size_t k = 0; k < table.size; ++k)
    if (name == table.entries[k].name) return table.entries[k].evaluate;
  return nullptr;
}

}  // namespace curvefit::model_kernels
