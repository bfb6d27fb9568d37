#include "core/formula/expression_tape.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/formula/vector_math.h"

namespace curvefit::expr {

// One kernel per op and operand shape: V = register (varying), S = uniform scalar slot.
enum class Tape::Kernel : unsigned char {
  AddVV, AddVS, SubVV, SubVS, SubSV, MulVV, MulVS, DivVV, DivVS, DivSV,
  Neg, PowInt, Exp, Log, Log10, Sqrt, Abs, Sign, Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Tanh,
  Erf, Erfc, Atan2, Pow, Min, Max, SelectLe,
};

namespace {

constexpr std::size_t kBlock = Tape::kBlock;

// Fixed trip counts and __restrict let the compiler vectorise these loops.
template <class F>
inline void map1(double* __restrict out, const double* __restrict a, F f) {
  for (std::size_t i = 0; i < kBlock; ++i) out[i] = f(a[i]);
}
template <class F>
inline void map2(double* __restrict out, const double* __restrict a, const double* __restrict b, F f) {
  for (std::size_t i = 0; i < kBlock; ++i) out[i] = f(a[i], b[i]);
}

bool needs_array_operands(Op op) {
  return op == Op::Atan2 || op == Op::Pow || op == Op::Min || op == Op::Max || op == Op::SelectLe;
}

}  // namespace

Tape::Tape(const Graph& graph, const std::vector<int>& outputs) {
  // Which nodes the outputs need (ids are a topological order, so one backward sweep).
  int last = *std::max_element(outputs.begin(), outputs.end());
  std::vector<char> needed(static_cast<std::size_t>(last) + 1, 0);
  for (int id : outputs) needed[static_cast<std::size_t>(id)] = 1;
  for (int id = last; id >= 0; --id) {
    if (!needed[static_cast<std::size_t>(id)]) continue;
    const Node& n = graph.node(id);
    for (int k = 0; k < n.arity; ++k) needed[static_cast<std::size_t>(n.args[k])] = 1;
  }

  // Uniform nodes -> slots, computed once per call in id order.
  std::vector<int> slot(needed.size(), -1);
  for (int id = 0; id <= last; ++id) {
    const Node& n = graph.node(id);
    if (!needed[static_cast<std::size_t>(id)] || n.varying) continue;
    const int s = static_cast<int>(constant_slots_.size());
    slot[static_cast<std::size_t>(id)] = s;
    constant_slots_.push_back(n.op == Op::Constant ? n.value : std::numeric_limits<double>::quiet_NaN());
    if (n.op == Op::Parameter) parameter_slots_.emplace_back(s, n.index);
    if (n.op == Op::Constant || n.op == Op::Parameter) continue;
    UniformStep step{n.op, n.index, s, {-1, -1, -1, -1}};
    for (int k = 0; k < n.arity; ++k) step.args[k] = slot[static_cast<std::size_t>(n.args[k])];
    uniform_steps_.push_back(step);
  }

  // Registers for varying nodes: predictors, outputs written in place, then a reusable pool.
  std::vector<int> reg(needed.size(), -1);
  std::vector<char> direct(needed.size(), 0);
  for (int id = 0; id <= last; ++id) {
    const Node& n = graph.node(id);
    if (needed[static_cast<std::size_t>(id)] && n.op == Op::Predictor) {
      reg[static_cast<std::size_t>(id)] = num_registers_++;
      predictor_registers_.emplace_back(reg[static_cast<std::size_t>(id)], n.index);
    }
  }
  constexpr int kForever = std::numeric_limits<int>::max();
  std::vector<int> last_use(needed.size(), -1);
  for (int id : outputs) {
    const Node& n = graph.node(id);
    if (!n.varying) {
      outputs_.push_back({Output::Kind::Fill, slot[static_cast<std::size_t>(id)]});
    } else if (n.op != Op::Predictor && !direct[static_cast<std::size_t>(id)]) {
      direct[static_cast<std::size_t>(id)] = 1;
      reg[static_cast<std::size_t>(id)] = num_registers_++;
      outputs_.push_back({Output::Kind::Direct, reg[static_cast<std::size_t>(id)]});
    } else {
      outputs_.push_back({Output::Kind::Copy, -1});  // register known after allocation
      last_use[static_cast<std::size_t>(id)] = kForever;
    }
  }
  // Liveness: the instruction index of each node's last reader (instructions are in id order).
  std::vector<int> instruction_of(needed.size(), -1);
  int count = 0;
  for (int id = 0; id <= last; ++id)
    if (needed[static_cast<std::size_t>(id)] && graph.node(id).varying && graph.node(id).op != Op::Predictor)
      instruction_of[static_cast<std::size_t>(id)] = count++;
  for (int id = 0; id <= last; ++id) {
    if (instruction_of[static_cast<std::size_t>(id)] < 0) continue;
    const Node& n = graph.node(id);
    for (int k = 0; k < n.arity; ++k) {
      int& use = last_use[static_cast<std::size_t>(n.args[k])];
      if (use != kForever) use = std::max(use, instruction_of[static_cast<std::size_t>(id)]);
    }
  }

  std::vector<int> broadcast_of_slot(constant_slots_.size(), -1);
  std::vector<int> free_registers;
  for (int id = 0; id <= last; ++id) {
    const int at = instruction_of[static_cast<std::size_t>(id)];
    if (at < 0) continue;
    const Node& n = graph.node(id);
    Instruction ins{};
    Operand operand[4];
    for (int k = 0; k < n.arity; ++k) {
      const auto arg = static_cast<std::size_t>(n.args[k]);
      if (graph.node(n.args[k]).varying) {
        operand[k] = {false, reg[arg]};
      } else if (needs_array_operands(n.op)) {
        int& b = broadcast_of_slot[static_cast<std::size_t>(slot[arg])];
        if (b < 0) {
          b = num_registers_++;
          broadcast_registers_.emplace_back(b, slot[arg]);
        }
        operand[k] = {false, b};
      } else {
        operand[k] = {true, slot[arg]};
      }
    }
    // Pick the kernel for the operand shapes; commutative ops put the register first.
    const bool s0 = n.arity > 0 && operand[0].uniform;
    const bool s1 = n.arity > 1 && operand[1].uniform;
    if ((n.op == Op::Add || n.op == Op::Mul) && s0) std::swap(operand[0], operand[1]);
    switch (n.op) {
      case Op::Add: ins.kernel = (s0 || s1) ? Kernel::AddVS : Kernel::AddVV; break;
      case Op::Mul: ins.kernel = (s0 || s1) ? Kernel::MulVS : Kernel::MulVV; break;
      case Op::Sub: ins.kernel = s0 ? Kernel::SubSV : s1 ? Kernel::SubVS : Kernel::SubVV; break;
      case Op::Div: ins.kernel = s0 ? Kernel::DivSV : s1 ? Kernel::DivVS : Kernel::DivVV; break;
      case Op::Neg: ins.kernel = Kernel::Neg; break;
      case Op::PowInt: ins.kernel = Kernel::PowInt; ins.exponent = n.index; break;
      case Op::Exp: ins.kernel = Kernel::Exp; break;
      case Op::Log: ins.kernel = Kernel::Log; break;
      case Op::Log10: ins.kernel = Kernel::Log10; break;
      case Op::Sqrt: ins.kernel = Kernel::Sqrt; break;
      case Op::Abs: ins.kernel = Kernel::Abs; break;
      case Op::Sign: ins.kernel = Kernel::Sign; break;
      case Op::Sin: ins.kernel = Kernel::Sin; break;
      case Op::Cos: ins.kernel = Kernel::Cos; break;
      case Op::Tan: ins.kernel = Kernel::Tan; break;
      case Op::Asin: ins.kernel = Kernel::Asin; break;
      case Op::Acos: ins.kernel = Kernel::Acos; break;
      case Op::Atan: ins.kernel = Kernel::Atan; break;
      case Op::Sinh: ins.kernel = Kernel::Sinh; break;
      case Op::Cosh: ins.kernel = Kernel::Cosh; break;
      case Op::Tanh: ins.kernel = Kernel::Tanh; break;
      case Op::Erf: ins.kernel = Kernel::Erf; break;
      case Op::Erfc: ins.kernel = Kernel::Erfc; break;
      case Op::Atan2: ins.kernel = Kernel::Atan2; break;
      case Op::Pow: ins.kernel = Kernel::Pow; break;
      case Op::Min: ins.kernel = Kernel::Min; break;
      case Op::Max: ins.kernel = Kernel::Max; break;
      case Op::SelectLe: ins.kernel = Kernel::SelectLe; break;
      case Op::Constant:
      case Op::Parameter:
      case Op::Predictor: continue;  // never varying instructions
    }
    for (int k = 0; k < 4; ++k) ins.args[k] = operand[k];
    // The result register is taken before the operands' registers are released, so an
    // instruction never writes a register it reads.
    int& result = reg[static_cast<std::size_t>(id)];
    if (!direct[static_cast<std::size_t>(id)]) {
      if (free_registers.empty()) {
        result = num_registers_++;
      } else {
        result = free_registers.back();
        free_registers.pop_back();
      }
    }
    ins.result = result;
    instructions_.push_back(ins);
    for (int k = 0; k < n.arity; ++k) {
      const auto arg = static_cast<std::size_t>(n.args[k]);
      const Node& a = graph.node(n.args[k]);
      const bool pooled = a.varying && a.op != Op::Predictor && !direct[arg];
      if (pooled && last_use[arg] == at && std::find(n.args, n.args + k, n.args[k]) == n.args + k)
        free_registers.push_back(reg[arg]);
    }
  }
  for (std::size_t k = 0; k < outputs.size(); ++k)
    if (outputs_[k].kind == Output::Kind::Copy) outputs_[k].source = reg[static_cast<std::size_t>(outputs[k])];
}

void Tape::run(const double* const* x, std::size_t n, const double* p, double* values, double* jac) const {
  // Scratch grows to the largest tape a thread has run, then is reused: no allocation per call.
  thread_local std::vector<double> slots;
  thread_local std::vector<double> scratch;
  thread_local std::vector<double*> regs;
  slots.assign(constant_slots_.begin(), constant_slots_.end());
  for (const auto& [s, j] : parameter_slots_) slots[static_cast<std::size_t>(s)] = p[j];
  for (const UniformStep& step : uniform_steps_) {
    double args[4] = {0, 0, 0, 0};
    for (int k = 0; k < 4 && step.args[k] >= 0; ++k) args[k] = slots[static_cast<std::size_t>(step.args[k])];
    slots[static_cast<std::size_t>(step.result)] = apply_scalar(step.op, step.index, args);
  }
  const std::size_t registers = static_cast<std::size_t>(num_registers_);
  if (scratch.size() < registers * kBlock) scratch.resize(registers * kBlock);
  if (regs.size() < registers) regs.resize(registers);
  for (const auto& [r, s] : broadcast_registers_)
    std::fill_n(scratch.data() + static_cast<std::size_t>(r) * kBlock, kBlock, slots[static_cast<std::size_t>(s)]);

  const auto output_column = [&](std::size_t k) { return k == 0 ? values : jac + (k - 1) * n; };
  for (std::size_t offset = 0; offset < n; offset += kBlock) {
    const std::size_t len = std::min(kBlock, n - offset);
    const bool whole = len == kBlock;
    for (std::size_t r = 0; r < registers; ++r) regs[r] = scratch.data() + r * kBlock;
    for (const auto& [r, k] : predictor_registers_) {
      const double* column = x[k] + offset;
      if (whole) {
        regs[static_cast<std::size_t>(r)] = const_cast<double*>(column);  // read only
      } else {  // pad the partial block with its last point so that the padding is harmless
        std::copy_n(column, len, regs[static_cast<std::size_t>(r)]);
        std::fill(regs[static_cast<std::size_t>(r)] + len, regs[static_cast<std::size_t>(r)] + kBlock, column[len - 1]);
      }
    }
    if (whole)
      for (std::size_t k = 0; k < outputs_.size(); ++k)
        if (outputs_[k].kind == Output::Kind::Direct)
          regs[static_cast<std::size_t>(outputs_[k].source)] = output_column(k) + offset;

    for (const Instruction& ins : instructions_) {
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
        case Kernel::PowInt: {
          // Square-and-multiply over the block, the same sequence as apply_scalar (in place,
          // so plain loops rather than the __restrict helpers).
          double power[kBlock];
          std::copy_n(a, kBlock, power);
          std::fill_n(out, kBlock, 1.0);
          for (unsigned e = static_cast<unsigned>(std::abs(ins.exponent)); e != 0; e >>= 1) {
            if (e & 1u)
              for (std::size_t i = 0; i < kBlock; ++i) out[i] *= power[i];
            if (e > 1)
              for (std::size_t i = 0; i < kBlock; ++i) power[i] *= power[i];
          }
          if (ins.exponent < 0)
            for (std::size_t i = 0; i < kBlock; ++i) out[i] = 1 / out[i];
          break;
        }
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
      }
    }

    for (std::size_t k = 0; k < outputs_.size(); ++k) {
      const Output& o = outputs_[k];
      if (o.kind == Output::Kind::Copy || (o.kind == Output::Kind::Direct && !whole))
        std::copy_n(regs[static_cast<std::size_t>(o.source)], len, output_column(k) + offset);
    }
  }
  for (std::size_t k = 0; k < outputs_.size(); ++k)
    if (outputs_[k].kind == Output::Kind::Fill)
      std::fill_n(output_column(k), n, slots[static_cast<std::size_t>(outputs_[k].source)]);
}

}  // namespace curvefit::expr
