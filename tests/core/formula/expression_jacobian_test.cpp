// Compiled formulas against independent computations: the tape's values against a walk of the
// unsimplified syntax tree with scalar libm, and its Jacobian against 8th-order central finite
// differences of that walk, at random well-conditioned points. Also NaN/Inf and threads.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <new>
#include <numbers>
#include <limits>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/formula/expression.h"
#include "core/formula/expression_parser.h"

// Counts this thread's heap allocations, to check that evaluation allocates nothing per call.
// (GCC cannot see that the replaced new and delete below pair malloc with free.)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
thread_local std::size_t allocations = 0;
}
void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using curvefit::compile_formula;
using curvefit::FormulaTreeEvaluator;

struct Case {
  std::string formula;
  double x_lo, x_hi;  // every predictor drawn from here
  double p_lo, p_hi;  // every parameter drawn from here
  std::vector<std::string> predictor_names = {};
};

// d f / d p_j by the 8th-order central difference of the tree walk.
double central_difference(const FormulaTreeEvaluator& f, const double* x, std::vector<double> p, std::size_t j) {
  constexpr double kWeights[] = {4.0 / 5, -1.0 / 5, 4.0 / 105, -1.0 / 280};
  const double p0 = p[j];
  const double h = 4e-3 * std::max(1.0, std::fabs(p0));
  double sum = 0;
  for (int k = 1; k <= 4; ++k) {
    p[j] = p0 + k * h;
    const double up = f(x, p.data());
    p[j] = p0 - k * h;
    const double down = f(x, p.data());
    sum += kWeights[k - 1] * (up - down);
  }
  return sum / h;
}

// Checks values (evaluate and evaluate_with_jacobian) and every Jacobian column at random points.
void check(const Case& c, unsigned seed) {
  SCOPED_TRACE(c.formula);
  const auto model = compile_formula(c.formula, c.predictor_names);
  const FormulaTreeEvaluator tree(c.formula, c.predictor_names);
  const std::size_t k_count = static_cast<std::size_t>(model->num_predictors());
  const std::size_t np = model->num_params();
  ASSERT_EQ(tree.param_names(), model->param_names());
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> xs(c.x_lo, c.x_hi), ps(c.p_lo, c.p_hi);
  const std::size_t n = 600;  // two whole blocks of 256 and a partial one
  std::vector<std::vector<double>> x(k_count, std::vector<double>(n));
  for (auto& column : x)
    for (double& v : column) v = xs(rng);
  std::vector<const double*> columns;
  for (const auto& column : x) columns.push_back(column.data());
  for (int draw = 0; draw < 3; ++draw) {
    std::vector<double> p(np);
    for (double& v : p) v = ps(rng);
    std::vector<double> values(n), values_only(n), jac(n * np);
    model->evaluate_with_jacobian(columns.data(), n, p.data(), values.data(), jac.data());
    model->evaluate(columns.data(), n, p.data(), values_only.data());
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<double> point(k_count);
      for (std::size_t k = 0; k < k_count; ++k) point[k] = x[k][i];
      const double reference = tree(point.data(), p.data());
      ASSERT_NEAR(values[i], reference, 1e-12 * std::max(1.0, std::fabs(reference))) << "point " << i;
      ASSERT_EQ(values_only[i], values[i]) << "point " << i;
      if (i % 29 != 0) continue;  // finite differences on a subset keep the test fast
      for (std::size_t j = 0; j < np; ++j) {
        const double exact = jac[j * n + i];
        const double fd = central_difference(tree, point.data(), p, j);
        ASSERT_NEAR(exact, fd, 1e-8 * std::fabs(exact) + 1e-11 * std::max(1.0, std::fabs(reference)))
            << "d/d" << model->param_names()[j] << " at point " << i << " x=" << point[0];
      }
    }
  }
}

