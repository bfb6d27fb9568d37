#include "core/formula/expression_graph.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <utility>

#include "core/errors.h"
#include "core/formula/expression_parser.h"
#include "core/formula/vector_math.h"

namespace curvefit::expr {

double compare_scalar(Op op, double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return a + b;
  bool result = false;
  switch (op) {
    case Op::Less: result = a < b; break;
    case Op::LessEq: result = a <= b; break;
    case Op::Equal: result = a == b; break;
    case Op::NotEqual: result = a != b; break;
    case Op::And: result = a != 0 && b != 0; break;
    case Op::Or: result = a != 0 || b != 0; break;
    default: return std::numeric_limits<double>::quiet_NaN();
  }
  return result ? 1.0 : 0.0;
}

double apply_scalar(Op op, int index, const double* args) {
  const double a = args[0];
  const double b = args[1];
  switch (op) {
    case Op::Constant:
    case Op::Parameter:
    case Op::Predictor: return std::numeric_limits<double>::quiet_NaN();  // leaves are not applied
    case Op::Neg: return -a;
    case Op::Add: return a + b;
    case Op::Sub: return a - b;
    case Op::Mul: return a * b;
    case Op::Div: return a / b;
    case Op::Pow: return std::pow(a, b);
    case Op::PowInt: {
      // Square-and-multiply, the same sequence the tape uses.
      unsigned n = static_cast<unsigned>(index < 0 ? -index : index);
      double result = 1, power = a;
      for (; n != 0; n >>= 1, power *= power)
        if (n & 1u) result *= power;
      return index < 0 ? 1 / result : result;
    }
    case Op::Exp: return std::exp(a);
    case Op::Log: return std::log(a);
    case Op::Log10: return std::log10(a);
    case Op::Sqrt: return std::sqrt(a);
    case Op::Abs: return std::fabs(a);
    case Op::Sign: return a > 0 ? 1.0 : a < 0 ? -1.0 : a;  // keeps 0 and NaN
    case Op::Sin: return std::sin(a);
    case Op::Cos: return std::cos(a);
    case Op::Tan: return std::tan(a);
    case Op::Asin: return std::asin(a);
    case Op::Acos: return std::acos(a);
    case Op::Atan: return std::atan(a);
    case Op::Sinh: return std::sinh(a);
    case Op::Cosh: return std::cosh(a);
    case Op::Tanh: return std::tanh(a);
    case Op::Erf: return std::erf(a);
    case Op::Erfc: return std::erfc(a);
    case Op::Atan2: return std::atan2(a, b);
    case Op::Min: return std::isnan(a) || std::isnan(b) ? a + b : std::min(a, b);
    case Op::Max: return std::isnan(a) || std::isnan(b) ? a + b : std::max(a, b);
    case Op::SelectLe: return a <= b ? args[2] : args[3];
    case Op::Log2: return std::log2(a);
    case Op::Floor: return std::floor(a);
    case Op::Ceil: return std::ceil(a);
    case Op::Heaviside: return std::isnan(a) ? a : a < 0 ? 0.0 : a > 0 ? 1.0 : 0.5;
    case Op::Not: return std::isnan(a) ? a : a == 0 ? 1.0 : 0.0;
    case Op::Select: return std::isnan(a) ? a : a != 0 ? b : args[2];
    case Op::FaddeevaRe: return vmath::faddeeva_re(a, b);
    case Op::FaddeevaIm: return vmath::faddeeva_im(a, b);
    case Op::FaddeevaDRe: return vmath::faddeeva_derivative_re(a, b);
    case Op::FaddeevaDIm: return vmath::faddeeva_derivative_im(a, b);
    case Op::Less:
    case Op::LessEq:
    case Op::Equal:
    case Op::NotEqual:
    case Op::And:
    case Op::Or: return compare_scalar(op, a, b);
  }
  return std::numeric_limits<double>::quiet_NaN();
}

std::size_t Graph::KeyHash::operator()(const Key& key) const {
  std::size_t h = static_cast<std::size_t>(key.op) * 0x9E3779B97F4A7C15ull;
  const auto mix = [&h](std::uint64_t v) { h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2); };
  for (int arg : key.args) mix(static_cast<std::uint64_t>(static_cast<std::int64_t>(arg)));
  mix(static_cast<std::uint64_t>(static_cast<std::int64_t>(key.index)));
  mix(key.value_bits);
  return h;
}

