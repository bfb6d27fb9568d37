// Composite models: the expansion into one formula (names, prefixes, clashes), the components'
// natural bounds and guesses, and their exact Jacobian against the built-ins' own.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/formula/expression.h"
#include "core/model/composite_model.h"
#include "core/model/model_library.h"

namespace curvefit {
namespace {

TEST(CompositeModel, PrefixedComponentsExpandIntoOneFormula) {
  const auto composite = expand_composite("gaussian[p1] + gaussian[ p2 ] + linear");
  ASSERT_TRUE(composite);
  ASSERT_EQ(composite->components.size(), 3u);
  EXPECT_EQ(composite->components[1].prefix, "p2");
  EXPECT_EQ(formula_parameters(composite->formula),
            (std::vector<std::string>{"p1_a", "p1_mu", "p1_sigma", "p2_a", "p2_mu", "p2_sigma", "a", "b"}));
  // Formula names beside components are parameters as usual; a call gaussian(...) is no component.
  const auto mixed = expand_composite("lorentzian[l]*exp(-k*x) + 2e5*c");
  ASSERT_TRUE(mixed);
  EXPECT_EQ(formula_parameters(mixed->formula), (std::vector<std::string>{"l_a", "l_x0", "l_gamma", "k", "c"}));
}

TEST(CompositeModel, PlainFormulasAndSingleNamesAreNotComposites) {
  EXPECT_FALSE(expand_composite("a*exp(-b*x) + c"));
  EXPECT_FALSE(expand_composite("gaussian"));
  EXPECT_TRUE(expand_composite("gaussian[g]"));
}

TEST(CompositeModel, ClashesAndBadPrefixesAreNamed) {
  try {
    expand_composite("gaussian + gaussian");
    FAIL() << "two unprefixed gaussians accepted";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("both have the parameter 'a'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(expand_composite("gaussian[p1] + linear[p1]"), ModelError);  // p1_a twice
  EXPECT_THROW(expand_composite("gaussian[1p] + linear"), ModelError);
  EXPECT_THROW(expand_composite("gaussian[p1 + linear"), ModelError);
  EXPECT_THROW(expand_composite("a*x[2]"), ModelError);
}

TEST(CompositeModel, NaturalBoundsFollowThePrefixedNames) {
  const auto composite = expand_composite("voigt[v] + linear");
  ASSERT_TRUE(composite);
  const std::vector<std::string> names{"v_a", "v_mu", "v_sigma", "v_gamma", "a", "b", "extra"};
  const std::vector<ParamBounds> bounds = composite->bounds(names);
  EXPECT_EQ(bounds[2].lower, 0.0);
  EXPECT_EQ(bounds[3].lower, 0.0);
  for (std::size_t j : {0u, 1u, 4u, 5u, 6u}) EXPECT_TRUE(std::isinf(bounds[j].lower)) << names[j];
}

TEST(CompositeModel, JacobianEqualsTheBuiltInsOwn) {
  // The expanded formula's symbolic derivatives against the library's hand-written ones.
  const auto model = make_model("gaussian[p] + voigt[v] + linear");
  const auto g = make_builtin_model(*find_model("gaussian"));
  const auto v = make_builtin_model(*find_model("voigt"));
  const std::vector<double> p{2.0, 3.0, 0.7, 1.5, 6.0, 0.5, 0.3, 0.2, 1.0};
  const std::size_t n = 300;
  std::vector<double> x(n), values(n), jac(n * p.size()), gv(n), gj(n * 3), vv(n), vj(n * 4);
  for (std::size_t i = 0; i < n; ++i) x[i] = 10.0 * static_cast<double>(i) / (n - 1);
  const double* xs[] = {x.data()};
  model->evaluate_with_jacobian(xs, n, p.data(), values.data(), jac.data());
  g->evaluate_with_jacobian(xs, n, p.data(), gv.data(), gj.data());
  v->evaluate_with_jacobian(xs, n, p.data() + 3, vv.data(), vj.data());
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_NEAR(values[i], gv[i] + vv[i] + 0.2 * x[i] + 1.0, 1e-13);
    for (std::size_t j = 0; j < 3; ++j) EXPECT_NEAR(jac[j * n + i], gj[j * n + i], 1e-12 * (1 + std::fabs(gj[j * n + i])));
    for (std::size_t j = 0; j < 4; ++j)
      EXPECT_NEAR(jac[(3 + j) * n + i], vj[j * n + i], 1e-12 * (1 + std::fabs(vj[j * n + i]))) << j;
    EXPECT_DOUBLE_EQ(jac[7 * n + i], x[i]);
    EXPECT_DOUBLE_EQ(jac[8 * n + i], 1.0);
  }
}

TEST(CompositeModel, GuessesPeaksLeftToRightAndTheBaselineFromTheEdges) {
  // Peaks written in either order get the peaks in the data from left to right.
  const std::size_t n = 2000;
  std::vector<double> x(n), y(n);
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 0.03);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = 20.0 * static_cast<double>(i) / (n - 1);
    const auto peak = [&](double a, double mu, double s) { return a * std::exp(-(x[i] - mu) * (x[i] - mu) / (2 * s * s)); };
    y[i] = peak(1.0, 4.0, 0.8) + peak(4.0, 9.0, 1.0) + peak(2.0, 15.0, 0.6) - 0.1 * x[i] + 3.0 + noise(rng);
  }
  const auto composite = expand_composite("lorentzian[l1] + gaussian[g2] + gaussian[g3] + linear");
  ASSERT_TRUE(composite);
  const std::vector<std::string> names = formula_parameters(composite->formula);
  const double* xs[] = {x.data()};
  const std::vector<double> guess = composite->guess(names, xs, y.data(), n);
  const auto at = [&](const std::string& name) { return guess[static_cast<std::size_t>(std::find(names.begin(), names.end(), name) - names.begin())]; };
  EXPECT_NEAR(at("l1_x0"), 4.0, 0.3);
  EXPECT_NEAR(at("g2_mu"), 9.0, 0.3);
  EXPECT_NEAR(at("g3_mu"), 15.0, 0.3);
  EXPECT_NEAR(at("g2_a"), 4.0, 0.4);
  EXPECT_NEAR(at("g3_sigma"), 0.6, 0.2);
  EXPECT_NEAR(at("a"), -0.1, 0.05);
  EXPECT_NEAR(at("b"), 3.0, 0.3);
}

}  // namespace
}  // namespace curvefit
