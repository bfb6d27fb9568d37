// The formula functions for steps and branches (** log2 sign floor ceil min max heaviside if, the
// comparisons and logic) and the Voigt profile: values against closed forms, derivatives against
// their closed forms, the conventions at kinks, and the tree walk (the scalar reference) against
// the compiled tape.
#include <cmath>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/formula/expression.h"

namespace {

using curvefit::compile_formula;
using curvefit::FormulaTreeEvaluator;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Values and the Jacobian (column j at jac[j * n + i]) of a formula at the points x.
struct Evaluated {
  std::vector<double> values, jac;
};
Evaluated run(const std::string& formula, const std::vector<double>& x, const std::vector<double>& p) {
  const auto model = compile_formula(formula);
  EXPECT_EQ(model->num_params(), p.size()) << formula;
  Evaluated e{std::vector<double>(x.size()), std::vector<double>(x.size() * p.size())};
  const double* columns[] = {x.data()};
  model->evaluate_with_jacobian(columns, x.size(), p.data(), e.values.data(), e.jac.data());
  // The tape and the tree walk agree on every value, NaN included.
  const FormulaTreeEvaluator tree(formula);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double reference = tree(&x[i], p.data());
    if (std::isnan(reference))
      EXPECT_TRUE(std::isnan(e.values[i])) << formula << " at x=" << x[i];
    else
      EXPECT_NEAR(e.values[i], reference, 1e-13 * std::fabs(reference)) << formula << " at x=" << x[i];
  }
  return e;
}

TEST(FormulaFunctions, StepFunctionsTakeTheirClosedFormValues) {
  const std::vector<double> x{-2.5, -1.0, -0.0, 0.0, 0.5, 1.0, 3.7};
  const std::vector<double> floors{-3, -1, -0.0, 0, 0, 1, 3};
  const std::vector<double> ceils{-2, -1, -0.0, 0, 1, 1, 4};
  const std::vector<double> signs{-1, -1, 0, 0, 1, 1, 1};
  const std::vector<double> steps{0, 0, 0.5, 0.5, 1, 1, 1};
  const auto f = run("a*floor(x)", x, {1}), c = run("a*ceil(x)", x, {1}), s = run("a*sign(x)", x, {1}),
             h = run("a*heaviside(x)", x, {1});
  for (std::size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(f.values[i], floors[i]) << x[i];
    EXPECT_EQ(c.values[i], ceils[i]) << x[i];
    EXPECT_EQ(s.values[i], signs[i]) << x[i];
    EXPECT_EQ(h.values[i], steps[i]) << x[i];
  }
  const auto l = run("a*log2(x)", {0.25, 1, 8, 1024}, {1});
  EXPECT_EQ(l.values, (std::vector<double>{-2, 0, 3, 10}));
}

TEST(FormulaFunctions, DoubleStarIsPower) {
  const std::vector<double> x{0.5, 2, 3};
  const auto star = run("a*x**3 - x**2**0.5 + -x**2", x, {2});
  for (std::size_t i = 0; i < x.size(); ++i)
    EXPECT_NEAR(star.values[i], 2 * x[i] * x[i] * x[i] - std::pow(x[i], std::sqrt(2.0)) - x[i] * x[i], 1e-14);
}

TEST(FormulaFunctions, ComparisonsAndLogicGiveOneOrZero) {
  const std::vector<double> x{-1, 0, 1, 2};
  const auto check = [&](const std::string& condition, std::vector<double> truth) {
    const auto r = run("a*(" + condition + ")", x, {1});
    EXPECT_EQ(r.values, truth) << condition;
  };
  check("x < 1", {1, 1, 0, 0});
  check("x <= 1", {1, 1, 1, 0});
  check("x > 0", {0, 0, 1, 1});
  check("x >= 0", {0, 1, 1, 1});
  check("x == 1", {0, 0, 1, 0});
  check("x != 1", {1, 1, 0, 1});
  check("x > -1 && x < 2", {0, 1, 1, 0});
  check("x < 0 || x >= 2", {1, 0, 0, 1});
  check("!(x == 0)", {1, 0, 1, 1});
  check("x + 1 > 2*x", {1, 1, 0, 0});  // arithmetic binds tighter than comparisons
}

