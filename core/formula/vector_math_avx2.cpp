// AVX2 loops over SLEEF's 4-wide u10 functions. This file alone is compiled with -mavx2 -mfma;
// it is only called after vector_math.cpp has checked that the CPU supports AVX2 and FMA.
#include <immintrin.h>
#include <sleef.h>

#include <cmath>
#include <cstddef>

namespace curvefit::vmath::avx2 {

namespace {
template <class Vec4, class Scalar>
inline void unary(const double* in, double* out, std::size_t n, Vec4 vec, Scalar scalar) {
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) _mm256_storeu_pd(out + i, vec(_mm256_loadu_pd(in + i)));
  if (i < n) {
    // Tail through the same vector function, so every element has the same rounding.
    alignas(32) double tail[4] = {0, 0, 0, 0};
    for (std::size_t k = 0; i + k < n; ++k) tail[k] = in[i + k];
    alignas(32) double result[4];
    _mm256_store_pd(result, vec(_mm256_load_pd(tail)));
    for (std::size_t k = 0; i + k < n; ++k) out[i + k] = result[k];
  }
  (void)scalar;
}
template <class Vec4>
inline void binary(const double* a, const double* b, double* out, std::size_t n, Vec4 vec) {
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4)
    _mm256_storeu_pd(out + i, vec(_mm256_loadu_pd(a + i), _mm256_loadu_pd(b + i)));
  if (i < n) {
    alignas(32) double ta[4] = {0, 0, 0, 0}, tb[4] = {0, 0, 0, 0}, result[4];
    for (std::size_t k = 0; i + k < n; ++k) ta[k] = a[i + k], tb[k] = b[i + k];
    _mm256_store_pd(result, vec(_mm256_load_pd(ta), _mm256_load_pd(tb)));
    for (std::size_t k = 0; i + k < n; ++k) out[i + k] = result[k];
  }
}
}  // namespace

#define CURVEFIT_UNARY(name, sleef)                                  \
  void name(const double* in, double* out, std::size_t n) {          \
    unary(in, out, n, [](__m256d v) { return sleef(v); }, 0);        \
  }
CURVEFIT_UNARY(exp, Sleef_expd4_u10avx2)
CURVEFIT_UNARY(expm1, Sleef_expm1d4_u10avx2)
CURVEFIT_UNARY(log, Sleef_logd4_u10avx2)
CURVEFIT_UNARY(log10, Sleef_log10d4_u10avx2)
CURVEFIT_UNARY(log1p, Sleef_log1pd4_u10avx2)
CURVEFIT_UNARY(sin, Sleef_sind4_u10avx2)
CURVEFIT_UNARY(cos, Sleef_cosd4_u10avx2)
CURVEFIT_UNARY(tan, Sleef_tand4_u10avx2)
CURVEFIT_UNARY(asin, Sleef_asind4_u10avx2)
CURVEFIT_UNARY(acos, Sleef_acosd4_u10avx2)
CURVEFIT_UNARY(atan, Sleef_atand4_u10avx2)
CURVEFIT_UNARY(sinh, Sleef_sinhd4_u10avx2)
CURVEFIT_UNARY(cosh, Sleef_coshd4_u10avx2)
CURVEFIT_UNARY(tanh, Sleef_tanhd4_u10avx2)
CURVEFIT_UNARY(erf, Sleef_erfd4_u10avx2)
CURVEFIT_UNARY(erfc, Sleef_erfcd4_u15avx2)
#undef CURVEFIT_UNARY

void atan2(const double* y, const double* x, double* out, std::size_t n) {
  binary(y, x, out, n, [](__m256d a, __m256d b) { return Sleef_atan2d4_u10avx2(a, b); });
}
void pow(const double* base, const double* exponent, double* out, std::size_t n) {
  binary(base, exponent, out, n, [](__m256d a, __m256d b) { return Sleef_powd4_u10avx2(a, b); });
}

}  // namespace curvefit::vmath::avx2
