// Fuzzes the formula compiler: parser, DAG and derivatives, tape.
//
// Input: one option byte, then the formula's text. A formula either compiles or throws ModelError
// with a one-line message; a compiled one is evaluated on 300 points (a full tape block and a
// partial one) at a few parameter vectors, with and without its Jacobian. Oracles besides the
// sanitizers: the values are the same bits with and without the Jacobian, every point's value
// and derivatives are the same bits whether evaluated in the batch or alone, the parameter names
// match formula_parameters, and the text the model reports compiles again.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/errors.h"
#include "core/formula/expression.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

constexpr std::size_t kPoints = 300;

bool same_bits(const double* a, const double* b, std::size_t n) { return std::memcmp(a, b, n * sizeof(double)) == 0; }

// Predictor k of point i: a spread of ordinary values, zeros, signs, huge and tiny magnitudes.
std::vector<std::vector<double>> predictors(int count, std::uint8_t seed) {
  static const double kSpecial[] = {0.0, -0.0, 1.0, -1.0, 0.5, 1e-310, 1e300, -1e300, 710.0, -745.0};
  std::vector<std::vector<double>> x(static_cast<std::size_t>(count), std::vector<double>(kPoints));
  for (std::size_t k = 0; k < x.size(); ++k)
    for (std::size_t i = 0; i < kPoints; ++i)
      x[k][i] = (i + k + seed) % 7 == 0 ? kSpecial[(i / 7 + k) % 10]
                                        : -3.0 + 0.021 * static_cast<double>(i) + 0.37 * static_cast<double>(k);
  return x;
}

void check_model(const curvefit::Model& model, std::uint8_t seed) {
  const std::size_t m = model.num_params();
  const auto x = predictors(model.num_predictors(), seed);
  std::vector<const double*> columns;
  for (const auto& column : x) columns.push_back(column.data());
  static const double kParameters[] = {1.3, -0.7, 0.0, 2.0, 1e-3, 40.0, -1e5, 0.25};
  for (int set = 0; set < 3; ++set) {
    std::vector<double> p(m);
    for (std::size_t j = 0; j < m; ++j) p[j] = kParameters[(j + static_cast<std::size_t>(set) * 3 + seed) % 8];
    std::vector<double> values(kPoints), values_j(kPoints), jac(kPoints * m);
    model.evaluate(columns.data(), kPoints, p.data(), values.data());
    model.evaluate_with_jacobian(columns.data(), kPoints, p.data(), values_j.data(), jac.data());
    FUZZ_CHECK(same_bits(values.data(), values_j.data(), kPoints));
    for (std::size_t i = 0; i < kPoints; i += 37) {  // a few points alone
      std::vector<const double*> point;
      for (const auto& column : x) point.push_back(column.data() + i);
      double value = 0;
      std::vector<double> row(m);
      model.evaluate_with_jacobian(point.data(), 1, p.data(), &value, row.data());
      FUZZ_CHECK(same_bits(&value, &values[i], 1));
      for (std::size_t j = 0; j < m; ++j) FUZZ_CHECK(same_bits(&row[j], &jac[j * kPoints + i], 1));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::vector<std::string> names = (data[0] & 0x80) ? std::vector<std::string>{"t", "e"} : std::vector<std::string>{};
  std::unique_ptr<curvefit::Model> model;
  try {
    model = curvefit::compile_formula(text, names);
  } catch (const curvefit::ModelError& e) {
    const std::string message = e.what();
    FUZZ_CHECK(!message.empty());
    return 0;
  }
  FUZZ_CHECK(model->param_names() == curvefit::formula_parameters(text, names));
  const auto again = curvefit::compile_formula(model->formula(), names);
  FUZZ_CHECK(again->param_names() == model->param_names());
  check_model(*model, data[0] & 0x7f);
  const curvefit::FormulaTreeEvaluator reference(text, names);  // the scalar walk: no UB either
  const std::vector<double> point(static_cast<std::size_t>(reference.num_predictors()), 0.75);
  const std::vector<double> p(model->num_params(), -1.5);
  reference(point.data(), p.data());
  curvefit::formula_names(text);
  return 0;
}