TEST(FormulaFunctions, NaNNeverChoosesABranch) {
  const std::vector<double> x{kNaN};
  EXPECT_TRUE(std::isnan(run("if(x > 0, a, 2*a)", x, {1}).values[0]));
  EXPECT_TRUE(std::isnan(run("a*(x < 1)", x, {1}).values[0]));
  EXPECT_TRUE(std::isnan(run("a*heaviside(x)", x, {1}).values[0]));
  EXPECT_TRUE(std::isnan(run("a*!x", x, {1}).values[0]));
}

TEST(FormulaFunctions, IfTakesTheChosenBranchAndItsDerivative) {
  // if(x < c, a*x, b*x^2): d/da = x left of c, d/db = x^2 right of it, d/dc = 0 (the jump).
  const std::vector<double> x{-1, 0.5, 1.5, 3};
  const double a = 2, b = 0.5, c = 1;
  const auto r = run("if(x < c, a*x, b*x^2)", x, {c, a, b});
  const std::size_t n = x.size();
  for (std::size_t i = 0; i < n; ++i) {
    const bool left = x[i] < c;
    EXPECT_DOUBLE_EQ(r.values[i], left ? a * x[i] : b * x[i] * x[i]);
    EXPECT_EQ(r.jac[0 * n + i], 0.0);
    EXPECT_DOUBLE_EQ(r.jac[1 * n + i], left ? x[i] : 0.0);
    EXPECT_DOUBLE_EQ(r.jac[2 * n + i], left ? 0.0 : x[i] * x[i]);
  }
}

TEST(FormulaFunctions, MinAndMaxDifferentiateTheChosenArgumentAndTheFirstAtATie) {
  // min(a*x, b): d/da = x where a*x <= b (ties included), d/db = 1 elsewhere; max the other way.
  const std::vector<double> x{0.5, 1, 2};
  const double a = 2, b = 2;  // a*x == b at x = 1
  const auto lo = run("min(a*x, b)", x, {a, b}), hi = run("max(a*x, b)", x, {a, b});
  const std::size_t n = x.size();
  EXPECT_EQ(lo.values, (std::vector<double>{1, 2, 2}));
  EXPECT_EQ(hi.values, (std::vector<double>{2, 2, 4}));
  EXPECT_EQ(std::vector<double>(lo.jac.begin(), lo.jac.begin() + 3), (std::vector<double>{0.5, 1, 0}));
  EXPECT_EQ(std::vector<double>(lo.jac.begin() + n, lo.jac.end()), (std::vector<double>{0, 0, 1}));
  EXPECT_EQ(std::vector<double>(hi.jac.begin(), hi.jac.begin() + 3), (std::vector<double>{0, 1, 2}));
  EXPECT_EQ(std::vector<double>(hi.jac.begin() + n, hi.jac.end()), (std::vector<double>{1, 0, 0}));
}

TEST(FormulaFunctions, StepsHaveZeroDerivativeAndLog2ItsClosedForm) {
  // a*floor(b*x) + c*heaviside(x - d): d/db = d/dd = 0 everywhere, at the jumps too.
  const std::vector<double> x{-1, 0.25, 0.5, 1.7};
  const auto r = run("a*floor(b*x) + c*heaviside(x - d) + ceil(x*b)*sign(b)", x, {1.5, 2, 0.5, 0.25});
  const std::size_t n = x.size();
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_EQ(r.jac[0 * n + i], std::floor(2 * x[i]));
    EXPECT_EQ(r.jac[1 * n + i], 0.0);
    EXPECT_EQ(r.jac[2 * n + i], x[i] < 0.25 ? 0.0 : x[i] > 0.25 ? 1.0 : 0.5);
    EXPECT_EQ(r.jac[3 * n + i], 0.0);
  }
  const auto l = run("a*log2(b*x)", {0.5, 4}, {3, 2});
  for (std::size_t i = 0; i < 2; ++i) {
    const double xi = i == 0 ? 0.5 : 4;
    EXPECT_NEAR(l.jac[i], std::log2(2 * xi), 1e-15);
    EXPECT_NEAR(l.jac[2 + i], 3 / (2 * std::numbers::ln2), 1e-14);  // a/(b ln 2)
  }
}

