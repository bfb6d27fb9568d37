#include "core/formula/expression.h"

#include <utility>

#include "core/formula/expression_graph.h"
#include "core/formula/expression_parser.h"
#include "core/formula/expression_tape.h"

namespace curvefit {

namespace {

// A compiled formula: one tape for values alone, one for values with every Jacobian column.
class FormulaModel final : public Model {
 public:
  FormulaModel(std::string text, std::vector<std::string> params, int num_predictors,
               expr::Tape value_tape, expr::Tape jacobian_tape)
      : text_(std::move(text)),
        params_(std::move(params)),
        num_predictors_(num_predictors),
        value_tape_(std::move(value_tape)),
        jacobian_tape_(std::move(jacobian_tape)) {}

  const std::vector<std::string>& param_names() const override { return params_; }
  int num_predictors() const override { return num_predictors_; }
  std::string formula() const override { return text_; }

  void evaluate(const double* const* x, std::size_t n, const double* p, double* values) const override {
    value_tape_.run(x, n, p, values, nullptr);
  }
  void evaluate_with_jacobian(const double* const* x, std::size_t n, const double* p, double* values,
                              double* jac) const override {
    jacobian_tape_.run(x, n, p, values, jac);
  }

 private:
  std::string text_;
  std::vector<std::string> params_;
  int num_predictors_;
  expr::Tape value_tape_;
  expr::Tape jacobian_tape_;
};

std::string trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return std::string(text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1));
}

}  // namespace

std::unique_ptr<Model> compile_formula(std::string_view formula, const std::vector<std::string>& predictor_names) {
  expr::SyntaxTree tree = expr::parse_formula(formula, predictor_names);
  expr::Graph graph;
  const int root = graph.build(tree);
  std::vector<int> outputs{root};
  const std::vector<int> derivatives =
      graph.differentiate(root, static_cast<int>(tree.parameter_names.size()));
  outputs.insert(outputs.end(), derivatives.begin(), derivatives.end());
  expr::Tape value_tape(graph, {root});
  expr::Tape jacobian_tape(graph, outputs);
  return std::make_unique<FormulaModel>(trimmed(formula), std::move(tree.parameter_names), tree.num_predictors,
                                        std::move(value_tape), std::move(jacobian_tape));
}

std::unique_ptr<Model> compile_condition(std::string_view formula, const std::vector<std::string>& column_names) {
  expr::SyntaxTree tree = expr::parse_formula(formula, column_names, false);
  expr::Graph graph;
  const int root = graph.build(tree);
  expr::Tape value_tape(graph, {root});
  expr::Tape jacobian_tape(graph, {root});
  return std::make_unique<FormulaModel>(trimmed(formula), std::vector<std::string>{}, tree.num_predictors,
                                        std::move(value_tape), std::move(jacobian_tape));
}

std::vector<std::string> formula_parameters(std::string_view formula,
                                            const std::vector<std::string>& predictor_names) {
  return expr::parse_formula(formula, predictor_names).parameter_names;
}

std::vector<std::string> formula_names(std::string_view formula) { return expr::formula_free_names(formula); }

FormulaTreeEvaluator::FormulaTreeEvaluator(std::string_view formula,
                                           const std::vector<std::string>& predictor_names)
    : tree_(std::make_unique<expr::SyntaxTree>(expr::parse_formula(formula, predictor_names))) {}
FormulaTreeEvaluator::~FormulaTreeEvaluator() = default;
FormulaTreeEvaluator::FormulaTreeEvaluator(FormulaTreeEvaluator&&) noexcept = default;
FormulaTreeEvaluator& FormulaTreeEvaluator::operator=(FormulaTreeEvaluator&&) noexcept = default;

double FormulaTreeEvaluator::operator()(const double* x_point, const double* p) const {
  return expr::evaluate_syntax_tree(*tree_, x_point, p);
}
const std::vector<std::string>& FormulaTreeEvaluator::param_names() const { return tree_->parameter_names; }
int FormulaTreeEvaluator::num_predictors() const { return tree_->num_predictors; }

}  // namespace curvefit