TEST(FormulaJacobian, ArithmeticAndPowers) {
  const Case cases[] = {
      {"a*exp(-b*x)+c", 0, 3, 0.5, 2},
      {"-a*x^2 + b", -2, 2, 0.5, 2},
      {"+a*x - b/x + c/(x*x) - d*x/(a+b)", 0.5, 3, 0.5, 2},
      {"a/(b - x)", -2, 0, 0.5, 2},
      {"(a*x + b)/(c*x + d)^2", 0.5, 2, 0.5, 2},
      {"pow(x, a)*b", 0.5, 3, 0.5, 2},
      {"x^a", 0.5, 3, 0.5, 2},
      {"a^x + b", -1, 2, 0.5, 2},
      {"(a*x)^(b*x)", 0.5, 2, 0.5, 2},
      {"a*x^2.5 + b*x^-2", 0.5, 2, 0.5, 2},
      {"(a + x)^10 * 1e-3", -0.5, 0.5, 0.5, 1},
      {"a*x^3 - b^3*x + a^-2", -2, 2, 0.5, 2},
      {"e^(a*x) + pi*b", -1, 1, 0.5, 1.5},
      {"pow(a, b)*x + pow(2, a*x)", 0.5, 2, 0.5, 2},
      {"a*x*a*x*a + b*b", -1, 1, 0.5, 2},
      {"1e-3*a + .5*b*x + 2.5E1*c", -1, 1, 0.5, 2},
  };
  unsigned seed = 1;
  for (const Case& c : cases) check(c, seed++);
}

TEST(FormulaJacobian, ElementaryFunctions) {
  const Case cases[] = {
      {"a*log(b*x)", 0.5, 3, 0.5, 2},
      {"a*log10(b*x + c)", 0.5, 3, 0.5, 2},
      {"sqrt(a*x + b)", 0.5, 3, 0.5, 2},
      {"abs(a*x - b)*c", -3, -1, 0.5, 2},
      {"abs(a*x - b)*c", 2.5, 4, 0.5, 1},
      {"a*sin(b*x + c)", -3, 3, 0.5, 2},
      {"a*cos(b*x) + sin(c)", -3, 3, 0.5, 2},
      {"a*tan(b*x)", -0.6, 0.6, 0.5, 1.5},
      {"asin(a*x) + acos(b*x)", -0.7, 0.7, 0.3, 1},
      {"atan(a*x + b)", -3, 3, 0.5, 2},
      {"atan2(a*x, b)", -2, 2, 0.5, 2},
      {"atan2(a, b*x)", 0.5, 2, 0.5, 2},
      {"atan2(a*x + c, b*x - c)", 0.5, 2, 0.5, 2},
      {"sinh(a*x) + cosh(b*x)", -2, 2, 0.5, 1.5},
      {"tanh(a*x - b)*c", -2, 2, 0.5, 2},
      {"erf(a*x + b)", -1, 1, 0.3, 1},
      {"erfc(a*x)*b", -1, 2, 0.3, 1},
      {"a*exp(-(x-x0)^2/(2*s^2))", -2, 2, 0.5, 1.5},
  };
  unsigned seed = 100;
  for (const Case& c : cases) check(c, seed++);
}

TEST(FormulaJacobian, MinAndMaxSelectTheActiveBranch) {
  // Ranges keep every point away from ties, where the derivative jumps.
  const Case cases[] = {
      {"min(a*x, b)", 0, 0.4, 1, 2},   // a*x < b
      {"min(a*x, b)", 3, 4, 0.5, 0.9}, // b < a*x
      {"max(a*x, b*x^2)", 0.1, 0.3, 1, 2},
      {"max(a*x, b*x^2)", 3, 4, 1, 2},
      {"max(a, b) + min(a*x, 5)", 0.5, 1, 1, 2},
  };
  unsigned seed = 200;
  for (const Case& c : cases) check(c, seed++);
}