TEST(FormulaFunctions, VoigtIsTheGaussianWhenGammaIsZeroWithItsDerivatives) {
  // voigt(x - mu, sigma, 0) = exp(-(x-mu)^2/(2 sigma^2))/(sigma sqrt(2 pi)).
  const double a = 3, mu = 1, sigma = 0.7;
  const std::vector<double> x{-1, 0.2, 1, 1.5, 3};
  const auto r = run("a*voigt(x - mu, sigma, 0)", x, {a, mu, sigma});
  const std::size_t n = x.size();
  for (std::size_t i = 0; i < n; ++i) {
    const double d = x[i] - mu, g = std::exp(-d * d / (2 * sigma * sigma)) / (sigma * std::sqrt(2 * std::numbers::pi));
    EXPECT_NEAR(r.values[i], a * g, 1e-13 * a * g + 1e-300);
    EXPECT_NEAR(r.jac[0 * n + i], g, 1e-13 * g);
    EXPECT_NEAR(r.jac[1 * n + i], a * g * d / (sigma * sigma), 1e-12 * a * g);
    EXPECT_NEAR(r.jac[2 * n + i], a * g * (d * d / (sigma * sigma * sigma) - 1 / sigma), 1e-12 * a * g);
  }
}

TEST(FormulaFunctions, VoigtSlopeInGammaAtTheCentreIsMinusOneOverPiSigmaSquared) {
  // At u = 0, gamma = 0: d Re w(iy)/dy = -2/sqrt(pi), so dV/dgamma = -1/(pi sigma^2); and the
  // value is 1/(sigma sqrt(2 pi)).
  const double sigma = 0.8;
  const auto r = run("voigt(x, sigma, gamma)", {0.0}, {sigma, 0.0});
  EXPECT_NEAR(r.values[0], 1 / (sigma * std::sqrt(2 * std::numbers::pi)), 1e-14);
  EXPECT_NEAR(r.jac[1], -1 / (std::numbers::pi * sigma * sigma), 1e-13);
  // gamma >> sigma: the Lorentzian, to O(sigma^2/gamma^2). |z| ~ 1e6 here, where -2 z w(z) and
  // 2i/sqrt(pi) cancel to 1e-12 of their size: w' comes from its asymptotic series instead.
  const double gamma = 1.3, tiny = 1e-6;
  const auto l = run("voigt(x, s, g)", {0.0, 0.9, 2.5}, {tiny, gamma});
  for (std::size_t i = 0; i < 3; ++i) {
    const double xi = std::vector<double>{0.0, 0.9, 2.5}[i];
    const double lorentz = gamma / (std::numbers::pi * (xi * xi + gamma * gamma));
    EXPECT_NEAR(l.values[i], lorentz, 1e-10 * lorentz);
    // d/dgamma of the Lorentzian: (x^2 - gamma^2) / (pi (x^2 + gamma^2)^2)
    const double q = xi * xi + gamma * gamma;
    EXPECT_NEAR(l.jac[3 + i], (xi * xi - gamma * gamma) / (std::numbers::pi * q * q), 1e-10);
  }
}

TEST(FormulaFunctions, VoigtJacobianAgreesWithCentralDifferencesOfLibcerf) {
  // A sanity check away from any kink: the exact derivatives against differences of libcerf's
  // own voigt() (the tree walk), which is computed apart from the Faddeeva function the tape uses;
  // the narrow sigma puts the far points beyond |z| = 20, where w' is summed as a series.
  const std::string formula = "a*voigt(x - mu, sigma, gamma)";
  const FormulaTreeEvaluator tree(formula);
  const std::vector<double> x{-2, -0.4, 0.3, 0.9, 2.5};
  for (const std::vector<double>& p : {std::vector<double>{2.0, 0.3, 0.6, 0.45}, std::vector<double>{2.0, 0.3, 0.05, 0.45}}) {
    const auto r = run(formula, x, p);
    for (std::size_t i = 0; i < x.size(); ++i)
      for (std::size_t j = 0; j < p.size(); ++j) {
        const double h = 1e-5 * std::fabs(p[j]);
        std::vector<double> up = p, down = p;
        up[j] += h;
        down[j] -= h;
        const double slope = (tree(&x[i], up.data()) - tree(&x[i], down.data())) / (2 * h);
        EXPECT_NEAR(r.jac[j * x.size() + i], slope, 1e-7 * (1 + std::fabs(slope))) << "j=" << j << " x=" << x[i];
      }
  }
}

