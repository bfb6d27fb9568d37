// `curvefit models`: the JSON listing is complete and well formed; the text listing is readable.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "app/cli_util.h"

namespace {

using curvefit::cli::RunResult;
using curvefit::cli::run;

nlohmann::json models_json() {
  const RunResult r = run({"models", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.json();
}

const nlohmann::json* find(const nlohmann::json& list, const std::string& name) {
  for (const auto& entry : list)
    if (entry.at("name") == name) return &entry;
  return nullptr;
}

TEST(ModelsCli, JsonListsEveryModelTheIssueNamesWithTheDocumentedFields) {
  const nlohmann::json list = models_json();
  ASSERT_TRUE(list.is_array());
  EXPECT_GE(list.size(), 25u);
  for (const char* name :
       {"linear", "quadratic", "polynomial0", "polynomial10", "exponential", "exponential_growth",
        "double_exponential", "stretched_exponential", "power_law", "logarithmic", "gaussian",
        "gaussian_offset", "lorentzian", "pseudo_voigt", "logistic", "hill", "michaelis_menten",
        "gompertz", "arrhenius", "sine", "damped_sine", "erf_step", "log_normal",
        "exp_modified_gaussian", "gaussian2d", "plane"})
    EXPECT_NE(find(list, name), nullptr) << name;
  for (const auto& entry : list) {
    SCOPED_TRACE(entry.dump());
    ASSERT_TRUE(entry.at("formula").is_string());
    const auto& params = entry.at("params");
    ASSERT_TRUE(params.is_array());
    ASSERT_FALSE(params.empty());
    EXPECT_EQ(entry.at("example").size(), params.size());
    EXPECT_EQ(entry.at("bounds").size(), params.size());
    for (const auto& p : params) {
      const std::string name = p;
      EXPECT_NE(entry.at("formula").get<std::string>().find(name), std::string::npos) << name;
      EXPECT_TRUE(entry.at("example").at(name).is_number());
      const auto& b = entry.at("bounds").at(name);
      ASSERT_EQ(b.size(), 2u);
      for (const auto& side : b) EXPECT_TRUE(side.is_null() || side.is_number());
    }
    const auto& predictors = entry.at("predictors");
    ASSERT_TRUE(predictors.is_array());
    EXPECT_TRUE(predictors == nlohmann::json({"x"}) || predictors == nlohmann::json({"x1", "x2"}));
  }
  EXPECT_EQ(find(list, "gaussian2d")->at("predictors"), nlohmann::json({"x1", "x2"}));
  EXPECT_EQ(find(list, "exponential")->at("formula"), "a*exp(-b*x) + c");
  EXPECT_EQ(find(list, "exponential")->at("params"), nlohmann::json({"a", "b", "c"}));
  EXPECT_EQ(find(list, "sine")->at("formula"), "a*sin(w*x + phi) + c");
  // Widths are positive: lower bound 0, no upper bound (null).
  EXPECT_EQ(find(list, "gaussian")->at("bounds").at("sigma"), nlohmann::json({0.0, nullptr}));
  EXPECT_EQ(find(list, "linear")->at("bounds").at("a"), nlohmann::json({nullptr, nullptr}));
}

TEST(ModelsCli, TextListingShowsFormulasAndBounds) {
  const RunResult r = run({"models"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string& out = r.out;
  EXPECT_NE(out.find("a*exp(-b*x) + c"), std::string::npos);
  EXPECT_NE(out.find("exp_modified_gaussian"), std::string::npos);
  EXPECT_NE(out.find("sigma=1.2 in [0, inf]"), std::string::npos) << out;
}

}  // namespace
