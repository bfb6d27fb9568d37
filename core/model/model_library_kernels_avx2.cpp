// The AVX2 build of the built-in models' evaluators (this file alone gets -mavx2; see
// core/CMakeLists.txt).
#define CURVEFIT_MODEL_KERNELS_NAMESPACE avx2
#include "core/model/model_library_kernels_impl.h"
