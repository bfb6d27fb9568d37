#include "core/formula/expression_parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <numbers>
#include <optional>
#include <unordered_map>
#include <utility>

#include "core/errors.h"
#include "core/formula/vector_math.h"

namespace curvefit::expr {

namespace {

// UTF-8: a continuation byte (10xxxxxx) does not start a character. Formulas are bytes to the
// parser; only what is shown to a person (column, caret, an unexpected character) counts characters.
bool continues_character(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }
std::size_t character_count(std::string_view text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return !continues_character(c); }));
}
// The whole character that starts at `position`.
std::string_view character_at(std::string_view text, std::size_t position) {
  std::size_t end = position + 1;
  while (end < text.size() && continues_character(text[end])) ++end;
  return text.substr(position, end - position);
}

struct FunctionInfo {
  std::string_view name;
  Function function;
  int arity;
};
constexpr FunctionInfo kFunctions[] = {
    {"exp", Function::Exp, 1},     {"log", Function::Log, 1},     {"log10", Function::Log10, 1},
    {"sqrt", Function::Sqrt, 1},   {"abs", Function::Abs, 1},     {"sin", Function::Sin, 1},
    {"cos", Function::Cos, 1},     {"tan", Function::Tan, 1},     {"asin", Function::Asin, 1},
    {"acos", Function::Acos, 1},   {"atan", Function::Atan, 1},   {"atan2", Function::Atan2, 2},
    {"sinh", Function::Sinh, 1},   {"cosh", Function::Cosh, 1},   {"tanh", Function::Tanh, 1},
    {"erf", Function::Erf, 1},     {"erfc", Function::Erfc, 1},   {"pow", Function::Pow, 2},
    {"min", Function::Min, 2},     {"max", Function::Max, 2},     {"log2", Function::Log2, 1},
    {"sign", Function::Sign, 1},   {"floor", Function::Floor, 1}, {"ceil", Function::Ceil, 1},
    {"heaviside", Function::Heaviside, 1},   {"if", Function::If, 3},  {"voigt", Function::Voigt, 3},
};

std::string known_functions() {
  std::string list;
  for (const FunctionInfo& info : kFunctions) list += (list.empty() ? "" : " ") + std::string(info.name);
  return list;
}

const FunctionInfo* find_function(std::string_view name) {
  for (const FunctionInfo& info : kFunctions)
    if (info.name == name) return &info;
  return nullptr;
}

bool is_constant_name(std::string_view name) { return name == "pi" || name == "e"; }