TEST(FormulaJacobian, NistStyleFormulas) {
  const Case cases[] = {
      {"b1*(1-exp(-b2*x))", 1, 10, 0.2, 1},                                   // Misra1a, BoxBOD
      {"b1*(x^2+x*b2)/(x^2+x*b3+b4)", 0.1, 4, 0.1, 1},                         // MGH09
      {"b1 - b2*x - atan(b3/(x-b4))/pi", 2, 3, 0.5, 1.5},                      // Roszman1
      {"b1*exp(-b2*x) + b3*exp(-(x-b4)^2/b5^2) + b6*exp(-(x-b7)^2/b8^2)", 0, 3, 0.5, 2},  // Gauss1
      {"b1 / (1+exp(b2-b3*x))", 0, 2, 0.5, 2},                                // Rat42
      {"b1 / ((1+exp(b2-b3*x))^(1/b4))", 0, 2, 0.5, 2},                       // Rat43
      {"exp(-b1*x)/(b2+b3*x)", 0.5, 3, 0.5, 2},                                // Chwirut
      {"b1*(b2+x)^(-1/b3)", 1, 5, 0.5, 2},                                     // Bennett5
      {"b1*x^b2", 0.5, 3, 0.5, 2},                                             // DanWood
      {"(b1+b2*x+b3*x^2+b4*x^3)/(1+b5*x+b6*x^2+b7*x^3)", 0, 1, 0.2, 1},       // Thurber, Hahn1
      {"b1 * exp(b2/(x+b3))", 1, 3, 0.5, 2},                                   // MGH10
      {"(b1/b2) * exp(-0.5*((x-b3)/b2)^2)", -1, 2, 0.5, 1.5},                  // Eckerle4
      {"b1*exp(-b2*x) + b3*exp(-b4*x) + b5*exp(-b6*x)", 0, 1, 0.5, 2},        // Lanczos
      {"b1 * (1-(1+b2*x/2)^(-2))", 0.5, 3, 0.5, 2},                            // Misra1b
      {"b1 * (1-(1+2*b2*x)^(-.5))", 0.5, 3, 0.5, 2},                           // Misra1c
      {"b1*b2*x*((1+b2*x)^(-1))", 0.5, 3, 0.5, 2},                             // Misra1d
      {"b1 + b2*cos(2*pi*x/12) + b3*sin(2*pi*x/12) + b5*cos(2*pi*x/b4) + b6*sin(2*pi*x/b4)", 1, 12, 20, 30},  // ENSO
  };
  unsigned seed = 300;
  for (const Case& c : cases) check(c, seed++);
}

TEST(FormulaJacobian, SeveralPredictors) {
  const Case cases[] = {
      {"b1 - b2*x1 * exp(-b3*x2)", 0.5, 2, 0.5, 2},                    // Nelson
      {"a*exp(-((x1-b)^2 + (x2-c)^2)/d)", -1, 1, 0.5, 2},             // gaussian2d
      {"k*exp(-E/temp)*t", 0.5, 2, 0.5, 2, {"t", "temp"}},
      {"a*x1 + b*x3", 0.5, 2, 0.5, 2},                                 // x2 unused
  };
  unsigned seed = 400;
  for (const Case& c : cases) check(c, seed++);
}

