// What the report says on real fits: zero degrees of freedom is named as such; a robust loss says
// what the covariance is scaled by; the relative error of a value near zero is "n/a", never a
// 17-digit percentage; R-squared and RMSE say "unweighted" when sigma weights the fit; a fit no
// better than a constant carries a warning in the report and in the JSON `warnings` array.
#include <cmath>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "app/cli_util.h"

namespace curvefit::cli {
namespace {

// The report line that starts with `prefix` (after the indentation), or "".
std::string line_of(const std::string& report, const std::string& prefix) {
  std::istringstream in(report);
  for (std::string line; std::getline(in, line);)
    if (line.find_first_not_of(' ') != std::string::npos && line.substr(line.find_first_not_of(' ')).rfind(prefix, 0) == 0)
      return line;
  return "";
}

RunResult fit_report(const TempDir& dir, const std::string& name, const std::string& csv, std::vector<std::string> extra) {
  write_text(dir / name, csv);
  std::vector<std::string> args = {"fit", dir / name, "-q"};
  args.insert(args.end(), extra.begin(), extra.end());
  RunResult r = run(args);
  EXPECT_EQ(r.exit_code, 0) << join(args) << "\n" << r.err;
  return r;
}

TEST(ReportWording, ZeroDegreesOfFreedomIsNamed) {
  TempDir dir;
  const RunResult r = fit_report(dir, "two.csv", "x,y\n1,3\n2,5\n", {"--model", "linear"});
  EXPECT_NE(line_of(r.out, "a:").find("no degrees of freedom: 2 points for 2 free parameters"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("do not constrain"), std::string::npos) << r.out;
}

TEST(ReportWording, RobustLossSaysWhatTheCovarianceIsScaledBy) {
  TempDir dir;
  const std::string csv = "x,y\n0,1.1\n1,2.9\n2,5.2\n3,6.8\n4,9.1\n5,30\n6,13.2\n";
  const RunResult robust = fit_report(dir, "outlier.csv", csv, {"--model", "linear", "--loss", "soft_l1"});
  const std::string header = line_of(robust.out, "[[Variables]]");
  EXPECT_NE(header.find("scaled by sum rho(r^2) / dof of the soft_l1 loss"), std::string::npos) << header;
  EXPECT_NE(header.find("not by reduced chi-square"), std::string::npos) << header;
  const RunResult plain = fit_report(dir, "outlier.csv", csv, {"--model", "linear"});
  EXPECT_EQ(line_of(plain.out, "[[Variables]]"), "[[Variables]] (standard errors scaled by reduced chi-square)");
}

// y = 2x + noise that sums to zero on symmetric x: the intercept is zero up to rounding while its
// standard error is 0.05.
TEST(ReportWording, RelativeErrorOfAValueNearZeroIsNotApplicable) {
  TempDir dir;
  const RunResult r = fit_report(dir, "zero.csv", "x,y\n-2,-3.9\n-1,-2.1\n0,0\n1,1.9\n2,4.1\n", {"--model", "linear"});
  const std::string intercept = line_of(r.out, "b:");
  EXPECT_NE(intercept.find("(n/a: value near zero)"), std::string::npos) << intercept;
  EXPECT_EQ(intercept.find("%)"), std::string::npos) << intercept;
  // The slope keeps its percentage: 0.0365 / 2 = 1.83%.
  EXPECT_NE(line_of(r.out, "a:").find("(1.83%)"), std::string::npos) << r.out;
  // No percentage anywhere has more than 6 digits before the point.
  EXPECT_FALSE(std::regex_search(r.out, std::regex("[0-9]{7,}\\.[0-9]+%"))) << r.out;
}

TEST(ReportWording, RSquaredAndRmseSayUnweightedWhenSigmaIsGiven) {
  TempDir dir;
  const std::string csv = "x,y,s\n0,1.1,0.1\n1,2.9,0.2\n2,5.2,0.1\n3,6.8,0.3\n4,9.1,0.1\n";
  const RunResult weighted = fit_report(dir, "w.csv", csv, {"--model", "linear", "--sigma", "s"});
  EXPECT_NE(line_of(weighted.out, "R-squared").find("(unweighted)"), std::string::npos) << weighted.out;
  EXPECT_NE(line_of(weighted.out, "RMSE").find("(unweighted)"), std::string::npos) << weighted.out;
  const RunResult plain = fit_report(dir, "w.csv", csv, {"--model", "linear", "--x", "x", "--y", "y"});
  EXPECT_EQ(line_of(plain.out, "R-squared").find("unweighted"), std::string::npos) << plain.out;
}

// An exponential decay on t = 1000 ... 1010 started far away (a = 1: e^-500 is 0 in double) ends
// at the mean of y; the report and the JSON say so. From the guess, the same data fit and carry
// no warning.
TEST(ReportWording, AFitNoBetterThanAConstantCarriesAWarning) {
  TempDir dir;
  std::string csv = "t,y\n";
  for (int i = 0; i < 100; ++i) {
    const double t = 1000.0 + 10.0 * i / 99.0;
    csv += std::to_string(t) + "," + std::to_string(5.0 * std::exp(-0.5 * (t - 1000.0)) + 1.0) + "\n";
  }
  const std::vector<std::string> stuck = {"--model", "exponential", "--p0", "a=1,b=0.5,c=0"};
  const RunResult report = fit_report(dir, "late.csv", csv, stuck);
  EXPECT_NE(line_of(report.out, "warning:").find("no better than a constant"), std::string::npos) << report.out;
  std::vector<std::string> json_args = stuck;
  json_args.push_back("--json");
  const nlohmann::json j = fit_report(dir, "late.csv", csv, json_args).json();
  EXPECT_LE(j.at("r_squared").get<double>(), 0.0);
  ASSERT_EQ(j.at("warnings").size(), 1u) << j.dump();
  EXPECT_NE(j.at("warnings")[0].get<std::string>().find("no better than a constant"), std::string::npos);

  const nlohmann::json guessed = fit_report(dir, "late.csv", csv, {"--model", "exponential", "--json"}).json();
  EXPECT_GT(guessed.at("r_squared").get<double>(), 0.999);
  EXPECT_TRUE(guessed.at("warnings").empty()) << guessed.dump();
}

}  // namespace
}  // namespace curvefit::cli