bool is_identifier(std::string_view name) {
  if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// "x1", "x2", ... -> 1, 2, ...; 0 for anything else ("x0" and "x01" are ordinary names).
int indexed_predictor(std::string_view name) {
  if (name.size() < 2 || name[0] != 'x' || name[1] == '0') return 0;
  int index = 0;
  for (char c : name.substr(1)) {
    if (c < '0' || c > '9') return 0;
    if (index > kMaxPredictorIndex) return index;  // too large; reported by the caller
    index = index * 10 + (c - '0');
  }
  return index;
}

struct Token {
  enum class Kind {
    Number, Name, Plus, Minus, Star, Slash, Caret, Open, Close, Comma, End,
    Less, LessEqual, Greater, GreaterEqual, EqualEqual, NotEqual, AndAnd, OrOr, Bang,
  };
  Kind kind;
  std::size_t position;
  std::string_view text;
  double number = 0;
};

std::string describe(const Token& token) {
  if (token.kind == Token::Kind::End) return "the end of the formula";
  return "'" + std::string(token.text) + "'";
}

class Parser {
 public:
  Parser(std::string_view formula, const std::vector<std::string>& predictor_names, bool needs_parameter = true)
      : formula_(formula), predictor_names_(predictor_names), needs_parameter_(needs_parameter) {
    for (std::size_t k = 0; k < predictor_names.size(); ++k) {
      const std::string& name = predictor_names[k];
      if (!is_identifier(name))
        throw ModelError("predictor name '" + name + "' is not a valid name (letters, digits, _)");
      if (find_function(name))
        throw ModelError("predictor name '" + name + "' clashes with a function");
      if (std::find(predictor_names.begin(), predictor_names.begin() + k, name) !=
          predictor_names.begin() + k)
        throw ModelError("predictor name '" + name + "' is given twice");
    }
  }

  // The free names (not functions), once each, in order of first appearance; tokenizes only.
  std::vector<std::string> names() {
    tokenize();
    std::vector<std::string> found;
    for (std::size_t t = 0; t < tokens_.size(); ++t) {
      const Token& token = tokens_[t];
      if (token.kind != Token::Kind::Name || find_function(token.text)) continue;
      if (std::find(found.begin(), found.end(), token.text) == found.end()) found.emplace_back(token.text);
    }
    return found;
  }

  SyntaxTree parse() {
    tokenize();
    if (tokens_.front().kind == Token::Kind::End) fail(0, "empty formula; expected an expression such as a*exp(-b*x)");
    parse_expression();
    const Token& rest = peek();
    if (rest.kind == Token::Kind::Close)
      fail(rest.position, "unbalanced parentheses: this ')' has no matching '('");
    if (rest.kind != Token::Kind::End)
      fail(rest.position, "expected an operator or the end of the formula, found " + describe(rest));
    if (tree_.parameter_names.empty() && needs_parameter_)
      throw_formula_error(formula_, std::string::npos,
                          "the formula has no parameter to fit (every name in it is a predictor or a constant)");
    if (predictor_names_.empty())
      tree_.num_predictors = std::max(1, max_predictor_index_);
    else
      tree_.num_predictors = static_cast<int>(predictor_names_.size());
    return std::move(tree_);
  }

 private:
  [[noreturn]] void fail(std::size_t position, const std::string& message) const {
    throw_formula_error(formula_, position, message);
  }

  void tokenize() {
    std::size_t i = 0;
    const std::size_t n = formula_.size();
    while (true) {
      while (i < n && std::isspace(static_cast<unsigned char>(formula_[i]))) ++i;
      if (i == n) break;
      const std::size_t start = i;
      const char c = formula_[i];
      Token token{Token::Kind::End, start, formula_.substr(start, 1)};
      if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
        while (i < n && std::isdigit(static_cast<unsigned char>(formula_[i]))) ++i;
        if (i < n && formula_[i] == '.') ++i;
        while (i < n && std::isdigit(static_cast<unsigned char>(formula_[i]))) ++i;
        // An exponent only when digits follow, so "2*e" and "2e" stay readable as errors.
        if (i < n && (formula_[i] == 'e' || formula_[i] == 'E')) {
          std::size_t j = i + 1;
          if (j < n && (formula_[j] == '+' || formula_[j] == '-')) ++j;
          if (j < n && std::isdigit(static_cast<unsigned char>(formula_[j]))) {
            i = j;
            while (i < n && std::isdigit(static_cast<unsigned char>(formula_[i]))) ++i;
          }
        }
        token.kind = Token::Kind::Number;
        token.text = formula_.substr(start, i - start);
        if (token.text == ".") fail(start, "malformed number '.'; expected digits such as .5 or 0.5");
        const auto [end, error] = std::from_chars(token.text.data(), token.text.data() + token.text.size(),
                                                  token.number);
        if (error == std::errc::result_out_of_range)
          fail(start, "number " + std::string(token.text) + " is out of the range of double precision");
        if (error != std::errc() || end != token.text.data() + token.text.size())
          fail(start, "malformed number '" + std::string(token.text) + "'");
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        while (i < n && (std::isalnum(static_cast<unsigned char>(formula_[i])) || formula_[i] == '_')) ++i;
        token.kind = Token::Kind::Name;
        token.text = formula_.substr(start, i - start);
      } else if (const auto [kind, length] = two_character_operator(formula_.substr(start)); length > 0) {
        i += length;
        token.kind = kind;
        token.text = formula_.substr(start, length);
      } else {
        ++i;
        switch (c) {
          case '+': token.kind = Token::Kind::Plus; break;
          case '-': token.kind = Token::Kind::Minus; break;
          case '*': token.kind = Token::Kind::Star; break;
          case '/': token.kind = Token::Kind::Slash; break;
          case '^': token.kind = Token::Kind::Caret; break;
          case '(': token.kind = Token::Kind::Open; break;
          case ')': token.kind = Token::Kind::Close; break;
          case ',': token.kind = Token::Kind::Comma; break;
          case '<': token.kind = Token::Kind::Less; break;
          case '>': token.kind = Token::Kind::Greater; break;
          case '!': token.kind = Token::Kind::Bang; break;
          case '=': fail(start, "unexpected '='; write == to compare");
          default:
            fail(start, "unexpected character '" + std::string(character_at(formula_, start)) +
                            "'; expected a number, a name, an operator (+ - * / ^ ** < <= > >= == != && || !) "
                            "or a parenthesis");
        }
      }
      tokens_.push_back(token);
    }
    tokens_.push_back(Token{Token::Kind::End, n, {}});
  }

  // The operators of two characters ("**" is '^'), or a length of 0.
  static std::pair<Token::Kind, std::size_t> two_character_operator(std::string_view rest) {
    constexpr std::pair<std::string_view, Token::Kind> kOperators[] = {
        {"**", Token::Kind::Caret},      {"<=", Token::Kind::LessEqual}, {">=", Token::Kind::GreaterEqual},
        {"==", Token::Kind::EqualEqual}, {"!=", Token::Kind::NotEqual},  {"&&", Token::Kind::AndAnd},
        {"||", Token::Kind::OrOr},
    };
    for (const auto& [text, kind] : kOperators)
      if (rest.starts_with(text)) return {kind, text.size()};
    return {Token::Kind::End, 0};
  }

  const Token& peek() const { return tokens_[next_]; }
  const Token& take() { return tokens_[next_++]; }

  int add(SyntaxNode node) {
    tree_.nodes.push_back(node);
    return tree_.root();
  }
  int add_binary(SyntaxNode::Kind kind, std::size_t position, int left, int right) {
    SyntaxNode node;
    node.kind = kind;
    node.position = position;
    node.num_args = 2;
    node.args[0] = left;
    node.args[1] = right;
    return add(node);
  }

  // Each nested construct (parenthesis, call, sign, exponent) goes one level deeper.
  struct DepthGuard {
    Parser& parser;
    DepthGuard(Parser& p, std::size_t position) : parser(p) {
      if (++parser.depth_ > kMaxNestingDepth)
        parser.fail(position, "formula nested too deeply (more than " + std::to_string(kMaxNestingDepth) + " levels)");
    }
    ~DepthGuard() { --parser.depth_; }
  };

  int parse_expression() {
    int left = parse_and();
    while (peek().kind == Token::Kind::OrOr) {
      const Token& op = take();
      left = add_binary(SyntaxNode::Kind::Or, op.position, left, parse_and());
    }
    return left;
  }

  int parse_and() {
    int left = parse_comparison();
    while (peek().kind == Token::Kind::AndAnd) {
      const Token& op = take();
      left = add_binary(SyntaxNode::Kind::And, op.position, left, parse_comparison());
    }
    return left;
  }

  static std::optional<SyntaxNode::Kind> comparison_kind(Token::Kind kind) {
    switch (kind) {
      case Token::Kind::Less: return SyntaxNode::Kind::Less;
      case Token::Kind::LessEqual: return SyntaxNode::Kind::LessEqual;
      case Token::Kind::Greater: return SyntaxNode::Kind::Greater;
      case Token::Kind::GreaterEqual: return SyntaxNode::Kind::GreaterEqual;
      case Token::Kind::EqualEqual: return SyntaxNode::Kind::Equal;
      case Token::Kind::NotEqual: return SyntaxNode::Kind::NotEqual;
      default: return std::nullopt;
    }
  }

  int parse_comparison() {
    const int left = parse_sum();
    const auto kind = comparison_kind(peek().kind);
    if (!kind) return left;
    const Token& op = take();
    const int right = parse_sum();
    if (comparison_kind(peek().kind))
      fail(peek().position, "comparisons do not chain; write (a < b) && (b < c)");
    return add_binary(*kind, op.position, left, right);
  }

  int parse_sum() {
    int left = parse_term();
    while (peek().kind == Token::Kind::Plus || peek().kind == Token::Kind::Minus) {
      const Token& op = take();
      const int right = parse_term();
      left = add_binary(op.kind == Token::Kind::Plus ? SyntaxNode::Kind::Add : SyntaxNode::Kind::Subtract,
                        op.position, left, right);
    }
    return left;
  }

  int parse_term() {
    int left = parse_unary();
    while (peek().kind == Token::Kind::Star || peek().kind == Token::Kind::Slash) {
      const Token& op = take();
      const int right = parse_unary();
      left = add_binary(op.kind == Token::Kind::Star ? SyntaxNode::Kind::Multiply : SyntaxNode::Kind::Divide,
                        op.position, left, right);
    }
    return left;
  }

  int parse_unary() {
    const Token::Kind next = peek().kind;
    if (next == Token::Kind::Minus || next == Token::Kind::Plus || next == Token::Kind::Bang) {
      const Token& sign = take();
      DepthGuard guard(*this, sign.position);
      const int operand = parse_unary();
      if (sign.kind == Token::Kind::Plus) return operand;
      SyntaxNode node;
      node.kind = sign.kind == Token::Kind::Bang ? SyntaxNode::Kind::Not : SyntaxNode::Kind::Negate;
      node.position = sign.position;
      node.num_args = 1;
      node.args[0] = operand;
      return add(node);
    }
    return parse_power();
  }

  int parse_power() {
    const int base = parse_primary();
    if (peek().kind != Token::Kind::Caret) return base;
    const Token& caret = take();
    DepthGuard guard(*this, caret.position);
    const int exponent = parse_unary();  // right-associative: a^b^c = a^(b^c)
    return add_binary(SyntaxNode::Kind::Power, caret.position, base, exponent);
  }

  int parse_primary() {
    const Token& token = take();
    switch (token.kind) {
      case Token::Kind::Number: {
        SyntaxNode node;
        node.kind = SyntaxNode::Kind::Number;
        node.position = token.position;
        node.number = token.number;
        return add(node);
      }
      case Token::Kind::Open: {
        DepthGuard guard(*this, token.position);
        const int inner = parse_expression();
        expect_close(token, "'('");
        return inner;
      }
      case Token::Kind::Name:
        if (peek().kind == Token::Kind::Open) return parse_call(token);
        return resolve_name(token);
      default:
        fail(token.position, "expected a number, a name or '(', found " + describe(token));
    }
  }

  void expect_close(const Token& open, const std::string& what) {
    const Token& next = peek();
    if (next.kind == Token::Kind::Close) {
      take();
      return;
    }
    if (next.kind == Token::Kind::End)
      fail(open.position, "unbalanced parentheses: this " + what + " is never closed");
    fail(next.position, "expected an operator or ')', found " + describe(next));
  }

  int parse_call(const Token& name) {
    const FunctionInfo* info = find_function(name.text);
    if (!info) fail(name.position, "unknown function '" + std::string(name.text) + "'; known: " + known_functions());
    const Token& open = take();
    DepthGuard guard(*this, open.position);
    std::vector<int> args;
    if (peek().kind == Token::Kind::Close) {
      take();
    } else {
      args.push_back(parse_expression());
      while (peek().kind == Token::Kind::Comma) {
        take();
        args.push_back(parse_expression());
      }
      const Token& next = peek();
      if (next.kind == Token::Kind::Close) {
        take();
      } else if (next.kind == Token::Kind::End) {
        fail(open.position, "unbalanced parentheses: the '(' of " + std::string(name.text) + "(...) is never closed");
      } else {
        fail(next.position, "expected an operator, ',' or ')', found " + describe(next));
      }
    }
    if (static_cast<int>(args.size()) != info->arity)
      fail(name.position, std::string(name.text) + " takes " + std::to_string(info->arity) + " argument" +
                              (info->arity == 1 ? "" : "s") + ", found " + std::to_string(args.size()));
    SyntaxNode node;
    node.kind = SyntaxNode::Kind::Call;
    node.position = name.position;
    node.function = info->function;
    node.num_args = info->arity;
    for (int k = 0; k < info->arity; ++k) node.args[k] = args[static_cast<std::size_t>(k)];
    return add(node);
  }

  int resolve_name(const Token& token) {
    const std::string_view name = token.text;
    SyntaxNode node;
    node.position = token.position;
    if (find_function(name))
      fail(token.position, "'" + std::string(name) + "' is a function and cannot be used as a variable; "
                           "expected " + std::string(name) + "(...)");
    // Predictors.
    if (!predictor_names_.empty()) {
      const auto it = std::find(predictor_names_.begin(), predictor_names_.end(), name);
      if (it != predictor_names_.end()) {
        node.kind = SyntaxNode::Kind::Predictor;
        node.index = static_cast<int>(it - predictor_names_.begin());
        return add(node);
      }
    } else if (name == "x" || indexed_predictor(name) > 0) {
      const int index = name == "x" ? 0 : indexed_predictor(name);
      if (index > kMaxPredictorIndex)
        fail(token.position, "predictor index too large (at most x" + std::to_string(kMaxPredictorIndex) + ")");
      if (index == 0 ? uses_indexed_predictors_ : uses_plain_x_)
        fail(token.position, "the formula uses both 'x' and 'x1', 'x2', ...; use x alone or x1, x2, ... throughout");
      (index == 0 ? uses_plain_x_ : uses_indexed_predictors_) = true;
      max_predictor_index_ = std::max(max_predictor_index_, std::max(index, 1));
      node.kind = SyntaxNode::Kind::Predictor;
      node.index = index == 0 ? 0 : index - 1;
      return add(node);
    }
    if (is_constant_name(name)) {
      node.kind = SyntaxNode::Kind::Number;
      node.number = name == "pi" ? std::numbers::pi : std::numbers::e;
      return add(node);
    }
    // Everything else is a parameter, numbered in order of first appearance.
    const std::string key(name);
    auto [it, inserted] = parameter_index_.try_emplace(key, static_cast<int>(tree_.parameter_names.size()));
    if (inserted) {
      if (tree_.parameter_names.size() >= kMaxParameters)
        fail(token.position, "too many parameters (more than " + std::to_string(kMaxParameters) + ")");
      tree_.parameter_names.push_back(key);
    }
    node.kind = SyntaxNode::Kind::Parameter;
    node.index = it->second;
    return add(node);
  }

  std::string_view formula_;
  const std::vector<std::string>& predictor_names_;
  bool needs_parameter_ = true;  // a formula to fit needs a parameter; a --where condition has none
  std::vector<Token> tokens_;
  std::size_t next_ = 0;
  int depth_ = 0;
  bool uses_plain_x_ = false;
  bool uses_indexed_predictors_ = false;
  int max_predictor_index_ = 0;
  std::unordered_map<std::string, int> parameter_index_;
  SyntaxTree tree_;
};

}  // namespace

