#pragma once
// The instructions of a formula tape (core/formula/expression_tape.h) and the loop that runs them
// over one block of kBlock points. The loop is compiled twice: by expression_tape_kernels.cpp
// for any x86-64 (SSE2) and by expression_tape_kernels_avx2.cpp with -mavx2 (never -mfma: ISO C++
// mode keeps a*b + c two roundings), picked once at run time. Each kernel is an IEEE operation
// per point or a call of core/formula/vector_math.h, so the two builds give the same bits.
#include <cstddef>

namespace curvefit::expr::tape {

inline constexpr std::size_t kBlock = 256;

// One kernel per op and operand shape: V = register (varying), S = uniform scalar slot.
enum class Kernel : unsigned char {
  AddVV, AddVS, SubVV, SubVS, SubSV, MulVV, MulVS, DivVV, DivVS, DivSV,
  Neg, PowInt, Exp, Log, Log10, Sqrt, Abs, Sign, Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Tanh,
  Erf, Erfc, Atan2, Pow, Min, Max, SelectLe,
  Log2, Floor, Ceil, Heaviside, Less, LessEq, Equal, NotEqual, And, Or, Not, Select, FaddeevaRe, FaddeevaIm,
  FaddeevaDRe, FaddeevaDIm,
  Fused,  // two arithmetic ops in one pass: see FusedPair
};
inline constexpr int kNumKernels = static_cast<int>(Kernel::Fused) + 1;

// A Fused instruction: t = first(args[0], args[1]) as the kernel AddVV ... DivSV would compute
// it, then result = second(t, slot args[2]) or second(slot args[2], t); the same two roundings as
// the two instructions it replaces, one pass over the block instead of two.
enum class Arith : unsigned char { Add, Sub, Mul, Div };
enum class FirstShape : unsigned char { VV, VS, SV };
struct FusedPair {
  Arith first = Arith::Add;
  FirstShape shape = FirstShape::VV;
  Arith second = Arith::Add;
  bool scalar_first = false;  // second(slot, t) rather than second(t, slot)
  // 0 .. kNumFusedPairs - 1, the index into the table of fused loops.
  int index() const {
    return ((static_cast<int>(first) * 3 + static_cast<int>(shape)) * 4 + static_cast<int>(second)) * 2 +
           (scalar_first ? 1 : 0);
  }
};
inline constexpr int kNumFusedPairs = 4 * 3 * 4 * 2;

struct Operand {
  bool uniform = false;
  int index = 0;  // uniform slot or register
};

// result = kernel(args) over one block. A result register is never one of its operands.
struct Instruction {
  Kernel kernel;
  int result;  // register
  int exponent = 0;  // PowInt's; for Fused, FusedPair::index()
  Operand args[4];
};

// Runs instructions [first, first + count) in order over one block: regs[r] points at register
// r's kBlock doubles, slots[s] is uniform slot s.
using BlockRunner = void (*)(const Instruction* first, std::size_t count, double* const* regs, const double* slots);

namespace baseline {
void run_block(const Instruction* first, std::size_t count, double* const* regs, const double* slots);
}
namespace avx2 {
void run_block(const Instruction* first, std::size_t count, double* const* regs, const double* slots);
}

// The AVX2 build when the CPU has AVX2, the baseline build otherwise.
BlockRunner block_runner();

}  // namespace curvefit::expr::tape