TEST(FormulaFunctions, MisusedOperatorsAreErrorsWithAPosition) {
  EXPECT_THROW(compile_formula("a*(x < 1 < 2)"), curvefit::ModelError);
  EXPECT_THROW(compile_formula("a*(x = 1)"), curvefit::ModelError);
  EXPECT_THROW(compile_formula("a*(x & 1)"), curvefit::ModelError);
  EXPECT_THROW(compile_formula("if(x, a)"), curvefit::ModelError);
  EXPECT_THROW(compile_formula("a*voigt(x, 1)"), curvefit::ModelError);
  try {
    compile_formula("a*x *** 2");
    FAIL() << "*** parsed";
  } catch (const curvefit::ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("column 7"), std::string::npos) << e.what();
  }
}

// Random formulas mixing branches, steps and comparisons with uniform (parameter-only) and
// varying operands: the tape's lowering (broadcast operands, three-operand if, register reuse)
// against the tree walk, value for value, and the Jacobian against differences away from kinks.
std::string random_branchy(std::mt19937_64& rng, int depth) {
  const auto pick = [&rng](int n) { return static_cast<int>(std::uniform_int_distribution<int>(0, n - 1)(rng)); };
  if (depth == 0 || pick(4) == 0) {
    const char* leaves[] = {"a", "b", "x", "x", "0.5", "c"};
    return leaves[pick(6)];
  }
  const std::string u = "(" + random_branchy(rng, depth - 1) + ")", v = "(" + random_branchy(rng, depth - 1) + ")",
                    w = "(" + random_branchy(rng, depth - 1) + ")";
  const std::string forms[] = {
      u + "+" + v, u + "*" + v, "if(" + u + " < " + v + ", " + w + ", " + u + ")", "if(" + u + ", " + v + ", " + w + ")",
      "floor" + u, "ceil" + u, "sign" + u, "heaviside" + u, "(" + u + " >= " + v + ")", "(" + u + " != " + v + ")",
      "(" + u + " && " + v + ")", "(" + u + " || !" + v + ")", "min(" + u + ", " + v + ")", u + "**2",
      "log2(1 + " + u + "^2)", "voigt(" + u + ", 0.5 + " + v + "^2, " + w + "^2)",
  };
  return forms[pick(static_cast<int>(std::size(forms)))];
}

TEST(FormulaFunctions, RandomBranchyFormulasAgreeWithTheTreeWalk) {
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<double> xs(-2, 2), ps(-1.5, 1.5);
  int checked = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const std::string formula = "a*0 + b*0 + c*0 + " + random_branchy(rng, 4);
    SCOPED_TRACE(formula);
    const auto model = compile_formula(formula);
    const FormulaTreeEvaluator tree(formula);
    const std::size_t n = 300;
    std::vector<double> x(n), values(n), jac(3 * n);
    for (double& v : x) v = xs(rng);
    std::vector<double> p{ps(rng), ps(rng), ps(rng)};
    const double* columns[] = {x.data()};
    model->evaluate_with_jacobian(columns, n, p.data(), values.data(), jac.data());
    for (std::size_t i = 0; i < n; i += 5) {
      const double reference = tree(&x[i], p.data());
      if (std::isnan(reference)) {
        EXPECT_TRUE(std::isnan(values[i]));
        continue;
      }
      ASSERT_NEAR(values[i], reference, 1e-12 * (1 + std::fabs(reference)));
      for (std::size_t j = 0; j < 3; ++j) {  // where the formula is smooth around p: no kink within h
        const double h = 1e-6;
        std::vector<double> up = p, down = p, up2 = p, down2 = p;
        up[j] += h, down[j] -= h, up2[j] += 2 * h, down2[j] -= 2 * h;
        const double d1 = (tree(&x[i], up.data()) - tree(&x[i], down.data())) / (2 * h);
        const double d2 = (tree(&x[i], up2.data()) - tree(&x[i], down2.data())) / (4 * h);
        if (!std::isfinite(d1) || std::fabs(d1 - d2) > 1e-6 * (1 + std::fabs(d1))) continue;  // a kink nearby
        ASSERT_NEAR(jac[j * n + i], d1, 1e-5 * (1 + std::fabs(d1))) << "d/d" << "abc"[j] << " at x=" << x[i];
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 10000);
}

}  // namespace