// Value and gradient of the syntax tree by forward-mode dual numbers, written independently of
// the compiler's symbolic rules: the reference for random formulas, where finite differences
// would need hand-picked well-conditioned points.
struct Dual {
  double v = 0;
  std::vector<double> d;
};
Dual dual_evaluate(const curvefit::expr::SyntaxTree& tree, const double* x, const std::vector<double>& p) {
  using curvefit::expr::Function;
  using Kind = curvefit::expr::SyntaxNode::Kind;
  const std::size_t np = p.size();
  std::vector<Dual> value(tree.nodes.size());
  const auto chain = [np](const Dual& u, double value, double slope) {  // f(u), f'(u) = slope
    Dual r{value, std::vector<double>(np)};
    for (std::size_t j = 0; j < np; ++j) r.d[j] = slope * u.d[j];
    return r;
  };
  const auto combine = [np](double value, const Dual& u, double su, const Dual& w, double sw) {
    Dual r{value, std::vector<double>(np)};
    for (std::size_t j = 0; j < np; ++j) r.d[j] = su * u.d[j] + sw * w.d[j];
    return r;
  };
  const auto is_constant = [](const Dual& u) {
    return std::all_of(u.d.begin(), u.d.end(), [](double g) { return g == 0; });
  };
  for (std::size_t id = 0; id < tree.nodes.size(); ++id) {
    const auto& node = tree.nodes[id];
    const Dual zero{0, std::vector<double>(np)};
    const Dual& a = node.num_args > 0 ? value[static_cast<std::size_t>(node.args[0])] : zero;
    const Dual& b = node.num_args > 1 ? value[static_cast<std::size_t>(node.args[1])] : zero;
    const auto power = [&] {
      const double f = std::pow(a.v, b.v);
      if (is_constant(b)) return chain(a, f, b.v * std::pow(a.v, b.v - 1));
      if (is_constant(a)) return chain(b, f, f * std::log(a.v));
      return combine(f, a, f * b.v / a.v, b, f * std::log(a.v));
    };
    Dual& r = value[id];
    switch (node.kind) {
      case Kind::Number: r = {node.number, std::vector<double>(np)}; break;
      case Kind::Parameter: r = {p[static_cast<std::size_t>(node.index)], std::vector<double>(np)};
        r.d[static_cast<std::size_t>(node.index)] = 1; break;
      case Kind::Predictor: r = {x[node.index], std::vector<double>(np)}; break;
      case Kind::Negate: r = chain(a, -a.v, -1); break;
      case Kind::Add: r = combine(a.v + b.v, a, 1, b, 1); break;
      case Kind::Subtract: r = combine(a.v - b.v, a, 1, b, -1); break;
      case Kind::Multiply: r = combine(a.v * b.v, a, b.v, b, a.v); break;
      case Kind::Divide: r = combine(a.v / b.v, a, 1 / b.v, b, -a.v / (b.v * b.v)); break;
      case Kind::Power: r = power(); break;
      default: r = {std::numeric_limits<double>::quiet_NaN(), std::vector<double>(np)}; break;  // not generated
      case Kind::Call:
        switch (node.function) {
          case Function::Exp: r = chain(a, std::exp(a.v), std::exp(a.v)); break;
          case Function::Log: r = chain(a, std::log(a.v), 1 / a.v); break;
          case Function::Log10: r = chain(a, std::log10(a.v), 1 / (a.v * std::log(10.0))); break;
          case Function::Sqrt: r = chain(a, std::sqrt(a.v), 0.5 / std::sqrt(a.v)); break;
          case Function::Abs: r = chain(a, std::fabs(a.v), a.v > 0 ? 1.0 : a.v < 0 ? -1.0 : 0.0); break;
          case Function::Sin: r = chain(a, std::sin(a.v), std::cos(a.v)); break;
          case Function::Cos: r = chain(a, std::cos(a.v), -std::sin(a.v)); break;
          case Function::Tan: r = chain(a, std::tan(a.v), 1 / (std::cos(a.v) * std::cos(a.v))); break;
          case Function::Asin: r = chain(a, std::asin(a.v), 1 / std::sqrt(1 - a.v * a.v)); break;
          case Function::Acos: r = chain(a, std::acos(a.v), -1 / std::sqrt(1 - a.v * a.v)); break;
          case Function::Atan: r = chain(a, std::atan(a.v), 1 / (1 + a.v * a.v)); break;
          case Function::Sinh: r = chain(a, std::sinh(a.v), std::cosh(a.v)); break;
          case Function::Cosh: r = chain(a, std::cosh(a.v), std::sinh(a.v)); break;
          case Function::Tanh: r = chain(a, std::tanh(a.v), 1 / (std::cosh(a.v) * std::cosh(a.v))); break;
          case Function::Erf:
            r = chain(a, std::erf(a.v), 2 / std::sqrt(std::numbers::pi) * std::exp(-a.v * a.v)); break;
          case Function::Erfc:
            r = chain(a, std::erfc(a.v), -2 / std::sqrt(std::numbers::pi) * std::exp(-a.v * a.v)); break;
          case Function::Atan2: {
            const double q = a.v * a.v + b.v * b.v;
            r = combine(std::atan2(a.v, b.v), a, b.v / q, b, -a.v / q);
            break;
          }
          case Function::Pow: r = power(); break;
          case Function::Min: r = a.v <= b.v ? a : b; break;
          case Function::Max: r = b.v <= a.v ? a : b; break;
          default: r = {std::numeric_limits<double>::quiet_NaN(), std::vector<double>(np)}; break;  // not generated
        }
        break;
    }
  }
  return value.back();
}