const char* function_name(Function function) {
  for (const FunctionInfo& info : kFunctions)
    if (info.function == function) return info.name.data();
  return "?";
}

int function_arity(Function function) {
  for (const FunctionInfo& info : kFunctions)
    if (info.function == function) return info.arity;
  return 0;
}

SyntaxTree parse_formula(std::string_view formula, const std::vector<std::string>& predictor_names,
                         bool needs_parameter) {
  return Parser(formula, predictor_names, needs_parameter).parse();
}

std::vector<std::string> formula_free_names(std::string_view formula) {
  return Parser(formula, {}).names();
}

void throw_formula_error(std::string_view formula, std::size_t position, const std::string& message) {
  std::string what;
  if (position == std::string::npos) {
    what = "formula: " + message + "\n  " + std::string(formula.substr(0, 120)) +
           (formula.size() > 120 ? "..." : "");
  } else {
    // Show a window around the position so that a 100 000-character formula stays one line.
    constexpr std::size_t kHalfWindow = 50;
    std::size_t first = position > kHalfWindow ? position - kHalfWindow : 0;
    std::size_t last = std::min(formula.size(), position + kHalfWindow);
    while (first > 0 && continues_character(formula[first])) --first;  // whole characters only
    while (last < formula.size() && continues_character(formula[last])) ++last;
    std::string shown = (first > 0 ? "..." : "") + std::string(formula.substr(first, last - first)) +
                        (last < formula.size() ? "..." : "");
    std::replace_if(shown.begin(), shown.end(), [](char c) { return std::iscntrl(static_cast<unsigned char>(c)); }, ' ');
    const std::size_t caret = character_count(formula.substr(first, position - first)) + (first > 0 ? 3 : 0);
    const std::size_t column = character_count(formula.substr(0, position)) + 1;
    what = "formula column " + std::to_string(column) + ": " + message + "\n  " + shown + "\n  " +
           std::string(caret, ' ') + "^";
  }
  throw ModelError(what, position);
}

