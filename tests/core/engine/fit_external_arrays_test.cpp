// FitSpec's caller-owned inputs (what the Python module uses): arrays read in place, not copied,
// and a model of the caller's own instead of one built from `model`.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "core/engine/fit_setup.h"
#include "core/errors.h"
#include "engine_test_support.h"

namespace curvefit {
namespace {

using testing_support::ExponentialDecay;
using testing_support::make_decay_data;

struct Arrays {
  std::vector<double> x, y, sigma;
};

Arrays decay_arrays(std::size_t m) {
  const MemoryDataSource data = make_decay_data(m, true, false);
  return {{data.x_column(0), data.x_column(0) + m}, {data.y_column(), data.y_column() + m},
          {data.sigma_column(), data.sigma_column() + m}};
}

FitSpec external_spec(const Arrays& a, const std::string& model) {
  FitSpec spec;
  spec.model = model;
  spec.external.x = {a.x.data()};
  spec.external.y = a.y.data();
  spec.external.sigma = a.sigma.data();
  spec.external.rows = a.y.size();
  spec.p0 = {{"a", 1}, {"b", 1}, {"c", 1}};
  return spec;
}

TEST(FitExternalArrays, SameFitAsCopiedArraysAndReadInPlace) {
  const Arrays a = decay_arrays(5000);
  FitSpec copied;
  copied.model = "a*exp(-b*x)+c";
  copied.x = {a.x};
  copied.y = a.y;
  copied.sigma = a.sigma;
  copied.p0 = {{"a", 1}, {"b", 1}, {"c", 1}};
  const FitResult expected = fit(copied);

  PreparedFit prepared = prepare_fit(external_spec(a, "a*exp(-b*x)+c"));
  ASSERT_NE(prepared.in_memory, nullptr);
  EXPECT_EQ(prepared.in_memory->y_column(), a.y.data());  // the caller's array itself
  EXPECT_EQ(prepared.in_memory->x_column(0), a.x.data());
  EXPECT_EQ(prepared.in_memory->sigma_column(), a.sigma.data());
  const FitResult result = fit(prepared);
  ASSERT_TRUE(result.success) << result.message;
  for (Eigen::Index j = 0; j < 3; ++j) {
    EXPECT_NEAR(result.params[j], expected.params[j], 1e-12 * std::abs(expected.params[j]));
    EXPECT_NEAR(result.params[j], testing_support::true_params()[static_cast<std::size_t>(j)], 0.05);
  }
  EXPECT_EQ(result.used.x_columns, (std::vector<std::string>{"x"}));
  EXPECT_EQ(result.used.y_column, "y");
  EXPECT_EQ(result.used.sigma_column, "sigma");
}

TEST(FitExternalArrays, BadValuesNameTheRow) {
  Arrays a = decay_arrays(100);
  a.y[41] = NAN;
  EXPECT_THROW(
      {
        try {
          fit(external_spec(a, "exponential"));
        } catch (const DataError& e) {
          EXPECT_STREQ(e.what(), "<memory>: row 42: x or y is not finite");
          throw;
        }
      },
      DataError);
  a = decay_arrays(100);
  a.sigma[7] = 0;
  EXPECT_THROW(fit(external_spec(a, "exponential")), DataError);
}

TEST(FitExternalArrays, CustomModelIsUsedAndNamed) {
  const Arrays a = decay_arrays(2000);
  const ExponentialDecay model;
  FitSpec spec = external_spec(a, "my decay");
  spec.custom_model = &model;
  const FitResult result = fit(spec);
  ASSERT_TRUE(result.success) << result.message;
  EXPECT_EQ(result.used.model, "my decay");
  EXPECT_EQ(result.used.formula, "a*exp(-b*x)+c");
  EXPECT_NEAR(result.params[1], 0.7, 0.02);
}

}  // namespace
}  // namespace curvefit
