// Every built-in model's formula text is a valid curvefit formula that means the same model: compiled
// by the formula compiler, it has the same parameters in the same order, and its values and exact
// Jacobian agree with the built-in's analytic ones. Iterates over model_library().
#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "core/formula/expression.h"
#include "core/model/model_library.h"

namespace curvefit {
namespace {

TEST(ModelFormula, EachFormulaCompilesToTheSameModel) {
  std::mt19937_64 engine(5);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (const auto& info : model_library()) {
    SCOPED_TRACE(info.name + ": " + info.formula);
    std::unique_ptr<Model> formula;
    ASSERT_NO_THROW(formula = compile_formula(info.formula));
    EXPECT_EQ(formula->param_names(), info.param_names);
    EXPECT_EQ(formula->num_predictors(), info.num_predictors);
    const auto builtin = make_builtin_model(info);
    const std::size_t n = 300, np = info.param_names.size();
    std::vector<std::vector<double>> x(static_cast<std::size_t>(info.num_predictors), std::vector<double>(n));
    for (auto& column : x)
      for (double& v : column) v = info.x_min + (info.x_max - info.x_min) * unit(engine);
    std::vector<const double*> columns;
    for (const auto& column : x) columns.push_back(column.data());
    std::vector<double> p = info.example;
    for (std::size_t j = 0; j < np; ++j)
      p[j] = std::clamp(p[j] * (0.9 + 0.2 * unit(engine)), info.bounds[j].lower, info.bounds[j].upper);
    std::vector<double> v1(n), v2(n), j1(n * np), j2(n * np);
    builtin->evaluate_with_jacobian(columns.data(), n, p.data(), v1.data(), j1.data());
    formula->evaluate_with_jacobian(columns.data(), n, p.data(), v2.data(), j2.data());
    for (std::size_t i = 0; i < n; ++i) EXPECT_NEAR(v2[i], v1[i], 1e-12 * std::abs(v1[i]) + 1e-300) << "x=" << x[0][i];
    for (std::size_t j = 0; j < np; ++j) {
      double scale = 0;
      for (std::size_t i = 0; i < n; ++i) scale = std::max(scale, std::abs(j1[j * n + i]));
      for (std::size_t i = 0; i < n; ++i)
        EXPECT_NEAR(j2[j * n + i], j1[j * n + i], 1e-12 * std::abs(j1[j * n + i]) + 1e-13 * scale)
            << "d/d" << info.param_names[j] << " at x=" << x[0][i];
    }
  }
}

}  // namespace
}  // namespace curvefit
