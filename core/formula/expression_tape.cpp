#include "core/formula/expression_tape.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace curvefit::expr {

using tape::Kernel;
using tape::kBlock;

namespace {

bool needs_array_operands(Op op) {
  switch (op) {
    case Op::Atan2: case Op::Pow: case Op::Min: case Op::Max: case Op::SelectLe:
    case Op::Less: case Op::LessEq: case Op::Equal: case Op::NotEqual: case Op::And: case Op::Or:
    case Op::Select: case Op::FaddeevaRe: case Op::FaddeevaIm: case Op::FaddeevaDRe: case Op::FaddeevaDIm:
      return true;
    default:
      return false;
  }
}

// The op and operand shape of a two-operand arithmetic kernel; false for any other kernel.
bool arithmetic_kernel(Kernel kernel, tape::Arith& op, tape::FirstShape& shape) {
  using tape::Arith;
  using tape::FirstShape;
  switch (kernel) {
    case Kernel::AddVV: op = Arith::Add; shape = FirstShape::VV; return true;
    case Kernel::AddVS: op = Arith::Add; shape = FirstShape::VS; return true;
    case Kernel::SubVV: op = Arith::Sub; shape = FirstShape::VV; return true;
    case Kernel::SubVS: op = Arith::Sub; shape = FirstShape::VS; return true;
    case Kernel::SubSV: op = Arith::Sub; shape = FirstShape::SV; return true;
    case Kernel::MulVV: op = Arith::Mul; shape = FirstShape::VV; return true;
    case Kernel::MulVS: op = Arith::Mul; shape = FirstShape::VS; return true;
    case Kernel::DivVV: op = Arith::Div; shape = FirstShape::VV; return true;
    case Kernel::DivVS: op = Arith::Div; shape = FirstShape::VS; return true;
    case Kernel::DivSV: op = Arith::Div; shape = FirstShape::SV; return true;
    default: return false;
  }
}

}  // namespace

// The constructor's working state, handed from phase to phase (indexed by node id).
struct Tape::Lowering {
  static constexpr int kForever = std::numeric_limits<int>::max();
  std::vector<char> needed;          // the outputs depend on this node
  int last = 0;                      // the largest needed id
  std::vector<int> slot;             // uniform node -> slot, -1 otherwise
  std::vector<int> reg;              // varying node -> register, -1 until assigned
  std::vector<char> direct;          // an output written straight into the caller's column
  std::vector<int> last_use;         // instruction index of the last reader; kForever: copied out
  std::vector<int> instruction_of;   // varying non-predictor node -> its instruction index, else -1
};

Tape::Tape(const Graph& graph, const std::vector<int>& outputs) {
  Lowering l = mark_needed_nodes(graph, outputs);
  assign_uniform_slots(graph, l);
  assign_predictor_and_output_registers(graph, outputs, l);
  find_last_uses(graph, l);
  emit_instructions(graph, l);
  for (std::size_t k = 0; k < outputs.size(); ++k)
    if (outputs_[k].kind == Output::Kind::Copy) outputs_[k].source = l.reg[static_cast<std::size_t>(outputs[k])];
  fuse_arithmetic_pairs();
}

// An arithmetic instruction and the next one become one pass (tape::FusedPair) when the next
// applies a uniform scalar to the first's result and nothing else reads that result: not an
// output, and no later instruction before the register is written again. The fused loop performs
// the same two roundings (its result may reuse a register of the first's operands).
void Tape::fuse_arithmetic_pairs() {
  std::vector<char> output_register(static_cast<std::size_t>(num_registers_), 0);
  for (const Output& o : outputs_)
    if (o.kind != Output::Kind::Fill) output_register[static_cast<std::size_t>(o.source)] = 1;
  const auto read_later = [this](std::size_t from, int reg) {
    for (std::size_t j = from; j < instructions_.size(); ++j) {
      // Unused operands read as register 0 here, which only makes the test stricter.
      for (const Operand& operand : instructions_[j].args)
        if (!operand.uniform && operand.index == reg) return true;
      if (instructions_[j].result == reg) return false;
    }
    return false;
  };
  std::vector<Instruction> result;
  for (std::size_t i = 0; i < instructions_.size(); ++i) {
    const Instruction& first = instructions_[i];
    tape::FusedPair pair;
    tape::FirstShape second_shape{};
    const bool fusable = i + 1 < instructions_.size() && arithmetic_kernel(first.kernel, pair.first, pair.shape) &&
                         arithmetic_kernel(instructions_[i + 1].kernel, pair.second, second_shape) &&
                         second_shape != tape::FirstShape::VV && !output_register[static_cast<std::size_t>(first.result)];
    if (!fusable) {
      result.push_back(first);
      continue;
    }
    const Instruction& second = instructions_[i + 1];
    pair.scalar_first = second_shape == tape::FirstShape::SV;
    const Operand chained = second.args[pair.scalar_first ? 1 : 0];
    const Operand scalar = second.args[pair.scalar_first ? 0 : 1];
    if (chained.index != first.result || read_later(i + 2, first.result)) {
      result.push_back(first);
      continue;
    }
    Instruction fused{Kernel::Fused, second.result, pair.index(), {first.args[0], first.args[1], scalar, {}}};
    result.push_back(fused);
    ++i;
  }
  instructions_ = std::move(result);
}