int Graph::intern(Node node) {
  bool all_constant = node.arity > 0;
  double arg_values[4] = {0, 0, 0, 0};
  for (int k = 0; k < node.arity; ++k) {
    const Node& arg = this->node(node.args[k]);
    node.varying = node.varying || arg.varying;
    all_constant = all_constant && arg.op == Op::Constant;
    arg_values[k] = arg.value;
  }
  if (node.op == Op::Predictor) node.varying = true;
  if (all_constant) return constant(apply_scalar(node.op, node.index, arg_values));

  const Key key{node.op, {node.args[0], node.args[1], node.args[2], node.args[3]}, node.index,
                std::bit_cast<std::uint64_t>(node.value)};
  if (const auto it = table_.find(key); it != table_.end()) return it->second;
  if (nodes_.size() >= kMaxNodes)
    throw ModelError("formula is too large: more than " + std::to_string(kMaxNodes) +
                     " operations once differentiated");
  nodes_.push_back(node);
  const int id = static_cast<int>(nodes_.size()) - 1;
  table_.emplace(key, id);
  return id;
}

int Graph::constant(double value) {
  Node node;
  node.op = Op::Constant;
  node.value = value;
  return intern(node);
}

int Graph::parameter(int index) {
  Node node;
  node.op = Op::Parameter;
  node.index = index;
  return intern(node);
}

int Graph::predictor(int index) {
  Node node;
  node.op = Op::Predictor;
  node.index = index;
  return intern(node);
}

int Graph::unary(Op op, int a) {
  const Node arg = node(a);  // a copy: constant() below may grow nodes_
  if (op == Op::Neg) {
    if (arg.op == Op::Neg) return arg.args[0];                               // -(-u) = u
    if (arg.op == Op::Sub) return binary(Op::Sub, arg.args[1], arg.args[0]);  // -(u-v) = v-u
    // The sign moves onto a uniform factor (computed once per call, not per point): -(s*v) =
    // (-s)*v, -(v/s) = v/(-s), -(s/v) = (-s)/v, exactly (negation commutes with rounding).
    if ((arg.op == Op::Mul || arg.op == Op::Div) && arg.varying) {
      const int u = arg.args[0], v = arg.args[1];
      if (!node(u).varying) return binary(arg.op, unary(Op::Neg, u), v);
      if (!node(v).varying) return binary(arg.op, u, unary(Op::Neg, v));
    }
  }
  Node node;
  node.op = op;
  node.arity = 1;
  node.args[0] = a;
  return intern(node);
}

