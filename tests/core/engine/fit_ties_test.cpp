// --tie through the whole fit: the tied parameter leaves the free ones, its value is its
// expression at the fit, and its standard error the delta method's, checked against closed forms.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/engine/fit_setup.h"
#include "core/errors.h"

namespace curvefit {
namespace {

// Two Gaussians on a line, the second twice as wide as the first... squared: sigma2 = sigma1^2.
FitSpec two_peaks_spec() {
  FitSpec spec;
  const std::size_t n = 1500;
  spec.x.assign(1, std::vector<double>(n));
  spec.y.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double x = 10.0 * static_cast<double>(i) / (n - 1);
    spec.x[0][i] = x;
    const double wobble = 0.02 * std::sin(37.0 * x);  // deterministic "noise"
    spec.y[i] = 3.0 * std::exp(-(x - 3.0) * (x - 3.0) / (2 * 1.2 * 1.2)) +
                2.0 * std::exp(-(x - 7.0) * (x - 7.0) / (2 * 1.44 * 1.44)) + 0.5 + wobble;
  }
  spec.model = "gaussian[p1] + gaussian[p2] + c";
  spec.p0 = {{"c", 0.4}};
  spec.ties = {parse_tie("p2_sigma = p1_sigma^2", "--tie")};
  return spec;
}

TEST(FitTies, TiedParameterIsNotFreeAndGetsTheDeltaMethodError) {
  const FitResult r = fit(two_peaks_spec());
  ASSERT_TRUE(r.success) << r.message;
  EXPECT_EQ(r.names, (std::vector<std::string>{"p1_a", "p1_mu", "p1_sigma", "p2_a", "p2_mu", "c"}));
  ASSERT_EQ(r.tied.size(), 1u);
  const TiedParameter& t = r.tied[0];
  EXPECT_EQ(t.name, "p2_sigma");
  EXPECT_EQ(t.expression, "p1_sigma^2");
  const double s1 = r.params[2], se1 = r.stderr_[2];
  EXPECT_NEAR(s1, 1.2, 0.01);
  EXPECT_DOUBLE_EQ(t.value, s1 * s1);
  EXPECT_NEAR(t.stderr_, 2 * s1 * se1, 1e-12 * t.stderr_);  // d(s^2)/ds = 2s
}

TEST(FitTies, ABuiltInModelTakesTiesAndKeepsItsGuess) {
  FitSpec spec = two_peaks_spec();
  spec.model = "gaussian_offset";
  spec.p0 = {};
  spec.ties = {parse_tie("c = 0.25*a", "--tie")};
  const FitResult r = fit(spec);
  ASSERT_TRUE(r.success) << r.message;
  EXPECT_EQ(r.names, (std::vector<std::string>{"a", "mu", "sigma"}));
  EXPECT_EQ(r.used.init_source, "guess from the data");
  EXPECT_DOUBLE_EQ(r.tied[0].value, 0.25 * r.params[0]);
  EXPECT_NEAR(r.tied[0].stderr_, 0.25 * r.stderr_[0], 1e-12 * r.tied[0].stderr_);
}

TEST(FitTies, BadTiesAreUsageErrorsNamingTheTie) {
  const auto message = [](const std::string& tie) {
    FitSpec spec = two_peaks_spec();
    spec.ties = {parse_tie(tie, "--tie")};
    try {
      fit(spec);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("p3_sigma = p1_sigma").find("unknown parameter 'p3_sigma'"), std::string::npos);
  EXPECT_NE(message("p2_sigma = q").find("'q' is not another parameter"), std::string::npos);
  EXPECT_NE(message("p2_sigma = p2_sigma*2").find("not another parameter"), std::string::npos);
  EXPECT_NE(message("p2_sigma = x").find("not another parameter"), std::string::npos);
  EXPECT_THROW(parse_tie("p2_sigma == p1_sigma", "--tie"), UsageError);
  EXPECT_THROW(parse_tie("p2_sigma", "--tie"), UsageError);
  EXPECT_THROW(parse_tie("2x = a", "--tie"), UsageError);
}

}  // namespace
}  // namespace curvefit
