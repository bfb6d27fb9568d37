// The baseline (SSE2) build of the tape's block loop, and the choice between the two builds.
#define CURVEFIT_TAPE_NAMESPACE baseline
#include "core/formula/expression_tape_kernels_impl.h"

namespace curvefit::expr::tape {

BlockRunner block_runner() {
  static const BlockRunner runner = __builtin_cpu_supports("avx2") ? avx2::run_block : baseline::run_block;
  return runner;
}

}  // namespace curvefit::expr::tape