int Graph::binary(Op op, int a, int b) {
  const auto is_const = [this](int id) { return node(id).op == Op::Constant; };
  switch (op) {
    case Op::Add:
      if (is_constant(a, 0)) return b;
      if (is_constant(b, 0)) return a;
      if (a == b) return binary(Op::Mul, constant(2), a);
      if (node(b).op == Op::Neg) return binary(Op::Sub, a, node(b).args[0]);
      if (node(a).op == Op::Neg) return binary(Op::Sub, b, node(a).args[0]);
      if (a > b) std::swap(a, b);  // commutative: one canonical order so CSE sees a+b == b+a
      break;
    case Op::Sub:
      if (is_constant(b, 0)) return a;
      if (is_constant(a, 0)) return unary(Op::Neg, b);
      if (node(b).op == Op::Neg) return binary(Op::Add, a, node(b).args[0]);
      break;
    case Op::Mul:
      if (is_const(b) && !is_const(a)) std::swap(a, b);  // constant first
      if (is_const(a) && !is_const(b)) {
        const double c = node(a).value;
        if (c == 0 && differentiating_) return constant(0);
        if (c == 1) return b;
        if (c == -1) return unary(Op::Neg, b);
        const Node other = node(b);  // a copy: constant() below may grow nodes_
        if (other.op == Op::Mul && is_const(other.args[0]))  // c*(d*u) = (c*d)*u
          return binary(Op::Mul, constant(c * node(other.args[0]).value), other.args[1]);
        if (other.op == Op::Neg) return binary(Op::Mul, constant(-c), other.args[0]);
      } else if (a > b) {
        std::swap(a, b);
      }
      if (const int moved = move_negation(op, a, b); moved >= 0) return moved;
      break;
    case Op::Div:
      if (is_constant(b, 1)) return a;
      if (is_constant(b, -1)) return unary(Op::Neg, a);
      if (is_constant(a, 0) && differentiating_) return constant(0);
      if (const int moved = move_negation(op, a, b); moved >= 0) return moved;
      break;
    case Op::Pow:
      if (is_const(b)) {
        const double n = node(b).value;
        if (n == 1) return a;
        if (n == 0) return constant(1);  // pow(u, 0) = 1 for every u, NaN included
        if (n == std::trunc(n) && std::fabs(n) <= 64) return pow_int(a, static_cast<int>(n));
      }
      if (is_constant(a, 1)) return constant(1);  // pow(1, v) = 1 for every v, NaN included
      if (is_constant(a, std::numbers::e)) return unary(Op::Exp, b);
      break;
    case Op::Min:
    case Op::Max:
      if (a == b) return a;
      if (a > b) std::swap(a, b);
      break;
    default:
      break;
  }
  Node node;
  node.op = op;
  node.arity = 2;
  node.args[0] = a;
  node.args[1] = b;
  return intern(node);
}

// u*v or u/v (op) with a negated operand, rewritten so that the negation costs nothing per
// point: (-u)(-v) = uv; onto a uniform operand, (-v)s = v(-s) and s(-v) = (-s)v; between varying
// operands outwards, (-u)v = -(uv), where a uniform factor further up can absorb it. All exact:
// negation commutes with rounding. -1 when there is nothing to move.
int Graph::move_negation(Op op, int a, int b) {
  const Node x = node(a), y = node(b);  // copies: the constructors below may grow nodes_
  const bool neg_a = x.op == Op::Neg, neg_b = y.op == Op::Neg;
  if (neg_a && neg_b) return binary(op, x.args[0], y.args[0]);
  if (neg_a && x.varying) {
    const int u = x.args[0];
    return y.varying ? unary(Op::Neg, binary(op, u, b)) : binary(op, u, unary(Op::Neg, b));
  }
  if (neg_b && y.varying) {
    const int v = y.args[0];
    return x.varying ? unary(Op::Neg, binary(op, a, v)) : binary(op, unary(Op::Neg, a), v);
  }
  return -1;  // no negation, or a uniform one (computed once per call)
}

int Graph::pow_int(int a, int exponent) {
  if (exponent == 0) return constant(1);
  if (exponent == 1) return a;
  if (exponent == 2) return binary(Op::Mul, a, a);
  if (exponent == -1) return binary(Op::Div, constant(1), a);
  Node node;
  node.op = Op::PowInt;
  node.arity = 1;
  node.args[0] = a;
  node.index = exponent;
  return intern(node);
}

int Graph::select_le(int a, int b, int if_true, int if_false) {
  if (if_true == if_false) return if_true;
  Node node;
  node.op = Op::SelectLe;
  node.arity = 4;
  node.args[0] = a;
  node.args[1] = b;
  node.args[2] = if_true;
  node.args[3] = if_false;
  return intern(node);
}

int Graph::select(int condition, int if_true, int if_false) {
  // Only a derivative drops the condition: the value keeps its NaN when the condition is NaN.
  if (if_true == if_false && differentiating_) return if_true;
  Node node;
  node.op = Op::Select;
  node.arity = 3;
  node.args[0] = condition;
  node.args[1] = if_true;
  node.args[2] = if_false;
  return intern(node);
}

