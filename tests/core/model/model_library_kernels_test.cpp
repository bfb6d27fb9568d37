// The built-in models' evaluators are compiled twice (core/model/model_library_kernels.h): the
// baseline (SSE2) build and the AVX2 build (-mavx2, no -mfma) must give the same bits, value and
// every Jacobian column, for every model in the library, on ordinary, extreme, NaN and Inf
// inputs and parameters, for block lengths that leave vector tails, with a leading dimension
// larger than the block. Both builds call the same core/formula/vector_math.h functions (one
// copy, compiled once), so exp, log, sin, erf, ... give the same bits on a given CPU: what this
// checks is everything the two builds compile themselves. "Same bits" treats any two NaNs as
// equal (x86 may pick either operand's payload) and tells -0 from +0.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/model/model_library.h"
#include "core/model/model_library_kernels.h"

namespace {

namespace mk = curvefit::model_kernels;
using curvefit::kModelBlock;
using curvefit::ModelInfo;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kDenormal = std::numeric_limits<double>::denorm_min();
constexpr double kHuge = std::numeric_limits<double>::max();

bool same_bits(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

// Predictor values: the model's own range, then extremes, NaN and Inf, then random magnitudes.
std::vector<double> predictor_values(const ModelInfo& info, std::size_t seed) {
  std::vector<double> x;
  for (int i = 0; i < 64; ++i) x.push_back(info.x_min + (info.x_max - info.x_min) * i / 63.0);
  const double extremes[] = {0.0, -0.0, 1.0, -1.0, kDenormal, -kDenormal, 1e-300, -1e-300, 1e-8, 700.0, -700.0,
                             745.2, -745.2, 1e8, -1e8, 1e300, -1e300, kHuge, -kHuge, kInf, -kInf, kNaN};
  for (const double e : extremes) x.push_back(e);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> mantissa(-1.0, 1.0);
  std::uniform_int_distribution<int> exponent(-40, 40);
  while (x.size() < kModelBlock) x.push_back(std::ldexp(mantissa(rng), exponent(rng)));
  return x;
}

// Parameter sets: the example, its negation, all zero, and the example with one parameter at a
// time replaced by each extreme.
std::vector<std::vector<double>> parameter_sets(const ModelInfo& info) {
  std::vector<std::vector<double>> sets{info.example};
  std::vector<double> negated = info.example, zero(info.example.size(), 0.0);
  for (double& p : negated) p = -p;
  sets.push_back(negated);
  sets.push_back(zero);
  const double extremes[] = {0.0, -0.0, 1e-300, -1e-300, 1e300, -1e300, kDenormal, kInf, -kInf, kNaN};
  for (std::size_t j = 0; j < info.example.size(); ++j)
    for (const double e : extremes) {
      std::vector<double> p = info.example;
      p[j] = e;
      sets.push_back(p);
    }
  return sets;
}

struct Evaluation {
  std::vector<double> values, jac;
};

// values[n] and the Jacobian with leading dimension ld = n + 3 (the 3 padding rows keep NaN).
Evaluation evaluate(mk::BlockFunction kernel, const ModelInfo& info, const std::vector<std::vector<double>>& x,
                    std::size_t n, const std::vector<double>& p, bool with_jacobian) {
  const std::size_t ld = n + 3;
  Evaluation e{std::vector<double>(n, kNaN), std::vector<double>(ld * info.param_names.size(), kNaN)};
  const double* xs[2] = {x[0].data(), x.size() > 1 ? x[1].data() : nullptr};
  kernel(xs, n, p.data(), e.values.data(), with_jacobian ? e.jac.data() : nullptr, ld);
  return e;
}

TEST(ModelLibraryKernels, EveryModelHasAKernelInBothBuilds) {
  for (const ModelInfo& info : curvefit::model_library()) {
    EXPECT_NE(mk::find_kernel(mk::baseline::kernel_table(), info.name), nullptr) << info.name;
    EXPECT_NE(mk::find_kernel(mk::avx2::kernel_table(), info.name), nullptr) << info.name;
  }
  EXPECT_EQ(mk::find_kernel(mk::baseline::kernel_table(), "no_such_model"), nullptr);
}

TEST(ModelLibraryKernels, RunTimeChoiceIsTheAvx2BuildExactlyWhenTheCpuHasAvx2) {
  const mk::KernelTable expected =
      __builtin_cpu_supports("avx2") ? mk::avx2::kernel_table() : mk::baseline::kernel_table();
  EXPECT_EQ(mk::kernel_table().entries, expected.entries);
}

TEST(ModelLibraryKernels, BaselineAndAvx2BuildsGiveTheSameBits) {
  if (!__builtin_cpu_supports("avx2")) GTEST_SKIP() << "this CPU has no AVX2: only the baseline build runs here";
  std::size_t compared = 0;
  for (const ModelInfo& info : curvefit::model_library()) {
    const mk::BlockFunction baseline = mk::find_kernel(mk::baseline::kernel_table(), info.name);
    const mk::BlockFunction avx2 = mk::find_kernel(mk::avx2::kernel_table(), info.name);
    ASSERT_TRUE(baseline && avx2) << info.name;
    std::vector<std::vector<double>> x{predictor_values(info, 1)};
    if (info.num_predictors == 2) {
      x.push_back(predictor_values(info, 2));
      std::reverse(x[1].begin(), x[1].end());  // pair ordinary with extreme values
    }
    for (const std::vector<double>& p : parameter_sets(info))
      for (const std::size_t n : {kModelBlock, kModelBlock - 1, std::size_t{7}, std::size_t{1}})
        for (const bool with_jacobian : {false, true}) {
          const Evaluation b = evaluate(baseline, info, x, n, p, with_jacobian);
          const Evaluation a = evaluate(avx2, info, x, n, p, with_jacobian);
          for (std::size_t i = 0; i < n; ++i)
            ASSERT_TRUE(same_bits(a.values[i], b.values[i]))
                << info.name << " value at point " << i << " (x = " << x[0][i] << "), n = " << n << ": avx2 "
                << a.values[i] << ", baseline " << b.values[i];
          for (std::size_t k = 0; k < b.jac.size(); ++k)
            ASSERT_TRUE(same_bits(a.jac[k], b.jac[k]))
                << info.name << " Jacobian entry " << k << " (column " << k / (n + 3) << "), n = " << n
                << ": avx2 " << a.jac[k] << ", baseline " << b.jac[k];
          compared += n;
        }
  }
  EXPECT_GT(compared, 100000u);
}

}  // namespace
