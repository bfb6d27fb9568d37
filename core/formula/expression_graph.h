#pragma once
// Stage 2 of the formula compiler: the expression DAG, its simplifier and its differentiator.
//
// Nodes are created only through smart constructors that first fold constants and apply the
// 0/1 identities (u+0, u*1, u*0, u^1, ...), then hash-cons: a node equal to an existing one is
// that node, so common subexpressions are shared for free. A child always has a smaller id than
// its parent, so the node vector is a topological order and every pass is a plain loop.
//
// The value of a formula keeps IEEE semantics: its simplifications change at most the sign of a
// zero or the last bits of a reassociated constant product. Derivatives additionally use
// 0*u = 0 and 0/u = 0 (even when u is NaN or Inf), the rule every symbolic differentiator needs:
// a term that does not depend on a parameter contributes exactly 0.
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace curvefit::expr {

struct SyntaxTree;
struct SyntaxNode;

enum class Op : std::uint8_t {
  Constant, Parameter, Predictor,
  Neg, Add, Sub, Mul, Div,
  Pow,       // general u^v
  PowInt,    // u^n for a small integer n (Node::index), by repeated multiplication
  Exp, Log, Log10, Sqrt, Abs, Sign, Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Tanh, Erf, Erfc,
  Atan2, Min, Max,
  SelectLe,  // a <= b ? c : d   (the derivative of min and max)
  Log2, Floor, Ceil, Heaviside,           // heaviside(0) = 0.5
  Less, LessEq, Equal, NotEqual, And, Or, Not,  // 1 or 0; NaN in, NaN out
  Select,    // if(c, a, b): c != 0 ? a : b, NaN when c is NaN
  FaddeevaRe, FaddeevaIm,  // Re and Im of w(a + ib), the Faddeeva function (libcerf)
  FaddeevaDRe, FaddeevaDIm,  // Re and Im of w'(a + ib) (vmath::faddeeva_derivative)
};

struct Node {
  Op op = Op::Constant;
  int arity = 0;
  int args[4] = {-1, -1, -1, -1};
  double value = 0;      // Constant
  int index = 0;         // Parameter / Predictor index, PowInt exponent
  bool varying = false;  // depends on a predictor (otherwise computed once per call)
};

// Scalar semantics of every op (libm), shared by constant folding and the per-call uniform pass.
double apply_scalar(Op op, int index, const double* args);

class Graph {
 public:
  // Upper bound on nodes, derivatives included: absurd formulas fail instead of exhausting memory.
  static constexpr std::size_t kMaxNodes = 2'000'000;

  int constant(double value);
  int parameter(int index);
  int predictor(int index);
  int unary(Op op, int a);
  int binary(Op op, int a, int b);
  int pow_int(int a, int exponent);
  int select_le(int a, int b, int if_true, int if_false);
  int select(int condition, int if_true, int if_false);
  // voigt(u, sigma, gamma) = Re w(z) / (sigma sqrt(2 pi)), z = (u + i gamma) / (sigma sqrt 2).
  int voigt(int u, int sigma, int gamma);

  // Builds the DAG of a parsed formula; returns the root.
  int build(const SyntaxTree& tree);
  // d root / d p_j for j < num_params (forward mode over the topological order, no recursion).
  std::vector<int> differentiate(int root, int num_params);

  const Node& node(int id) const { return nodes_[static_cast<std::size_t>(id)]; }
  std::size_t size() const { return nodes_.size(); }
  bool is_constant(int id, double value) const {
    return node(id).op == Op::Constant && node(id).value == value;
  }

 private:
  int intern(Node node);
  int move_negation(Op op, int a, int b);
  int derivative(int id, const std::vector<int>& d);
  int faddeeva_derivative(const Node& n, int da, int db);
  int build_call(const SyntaxNode& s, const int* args);

  struct Key {
    Op op;
    int args[4];
    int index;
    std::uint64_t value_bits;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& key) const;
  };
  std::vector<Node> nodes_;
  std::unordered_map<Key, int, KeyHash> table_;
  bool differentiating_ = false;  // enables 0*u = 0 and 0/u = 0
};

}  // namespace curvefit::expr
