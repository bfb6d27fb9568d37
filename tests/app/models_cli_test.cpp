// `curvefit models`: the JSON listing is complete and well formed; the text listing is readable.
#include <cmath>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

// Runs a shell command, returning its stdout and exit status.
std::string run(const std::string& command, int* status) {
  std::string output;
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return output;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  const int raw = ::pclose(pipe);
  *status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return output;
}

nlohmann::json models_json() {
  int status = -1;
  const std::string out = run(std::string(CURVEFIT_BINARY) + " models --json", &status);
  EXPECT_EQ(status, 0);
  return nlohmann::json::parse(out);
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

TEST(ModelsCli, TextListingShowsFormulas) {
  int status = -1;
  const std::string out = run(std::string(CURVEFIT_BINARY) + " models", &status);
  EXPECT_EQ(status, 0);
  EXPECT_NE(out.find("a*exp(-b*x) + c"), std::string::npos);
  EXPECT_NE(out.find("exp_modified_gaussian"), std::string::npos);
  EXPECT_NE(out.find("sigma=1.2 in [0, inf]"), std::string::npos) << out;
}

}  // namespace