int Graph::voigt(int u, int sigma, int gamma) {
  const int scale = binary(Op::Mul, constant(std::numbers::sqrt2), sigma);
  const int w_re = binary(Op::FaddeevaRe, binary(Op::Div, u, scale), binary(Op::Div, gamma, scale));
  const double sqrt_2pi = std::sqrt(2 * std::numbers::pi);
  return binary(Op::Div, w_re, binary(Op::Mul, constant(sqrt_2pi), sigma));
}

// A call, given the DAG ids of its arguments.
int Graph::build_call(const SyntaxNode& s, const int* args) {
  const int a = args[0], b = args[1];
  switch (s.function) {
    case Function::Exp: return unary(Op::Exp, a);
    case Function::Log: return unary(Op::Log, a);
    case Function::Log10: return unary(Op::Log10, a);
    case Function::Log2: return unary(Op::Log2, a);
    case Function::Sqrt: return unary(Op::Sqrt, a);
    case Function::Abs: return unary(Op::Abs, a);
    case Function::Sin: return unary(Op::Sin, a);
    case Function::Cos: return unary(Op::Cos, a);
    case Function::Tan: return unary(Op::Tan, a);
    case Function::Asin: return unary(Op::Asin, a);
    case Function::Acos: return unary(Op::Acos, a);
    case Function::Atan: return unary(Op::Atan, a);
    case Function::Sinh: return unary(Op::Sinh, a);
    case Function::Cosh: return unary(Op::Cosh, a);
    case Function::Tanh: return unary(Op::Tanh, a);
    case Function::Erf: return unary(Op::Erf, a);
    case Function::Erfc: return unary(Op::Erfc, a);
    case Function::Atan2: return binary(Op::Atan2, a, b);
    case Function::Pow: return binary(Op::Pow, a, b);
    case Function::Min: return binary(Op::Min, a, b);
    case Function::Max: return binary(Op::Max, a, b);
    case Function::Sign: return unary(Op::Sign, a);
    case Function::Floor: return unary(Op::Floor, a);
    case Function::Ceil: return unary(Op::Ceil, a);
    case Function::Heaviside: return unary(Op::Heaviside, a);
    case Function::If: return select(a, b, args[2]);
    case Function::Voigt: return voigt(a, b, args[2]);
  }
  return constant(std::numeric_limits<double>::quiet_NaN());
}

int Graph::build(const SyntaxTree& tree) {
  using Kind = SyntaxNode::Kind;
  std::vector<int> id(tree.nodes.size());
  for (std::size_t k = 0; k < tree.nodes.size(); ++k) {
    const SyntaxNode& s = tree.nodes[k];
    int args[3] = {-1, -1, -1};
    for (int j = 0; j < s.num_args; ++j) args[j] = id[static_cast<std::size_t>(s.args[j])];
    const int a = args[0], b = args[1];
    switch (s.kind) {
      case Kind::Number: id[k] = constant(s.number); break;
      case Kind::Parameter: id[k] = parameter(s.index); break;
      case Kind::Predictor: id[k] = predictor(s.index); break;
      case Kind::Negate: id[k] = unary(Op::Neg, a); break;
      case Kind::Add: id[k] = binary(Op::Add, a, b); break;
      case Kind::Subtract: id[k] = binary(Op::Sub, a, b); break;
      case Kind::Multiply: id[k] = binary(Op::Mul, a, b); break;
      case Kind::Divide: id[k] = binary(Op::Div, a, b); break;
      case Kind::Power: id[k] = binary(Op::Pow, a, b); break;
      case Kind::Call: id[k] = build_call(s, args); break;
      case Kind::Less: id[k] = binary(Op::Less, a, b); break;
      case Kind::LessEqual: id[k] = binary(Op::LessEq, a, b); break;
      case Kind::Greater: id[k] = binary(Op::Less, b, a); break;
      case Kind::GreaterEqual: id[k] = binary(Op::LessEq, b, a); break;
      case Kind::Equal: id[k] = binary(Op::Equal, a, b); break;
      case Kind::NotEqual: id[k] = binary(Op::NotEqual, a, b); break;
      case Kind::And: id[k] = binary(Op::And, a, b); break;
      case Kind::Or: id[k] = binary(Op::Or, a, b); break;
      case Kind::Not: id[k] = unary(Op::Not, a); break;
    }
  }
  return id.back();
}