Tape::Lowering Tape::mark_needed_nodes(const Graph& graph, const std::vector<int>& outputs) {
  // Ids are a topological order, so one backward sweep finds everything the outputs read.
  Lowering l;
  l.last = *std::max_element(outputs.begin(), outputs.end());
  l.needed.assign(static_cast<std::size_t>(l.last) + 1, 0);
  for (int id : outputs) l.needed[static_cast<std::size_t>(id)] = 1;
  for (int id = l.last; id >= 0; --id) {
    if (!l.needed[static_cast<std::size_t>(id)]) continue;
    const Node& n = graph.node(id);
    for (int k = 0; k < n.arity; ++k) l.needed[static_cast<std::size_t>(n.args[k])] = 1;
  }
  return l;
}

void Tape::assign_uniform_slots(const Graph& graph, Lowering& l) {
  // Uniform nodes -> slots, computed once per call in id order.
  l.slot.assign(l.needed.size(), -1);
  for (int id = 0; id <= l.last; ++id) {
    const Node& n = graph.node(id);
    if (!l.needed[static_cast<std::size_t>(id)] || n.varying) continue;
    const int s = static_cast<int>(constant_slots_.size());
    l.slot[static_cast<std::size_t>(id)] = s;
    constant_slots_.push_back(n.op == Op::Constant ? n.value : std::numeric_limits<double>::quiet_NaN());
    if (n.op == Op::Parameter) parameter_slots_.emplace_back(s, n.index);
    if (n.op == Op::Constant || n.op == Op::Parameter) continue;
    UniformStep step{n.op, n.index, s, {-1, -1, -1, -1}};
    for (int k = 0; k < n.arity; ++k) step.args[k] = l.slot[static_cast<std::size_t>(n.args[k])];
    uniform_steps_.push_back(step);
  }
}

void Tape::assign_predictor_and_output_registers(const Graph& graph, const std::vector<int>& outputs, Lowering& l) {
  // Registers for varying nodes: predictors, outputs written in place; the pool comes later.
  l.reg.assign(l.needed.size(), -1);
  l.direct.assign(l.needed.size(), 0);
  l.last_use.assign(l.needed.size(), -1);
  for (int id = 0; id <= l.last; ++id) {
    const Node& n = graph.node(id);
    if (l.needed[static_cast<std::size_t>(id)] && n.op == Op::Predictor) {
      l.reg[static_cast<std::size_t>(id)] = num_registers_++;
      predictor_registers_.emplace_back(l.reg[static_cast<std::size_t>(id)], n.index);
    }
  }
  for (int id : outputs) {
    const Node& n = graph.node(id);
    const auto i = static_cast<std::size_t>(id);
    if (!n.varying) {
      outputs_.push_back({Output::Kind::Fill, l.slot[i]});
    } else if (n.op != Op::Predictor && !l.direct[i]) {
      l.direct[i] = 1;
      l.reg[i] = num_registers_++;
      outputs_.push_back({Output::Kind::Direct, l.reg[i]});
    } else {
      outputs_.push_back({Output::Kind::Copy, -1});  // register known after allocation
      l.last_use[i] = Lowering::kForever;
    }
  }
}

