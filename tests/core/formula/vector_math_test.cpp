// vmath agrees with libm to a few ULP on ordinary arguments and keeps NaN/Inf meaningful.
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/formula/vector_math.h"

namespace {
using Fn = void (*)(const double*, double*, std::size_t);
double ulp_distance(double a, double b) {
  if (a == b) return 0;
  return std::abs(a - b) / std::abs(std::nextafter(b, INFINITY) - b);
}

TEST(VectorMath, AgreesWithLibmWithinTwoUlp) {
  struct Case { const char* name; Fn fn; double (*ref)(double); double lo, hi; };
  const Case cases[] = {
      {"exp", curvefit::vmath::exp, [](double v) { return std::exp(v); }, -700, 700},
      {"log", curvefit::vmath::log, [](double v) { return std::log(v); }, 1e-300, 1e300},
      {"sin", curvefit::vmath::sin, [](double v) { return std::sin(v); }, -100, 100},
      {"cos", curvefit::vmath::cos, [](double v) { return std::cos(v); }, -100, 100},
      {"atan", curvefit::vmath::atan, [](double v) { return std::atan(v); }, -1e3, 1e3},
      {"tanh", curvefit::vmath::tanh, [](double v) { return std::tanh(v); }, -20, 20},
      {"erf", curvefit::vmath::erf, [](double v) { return std::erf(v); }, -5, 5},
  };
  std::mt19937_64 rng(7);
  for (const Case& c : cases) {
    std::uniform_real_distribution<double> dist(c.lo, c.hi);
    std::vector<double> in(1003), out(in.size());  // odd size: exercises the tail
    for (double& v : in) v = dist(rng);
    c.fn(in.data(), out.data(), in.size());
    for (std::size_t i = 0; i < in.size(); ++i)
      ASSERT_LE(ulp_distance(out[i], c.ref(in[i])), 2.0) << c.name << "(" << in[i] << ")";
  }
}

TEST(VectorMath, NanAndInfKeepTheirMeaning) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> in = {std::nan(""), inf, -inf, 0.0, -1.0};
  std::vector<double> out(in.size());
  curvefit::vmath::exp(in.data(), out.data(), in.size());
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(out[1], inf);
  EXPECT_EQ(out[2], 0.0);
  curvefit::vmath::log(in.data(), out.data(), in.size());
  EXPECT_EQ(out[1], inf);
  EXPECT_EQ(out[3], -inf);
  EXPECT_TRUE(std::isnan(out[4]));
}
}  // namespace