// The chain rule for one node, given the derivatives d[] of all earlier nodes.
int Graph::derivative(int id, const std::vector<int>& d) {
  const Node n = node(id);  // a copy: the constructors below may grow nodes_
  const int a = n.arity > 0 ? n.args[0] : -1;
  const int b = n.arity > 1 ? n.args[1] : -1;
  const int da = n.arity > 0 ? d[static_cast<std::size_t>(a)] : -1;
  const int db = n.arity > 1 ? d[static_cast<std::size_t>(b)] : -1;
  const auto add = [this](int u, int v) { return binary(Op::Add, u, v); };
  const auto sub = [this](int u, int v) { return binary(Op::Sub, u, v); };
  const auto mul = [this](int u, int v) { return binary(Op::Mul, u, v); };
  const auto div = [this](int u, int v) { return binary(Op::Div, u, v); };
  const auto neg = [this](int u) { return unary(Op::Neg, u); };
  const auto num = [this](double v) { return constant(v); };
  const int zero = num(0);
  switch (n.op) {
    case Op::Constant:
    case Op::Parameter:  // handled by the caller
    case Op::Predictor:
    // Piecewise constant: the derivative is 0 between the jumps and taken as 0 at them.
    case Op::Sign:
    case Op::Floor:
    case Op::Ceil:
    case Op::Heaviside:
    case Op::Less:
    case Op::LessEq:
    case Op::Equal:
    case Op::NotEqual:
    case Op::And:
    case Op::Or:
    case Op::Not: return zero;
    case Op::Neg: return neg(da);
    case Op::Add: return add(da, db);
    case Op::Sub: return sub(da, db);
    case Op::Mul: return add(mul(da, b), mul(a, db));
    case Op::Div: return div(sub(da, mul(id, db)), b);  // (u' - f v') / v
    case Op::Pow:
      if (db == zero) return mul(mul(b, binary(Op::Pow, a, sub(b, num(1)))), da);  // v u^(v-1) u'
      if (da == zero) return mul(mul(id, unary(Op::Log, a)), db);                   // f log(u) v'
      return mul(id, add(mul(db, unary(Op::Log, a)), div(mul(b, da), a)));          // f (v' log u + v u'/u)
    case Op::PowInt: return mul(mul(num(n.index), pow_int(a, n.index - 1)), da);
    case Op::Exp: return mul(id, da);
    case Op::Log: return div(da, a);
    case Op::Log10: return div(da, mul(num(std::numbers::ln10), a));
    case Op::Sqrt: return div(da, mul(num(2), id));
    case Op::Abs: return mul(unary(Op::Sign, a), da);
    case Op::Sin: return mul(unary(Op::Cos, a), da);
    case Op::Cos: return neg(mul(unary(Op::Sin, a), da));
    case Op::Tan: return mul(add(num(1), mul(id, id)), da);
    case Op::Asin: return div(da, unary(Op::Sqrt, sub(num(1), mul(a, a))));
    case Op::Acos: return neg(div(da, unary(Op::Sqrt, sub(num(1), mul(a, a)))));
    case Op::Atan: return div(da, add(num(1), mul(a, a)));
    case Op::Sinh: return mul(unary(Op::Cosh, a), da);
    case Op::Cosh: return mul(unary(Op::Sinh, a), da);
    case Op::Tanh: return mul(sub(num(1), mul(id, id)), da);
    case Op::Erf:
    case Op::Erfc: {
      const int gaussian = mul(num(2 / std::sqrt(std::numbers::pi)), unary(Op::Exp, neg(mul(a, a))));
      const int result = mul(gaussian, da);
      return n.op == Op::Erf ? result : neg(result);
    }
    case Op::Atan2:  // atan2(y, x): (x y' - y x') / (x^2 + y^2)
      return div(sub(mul(b, da), mul(a, db)), add(mul(b, b), mul(a, a)));
    case Op::Min: return select_le(a, b, da, db);
    case Op::Max: return select_le(b, a, da, db);
    case Op::SelectLe:
      return select_le(a, b, d[static_cast<std::size_t>(n.args[2])], d[static_cast<std::size_t>(n.args[3])]);
    case Op::Log2: return div(da, mul(num(std::numbers::ln2), a));
    case Op::Select:  // the chosen branch's derivative
      return select(a, db, d[static_cast<std::size_t>(n.args[2])]);
    case Op::FaddeevaRe:
    case Op::FaddeevaIm:
    case Op::FaddeevaDRe:
    case Op::FaddeevaDIm: return faddeeva_derivative(n, da, db);
  }
  return zero;
}