// A random smooth formula over a, b, c and x whose every function stays inside its domain.
std::string random_formula(std::mt19937_64& rng, int depth) {
  const auto pick = [&rng](int n) { return static_cast<int>(std::uniform_int_distribution<int>(0, n - 1)(rng)); };
  if (depth == 0 || pick(4) == 0) {
    const char* leaves[] = {"a", "b", "c", "x", "x", "0.5", "1.7"};
    return leaves[pick(7)];
  }
  const std::string u = "(" + random_formula(rng, depth - 1) + ")";
  const std::string v = "(" + random_formula(rng, depth - 1) + ")";
  const std::string forms[] = {
      u + "+" + v, u + "-" + v, u + "*" + v, u + "/(1+" + v + "^2)", "-" + u,
      "exp(tanh" + u + ")", "log(1+" + u + "^2)", "log10(2+cos" + u + ")", "sqrt(1+" + u + "^2)",
      "abs" + u, "sin" + u, "cos" + u, "tan(tanh" + u + ")", "asin(0.5*tanh" + u + ")",
      "acos(0.5*tanh" + u + ")", "atan" + u, "atan2(" + u + ", 1+" + v + "^2)", "sinh(tanh" + u + ")",
      "cosh(tanh" + u + ")", "tanh" + u, "erf" + u, "erfc" + u, "pow(1+" + u + "^2, tanh" + v + ")",
      "(1+" + u + "^2)^tanh" + v, u + "^2", u + "^3", "min(" + u + ", " + v + ")", "max(" + u + ", " + v + ")",
  };
  return forms[pick(static_cast<int>(std::size(forms)))];
}

TEST(FormulaJacobian, RandomFormulasMatchDualNumbers) {
  // Large random DAGs exercise constant folding, sharing, register reuse and block edges
  // together; the tape must agree with an independent forward-mode evaluation.
  std::mt19937_64 rng(2024);
  std::uniform_real_distribution<double> xs(-2, 2), ps(-1.5, 1.5);
  int checked = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const std::string formula = "a*0 + b*0 + c*0 + " + random_formula(rng, 5);  // all three parameters
    SCOPED_TRACE(formula);
    const auto model = compile_formula(formula);
    const auto tree = curvefit::expr::parse_formula(formula, {});
    const std::size_t n = 300;
    std::vector<double> x(n), values(n), jac(n * 3);
    for (double& v : x) v = xs(rng);
    std::vector<double> p{ps(rng), ps(rng), ps(rng)};
    const double* columns[] = {x.data()};
    model->evaluate_with_jacobian(columns, n, p.data(), values.data(), jac.data());
    for (std::size_t i = 0; i < n; i += 7) {
      const Dual reference = dual_evaluate(tree, &x[i], p);
      if (!std::isfinite(reference.v)) continue;
      ASSERT_NEAR(values[i], reference.v, 1e-10 * (1 + std::fabs(reference.v)));
      for (std::size_t j = 0; j < 3; ++j)
        ASSERT_NEAR(jac[j * n + i], reference.d[j], 1e-9 * (1 + std::fabs(reference.d[j])))
            << "d/d" << "abc"[j] << " at x=" << x[i];
      ++checked;
    }
  }
  EXPECT_GT(checked, 5000);
}

TEST(FormulaEvaluation, NanAndInfPropagate) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const auto evaluate = [](const std::string& formula, std::vector<double> x, std::vector<double> p) {
    const auto model = compile_formula(formula);
    const double* columns[] = {x.data()};
    std::vector<double> values(x.size()), jac(x.size() * p.size());
    model->evaluate_with_jacobian(columns, x.size(), p.data(), values.data(), jac.data());
    return std::make_pair(values, jac);
  };
  auto [v, j] = evaluate("a*log(x)", {-1, 0, inf, nan}, {2});
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], -inf);
  EXPECT_EQ(v[2], inf);
  EXPECT_TRUE(std::isnan(v[3]));
  EXPECT_TRUE(std::isnan(j[0]));
  EXPECT_EQ(j[1], -inf);
  EXPECT_TRUE(std::isnan(j[3]));

  std::tie(v, j) = evaluate("a/x", {0, -0.0}, {1});
  EXPECT_EQ(v[0], inf);
  EXPECT_EQ(v[1], -inf);

  // A NaN predictor poisons the value and every column that depends on the point; d/dc = 1
  // does not depend on the point at all.
  std::tie(v, j) = evaluate("a*exp(-b*x)+c", {nan, 1}, {1, 1, 1});
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_TRUE(std::isnan(j[0]));          // d/da
  EXPECT_TRUE(std::isnan(j[2]));          // d/db
  EXPECT_EQ(j[4], 1.0);                   // d/dc
  EXPECT_DOUBLE_EQ(v[1], std::exp(-1.0) + 1);

  // A NaN parameter poisons the value.
  std::tie(v, j) = evaluate("a*exp(-b*x)+c", {1}, {1, nan, 1});
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_TRUE(std::isnan(j[0]));

  // min and max do not hide NaN.
  std::tie(v, j) = evaluate("min(a, x) + max(a, x)", {nan, 3}, {1});
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], 4);
  EXPECT_EQ(j[1], 1);  // one branch each: d/da of min(1, 3) + max(1, 3) = 1 + 0

  // The value is not simplified across NaN/Inf: 0*x is NaN at x = Inf, as written.
  std::tie(v, j) = evaluate("0*x + a", {inf, 1}, {2});
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], 2);
  EXPECT_EQ(j[0], 1);  // the derivative does not depend on x at all

  // Overflow is Inf, not a trap.
  std::tie(v, j) = evaluate("exp(a*x)", {1000}, {1});
  EXPECT_EQ(v[0], inf);
}

