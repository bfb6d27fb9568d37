// Formula front end: names, predictors, parameter order, grammar, and every error with its caret.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/formula/expression.h"
#include "core/formula/expression_graph.h"
#include "core/formula/expression_parser.h"
#include "core/formula/expression_tape.h"

namespace {

using curvefit::compile_formula;
using curvefit::formula_names;
using curvefit::formula_parameters;
using curvefit::FormulaTreeEvaluator;
using curvefit::ModelError;
using testing::ElementsAre;
using testing::HasSubstr;

// The error a formula raises: position and what().
struct Failure {
  std::size_t position = 0;
  std::string what;
};
Failure failure_of(const std::string& formula, const std::vector<std::string>& names = {}) {
  try {
    compile_formula(formula, names);
  } catch (const ModelError& error) {
    return {error.position(), error.what()};
  }
  ADD_FAILURE() << "no error for: " << formula.substr(0, 80);
  return {};
}

double tree_value(const std::string& formula, std::vector<double> x, std::vector<double> p,
                  const std::vector<std::string>& names = {}) {
  return FormulaTreeEvaluator(formula, names)(x.data(), p.data());
}
double tape_value(const std::string& formula, std::vector<double> x, std::vector<double> p,
                  const std::vector<std::string>& names = {}) {
  const auto model = compile_formula(formula, names);
  std::vector<const double*> columns;
  for (const double& v : x) columns.push_back(&v);
  double value = 0;
  model->evaluate(columns.data(), 1, p.data(), &value);
  return value;
}

TEST(FormulaNames, ParametersInOrderOfFirstAppearance) {
  EXPECT_THAT(formula_parameters("b*x + a + c*b"), ElementsAre("b", "a", "c"));
  const auto model = compile_formula("b1*(x^2+x*b2)/(x^2+x*b3+b4)");
  EXPECT_THAT(model->param_names(), ElementsAre("b1", "b2", "b3", "b4"));
  EXPECT_EQ(model->num_predictors(), 1);
}

TEST(FormulaNames, ConstantsAreNotParameters) {
  EXPECT_THAT(formula_parameters("b1 - b2*x - atan(b3/(x-b4))/pi + e"), ElementsAre("b1", "b2", "b3", "b4"));
  EXPECT_DOUBLE_EQ(tape_value("a*pi + e", {0}, {2}), 2 * 3.141592653589793 + 2.718281828459045);
}

TEST(FormulaNames, IndexedPredictors) {
  const auto model = compile_formula("a*x1 + b*x3");
  EXPECT_EQ(model->num_predictors(), 3);
  EXPECT_THAT(model->param_names(), ElementsAre("a", "b"));
  EXPECT_DOUBLE_EQ(tape_value("a*x1 + b*x3", {2, 100, 5}, {3, 7}), 3 * 2 + 7 * 5);
  // x0 is an ordinary name (a centre, say), not a predictor.
  EXPECT_THAT(formula_parameters("a*exp(-(x-x0)^2)"), ElementsAre("a", "x0"));
  EXPECT_EQ(compile_formula("a*exp(-(x-x0)^2)")->num_predictors(), 1);
  // A formula without any predictor is a constant model over one predictor.
  EXPECT_EQ(compile_formula("a + b")->num_predictors(), 1);
}

TEST(FormulaNames, MixingXAndIndexedPredictorsIsAnError) {
  const Failure f = failure_of("a*x + b*x1");
  EXPECT_EQ(f.position, 8u);
  EXPECT_THAT(f.what, HasSubstr("both 'x' and 'x1'"));
  EXPECT_EQ(failure_of("a*x2 + b*x").position, 9u);
}

TEST(FormulaNames, NamedPredictorsAreExactlyThoseNames) {
  const std::vector<std::string> names{"t", "temp"};
  const auto model = compile_formula("k*exp(-E/temp)*t", names);
  EXPECT_EQ(model->num_predictors(), 2);
  EXPECT_THAT(model->param_names(), ElementsAre("k", "E"));
  EXPECT_DOUBLE_EQ(tape_value("k*exp(-E/temp)*t", {3, 2}, {5, 4}, names), 5 * std::exp(-2.0) * 3);
  // With names given, x is an ordinary parameter; an unused name still counts as a predictor.
  const auto with_x = compile_formula("a*x*t", {"t", "u"});
  EXPECT_THAT(with_x->param_names(), ElementsAre("a", "x"));
  EXPECT_EQ(with_x->num_predictors(), 2);
  EXPECT_THAT(formula_parameters("a*x1*t", {"t"}), ElementsAre("a", "x1"));
}

TEST(FormulaNames, BadPredictorNamesAreErrors) {
  EXPECT_THAT(failure_of("a*t", {"exp"}).what, HasSubstr("clashes"));
  EXPECT_THAT(failure_of("a*t", {"t", "t"}).what, HasSubstr("twice"));
  EXPECT_THAT(failure_of("a*t", {"1t"}).what, HasSubstr("not a valid name"));
}

TEST(FormulaNames, FreeNamesAreEveryNameButFunctionsInOrderOfFirstUse) {
  EXPECT_THAT(formula_names("A*exp(-k*temp)*sin(w*press)+B*log(conc) + A*pi/e"),
              ElementsAre("A", "k", "temp", "w", "press", "B", "conc", "pi", "e"));
  EXPECT_THAT(formula_names("a*x + b*x1"), ElementsAre("a", "x", "b", "x1"));  // no resolution: no error
  EXPECT_THROW(formula_names("a $ b"), ModelError);
}

TEST(FormulaNames, APredictorNamedLikeAConstantIsThePredictor) {
  // A column called e, named with --x e: the formula's e is that column, not 2.718...
  EXPECT_DOUBLE_EQ(tape_value("a*e", {3}, {2}, {"e"}), 6);
  EXPECT_THAT(formula_parameters("a*e + pi", {"e"}), ElementsAre("a"));
  EXPECT_DOUBLE_EQ(tape_value("a*e + pi*x", {3}, {2}), 2 * 2.718281828459045 + 3.141592653589793 * 3);
}

TEST(FormulaGrammar, PrecedenceAndAssociativity) {
  EXPECT_DOUBLE_EQ(tape_value("a - x^2", {3}, {1}), 1 - 9);
  EXPECT_DOUBLE_EQ(tape_value("-a^2 + 0*x", {0}, {3}), -9);   // -a^2 = -(a^2)
  EXPECT_DOUBLE_EQ(tape_value("a*2^3^2", {0}, {1}), 512);     // right-associative
  EXPECT_DOUBLE_EQ(tape_value("a*2^-x", {2}, {1}), 0.25);     // signed exponent
  EXPECT_DOUBLE_EQ(tape_value("a-x-1", {2}, {10}), 7);        // left-associative
  EXPECT_DOUBLE_EQ(tape_value("a/x/4", {2}, {16}), 2);
  EXPECT_DOUBLE_EQ(tape_value("-a*-x", {2}, {3}), 6);
  EXPECT_DOUBLE_EQ(tape_value("+a*(+x)", {2}, {3}), 6);
  EXPECT_DOUBLE_EQ(tape_value("--a", {0}, {3}), 3);
  EXPECT_DOUBLE_EQ(tape_value("a*x+a*x*2", {2}, {3}), 18);
  // The syntax-tree reference reads the grammar the same way.
  EXPECT_DOUBLE_EQ(tree_value("-a^2 + 0*x", {0}, {3}), -9);
  EXPECT_DOUBLE_EQ(tree_value("a*2^3^2", {0}, {1}), 512);
  EXPECT_DOUBLE_EQ(tree_value("-a*-x", {2}, {3}), 6);
}

TEST(FormulaGrammar, NumberForms) {
  EXPECT_DOUBLE_EQ(tape_value("1e-3*a", {0}, {2}), 2e-3);
  EXPECT_DOUBLE_EQ(tape_value(".5*a", {0}, {2}), 1);
  EXPECT_DOUBLE_EQ(tape_value("1.5E+2*a", {0}, {2}), 300);
  EXPECT_DOUBLE_EQ(tape_value("a*2.", {0}, {2}), 4);
  EXPECT_DOUBLE_EQ(tape_value("a*2e3", {0}, {2}), 4000);
}

TEST(FormulaGrammar, FormulaTextRoundTrips) {
  const auto model = compile_formula("  b1*(1-exp(-b2*x))\n");
  EXPECT_EQ(model->formula(), "b1*(1-exp(-b2*x))");
  const auto again = compile_formula(model->formula());
  EXPECT_EQ(again->param_names(), model->param_names());
}

TEST(FormulaErrors, EmptyInput) {
  EXPECT_EQ(failure_of("").position, 0u);
  EXPECT_THAT(failure_of("   ").what, HasSubstr("empty formula"));
}

TEST(FormulaErrors, UnknownFunction) {
  const Failure f = failure_of("a*foo(x)");
  EXPECT_EQ(f.position, 2u);
  EXPECT_THAT(f.what, HasSubstr("unknown function 'foo'"));
  // The caret line sits under the position.
  EXPECT_THAT(f.what, HasSubstr("\n  a*foo(x)\n    ^"));
}

TEST(FormulaErrors, NonAsciiCharacterIsNamedWholeWithTheCaretUnderIt) {
  // σ is two bytes in UTF-8: the message shows the character, not its first byte, and the caret
  // and column count characters.
  for (const std::string formula : {"a*exp(-x/σ)", "a*x+b*µ*µ"}) {
    const Failure f = failure_of(formula);
    const std::string bad = formula.substr(f.position, 2);
    EXPECT_THAT(f.what, HasSubstr("unexpected character '" + bad + "'")) << formula;
    const std::size_t column = f.position + 1;  // every byte before the position is ASCII here
    EXPECT_THAT(f.what, HasSubstr("formula column " + std::to_string(column) + ":"));
    EXPECT_THAT(f.what, HasSubstr("\n  " + formula + "\n  " + std::string(f.position, ' ') + "^"));
  }
}

TEST(FormulaErrors, CaretCountsCharactersNotBytes) {
  // "µ*σ + (": µ and σ take two bytes each, so '(' is byte 8 but column 7.
  const std::string formula = "µ*σ + (";
  ASSERT_EQ(formula.find('('), 8u);
  try {
    curvefit::expr::throw_formula_error(formula, 8, "never closed");
    FAIL() << "no error";
  } catch (const ModelError& error) {
    EXPECT_THAT(error.what(), HasSubstr("formula column 7: never closed\n  µ*σ + (\n        ^"));
  }
  // In a window cut out of a long formula, whole characters only, and the caret still under '('.
  std::string long_formula;
  for (int k = 0; k < 40; ++k) long_formula += "µσ";
  long_formula += "(";
  try {
    curvefit::expr::throw_formula_error(long_formula, long_formula.size() - 1, "never closed");
    FAIL() << "no error";
  } catch (const ModelError& error) {
    const std::string what = error.what();
    const std::string shown = what.substr(what.find('\n') + 3, what.rfind('\n') - what.find('\n') - 3);
    const std::string caret = what.substr(what.rfind('\n') + 3);
    EXPECT_EQ(shown.rfind("...", 0), 0u) << shown;
    EXPECT_TRUE(shown.substr(3, 2) == "µ" || shown.substr(3, 2) == "σ") << shown;
    EXPECT_EQ(shown.back(), '(');
    const auto characters = static_cast<std::size_t>(std::count_if(
        shown.begin(), shown.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
    EXPECT_EQ(caret, std::string(characters - 1, ' ') + "^") << what;
  }
}

TEST(FormulaErrors, UnbalancedParentheses) {
  Failure f = failure_of("a*(x+1");
  EXPECT_EQ(f.position, 2u);
  EXPECT_THAT(f.what, HasSubstr("never closed"));
  f = failure_of("a*x)");
  EXPECT_EQ(f.position, 3u);
  EXPECT_THAT(f.what, HasSubstr("no matching '('"));
  EXPECT_EQ(failure_of("a*exp(x").position, 5u);
  EXPECT_EQ(failure_of("((a)").position, 0u);
  EXPECT_EQ(failure_of("()").position, 1u);
}

TEST(FormulaErrors, NoParameter) {
  const Failure f = failure_of("1 + 2*x");
  EXPECT_EQ(f.position, std::string::npos);
  EXPECT_THAT(f.what, HasSubstr("no parameter"));
  EXPECT_THAT(failure_of("pi*x").what, HasSubstr("no parameter"));
}

TEST(FormulaErrors, FunctionNameUsedAsVariable) {
  Failure f = failure_of("exp*a");
  EXPECT_EQ(f.position, 0u);
  EXPECT_THAT(f.what, HasSubstr("'exp' is a function"));
  EXPECT_EQ(failure_of("a*sin + x").position, 2u);
  EXPECT_EQ(failure_of("a*x + max").position, 6u);
}

TEST(FormulaErrors, TrailingGarbage) {
  Failure f = failure_of("a*x 2");
  EXPECT_EQ(f.position, 4u);
  EXPECT_THAT(f.what, HasSubstr("expected an operator"));
  EXPECT_EQ(failure_of("a*x b").position, 4u);
  EXPECT_EQ(failure_of("a*(x b)").position, 5u);
  EXPECT_EQ(failure_of("a*2e").position, 3u);  // "2" then the name "e"
}

TEST(FormulaErrors, WrongArity) {
  Failure f = failure_of("atan2(x)*a");
  EXPECT_EQ(f.position, 0u);
  EXPECT_THAT(f.what, HasSubstr("atan2 takes 2 arguments, found 1"));
  EXPECT_EQ(failure_of("a*exp(x, a)").position, 2u);
  EXPECT_EQ(failure_of("a + pow(a)").position, 4u);
  EXPECT_EQ(failure_of("min(a, x, 1)").position, 0u);
  EXPECT_EQ(failure_of("a*sin()").position, 2u);
}

TEST(FormulaErrors, MissingOperandAndStrayCharacters) {
  Failure f = failure_of("a*");
  EXPECT_EQ(f.position, 2u);
  EXPECT_THAT(f.what, HasSubstr("found the end of the formula"));
  EXPECT_EQ(failure_of("a*/x").position, 2u);
  f = failure_of("a*#x");
  EXPECT_EQ(f.position, 2u);
  EXPECT_THAT(f.what, HasSubstr("unexpected character '#'"));
  EXPECT_EQ(failure_of("a*1e999").position, 2u);
  EXPECT_EQ(failure_of("a*.").position, 2u);
  EXPECT_EQ(failure_of("a, x").position, 1u);
}

TEST(FormulaErrors, DeepNestingIsAnErrorAtTheDeepestAllowedLevel) {
  const std::size_t depth = 10'000;
  Failure f = failure_of(std::string(depth, '(') + "a*x" + std::string(depth, ')'));
  EXPECT_EQ(f.position, static_cast<std::size_t>(curvefit::expr::kMaxNestingDepth));
  EXPECT_THAT(f.what, HasSubstr("nested too deeply"));
  EXPECT_EQ(failure_of(std::string(depth, '-') + "a").position,
            static_cast<std::size_t>(curvefit::expr::kMaxNestingDepth));
  std::string towers = "a";
  for (std::size_t k = 0; k < depth; ++k) towers += "^a";
  EXPECT_EQ(failure_of(towers).position, 2 * static_cast<std::size_t>(curvefit::expr::kMaxNestingDepth) + 1);
  std::string calls;
  for (std::size_t k = 0; k < depth; ++k) calls += "exp(";
  EXPECT_EQ(failure_of(calls + "a" + std::string(depth, ')')).position,
            4 * static_cast<std::size_t>(curvefit::expr::kMaxNestingDepth) + 3);
  // Nesting within the limit compiles.
  EXPECT_DOUBLE_EQ(tape_value(std::string(200, '(') + "a*x" + std::string(200, ')'), {2}, {3}), 6);
}

TEST(FormulaErrors, CaretWindowForLongFormulas) {
  std::string formula;
  for (int k = 0; k < 20'000; ++k) formula += "a*x+";
  formula += "#";
  const Failure f = failure_of(formula);
  EXPECT_EQ(f.position, 80'000u);
  // The report stays short: a window around the position, caret under the '#'.
  EXPECT_LT(f.what.size(), 400u);
  const auto lines_start = f.what.find('\n');
  const auto caret_line = f.what.substr(f.what.rfind('\n') + 1);
  const auto shown_line = f.what.substr(lines_start + 1, f.what.rfind('\n') - lines_start - 1);
  ASSERT_EQ(shown_line[caret_line.size() - 1], '#');
}

TEST(FormulaLimits, HundredThousandCharactersCompileAndEvaluate) {
  std::string formula = "a*x";
  while (formula.size() < 100'000) formula += "+a*x";
  const double terms = static_cast<double>((formula.size() + 1) / 4);
  const auto model = compile_formula(formula);
  const double x = 1.5, p = 2;
  const double* columns[] = {&x};
  double value = 0, jac = 0;
  model->evaluate_with_jacobian(columns, 1, &p, &value, &jac);
  EXPECT_NEAR(value, terms * 3, 1e-9 * terms * 3);
  EXPECT_NEAR(jac, terms * 1.5, 1e-9 * terms * 1.5);
}

TEST(FormulaLimits, RandomGarbageNeverCrashes) {
  // Every random string either compiles (and then evaluates to what the syntax tree says) or
  // raises ModelError.
  const std::string alphabet = "abx1()+-*/^,.e pimnsq";
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1), length(0, 30);
  int compiled = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string formula;
    for (std::size_t k = length(rng); k > 0; --k) formula += alphabet[pick(rng)];
    try {
      const auto model = compile_formula(formula);
      std::vector<double> p(model->num_params(), 0.7), x(300, 0.3), values(300), jac(300 * p.size());
      const double* columns[] = {x.data()};
      model->evaluate_with_jacobian(columns, x.size(), p.data(), values.data(), jac.data());
      const double reference = FormulaTreeEvaluator(formula)(x.data(), p.data());
      if (std::isfinite(reference) && std::fabs(reference) < 1e100) {
        EXPECT_NEAR(values[0], reference, 1e-9 * std::max(1.0, std::fabs(reference))) << formula;
      }
      ++compiled;
    } catch (const ModelError& error) {
      EXPECT_NE(std::string(error.what()), "");
    }
  }
  EXPECT_GT(compiled, 100);
}

TEST(FormulaCompiler, CommonSubexpressionsAreShared) {
  using namespace curvefit::expr;
  const SyntaxTree tree = parse_formula("a*exp(-b*x) + c*exp(-b*x)*x", {});
  Graph graph;
  const int root = graph.build(tree);
  const Tape tape(graph, {root});
  // -b is uniform; b*x... : mul, exp, a*E, c*E, (c*E)*x, add = 6 varying instructions, one exp.
  EXPECT_EQ(tape.num_instructions(), 6u);
}

TEST(FormulaCompiler, ParameterOnlySubexpressionsRunOncePerCall) {
  using namespace curvefit::expr;
  const SyntaxTree tree = parse_formula("a*exp(b*c)*sqrt(a+b)*x", {});
  Graph graph;
  const int root = graph.build(tree);
  const Tape tape(graph, {root});
  EXPECT_EQ(tape.num_instructions(), 1u);  // only (uniform product) * x runs per point
  EXPECT_GE(tape.num_uniform_steps(), 4u);
}

TEST(FormulaCompiler, DerivativesSimplify) {
  using namespace curvefit::expr;
  const SyntaxTree tree = parse_formula("a*exp(-b*x)+c", {});
  Graph graph;
  const int root = graph.build(tree);
  const std::vector<int> d = graph.differentiate(root, 3);
  EXPECT_TRUE(graph.is_constant(d[2], 1));        // d/dc = 1 exactly, filled not computed
  EXPECT_EQ(graph.node(d[0]).op, Op::Exp);         // d/da is the shared exp node itself
  const Tape tape(graph, {root, d[0], d[1], d[2]});
  // b*x (with -b uniform), exp (= d/da), a*E, +c, and d/db = (-a)*(x*E): the sign of d(-b*x)/db
  // moves onto the uniform a.
  EXPECT_LE(tape.num_instructions(), 6u);
}

TEST(FormulaCompiler, NegationsMoveOntoUniformOperandsExactly) {
  // A negated operand of * or / costs no pass over the points: the sign moves onto the uniform
  // operand, or cancels. The rewrite is exact, so values equal the syntax tree's bit for bit
  // (zeros keep their sign).
  using namespace curvefit::expr;
  // Formula, passes per block (x*x and the product with the uniform -a are one fused pass).
  const std::pair<const char*, std::size_t> cases[] = {
      {"-(a*x)", 1}, {"(-x)*a", 1}, {"a*(-x)", 1}, {"x/(-a)", 1}, {"-(x/a)", 1}, {"(-x)/a", 1}, {"a/(-x)", 1},
      {"-(a/x)", 1}, {"(-x)/(-a)", 1}, {"-(-(a*x))", 1}, {"a*((-x)*(-x))", 1}, {"a*(x*(-x))", 1}};
  const double xs[] = {0.0, -0.0, 1.5, -3.25, 1e300, std::numeric_limits<double>::infinity()};
  for (const auto& [formula, instructions] : cases) {
    SCOPED_TRACE(formula);
    const SyntaxTree tree = parse_formula(formula, {});
    Graph graph;
    const int root = graph.build(tree);
    EXPECT_EQ(Tape(graph, {root}).num_instructions(), instructions);
    const auto model = compile_formula(formula);
    const FormulaTreeEvaluator reference(formula);
    for (const double a : {2.5, -0.75}) {
      std::vector<double> values(std::size(xs));
      const double* columns[] = {xs};
      model->evaluate(columns, std::size(xs), &a, values.data());
      for (std::size_t i = 0; i < std::size(xs); ++i) {
        const double expected = reference(&xs[i], &a);
        if (std::isnan(expected)) {
          EXPECT_TRUE(std::isnan(values[i]));
        } else {
          EXPECT_EQ(values[i], expected) << "x = " << xs[i];
          EXPECT_EQ(std::signbit(values[i]), std::signbit(expected)) << "x = " << xs[i];
        }
      }
    }
  }
}

TEST(FormulaCompiler, GaussianDerivativesNeedNoNegationPass) {
  using namespace curvefit::expr;
  const SyntaxTree tree = parse_formula("a*exp(-((x - mu)^2)/(2*sigma^2))", {});
  Graph graph;
  const int root = graph.build(tree);
  const std::vector<int> d = graph.differentiate(root, 3);
  EXPECT_LE(Tape(graph, {root}).num_instructions(), 5u);  // x-mu, ^2, /(-2 sigma^2), exp, a*E
  EXPECT_LE(Tape(graph, {root, d[0], d[1], d[2]}).num_instructions(), 14u);
}

}  // namespace