void Tape::find_last_uses(const Graph& graph, Lowering& l) {
  // Liveness: the instruction index of each node's last reader (instructions are in id order).
  l.instruction_of.assign(l.needed.size(), -1);
  int count = 0;
  for (int id = 0; id <= l.last; ++id)
    if (l.needed[static_cast<std::size_t>(id)] && graph.node(id).varying && graph.node(id).op != Op::Predictor)
      l.instruction_of[static_cast<std::size_t>(id)] = count++;
  for (int id = 0; id <= l.last; ++id) {
    if (l.instruction_of[static_cast<std::size_t>(id)] < 0) continue;
    const Node& n = graph.node(id);
    for (int k = 0; k < n.arity; ++k) {
      int& use = l.last_use[static_cast<std::size_t>(n.args[k])];
      if (use != Lowering::kForever) use = std::max(use, l.instruction_of[static_cast<std::size_t>(id)]);
    }
  }
}

void Tape::emit_instructions(const Graph& graph, Lowering& l) {
  std::vector<int> broadcast_of_slot(constant_slots_.size(), -1);
  std::vector<int> free_registers;
  for (int id = 0; id <= l.last; ++id) {
    const int at = l.instruction_of[static_cast<std::size_t>(id)];
    if (at < 0) continue;
    const Node& n = graph.node(id);
    Instruction ins{};
    Operand operand[4];
    for (int k = 0; k < n.arity; ++k) {
      const auto arg = static_cast<std::size_t>(n.args[k]);
      if (graph.node(n.args[k]).varying) {
        operand[k] = {false, l.reg[arg]};
      } else if (needs_array_operands(n.op)) {
        int& b = broadcast_of_slot[static_cast<std::size_t>(l.slot[arg])];
        if (b < 0) {
          b = num_registers_++;
          broadcast_registers_.emplace_back(b, l.slot[arg]);
        }
        operand[k] = {false, b};
      } else {
        operand[k] = {true, l.slot[arg]};
      }
    }
    // Pick the kernel for the operand shapes; commutative ops put the register first.
    const bool s0 = n.arity > 0 && operand[0].uniform;
    const bool s1 = n.arity > 1 && operand[1].uniform;
    if ((n.op == Op::Add || n.op == Op::Mul) && s0) std::swap(operand[0], operand[1]);
    if (!select_kernel(n, s0, s1, ins)) continue;  // never for a varying instruction
    for (int k = 0; k < 4; ++k) ins.args[k] = operand[k];
    // The result register is taken before the operands' registers are released, so an
    // instruction never writes a register it reads.
    int& result = l.reg[static_cast<std::size_t>(id)];
    if (!l.direct[static_cast<std::size_t>(id)]) {
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
      const bool pooled = a.varying && a.op != Op::Predictor && !l.direct[arg];
      if (pooled && l.last_use[arg] == at && std::find(n.args, n.args + k, n.args[k]) == n.args + k)
        free_registers.push_back(l.reg[arg]);
    }
  }
}

