#pragma once
// Stage 3 of the formula compiler: lowering the DAG to a flat tape, and running it.
//
// The nodes the outputs need split in two:
//   - uniform nodes (constants, parameters, anything without a predictor) are computed once
//     per call with scalar libm into "slots";
//   - varying nodes become instructions over registers of kBlock doubles, run block by block
//     over the points with the vectorised math of core/vector_math.h.
// Registers are reused once their last reader has run (liveness over the tape order), and an
// instruction never writes a register it reads, so kernels can use __restrict (a fused pair of
// arithmetic instructions, one pass instead of two, is the exception and is written for it).
// Output nodes write straight into the caller's value or Jacobian column for whole blocks; the
// last partial block runs in scratch and is copied out. One sweep yields the value and every
// Jacobian column. The kernels and their two builds (SSE2, AVX2): expression_tape_kernels.h.
#include <cstddef>
#include <utility>
#include <vector>

#include "core/formula/expression_graph.h"
#include "core/formula/expression_tape_kernels.h"

namespace curvefit::expr {

class Tape {
 public:
  static constexpr std::size_t kBlock = tape::kBlock;

  // outputs[0] goes to values, outputs[1 + j] to Jacobian column j.
  Tape(const Graph& graph, const std::vector<int>& outputs);

  // Runs over n points: values[i], and jac[j * n + i] for the outputs after the first
  // (jac may be null when the tape has one output). Thread-safe; scratch is thread_local.
  void run(const double* const* x, std::size_t n, const double* p, double* values, double* jac) const;

  std::size_t num_instructions() const { return instructions_.size(); }
  std::size_t num_uniform_steps() const { return uniform_steps_.size(); }
  std::size_t num_registers() const { return static_cast<std::size_t>(num_registers_); }

 private:
  using Kernel = tape::Kernel;
  using Operand = tape::Operand;
  using Instruction = tape::Instruction;
  struct UniformStep {  // slot[result] = op(slot[args]...)
    Op op;
    int index;
    int result;
    int args[4];
  };
  struct Output {
    enum class Kind { Fill, Direct, Copy } kind;
    int source;  // slot for Fill, register otherwise
  };

  // Lowering, phase by phase (the constructor calls them in this order).
  struct Lowering;
  static Lowering mark_needed_nodes(const Graph& graph, const std::vector<int>& outputs);
  void assign_uniform_slots(const Graph& graph, Lowering& l);
  void assign_predictor_and_output_registers(const Graph& graph, const std::vector<int>& outputs, Lowering& l);
  void find_last_uses(const Graph& graph, Lowering& l);
  void emit_instructions(const Graph& graph, Lowering& l);
  void fuse_arithmetic_pairs();
  // The kernel for a node's op and operand shapes (s0, s1: operand uniform); false for nodes
  // that are never instructions.
  static bool select_kernel(const Node& n, bool s0, bool s1, Instruction& ins);

  // Running, per call and per block of kBlock points (the instructions' loop:
  // core/formula/expression_tape_kernels.h).
  void compute_uniform_slots(const double* p, std::vector<double>& slots) const;
  void bind_predictors(const double* const* x, std::size_t offset, std::size_t len, double** regs) const;

  std::vector<double> constant_slots_;       // initial slot values: constants, NaN elsewhere
  std::vector<std::pair<int, int>> parameter_slots_;  // (slot, parameter index)
  std::vector<UniformStep> uniform_steps_;
  std::vector<std::pair<int, int>> predictor_registers_;  // (register, predictor index)
  std::vector<std::pair<int, int>> broadcast_registers_;  // (register, slot): uniform as array
  std::vector<Instruction> instructions_;
  std::vector<Output> outputs_;
  int num_registers_ = 0;
  tape::BlockRunner run_block_ = tape::block_runner();
};

}  // namespace curvefit::expr
