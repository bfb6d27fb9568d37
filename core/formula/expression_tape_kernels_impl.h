// The body of core/formula/expression_tape_kernels.h, compiled twice: by
// expression_tape_kernels.cpp for any x86-64 and by expression_tape_kernels_avx2.cpp with -mavx2.
// CURVEFIT_TAPE_NAMESPACE names the build. Include from those two files only. No inline function
// of a header is instantiated here (plain loops instead of std::copy_n): the linker keeps one copy
// of such a function, which could be the AVX2 one.
#include <cmath>
#include <cstdlib>
#include <utility>

#include "core/formula/expression_tape_kernels.h"
#include "core/formula/vector_math.h"

namespace curvefit::expr::tape::CURVEFIT_TAPE_NAMESPACE {

namespace {

// Fixed trip counts and __restrict let the compiler vectorise these loops.
template <class F>
inline void map1(double* __restrict out, const double* __restrict a, F f) {
  for (std::size_t i = 0; i < kBlock; ++i) out[i] = f(a[i]);
}
template <class F>
inline void map2(double* __restrict out, const double* __restrict a, const double* __restrict b, F f) {
  for (std::size_t i = 0; i < kBlock; ++i) out[i] = f(a[i], b[i]);
}

// out = a^exponent over one block by square-and-multiply, the same sequence as apply_scalar.
void integer_power(double* __restrict out, const double* __restrict a, int exponent) {
  double power[kBlock];
  for (std::size_t i = 0; i < kBlock; ++i) power[i] = a[i];
  for (std::size_t i = 0; i < kBlock; ++i) out[i] = 1.0;
  for (unsigned e = static_cast<unsigned>(std::abs(exponent)); e != 0; e >>= 1) {
    if (e & 1u)
      for (std::size_t i = 0; i < kBlock; ++i) out[i] *= power[i];
    if (e > 1)
      for (std::size_t i = 0; i < kBlock; ++i) power[i] *= power[i];
  }
  if (exponent < 0)
    for (std::size_t i = 0; i < kBlock; ++i) out[i] = 1 / out[i];
}

// Comparisons and logic over one block: 1 or 0, NaN where an operand is NaN (as compare_scalar).
template <class F>
inline void compare(double* __restrict out, const double* __restrict a, const double* __restrict b, F f) {
  for (std::size_t i = 0; i < kBlock; ++i) out[i] = a[i] != a[i] || b[i] != b[i] ? a[i] + b[i] : (f(a[i], b[i]) ? 1.0 : 0.0);
}

template <Arith op>
inline double arith(double u, double v) {
  if constexpr (op == Arith::Add) return u + v;
  if constexpr (op == Arith::Sub) return u - v;
  if constexpr (op == Arith::Mul) return u * v;
  if constexpr (op == Arith::Div) return u / v;
}

// One fused pair (expression_tape_kernels.h): a is null when the first op's left operand is the
// scalar sa, b when its right one is sb; sc is the second op's scalar. out may be a or b (point i
// reads only point i before writing it, so no iteration depends on another: ivdep).
template <Arith first, FirstShape shape, Arith second, bool scalar_first>
void fused(double* out, const double* a, const double* b, double sa, double sb, double sc) {
#pragma GCC ivdep
  for (std::size_t i = 0; i < kBlock; ++i) {
    const double u = shape == FirstShape::SV ? sa : a[i];
    const double v = shape == FirstShape::VS ? sb : b[i];
    const double t = arith<first>(u, v);
    out[i] = scalar_first ? arith<second>(sc, t) : arith<second>(t, sc);
  }
}

using FusedLoop = void (*)(double*, const double*, const double*, double, double, double);

// The table of fused loops in FusedPair::index() order (a plain array: see the note at the top).
template <int index>
constexpr FusedLoop fused_loop() {
  constexpr int scalar_first = index % 2, second = index / 2 % 4, shape = index / 8 % 3, first = index / 24;
  return fused<static_cast<Arith>(first), static_cast<FirstShape>(shape), static_cast<Arith>(second),
               scalar_first == 1>;
}
template <class Sequence>
struct FusedTable;
template <int... index>
struct FusedTable<std::integer_sequence<int, index...>> {
  static constexpr FusedLoop loops[] = {fused_loop<index>()...};
};
using FusedLoops = FusedTable<std::make_integer_sequence<int, kNumFusedPairs>>;

void execute_fused(const Instruction& ins, double* const* regs, const double* slots) {
  const auto reg = [&](int k) { return ins.args[k].uniform ? nullptr : regs[static_cast<std::size_t>(ins.args[k].index)]; };
  const auto slot = [&](int k) { return ins.args[k].uniform ? slots[static_cast<std::size_t>(ins.args[k].index)] : 0.0; };
  FusedLoops::loops[ins.exponent](regs[static_cast<std::size_t>(ins.result)], reg(0), reg(1),
                               slot(0), slot(1), slot(2));
}

// The kernels added for steps, comparisons, if() and the Faddeeva function, apart from the
// arithmetic and elementary functions so that each switch stays short.
void execute_piecewise(const Instruction& ins, double* const* regs) {
  double* out = regs[static_cast<std::size_t>(ins.result)];
  const auto reg = [&](int k) { return regs[static_cast<std::size_t>(ins.args[k].index)]; };
  const double* a = reg(0);
  switch (ins.kernel) {
    case Kernel::Log2: map1(out, a, [](double u) { return std::log2(u); }); break;
    case Kernel::Floor: map1(out, a, [](double u) { return std::floor(u); }); break;
    case Kernel::Ceil: map1(out, a, [](double u) { return std::ceil(u); }); break;
    case Kernel::Heaviside:
      map1(out, a, [](double u) { return u != u ? u : u < 0 ? 0.0 : u > 0 ? 1.0 : 0.5; });
      break;
    case Kernel::Not: map1(out, a, [](double u) { return u != u ? u : u == 0 ? 1.0 : 0.0; }); break;
    case Kernel::Less: compare(out, a, reg(1), [](double u, double v) { return u < v; }); break;
    case Kernel::LessEq: compare(out, a, reg(1), [](double u, double v) { return u <= v; }); break;
    case Kernel::Equal: compare(out, a, reg(1), [](double u, double v) { return u == v; }); break;
    case Kernel::NotEqual: compare(out, a, reg(1), [](double u, double v) { return u != v; }); break;
    case Kernel::And: compare(out, a, reg(1), [](double u, double v) { return u != 0 && v != 0; }); break;
    case Kernel::Or: compare(out, a, reg(1), [](double u, double v) { return u != 0 || v != 0; }); break;
    case Kernel::Select: {
      const double* __restrict b = reg(1);
      const double* __restrict c = reg(2);
      for (std::size_t i = 0; i < kBlock; ++i) out[i] = a[i] != a[i] ? a[i] : a[i] != 0 ? b[i] : c[i];
      break;
    }
    case Kernel::FaddeevaRe: vmath::faddeeva_re(a, reg(1), out, kBlock); break;
    case Kernel::FaddeevaIm: vmath::faddeeva_im(a, reg(1), out, kBlock); break;
    case Kernel::FaddeevaDRe: vmath::faddeeva_derivative_re(a, reg(1), out, kBlock); break;
    case Kernel::FaddeevaDIm: vmath::faddeeva_derivative_im(a, reg(1), out, kBlock); break;
    default: break;
  }
}

// Inlined into run_block's loop over the tape: a call per instruction measured ~5% slower.
[[gnu::always_inline]] inline void execute(const Instruction& ins, double* const* regs, const double* slots) {
  double* out = regs[static_cast<std::size_t>(ins.result)];
  const double* a = ins.args[0].uniform ? nullptr : regs[static_cast<std::size_t>(ins.args[0].index)];
  const double* b = ins.args[1].uniform ? nullptr : regs[static_cast<std::size_t>(ins.args[1].index)];
  const double sa = ins.args[0].uniform ? slots[static_cast<std::size_t>(ins.args[0].index)] : 0;
  const double sb = ins.args[1].uniform ? slots[static_cast<std::size_t>(ins.args[1].index)] : 0;
  switch (ins.kernel) {
    case Kernel::AddVV: map2(out, a, b, [](double u, double v) { return u + v; }); break;
    case Kernel::AddVS: map1(out, a, [sb](double u) { return u + sb; }); break;
    case Kernel::SubVV: map2(out, a, b, [](double u, double v) { return u - v; }); break;
    case Kernel::SubVS: map1(out, a, [sb](double u) { return u - sb; }); break;
    case Kernel::SubSV: map1(out, b, [sa](double v) { return sa - v; }); break;
    case Kernel::MulVV: map2(out, a, b, [](double u, double v) { return u * v; }); break;
    case Kernel::MulVS: map1(out, a, [sb](double u) { return u * sb; }); break;
    case Kernel::DivVV: map2(out, a, b, [](double u, double v) { return u / v; }); break;
    case Kernel::DivVS: map1(out, a, [sb](double u) { return u / sb; }); break;
    case Kernel::DivSV: map1(out, b, [sa](double v) { return sa / v; }); break;
    case Kernel::Neg: map1(out, a, [](double u) { return -u; }); break;
    case Kernel::PowInt: integer_power(out, a, ins.exponent); break;
    case Kernel::Exp: vmath::exp(a, out, kBlock); break;
    case Kernel::Log: vmath::log(a, out, kBlock); break;
    case Kernel::Log10: vmath::log10(a, out, kBlock); break;
    case Kernel::Sqrt: map1(out, a, [](double u) { return std::sqrt(u); }); break;
    case Kernel::Abs: map1(out, a, [](double u) { return std::fabs(u); }); break;
    case Kernel::Sign: map1(out, a, [](double u) { return u > 0 ? 1.0 : u < 0 ? -1.0 : u; }); break;
    case Kernel::Sin: vmath::sin(a, out, kBlock); break;
    case Kernel::Cos: vmath::cos(a, out, kBlock); break;
    case Kernel::Tan: vmath::tan(a, out, kBlock); break;
    case Kernel::Asin: vmath::asin(a, out, kBlock); break;
    case Kernel::Acos: vmath::acos(a, out, kBlock); break;
    case Kernel::Atan: vmath::atan(a, out, kBlock); break;
    case Kernel::Sinh: vmath::sinh(a, out, kBlock); break;
    case Kernel::Cosh: vmath::cosh(a, out, kBlock); break;
    case Kernel::Tanh: vmath::tanh(a, out, kBlock); break;
    case Kernel::Erf: vmath::erf(a, out, kBlock); break;
    case Kernel::Erfc: vmath::erfc(a, out, kBlock); break;
    case Kernel::Atan2: vmath::atan2(a, b, out, kBlock); break;
    case Kernel::Pow: vmath::pow(a, b, out, kBlock); break;
    case Kernel::Min:
      map2(out, a, b, [](double u, double v) { return u != u || v != v ? u + v : (v < u ? v : u); });
      break;
    case Kernel::Max:
      map2(out, a, b, [](double u, double v) { return u != u || v != v ? u + v : (u < v ? v : u); });
      break;
    case Kernel::SelectLe: {
      const double* __restrict c = regs[static_cast<std::size_t>(ins.args[2].index)];
      const double* __restrict d = regs[static_cast<std::size_t>(ins.args[3].index)];
      for (std::size_t i = 0; i < kBlock; ++i) out[i] = a[i] <= b[i] ? c[i] : d[i];
      break;
    }
    case Kernel::Fused: execute_fused(ins, regs, slots); break;
    default: execute_piecewise(ins, regs); break;
  }
}

}  // namespace

void run_block(const Instruction* first, std::size_t count, double* const* regs, const double* slots) {
  for (const Instruction* ins = first; ins != first + count; ++ins) execute(*ins, regs, slots);
}

}  // namespace curvefit::expr::tape::CURVEFIT_TAPE_NAMESPACE