bool Tape::select_kernel(const Node& n, bool s0, bool s1, Instruction& ins) {
  switch (n.op) {
    case Op::Add: ins.kernel = (s0 || s1) ? Kernel::AddVS : Kernel::AddVV; return true;
    case Op::Mul: ins.kernel = (s0 || s1) ? Kernel::MulVS : Kernel::MulVV; return true;
    case Op::Sub: ins.kernel = s0 ? Kernel::SubSV : s1 ? Kernel::SubVS : Kernel::SubVV; return true;
    case Op::Div: ins.kernel = s0 ? Kernel::DivSV : s1 ? Kernel::DivVS : Kernel::DivVV; return true;
    case Op::Neg: ins.kernel = Kernel::Neg; return true;
    case Op::PowInt: ins.kernel = Kernel::PowInt; ins.exponent = n.index; return true;
    case Op::Exp: ins.kernel = Kernel::Exp; return true;
    case Op::Log: ins.kernel = Kernel::Log; return true;
    case Op::Log10: ins.kernel = Kernel::Log10; return true;
    case Op::Sqrt: ins.kernel = Kernel::Sqrt; return true;
    case Op::Abs: ins.kernel = Kernel::Abs; return true;
    case Op::Sign: ins.kernel = Kernel::Sign; return true;
    case Op::Sin: ins.kernel = Kernel::Sin; return true;
    case Op::Cos: ins.kernel = Kernel::Cos; return true;
    case Op::Tan: ins.kernel = Kernel::Tan; return true;
    case Op::Asin: ins.kernel = Kernel::Asin; return true;
    case Op::Acos: ins.kernel = Kernel::Acos; return true;
    case Op::Atan: ins.kernel = Kernel::Atan; return true;
    case Op::Sinh: ins.kernel = Kernel::Sinh; return true;
    case Op::Cosh: ins.kernel = Kernel::Cosh; return true;
    case Op::Tanh: ins.kernel = Kernel::Tanh; return true;
    case Op::Erf: ins.kernel = Kernel::Erf; return true;
    case Op::Erfc: ins.kernel = Kernel::Erfc; return true;
    case Op::Atan2: ins.kernel = Kernel::Atan2; return true;
    case Op::Pow: ins.kernel = Kernel::Pow; return true;
    case Op::Min: ins.kernel = Kernel::Min; return true;
    case Op::Max: ins.kernel = Kernel::Max; return true;
    case Op::SelectLe: ins.kernel = Kernel::SelectLe; return true;
    case Op::Log2: ins.kernel = Kernel::Log2; return true;
    case Op::Floor: ins.kernel = Kernel::Floor; return true;
    case Op::Ceil: ins.kernel = Kernel::Ceil; return true;
    case Op::Heaviside: ins.kernel = Kernel::Heaviside; return true;
    case Op::Less: ins.kernel = Kernel::Less; return true;
    case Op::LessEq: ins.kernel = Kernel::LessEq; return true;
    case Op::Equal: ins.kernel = Kernel::Equal; return true;
    case Op::NotEqual: ins.kernel = Kernel::NotEqual; return true;
    case Op::And: ins.kernel = Kernel::And; return true;
    case Op::Or: ins.kernel = Kernel::Or; return true;
    case Op::Not: ins.kernel = Kernel::Not; return true;
    case Op::Select: ins.kernel = Kernel::Select; return true;
    case Op::FaddeevaRe: ins.kernel = Kernel::FaddeevaRe; return true;
    case Op::FaddeevaIm: ins.kernel = Kernel::FaddeevaIm; return true;
    case Op::FaddeevaDRe: ins.kernel = Kernel::FaddeevaDRe; return true;
    case Op::FaddeevaDIm: ins.kernel = Kernel::FaddeevaDIm; return true;
    case Op::Constant:
    case Op::Parameter:
    case Op::Predictor: return false;
  }
  return false;
}

void Tape::run(const double* const* x, std::size_t n, const double* p, double* values, double* jac) const {
  // Scratch grows to the largest tape a thread has run, then is reused: no allocation per call.
  struct Scratch {
    std::vector<double> slots, registers;
    std::vector<double*> regs;
  };
  thread_local Scratch thread_scratch;
  std::vector<double>& slots = thread_scratch.slots;
  std::vector<double>& scratch = thread_scratch.registers;
  std::vector<double*>& regs = thread_scratch.regs;
  compute_uniform_slots(p, slots);
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
    bind_predictors(x, offset, len, regs.data());
    if (whole)
      for (std::size_t k = 0; k < outputs_.size(); ++k)
        if (outputs_[k].kind == Output::Kind::Direct)
          regs[static_cast<std::size_t>(outputs_[k].source)] = output_column(k) + offset;
    run_block_(instructions_.data(), instructions_.size(), regs.data(), slots.data());
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

void Tape::compute_uniform_slots(const double* p, std::vector<double>& slots) const {
  slots.assign(constant_slots_.begin(), constant_slots_.end());
  for (const auto& [s, j] : parameter_slots_) slots[static_cast<std::size_t>(s)] = p[j];
  for (const UniformStep& step : uniform_steps_) {
    double args[4] = {0, 0, 0, 0};
    for (int k = 0; k < 4 && step.args[k] >= 0; ++k) args[k] = slots[static_cast<std::size_t>(step.args[k])];
    slots[static_cast<std::size_t>(step.result)] = apply_scalar(step.op, step.index, args);
  }
}

void Tape::bind_predictors(const double* const* x, std::size_t offset, std::size_t len, double** regs) const {
  for (const auto& [r, k] : predictor_registers_) {
    const double* column = x[k] + offset;
    double*& reg = regs[static_cast<std::size_t>(r)];
    if (len == kBlock) {
      reg = const_cast<double*>(column);  // read only
    } else {  // pad the partial block with its last point so that the padding is harmless
      std::copy_n(column, len, reg);
      std::fill(reg + len, reg + kBlock, column[len - 1]);
    }
  }
}

}  // namespace curvefit::expr