TEST(FormulaEvaluation, ManyThreadsGiveIdenticalResults) {
  // Two models share each thread's scratch in turn; results must equal a single-threaded run
  // bit for bit.
  const auto first = compile_formula("b1*exp(-b2*x) + b3*exp(-(x-b4)^2/b5^2) + b6*exp(-(x-b7)^2/b8^2)");
  const auto second = compile_formula("a*sin(b*x + c) + atan2(x, a)");
  const std::size_t n = 5000;
  std::vector<double> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = 3.0 * static_cast<double>(i) / n;
  const double* columns[] = {x.data()};
  const std::vector<double> p1{1, 0.5, 2, 1.2, 0.4, 1.5, 2.1, 0.3}, p2{1.1, 2.3, 0.4};
  const auto run = [&](std::vector<double>& out1, std::vector<double>& out2) {
    out1.assign(n * 9, 0);
    out2.assign(n * 4, 0);
    first->evaluate_with_jacobian(columns, n, p1.data(), out1.data(), out1.data() + n);
    second->evaluate_with_jacobian(columns, n, p2.data(), out2.data(), out2.data() + n);
  };
  std::vector<double> expected1, expected2;
  run(expected1, expected2);
  constexpr int kThreads = 4;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      std::vector<double> out1, out2;
      for (int repeat = 0; repeat < 20; ++repeat) {
        run(out1, out2);
        mismatches[static_cast<std::size_t>(t)] += (out1 != expected1) + (out2 != expected2);
      }
    });
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[static_cast<std::size_t>(t)], 0) << "thread " << t;
}

TEST(FormulaEvaluation, NoAllocationPerCallOnceScratchHasGrown) {
  const std::size_t at_start = allocations;
  const auto model = compile_formula("b1*exp(-b2*x) + b3*exp(-(x-b4)^2/b5^2) + atan2(x, b1)");
  ASSERT_GT(allocations, at_start);  // the counter does see allocations
  const std::size_t n = 3000;
  std::vector<double> x(n, 0.5), values(n), jac(5 * n);
  const double* columns[] = {x.data()};
  const double p[] = {1, 0.5, 2, 1.2, 0.4};
  model->evaluate_with_jacobian(columns, n, p, values.data(), jac.data());  // scratch grows here
  const std::size_t before = allocations;
  for (int repeat = 0; repeat < 10; ++repeat) {
    model->evaluate_with_jacobian(columns, n, p, values.data(), jac.data());
    model->evaluate(columns, n, p, values.data());
  }
  EXPECT_EQ(allocations, before);
}

TEST(FormulaEvaluation, BlockBoundariesAndEmptyInput) {
  const auto model = compile_formula("a*x + b");
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{255}, std::size_t{256}, std::size_t{257},
                        std::size_t{1000}}) {
    std::vector<double> x(n), values(n, -1), jac(2 * n, -1);
    for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<double>(i);
    const double* columns[] = {x.data()};
    const double p[] = {2, 3};
    model->evaluate_with_jacobian(columns, n, p, values.data(), jac.data());
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(values[i], 2 * x[i] + 3) << n;
      ASSERT_EQ(jac[i], x[i]) << n;
      ASSERT_EQ(jac[n + i], 1) << n;
    }
  }
}

}  // namespace
