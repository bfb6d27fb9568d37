#pragma once
// Stage 1 of the formula compiler: text -> syntax tree.
//
// A hand-written lexer and recursive-descent parser for the formula grammar
//
//   expression := and ('||' and)*
//   and        := comparison ('&&' comparison)*
//   comparison := sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)?   not chained: a < b < c is an error
//   sum        := term (('+' | '-') term)*
//   term       := unary (('*' | '/') unary)*
//   unary      := ('-' | '+' | '!') unary | power
//   power      := primary (('^' | '**') unary)?  right-associative; -x^2 = -(x^2), 2^-x allowed
//   primary    := number | name | function '(' expression (',' expression)* ')' | '(' expression ')'
//
// Comparisons and logic give 1 (true) or 0 (false); a nonzero operand is true, and NaN in gives
// NaN out. They are meant for if(cond, a, b) and step functions.
//
// Names are resolved while parsing: predictors (x, or x1..xk, or the names given, which may
// shadow the constants), the constants pi and e, and every other name is a parameter in order of
// first appearance. Nesting is limited
// (kMaxNestingDepth) so that no input can overflow the stack.
//
// The tree is stored flat, children before parents, so every later pass is a loop, not a
// recursion: a formula of 100 000 characters is a long vector, never a deep call stack.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace curvefit::expr {

inline constexpr int kMaxNestingDepth = 256;
inline constexpr std::size_t kMaxParameters = 1000;
inline constexpr int kMaxPredictorIndex = 100;

enum class Function {
  Exp, Log, Log10, Sqrt, Abs, Sin, Cos, Tan, Asin, Acos, Atan, Atan2,
  Sinh, Cosh, Tanh, Erf, Erfc, Pow, Min, Max,
  Log2, Sign, Floor, Ceil, Heaviside, If, Voigt,
};
const char* function_name(Function function);
int function_arity(Function function);

struct SyntaxNode {
  enum class Kind {
    Number, Parameter, Predictor, Negate, Add, Subtract, Multiply, Divide, Power, Call,
    Less, LessEqual, Greater, GreaterEqual, Equal, NotEqual, And, Or, Not,
  };
  Kind kind = Kind::Number;
  std::size_t position = 0;  // 0-based offset of the token that made the node
  double number = 0;         // Number (pi and e become Numbers)
  int index = 0;             // Parameter or Predictor index (0-based)
  Function function = Function::Exp;  // Call
  int num_args = 0;
  int args[3] = {-1, -1, -1};  // indices into SyntaxTree::nodes, always smaller than this node's
};

struct SyntaxTree {
  std::vector<SyntaxNode> nodes;  // children before parents; the root is the last node
  std::vector<std::string> parameter_names;
  int num_predictors = 1;
  int root() const { return static_cast<int>(nodes.size()) - 1; }
};

// Parses and resolves names; throws ModelError with the position of the first problem, and when
// the formula has no parameter unless !needs_parameter (a condition over columns, --where).
SyntaxTree parse_formula(std::string_view formula, const std::vector<std::string>& predictor_names,
                         bool needs_parameter = true);

// The names a formula uses that are not functions (predictors, constants and parameters alike),
// once each, in order of first appearance. Tokenizes only; throws ModelError on a bad character.
std::vector<std::string> formula_free_names(std::string_view formula);

// Evaluates the tree at one point with scalar libm, node by node, exactly as written (no
// simplification): the reference the compiled tape is tested against.
double evaluate_syntax_tree(const SyntaxTree& tree, const double* x_point, const double* p);

// Throws ModelError: "formula column C: message", then the formula (or a window of it around
// the position) and a caret under the position.
[[noreturn]] void throw_formula_error(std::string_view formula, std::size_t position,
                                      const std::string& message);

}  // namespace curvefit::expr