namespace {

// NaN in gives NaN out, so that a NaN never silently chooses a branch.
double truth(bool value) { return value ? 1.0 : 0.0; }

double call_function(Function function, double a, double b, double c) {
  switch (function) {
    case Function::Exp: return std::exp(a);
    case Function::Log: return std::log(a);
    case Function::Log10: return std::log10(a);
    case Function::Log2: return std::log2(a);
    case Function::Sqrt: return std::sqrt(a);
    case Function::Abs: return std::fabs(a);
    case Function::Sin: return std::sin(a);
    case Function::Cos: return std::cos(a);
    case Function::Tan: return std::tan(a);
    case Function::Asin: return std::asin(a);
    case Function::Acos: return std::acos(a);
    case Function::Atan: return std::atan(a);
    case Function::Atan2: return std::atan2(a, b);
    case Function::Sinh: return std::sinh(a);
    case Function::Cosh: return std::cosh(a);
    case Function::Tanh: return std::tanh(a);
    case Function::Erf: return std::erf(a);
    case Function::Erfc: return std::erfc(a);
    case Function::Pow: return std::pow(a, b);
    // min and max propagate NaN (std::fmin would hide it).
    case Function::Min: return std::isnan(a) || std::isnan(b) ? a + b : std::min(a, b);
    case Function::Max: return std::isnan(a) || std::isnan(b) ? a + b : std::max(a, b);
    case Function::Sign: return a > 0 ? 1.0 : a < 0 ? -1.0 : a;
    case Function::Floor: return std::floor(a);
    case Function::Ceil: return std::ceil(a);
    case Function::Heaviside: return std::isnan(a) ? a : a < 0 ? 0.0 : a > 0 ? 1.0 : 0.5;
    case Function::If: return std::isnan(a) ? a : a != 0 ? b : c;
    case Function::Voigt: return vmath::voigt_profile(a, b, c);
  }
  return std::numeric_limits<double>::quiet_NaN();
}

double compare_or_combine(SyntaxNode::Kind kind, double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return a + b;
  switch (kind) {
    case SyntaxNode::Kind::Less: return truth(a < b);
    case SyntaxNode::Kind::LessEqual: return truth(a <= b);
    case SyntaxNode::Kind::Greater: return truth(a > b);
    case SyntaxNode::Kind::GreaterEqual: return truth(a >= b);
    case SyntaxNode::Kind::Equal: return truth(a == b);
    case SyntaxNode::Kind::NotEqual: return truth(a != b);
    case SyntaxNode::Kind::And: return truth(a != 0 && b != 0);
    case SyntaxNode::Kind::Or: return truth(a != 0 || b != 0);
    default: return std::numeric_limits<double>::quiet_NaN();
  }
}

}  // namespace