// w(z) is analytic, so with f = U + iV (f = w or w') and z = x + iy, Cauchy-Riemann gives
// dU/dx = dV/dy = Re f', dV/dx = -dU/dy = Im f'. w' = -2 z w + 2i/sqrt(pi) comes from
// vmath::faddeeva_derivative (accurate far out); w'' = -2 (w + z w') is written out (only a second
// derivative would need it).
int Graph::faddeeva_derivative(const Node& n, int da, int db) {
  const int x = n.args[0], y = n.args[1];
  const bool of_w = n.op == Op::FaddeevaRe || n.op == Op::FaddeevaIm;
  const bool real = n.op == Op::FaddeevaRe || n.op == Op::FaddeevaDRe;
  const auto mul = [this](int u, int v) { return binary(Op::Mul, u, v); };
  int re = binary(Op::FaddeevaDRe, x, y), im = binary(Op::FaddeevaDIm, x, y);  // f' = w'
  if (!of_w) {  // f' = w'' = -2 (w + z w')
    const int w_re = binary(Op::FaddeevaRe, x, y), w_im = binary(Op::FaddeevaIm, x, y);
    const int zw_re = binary(Op::Sub, mul(x, re), mul(y, im)), zw_im = binary(Op::Add, mul(x, im), mul(y, re));
    re = mul(constant(-2), binary(Op::Add, w_re, zw_re));
    im = mul(constant(-2), binary(Op::Add, w_im, zw_im));
  }
  if (real) return binary(Op::Sub, mul(re, da), mul(im, db));  // dU = Re f' dx - Im f' dy
  return binary(Op::Add, mul(im, da), mul(re, db));            // dV = Im f' dx + Re f' dy
}

std::vector<int> Graph::differentiate(int root, int num_params) {
  const int zero = constant(0);
  const int one = constant(1);
  differentiating_ = true;
  struct Restore {
    bool& flag;
    ~Restore() { flag = false; }
  } restore{differentiating_};
  std::vector<int> result;
  std::vector<int> d(static_cast<std::size_t>(root) + 1);
  for (int j = 0; j < num_params; ++j) {
    for (int id = 0; id <= root; ++id) {
      const Node& n = node(id);
      int& out = d[static_cast<std::size_t>(id)];
      if (n.op == Op::Parameter) {
        out = n.index == j ? one : zero;
        continue;
      }
      // Most nodes do not depend on p_j: skip the chain rule when every argument's derivative is 0.
      bool all_zero = true;
      for (int k = 0; k < n.arity; ++k) all_zero = all_zero && d[static_cast<std::size_t>(n.args[k])] == zero;
      out = all_zero ? zero : derivative(id, d);
    }
    result.push_back(d[static_cast<std::size_t>(root)]);
  }
  return result;
}

}  // namespace curvefit::expr
