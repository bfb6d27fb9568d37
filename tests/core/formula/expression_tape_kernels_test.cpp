// Every tape kernel over a block equals the scalar evaluation of its op, point by point:
//   - arithmetic, powers, comparisons, steps, min/max and selections: bit for bit against
//     apply_scalar (the semantics constant folding and the uniform slots use);
//   - elementary functions (exp, log, sin, ..., pow, atan2, erf, Faddeeva): bit for bit against
//     the same vmath function called on that one point, and within 2 ULP of apply_scalar's libm
//     (the bound tests/core/formula/vector_math_test.cpp holds vmath to) where libm is finite;
//   - a fused pair of arithmetic ops equals the two ops in turn;
//   - and the AVX2 build of the block loop gives the same bits as the baseline build.
// "Bit for bit" treats any two NaNs as equal (x86 may pick either operand's payload) and tells
// -0 from +0.
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/formula/expression_graph.h"
#include "core/formula/expression_tape_kernels.h"
#include "core/formula/vector_math.h"

namespace {

using curvefit::expr::Op;
using curvefit::expr::tape::Instruction;
using curvefit::expr::tape::Kernel;
using curvefit::expr::tape::kBlock;
namespace vmath = curvefit::vmath;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// How a kernel's operands are laid out: V = register, S = uniform slot.
enum class Shape { V, VV, VS, SV, VVV, VVVV };

struct KernelCase {
  Kernel kernel;
  Op op;
  Shape shape;
  int exponent = 0;
  // For the elementary functions: the vmath function on arrays (unary or binary), else null.
  void (*unary_vmath)(const double*, double*, std::size_t) = nullptr;
  void (*binary_vmath)(const double*, const double*, double*, std::size_t) = nullptr;
};

std::vector<KernelCase> all_kernel_cases() {
  using enum Kernel;
  using S = Shape;
  std::vector<KernelCase> cases = {
      {AddVV, Op::Add, S::VV}, {AddVS, Op::Add, S::VS}, {SubVV, Op::Sub, S::VV}, {SubVS, Op::Sub, S::VS},
      {SubSV, Op::Sub, S::SV}, {MulVV, Op::Mul, S::VV}, {MulVS, Op::Mul, S::VS}, {DivVV, Op::Div, S::VV},
      {DivVS, Op::Div, S::VS}, {DivSV, Op::Div, S::SV}, {Neg, Op::Neg, S::V},
      {PowInt, Op::PowInt, S::V, 3}, {PowInt, Op::PowInt, S::V, -5}, {PowInt, Op::PowInt, S::V, 12},
      {Exp, Op::Exp, S::V, 0, vmath::exp}, {Log, Op::Log, S::V, 0, vmath::log},
      {Log10, Op::Log10, S::V, 0, vmath::log10}, {Sqrt, Op::Sqrt, S::V}, {Abs, Op::Abs, S::V},
      {Sign, Op::Sign, S::V}, {Sin, Op::Sin, S::V, 0, vmath::sin}, {Cos, Op::Cos, S::V, 0, vmath::cos},
      {Tan, Op::Tan, S::V, 0, vmath::tan}, {Asin, Op::Asin, S::V, 0, vmath::asin},
      {Acos, Op::Acos, S::V, 0, vmath::acos}, {Atan, Op::Atan, S::V, 0, vmath::atan},
      {Sinh, Op::Sinh, S::V, 0, vmath::sinh}, {Cosh, Op::Cosh, S::V, 0, vmath::cosh},
      {Tanh, Op::Tanh, S::V, 0, vmath::tanh}, {Erf, Op::Erf, S::V, 0, vmath::erf},
      {Erfc, Op::Erfc, S::V, 0, vmath::erfc}, {Atan2, Op::Atan2, S::VV, 0, nullptr, vmath::atan2},
      {Pow, Op::Pow, S::VV, 0, nullptr, vmath::pow}, {Min, Op::Min, S::VV}, {Max, Op::Max, S::VV},
      {SelectLe, Op::SelectLe, S::VVVV}, {Log2, Op::Log2, S::V}, {Floor, Op::Floor, S::V},
      {Ceil, Op::Ceil, S::V}, {Heaviside, Op::Heaviside, S::V}, {Less, Op::Less, S::VV},
      {LessEq, Op::LessEq, S::VV}, {Equal, Op::Equal, S::VV}, {NotEqual, Op::NotEqual, S::VV},
      {And, Op::And, S::VV}, {Or, Op::Or, S::VV}, {Not, Op::Not, S::V}, {Select, Op::Select, S::VVV},
      {FaddeevaRe, Op::FaddeevaRe, S::VV, 0, nullptr, vmath::faddeeva_re},
      {FaddeevaIm, Op::FaddeevaIm, S::VV, 0, nullptr, vmath::faddeeva_im},
      {FaddeevaDRe, Op::FaddeevaDRe, S::VV, 0, nullptr, vmath::faddeeva_derivative_re},
      {FaddeevaDIm, Op::FaddeevaDIm, S::VV, 0, nullptr, vmath::faddeeva_derivative_im},
  };
  return cases;
}

bool same_bits(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

double ulp_distance(double a, double b) {
  if (a == b) return 0;
  return std::abs(a - b) / std::abs(std::nextafter(b, kInf) - b);
}

// Four operand registers: special values first (each register cycles through them at its own
// pace, so every pair meets), then random values from `low` to `high`, with some exact ties and
// zeros so that comparisons and selections take both branches.
std::vector<std::vector<double>> operand_registers(double low, double high, bool specials, unsigned seed) {
  const double special[] = {kNaN, kInf, -kInf, 0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.5, 1e-310, 1e300};
  constexpr std::size_t kSpecial = std::size(special);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(low, high);
  std::vector<std::vector<double>> regs(4, std::vector<double>(kBlock));
  for (std::size_t r = 0; r < 4; ++r) {
    for (std::size_t i = 0; i < kBlock; ++i) {
      if (specials && i < kSpecial * kSpecial) {
        regs[r][i] = special[(r % 2 == 0 ? i : i / kSpecial) % kSpecial];
      } else {
        regs[r][i] = i % 17 == 0 ? 0.0 : dist(rng);
      }
    }
  }
  for (std::size_t i = kBlock - 32; i < kBlock; i += 3) regs[1][i] = regs[0][i];  // ties
  return regs;
}

// Runs one instruction of `c` with `runner` over the registers; slots {2.5, -0.75}.
std::vector<double> run_kernel(curvefit::expr::tape::BlockRunner runner, const KernelCase& c,
                               std::vector<std::vector<double>> regs, const double* slots) {
  std::vector<double> out(kBlock, -7.0);
  double* reg_pointers[5] = {regs[0].data(), regs[1].data(), regs[2].data(), regs[3].data(), out.data()};
  Instruction ins{c.kernel, 4, c.exponent, {}};
  for (int k = 0; k < 4; ++k) ins.args[k] = {false, k};
  if (c.shape == Shape::VS) ins.args[1] = {true, 0};
  if (c.shape == Shape::SV) ins.args[0] = {true, 1};
  runner(&ins, 1, reg_pointers, slots);
  return out;
}

// The operands of point i in the order the op reads them.
void scalar_operands(const KernelCase& c, const std::vector<std::vector<double>>& regs, const double* slots,
                     std::size_t i, double* args) {
  for (int k = 0; k < 4; ++k) args[k] = regs[static_cast<std::size_t>(k)][i];
  if (c.shape == Shape::VS) args[1] = slots[0];
  if (c.shape == Shape::SV) args[0] = slots[1];
}

void check_kernel(const KernelCase& c, const std::vector<std::vector<double>>& regs, bool compare_to_libm) {
  const double slots[] = {2.5, -0.75};
  const std::vector<double> baseline = run_kernel(curvefit::expr::tape::baseline::run_block, c, regs, slots);
  const std::vector<double> avx2 = __builtin_cpu_supports("avx2")
                                       ? run_kernel(curvefit::expr::tape::avx2::run_block, c, regs, slots)
                                       : baseline;
  const std::string name = "kernel " + std::to_string(static_cast<int>(c.kernel)) + " exponent " +
                           std::to_string(c.exponent);
  for (std::size_t i = 0; i < kBlock; ++i) {
    double args[4];
    scalar_operands(c, regs, slots, i, args);
    ASSERT_TRUE(same_bits(avx2[i], baseline[i])) << name << " point " << i << ": AVX2 " << avx2[i] << ", baseline " << baseline[i];
    const double libm = curvefit::expr::apply_scalar(c.op, c.exponent, args);
    if (c.unary_vmath || c.binary_vmath) {
      double one_point = 0;
      if (c.unary_vmath) {
        c.unary_vmath(&args[0], &one_point, 1);
      } else {
        c.binary_vmath(&args[0], &args[1], &one_point, 1);
      }
      ASSERT_TRUE(same_bits(baseline[i], one_point)) << name << " point " << i << " (" << args[0] << ", " << args[1]
                                                     << "): block " << baseline[i] << ", one point " << one_point;
      if (compare_to_libm && std::isfinite(libm)) {
        ASSERT_LE(ulp_distance(baseline[i], libm), 2.0) << name << " (" << args[0] << ", " << args[1] << ")";
      }
    } else {
      ASSERT_TRUE(same_bits(baseline[i], libm)) << name << " point " << i << " (" << args[0] << ", " << args[1]
                                                << ", " << args[2] << ", " << args[3] << "): block " << baseline[i]
                                                << ", scalar " << libm;
    }
  }
}

// Every fused pair (op, shape of the first; op, side of the second's scalar) against the two ops
// one after the other in scalar code, bit for bit, in both builds; once with the result written
// over the first operand's register, as the tape may do.
void check_fused_pairs(const std::vector<std::vector<double>>& regs) {
  using curvefit::expr::tape::Arith;
  using curvefit::expr::tape::FirstShape;
  using curvefit::expr::tape::FusedPair;
  const Op ops[] = {Op::Add, Op::Sub, Op::Mul, Op::Div};
  const double slots[] = {2.5, -0.75, 1.0 / 3};
  for (int first = 0; first < 4; ++first)
    for (int shape = 0; shape < 3; ++shape)
      for (int second = 0; second < 4; ++second)
        for (const bool scalar_first : {false, true})
          for (const bool in_place : {false, true}) {
            const FusedPair pair{static_cast<Arith>(first), static_cast<FirstShape>(shape), static_cast<Arith>(second),
                                 scalar_first};
            Instruction ins{Kernel::Fused, in_place && shape != 2 ? 0 : 4, pair.index(), {}};
            ins.args[0] = shape == 2 ? curvefit::expr::tape::Operand{true, 0} : curvefit::expr::tape::Operand{false, 0};
            ins.args[1] = shape == 1 ? curvefit::expr::tape::Operand{true, 1} : curvefit::expr::tape::Operand{false, 1};
            ins.args[2] = {true, 2};
            for (const auto runner : {curvefit::expr::tape::baseline::run_block, curvefit::expr::tape::avx2::run_block}) {
              if (runner == curvefit::expr::tape::avx2::run_block && !__builtin_cpu_supports("avx2")) continue;
              std::vector<std::vector<double>> copy = regs;
              std::vector<double> out(kBlock, -7.0);
              double* reg_pointers[5] = {copy[0].data(), copy[1].data(), copy[2].data(), copy[3].data(), out.data()};
              runner(&ins, 1, reg_pointers, slots);
              const double* result = reg_pointers[ins.result];
              for (std::size_t i = 0; i < kBlock; ++i) {
                const double u[2] = {shape == 2 ? slots[0] : regs[0][i], shape == 1 ? slots[1] : regs[1][i]};
                const double t = curvefit::expr::apply_scalar(ops[first], 0, u);
                const double v[2] = {scalar_first ? slots[2] : t, scalar_first ? t : slots[2]};
                const double expected = curvefit::expr::apply_scalar(ops[second], 0, v);
                ASSERT_TRUE(same_bits(result[i], expected))
                    << "pair " << pair.index() << (in_place ? " in place" : "") << " point " << i << ": " << result[i]
                    << ", two ops " << expected;
              }
            }
          }
}

TEST(TapeKernels, FusedPairsEqualTheTwoOpsInTurn) {
  check_fused_pairs(operand_registers(-1e3, 1e3, true, 13));
}

TEST(TapeKernels, EveryKernelIsCovered) {
  std::vector<bool> seen(curvefit::expr::tape::kNumKernels, false);
  for (const KernelCase& c : all_kernel_cases()) seen[static_cast<std::size_t>(c.kernel)] = true;
  seen[static_cast<std::size_t>(Kernel::Fused)] = true;  // FusedPairsEqualTheTwoOpsInTurn
  for (int k = 0; k < curvefit::expr::tape::kNumKernels; ++k) EXPECT_TRUE(seen[static_cast<std::size_t>(k)]) << k;
}

TEST(TapeKernels, BlockEqualsScalarOnSpecialAndWideValues) {
  const auto regs = operand_registers(-1e3, 1e3, true, 11);
  for (const KernelCase& c : all_kernel_cases()) check_kernel(c, regs, false);
}

TEST(TapeKernels, ElementaryFunctionsWithinTwoUlpOfLibmOnOrdinaryArguments) {
  const auto regs = operand_registers(-3, 3, false, 12);
  for (const KernelCase& c : all_kernel_cases()) check_kernel(c, regs, true);
}

}  // namespace
