#pragma once
// Formulas typed by the user, compiled to models: "b1*(1-exp(-b2*x))".
//
// compile_formula runs the whole compiler once (see the stage headers, in order):
//   core/expression_parser.h  text -> syntax tree (names resolved, errors with a caret)
//   core/expression_graph.h   tree -> DAG with folded constants and shared subexpressions, and
//                             its exact symbolic derivatives with respect to every parameter
//   core/expression_tape.h    DAG -> flat tape evaluating values and all Jacobian columns over
//                             blocks of points in one sweep
//
// Predictors: with no predictor_names, `x` (one predictor) or `x1`, `x2`, ... (as many as the
// highest index used; mixing x and x1 is an error; `x0` is an ordinary name). With names (from
// --x name1,name2, or the formula's names that are columns of the data: see
// core/data/columns.h), exactly those names are the predictors, in that order; a predictor named
// `e` or `pi` is the predictor. Otherwise `pi` and `e` are constants; every other name is a
// parameter, in order of first appearance.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"

namespace curvefit {

// Throws ModelError (with the position) when the formula is wrong.
std::unique_ptr<Model> compile_formula(std::string_view formula,
                                       const std::vector<std::string>& predictor_names = {});

// A condition over columns (--where "temp > 300 && flag == 0"): a formula without parameters whose
// names are all columns (column_names, in the order of the x its evaluate() takes; pi and e stay
// constants). Evaluated over blocks of rows like a model's values (p may be null); a row is
// selected where the value is neither 0 nor NaN. Throws ModelError like compile_formula.
std::unique_ptr<Model> compile_condition(std::string_view formula, const std::vector<std::string>& column_names);

// The parameter names of a formula, in order (parses only; throws ModelError like compile_formula).
std::vector<std::string> formula_parameters(std::string_view formula,
                                            const std::vector<std::string>& predictor_names = {});

// Every name the formula uses except functions (predictors, constants, parameters), once each,
// in order of first appearance: what the column rule matches against the data's columns.
std::vector<std::string> formula_names(std::string_view formula);

namespace expr {
struct SyntaxTree;
}

// The formula evaluated at one point by walking its syntax tree with scalar libm, exactly as
// written: no simplification, no derivatives, no tape. Slow; the reference for tests.
class FormulaTreeEvaluator {
 public:
  explicit FormulaTreeEvaluator(std::string_view formula,
                                const std::vector<std::string>& predictor_names = {});
  ~FormulaTreeEvaluator();
  FormulaTreeEvaluator(FormulaTreeEvaluator&&) noexcept;
  FormulaTreeEvaluator& operator=(FormulaTreeEvaluator&&) noexcept;

  // x_point[k] is predictor k, p[j] parameter j.
  double operator()(const double* x_point, const double* p) const;
  const std::vector<std::string>& param_names() const;
  int num_predictors() const;

 private:
  std::unique_ptr<expr::SyntaxTree> tree_;
};

}  // namespace curvefit
