// The AVX2 build of the chunk kernel (this file alone gets -mavx2; see core/CMakeLists.txt).
#define CURVEFIT_KERNEL_NAMESPACE avx2
#include "core/engine/chunk_kernel_impl.h"
