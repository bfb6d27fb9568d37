// The AVX2 build of the tape's block loop (this file alone gets -mavx2; see core/CMakeLists.txt).
#define CURVEFIT_TAPE_NAMESPACE avx2
#include "core/formula/expression_tape_kernels_impl.h"