double evaluate_syntax_tree(const SyntaxTree& tree, const double* x_point, const double* p) {
  std::vector<double> value(tree.nodes.size());
  for (std::size_t id = 0; id < tree.nodes.size(); ++id) {
    const SyntaxNode& node = tree.nodes[id];
    double args[3] = {0, 0, 0};
    for (int k = 0; k < node.num_args; ++k) args[k] = value[static_cast<std::size_t>(node.args[k])];
    const double a = args[0], b = args[1];
    double& v = value[id];
    switch (node.kind) {
      case SyntaxNode::Kind::Number: v = node.number; break;
      case SyntaxNode::Kind::Parameter: v = p[node.index]; break;
      case SyntaxNode::Kind::Predictor: v = x_point[node.index]; break;
      case SyntaxNode::Kind::Negate: v = -a; break;
      case SyntaxNode::Kind::Add: v = a + b; break;
      case SyntaxNode::Kind::Subtract: v = a - b; break;
      case SyntaxNode::Kind::Multiply: v = a * b; break;
      case SyntaxNode::Kind::Divide: v = a / b; break;
      case SyntaxNode::Kind::Power: v = std::pow(a, b); break;
      case SyntaxNode::Kind::Call: v = call_function(node.function, a, b, args[2]); break;
      case SyntaxNode::Kind::Not: v = std::isnan(a) ? a : truth(a == 0); break;
      default: v = compare_or_combine(node.kind, a, b); break;
    }
  }
  return value.back();
}

}  // namespace curvefit::expr
