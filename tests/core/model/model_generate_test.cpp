// The pieces of `curvefit generate` below the command line: argument parsers, the point layout
// and the per-point noise.
#include "core/model/generate.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "core/errors.h"

namespace curvefit {
namespace {

TEST(GenerateParsing, PointCountsInIntegerOrScientificForm) {
  EXPECT_EQ(parse_point_count("1000"), 1000u);
  EXPECT_EQ(parse_point_count("1e8"), 100000000u);
  EXPECT_EQ(parse_point_count("2.5e6"), 2500000u);
  EXPECT_EQ(parse_point_count("1e9"), 1000000000u);
  for (const char* bad : {"0", "-5", "1.5", "abc", "", "1e300", "10x", "nan"})
    EXPECT_THROW(parse_point_count(bad), UsageError) << bad;
}

TEST(GenerateParsing, Ranges) {
  EXPECT_EQ(parse_range("0:10"), std::make_pair(0.0, 10.0));
  EXPECT_EQ(parse_range("-5:-1e-3"), std::make_pair(-5.0, -1e-3));
  for (const char* bad : {"5", "3:1", "1:1", "a:b", ":", "1:", "inf:2"})
    EXPECT_THROW(parse_range(bad), UsageError) << bad;
}

TEST(GenerateParsing, ParameterValuesOverrideDefaultsAndFormulasNeedThemAll) {
  const std::vector<std::string> names{"a", "b", "c"};
  EXPECT_EQ(parse_parameter_values("", names, {1, 2, 3}), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(parse_parameter_values("b=-4.5e2", names, {1, 2, 3}), (std::vector<double>{1, -450, 3}));
  EXPECT_EQ(parse_parameter_values("c=1,a=2,b=3", names, {}), (std::vector<double>{2, 3, 1}));
  EXPECT_THROW(parse_parameter_values("a=1,b=2", names, {}), UsageError);  // c missing
  EXPECT_THROW(parse_parameter_values("d=1", names, {1, 2, 3}), UsageError);
  EXPECT_THROW(parse_parameter_values("a", names, {1, 2, 3}), UsageError);
  EXPECT_THROW(parse_parameter_values("a=1x", names, {1, 2, 3}), UsageError);
}

TEST(GeneratePoints, OnePredictorEvenlySpacedFromAnyChunkStart) {
  std::vector<double> x(5);
  double* columns[1] = {x.data()};
  generate_predictors(1, 11, 0.0, 1.0, 3, 5, columns);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_DOUBLE_EQ(x[i], static_cast<double>(3 + i) / 10.0);
  generate_predictors(1, 1, 2.0, 3.0, 0, 1, columns);
  EXPECT_EQ(x[0], 2.0);
}

TEST(GeneratePoints, ThreePredictorsOnACubeGrid) {
  const std::size_t n = 27;  // side 3
  std::vector<double> a(n), b(n), c(n);
  double* columns[3] = {a.data(), b.data(), c.data()};
  generate_predictors(3, n, -1.0, 1.0, 0, n, columns);
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_EQ(a[i], -1.0 + static_cast<double>(i % 3));
    EXPECT_EQ(b[i], -1.0 + static_cast<double>((i / 3) % 3));
    EXPECT_EQ(c[i], -1.0 + static_cast<double>(i / 9));
  }
}

TEST(GenerateNoise, StandardNormalAndReproducible) {
  const std::size_t n = 200000;
  double sum = 0, sum2 = 0, sum4 = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double z = noise_deviate(11, i);
    EXPECT_EQ(z, noise_deviate(11, i));
    sum += z, sum2 += z * z, sum4 += z * z * z * z;
  }
  const double m = static_cast<double>(n);
  EXPECT_NEAR(sum / m, 0.0, 5 / std::sqrt(m));
  EXPECT_NEAR(sum2 / m, 1.0, 5 * std::sqrt(2.0 / m));
  EXPECT_NEAR(sum4 / m, 3.0, 5 * std::sqrt(96.0 / m));  // Gaussian kurtosis, var(z^4) = 105 - 9
  EXPECT_NE(noise_deviate(11, 0), noise_deviate(12, 0));
}

}  // namespace
}  // namespace curvefit
