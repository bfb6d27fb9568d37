// `curvefit fit` end to end, through the real binary: the report, the JSON object, --output and
// --plot, exit codes, stdin, --fix, --bounds, robust loss, formulas naming CSV columns, recovery
// of known truth from `curvefit generate` data, and no partial output when a fit fails.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <boost/math/distributions/students_t.hpp>
#include <gtest/gtest.h>

#include "app/cli_util.h"

namespace curvefit::cli {
namespace {

// Truth of `generate --model exponential` (its example parameters): y = 5 exp(-0.5 x) + 1.
constexpr double kA = 5.0, kB = 0.5, kC = 1.0;
constexpr int kPoints = 2000;

double exponential(double x, double a, double b, double c) { return a * std::exp(-b * x) + c; }

struct Table {
  std::string header;
  std::vector<std::vector<double>> rows;
};
// A CSV written by curvefit: optional '#' comment lines, a header, numbers (read exactly).
Table read_table(const std::string& file) {
  Table t;
  std::istringstream in(read_text(file));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (t.header.empty()) {
      t.header = line;
      continue;
    }
    std::vector<double> row;
    std::stringstream fields(line);
    for (std::string f; std::getline(fields, f, ',');) {
      double v = 0;
      const auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
      EXPECT_TRUE(ec == std::errc() && p == f.data() + f.size()) << "bad number '" << f << "' in " << file;
      row.push_back(v);
    }
    t.rows.push_back(row);
  }
  return t;
}

class FitCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    csv_ = *dir_ / "exp.csv";
    const RunResult g = run({"generate", "--model", "exponential", "--points", std::to_string(kPoints), "--noise",
                             "0.05", "--seed", "7", "--out", csv_});
    ASSERT_EQ(g.exit_code, 0) << g.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static TempDir* dir_;
  static std::string csv_;
};
TempDir* FitCli::dir_ = nullptr;
std::string FitCli::csv_;

TEST_F(FitCli, ReportHasItsSectionsAndOneLinePerParameter) {
  const RunResult r = run({"fit", csv_, "--model", "exponential"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* section : {"[[Model]]", "[[Fit Statistics]]", "[[Variables]]", "[[Execution]]"})
    EXPECT_NE(r.out.find(section), std::string::npos) << section << "\n" << r.out;
  for (const char* line : {"status             = converged", "method             = trf", "chi-square ",
                           "reduced chi-square ", "R-squared ", "RMSE ", "Akaike info crit ",
                           "Bayesian info crit ", "full data passes ", "wall time ", "mode ", "measured peak RSS"})
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
  EXPECT_NE(r.out.find("degrees of freedom = " + std::to_string(kPoints - 3) + "\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("data points        = " + std::to_string(kPoints) + "\n"), std::string::npos) << r.out;
  // Each parameter: value +/- stderr (relative %), 95% CI [lo, hi]; the value is near the truth and
  // the interval is value -/+ t * stderr with t(1997) = 1.9612.
  const std::regex line(R"(\n    (\w+): +(\S+) \+/- (\S+) \((\S+)%\)  95% CI \[(\S+), (\S+)\])");
  int count = 0;
  const std::vector<std::pair<std::string, double>> truth = {{"a", kA}, {"b", kB}, {"c", kC}};
  for (std::sregex_iterator it(r.out.begin(), r.out.end(), line), end; it != end; ++it, ++count) {
    const auto& m = *it;
    ASSERT_LT(count, 3);
    EXPECT_EQ(m[1].str(), truth[static_cast<std::size_t>(count)].first);
    const double value = std::stod(m[2]), se = std::stod(m[3]), percent = std::stod(m[4]);
    const double lo = std::stod(m[5]), hi = std::stod(m[6]);
    EXPECT_NEAR(value, truth[static_cast<std::size_t>(count)].second, 5 * se) << m[0];
    EXPECT_NEAR(percent, 100 * se / std::abs(value), 0.006) << m[0];
    EXPECT_NEAR(lo, value - 1.9611520148 * se, 1e-6 * std::abs(value) + 1e-5 * se) << m[0];
    EXPECT_NEAR(hi, value + 1.9611520148 * se, 1e-6 * std::abs(value) + 1e-5 * se) << m[0];
  }
  EXPECT_EQ(count, 3) << r.out;
}

TEST_F(FitCli, JsonHasTheDocumentedSchemaAndConsistentStatistics) {
  const RunResult r = run({"fit", csv_, "--model", "exponential", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = r.json();
  EXPECT_EQ(j.at("status"), "converged");
  EXPECT_EQ(j.at("success"), true);
  EXPECT_TRUE(j.at("message").is_string() && !j.at("message").get<std::string>().empty());
  EXPECT_EQ(j.at("method"), "trf");
  EXPECT_EQ(j.at("mode"), "memory");  // 2000 points always fit in memory
  ASSERT_EQ(j.at("params").size(), 3u);
  const std::vector<std::string> names = {"a", "b", "c"};
  const std::vector<double> truth = {kA, kB, kC};
  const auto& cov = j.at("covariance");
  const auto& corr = j.at("correlation");
  ASSERT_EQ(cov.size(), 3u);
  ASSERT_EQ(corr.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& p = j.at("params")[i];
    EXPECT_EQ(p.at("name"), names[i]);
    const double v = p.at("value"), se = p.at("stderr");
    EXPECT_GT(se, 0);
    EXPECT_NEAR(v, truth[i], 5 * se) << names[i];
    ASSERT_EQ(cov[i].size(), 3u);
    EXPECT_NEAR(se, std::sqrt(cov[i][i].get<double>()), 1e-14 * se);
    EXPECT_NEAR(corr[i][i].get<double>(), 1.0, 1e-14);
    for (std::size_t k = 0; k < 3; ++k) {
      EXPECT_EQ(cov[i][k].get<double>(), cov[k][i].get<double>());
      const double expected = cov[i][k].get<double>() /
                              std::sqrt(cov[i][i].get<double>() * cov[k][k].get<double>());
      EXPECT_NEAR(corr[i][k].get<double>(), expected, 1e-13);
    }
  }
  EXPECT_EQ(j.at("n_points"), kPoints);
  EXPECT_EQ(j.at("dof"), kPoints - 3);
  const double chi2 = j.at("chi2"), cost = j.at("cost"), reduced = j.at("reduced_chi2");
  EXPECT_NEAR(cost, 0.5 * chi2, 1e-12 * chi2);  // linear loss, no sigma
  EXPECT_NEAR(reduced, chi2 / (kPoints - 3), 1e-14 * reduced);
  // The noise is 0.05: reduced chi-square estimates its variance.
  EXPECT_NEAR(reduced, 0.05 * 0.05, 0.1 * 0.05 * 0.05);
  EXPECT_GT(j.at("r_squared").get<double>(), 0.99);
  EXPECT_LE(j.at("r_squared").get<double>(), 1.0);
  EXPECT_GE(j.at("nfev").get<int>(), 1);
  EXPECT_GE(j.at("njev").get<int>(), 1);
  EXPECT_GE(j.at("passes").get<long>(), 1);
  const auto& memory = j.at("memory");
  for (const char* key : {"limit_bytes", "predicted_peak_bytes", "peak_rss_bytes"}) {
    ASSERT_TRUE(memory.at(key).is_number_unsigned()) << key;
    EXPECT_GT(memory.at(key).get<std::size_t>(), 0u) << key;
  }
  EXPECT_GE(j.at("time_s").get<double>(), 0.0);
}

// Every number in the JSON text is in shortest round-trip form: parsing it gives a double whose
// shortest representation is the same text.
TEST_F(FitCli, JsonNumbersAreWrittenInShortestRoundTripForm) {
  const RunResult r = run({"fit", csv_, "--model", "exponential", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::regex number(R"([-+]?\d+\.\d*(?:[eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+)");
  int checked = 0;
  for (std::sregex_iterator it(r.out.begin(), r.out.end(), number), end; it != end; ++it) {
    const std::string token = it->str();
    // Skip digits inside strings (the version "0.1.0", the formula).
    const auto before = r.out.rfind('\n', static_cast<std::size_t>(it->position()));
    const std::string line_start = r.out.substr(before + 1, static_cast<std::size_t>(it->position()) - before - 1);
    if (std::count(line_start.begin(), line_start.end(), '"') % 2 == 1) continue;
    double v = 0;
    std::from_chars(token.data(), token.data() + token.size(), v);
    char shortest[40];
    const auto [p, ec] = std::to_chars(shortest, shortest + sizeof shortest, v);
    double again = 0;
    std::from_chars(shortest, p, again);
    EXPECT_EQ(again, v);
    // Same number of significant digits as the shortest form (the spelling may differ: 1e-05 vs 1e-5).
    auto digits = [](const std::string& s) {
      std::string mantissa = s.substr(0, s.find_first_of("eE"));
      mantissa.erase(std::remove_if(mantissa.begin(), mantissa.end(), [](char c) { return !std::isdigit(c); }),
                     mantissa.end());
      mantissa.erase(0, mantissa.find_first_not_of('0'));
      while (!mantissa.empty() && mantissa.back() == '0') mantissa.pop_back();
      return mantissa.size();
    };
    EXPECT_LE(digits(token), std::max<std::size_t>(1, digits(std::string(shortest, p)))) << token;
    ++checked;
  }
  EXPECT_GT(checked, 20);
}

// The reported covariance (JSON) as a matrix.
Eigen::Matrix3d covariance_of(const nlohmann::json& j) {
  Eigen::Matrix3d c;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) c(a, b) = j["covariance"][a][b].get<double>();
  return c;
}

// The band half-widths the delta method gives with the reported covariance and exact derivatives
// of a exp(-b x) + c: t sqrt(g^T C g), and with the residual variance s2 added.
std::pair<double, double> exponential_band(double x, double a, double b, const Eigen::Matrix3d& covariance,
                                           double t, double s2) {
  const double e = std::exp(-b * x);
  const Eigen::Vector3d g(e, -a * x * e, 1.0);
  const double variance = g.dot(covariance * g);
  return {t * std::sqrt(variance), t * std::sqrt(variance + s2)};
}

double t_quantile(double level, long dof) {
  return boost::math::quantile(boost::math::students_t(static_cast<double>(dof)), 0.5 + 0.5 * level);
}

TEST_F(FitCli, OutputCsvHoldsEveryPointItsFitResidualAndBands) {
  const std::string out = *dir_ / "fitted.csv";
  const RunResult r = run({"fit", csv_, "--model", "exponential", "--json", "--output", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = r.json();
  const double a = param(j, "a"), b = param(j, "b"), c = param(j, "c");
  const Eigen::Matrix3d covariance = covariance_of(j);
  const double t = t_quantile(0.95, j["dof"].get<long>()), s2 = j["reduced_chi2"].get<double>();
  const Table data = read_table(csv_);
  const Table fitted = read_table(out);
  EXPECT_EQ(fitted.header, "x,y,fit,residual,fit_lower95,fit_upper95,pred_lower95,pred_upper95");
  ASSERT_EQ(fitted.rows.size(), static_cast<std::size_t>(kPoints));
  ASSERT_EQ(data.rows.size(), static_cast<std::size_t>(kPoints));
  for (std::size_t i = 0; i < fitted.rows.size(); ++i) {
    const auto& row = fitted.rows[i];
    ASSERT_EQ(row.size(), 8u) << "row " << i;
    EXPECT_EQ(row[0], data.rows[i][0]) << "row " << i;
    EXPECT_EQ(row[1], data.rows[i][1]) << "row " << i;
    const double expected = exponential(row[0], a, b, c);
    EXPECT_NEAR(row[2], expected, 1e-13 * std::abs(expected)) << "row " << i;
    EXPECT_EQ(row[3], row[1] - row[2]) << "row " << i;
    const auto [confidence, prediction] = exponential_band(row[0], a, b, covariance, t, s2);
    EXPECT_NEAR(row[2] - row[4], confidence, 1e-8 * confidence) << "row " << i;
    EXPECT_NEAR(row[5] - row[2], confidence, 1e-8 * confidence) << "row " << i;
    EXPECT_NEAR(row[2] - row[6], prediction, 1e-8 * prediction) << "row " << i;
    EXPECT_NEAR(row[7] - row[2], prediction, 1e-8 * prediction) << "row " << i;
  }
  std::remove(out.c_str());
}

// --band-level, --cov robust (the band follows the sandwich covariance) and every mode: the same
// band, from the covariance each run reports.
TEST_F(FitCli, OutputBandsFollowTheLevelTheCovarianceAndAgreeInEveryMode) {
  std::vector<double> reference;
  for (const char* mode : {"memory", "chunked", "stream"}) {
    const std::string out = *dir_ / (std::string("band-") + mode + ".csv");
    const RunResult r = run({"fit", csv_, "--model", "exponential", "--json", "--output", out, "--band-level", "0.9",
                             "--cov", "robust", "--mode", mode, "--chunk-size", "300"});
    ASSERT_EQ(r.exit_code, 0) << mode << ": " << r.err;
    const nlohmann::json j = r.json();
    EXPECT_EQ(j["covariance_kind"], "hc1");
    const Eigen::Matrix3d covariance = covariance_of(j);
    const double t = t_quantile(0.9, j["dof"].get<long>()), s2 = j["reduced_chi2"].get<double>();
    const Table fitted = read_table(out);
    EXPECT_EQ(fitted.header, "x,y,fit,residual,fit_lower90,fit_upper90,pred_lower90,pred_upper90") << mode;
    ASSERT_EQ(fitted.rows.size(), static_cast<std::size_t>(kPoints)) << mode;
    for (std::size_t i = 0; i < fitted.rows.size(); ++i) {
      const auto& row = fitted.rows[i];
      const auto [confidence, prediction] = exponential_band(row[0], param(j, "a"), param(j, "b"), covariance, t, s2);
      EXPECT_NEAR(row[5] - row[2], confidence, 1e-8 * confidence) << mode << " row " << i;
      EXPECT_NEAR(row[7] - row[2], prediction, 1e-8 * prediction) << mode << " row " << i;
      if (reference.size() < fitted.rows.size()) {
        reference.push_back(row[5]);
      } else {
        EXPECT_NEAR(row[5], reference[i], 1e-8 * std::abs(reference[i])) << mode << " row " << i;
      }
    }
    std::remove(out.c_str());
  }
  const RunResult bad = run({"fit", csv_, "--model", "exponential", "--output", *dir_ / "x.csv", "--band-level", "1"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--band-level"), std::string::npos) << bad.err;
  const RunResult unused = run({"fit", csv_, "--model", "exponential", "--band-level", "0.9"});  // no band to set
  EXPECT_EQ(unused.exit_code, 2);
  EXPECT_NE(unused.err.find("--band-level"), std::string::npos) << unused.err;
}

// The number of times `what` occurs in `text`.
std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

TEST_F(FitCli, PlotIsWellFormedSvgWithTheDataAndTheFit) {
  if (std::system("xmllint --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "xmllint not installed";
  const std::string svg = *dir_ / "fit.svg";
  const RunResult r = run({"fit", csv_, "--model", "exponential", "--plot", svg, "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = read_text(svg);
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_NE(text.find("</svg>"), std::string::npos);
  // Every point drawn (2000 are few enough), and the fitted curve.
  const auto data = text.find("<g class=\"data\"");
  ASSERT_NE(data, std::string::npos);
  EXPECT_EQ(occurrences(text.substr(data, text.find("</g>", data) - data), "<circle "), std::size_t{kPoints});
  EXPECT_NE(text.find("<path class=\"fit\" d=\"M"), std::string::npos);
  EXPECT_EQ(std::system(("xmllint --noout " + svg).c_str()), 0) << text.substr(0, 400);
  std::remove(svg.c_str());
}

// The plot shades the confidence band at --band-level, and names it in the legend.
TEST_F(FitCli, PlotShadesTheConfidenceBandAtTheBandLevel) {
  const std::string svg = *dir_ / "band.svg";
  const RunResult r = run({"fit", csv_, "--model", "exponential", "--plot", svg, "--band-level", "0.9", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = read_text(svg);
  EXPECT_EQ(occurrences(text, "<path class=\"band\" d=\"M"), 1u);
  EXPECT_EQ(occurrences(text, ">90% confidence band<"), 1u);
  EXPECT_LT(text.find("class=\"band\""), text.find("class=\"fit\""));  // under the curve
  std::remove(svg.c_str());
}

TEST_F(FitCli, PlotDrawsOneErrorBarPerRowWithSigmaOnALogAxis) {
  const std::string svg = *dir_ / "sigma.svg";
  const RunResult r = run({"fit", std::string(CURVEFIT_SOURCE_DIR) + "/data/decay.csv", "--x", "t", "--y", "y",
                           "--sigma", "sigma", "--model", "exponential", "--plot", svg, "--plot-log", "y"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = read_text(svg);
  const auto bars = text.find("<g class=\"error-bars\"");
  ASSERT_NE(bars, std::string::npos);
  EXPECT_EQ(occurrences(text.substr(bars, text.find("</g>", bars) - bars), "<line "), 201u);  // the file's rows
  EXPECT_EQ(r.out.find("not drawn"), std::string::npos) << r.out;  // every y is positive
}

TEST_F(FitCli, PlotOfATwoPredictorModelShowsObservedAgainstFitted) {
  const std::string data = *dir_ / "plane.csv", svg = *dir_ / "plane.svg";
  ASSERT_EQ(run({"generate", "--model", "plane", "--points", "400", "--noise", "0.1", "--out", data}).exit_code, 0);
  const RunResult r = run({"fit", data, "--model", "plane", "--plot", svg, "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = read_text(svg);
  EXPECT_NE(text.find(">fitted</text>"), std::string::npos);
  EXPECT_NE(text.find(">row</text>"), std::string::npos);
  EXPECT_NE(text.find(">observed = fitted</text>"), std::string::npos);
}

TEST_F(FitCli, QuietKeepsTheReportAndDropsItsNotesAndTheReadersNotes) {
  TempDir dir;
  const std::string data = dir / "gap.csv";
  write_text(data, "x,y\n0,1\n1,3.1\n2,nan\n3,6.9\n4,9\n5,11.1\n");
  const std::vector<std::string> args = {"fit", data, "--model", "linear", "--nan-policy", "omit"};
  const RunResult loud = run(args);
  ASSERT_EQ(loud.exit_code, 0) << loud.err;
  EXPECT_NE(loud.err.find("omitted 1 row"), std::string::npos) << loud.err;
  EXPECT_NE(loud.out.find("note:"), std::string::npos) << loud.out;
  std::vector<std::string> quiet_args = args;
  quiet_args.push_back("-q");
  const RunResult quiet = run(quiet_args);
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
  EXPECT_EQ(quiet.out.find("note:"), std::string::npos) << quiet.out;
  EXPECT_NE(quiet.out.find("[[Variables]]"), std::string::npos) << quiet.out;
  // Errors still reach stderr.
  write_text(data, "x,y\n0,1\n1,abc\n");
  const RunResult bad = run({"fit", data, "--model", "linear", "-q"});
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_NE(bad.err.find(data + ":3:"), std::string::npos) << bad.err;
}

TEST_F(FitCli, LmSaysWhichNaturalBoundsItDoesNotApply) {
  TempDir dir;
  const std::string data = dir / "peak.csv";
  ASSERT_EQ(run({"generate", "--model", "gaussian", "--points", "300", "--noise", "0.02", "--out", data}).exit_code, 0);
  auto notes_of = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"fit", data, "--model", "gaussian", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    const RunResult r = run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json j = r.json();
    std::string notes;
    for (const auto& note : j.at("notes")) notes += note.get<std::string>() + "\n";
    return notes;
  };
  EXPECT_NE(notes_of({"--method", "lm"}).find("lm does not apply gaussian's natural bounds (sigma in [0, inf])"),
            std::string::npos);
  EXPECT_EQ(notes_of({"--method", "trf"}).find("natural bounds"), std::string::npos);
  EXPECT_EQ(notes_of({"--method", "lm", "--no-natural-bounds"}).find("natural bounds"), std::string::npos);
}

TEST_F(FitCli, MaxEvaluationsExitsOneWithJson) {
  const RunResult r = run({"fit", csv_, "--model", "exponential", "--p0", "a=1,b=3,c=0", "--max-nfev", "2", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const nlohmann::json j = r.json();
  EXPECT_EQ(j.at("status"), "max_evaluations");
  EXPECT_EQ(j.at("success"), false);
  EXPECT_LE(j.at("nfev").get<int>(), 2);
}

TEST_F(FitCli, UsageErrorsExitTwoWithAMessage) {
  const std::vector<std::vector<std::string>> cases = {
      {"fit", csv_, "--model", "exponential", "--no-such-option"},
      {"fit", csv_, "--model", "exponential", "--p0", "a=abc"},
      {"fit", csv_, "--model", "exponential", "--p0", "zz=1"},
      {"fit", csv_, "--model", "exponential", "--bounds", "b=1"},
      {"fit", csv_, "--model", "exponential", "--bounds", "b=x:1"},
      {"fit", csv_, "--model", "exponential", "--method", "newton"},
      {"fit", csv_, "--model", "exponential", "--plot", *dir_ / "p.svg", "--plot-log", "z"},
      {"fit", csv_, "--model", "exponential", "--plot-log", "y"},  // needs --plot
      {"fit", csv_},
  };
  for (const auto& args : cases) {
    const RunResult r = run(args);
    EXPECT_EQ(r.exit_code, 2) << join(args) << "\n" << r.err;
    EXPECT_FALSE(r.err.empty()) << join(args);
    EXPECT_TRUE(r.out.empty()) << join(args) << "\n" << r.out;
  }
}

TEST_F(FitCli, TyposGetTheNearestNameSuggested) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"fitt", csv_, "--model", "exponential"}, "unknown command 'fitt'; did you mean `fit`?"},
      {{"gnerate", "--points", "3"}, "did you mean `generate`?"},
      {{"fit", csv_, "--model", "exponential", "--plto", "a.svg"},
       "unknown option --plto for `fit`; did you mean --plot?"},
      {{"fit", csv_, "--model", "exponential", "--nan-polcy=omit"}, "did you mean --nan-policy?"},
      {{"fit", csv_, "--model", "exponential", "-x", "t"}, "did you mean --x?"},
      {{"models", "--jsno"}, "unknown option --jsno for `models`; did you mean --json?"},
      {{"--verison"}, "did you mean --version?"},
      {{"xyz"}, "unknown command 'xyz' (see curvefit --help)"},
  };
  for (const auto& [args, expected] : cases) {
    const RunResult r = run(args);
    EXPECT_EQ(r.exit_code, 2) << join(args);
    EXPECT_NE(r.err.find(expected), std::string::npos) << join(args) << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  // Nothing near: CLI11's own message, no guess.
  const RunResult far = run({"fit", csv_, "--model", "exponential", "--zzzzzz"});
  EXPECT_EQ(far.exit_code, 2);
  EXPECT_EQ(far.err.find("did you mean"), std::string::npos) << far.err;
}

TEST_F(FitCli, BadDataExitsThreeWithOneFileLineColumnLine) {
  TempDir dir;
  const std::string bad = dir / "bad.csv";
  write_text(bad, "x,y\n1,2\n2,3.5\n3,abc\n4,5\n");
  const RunResult r = run({"fit", bad, "--model", "linear"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(bad + ":4:3: "), std::string::npos) << r.err;
}

TEST_F(FitCli, BadModelExitsThreeWithACaret) {
  const RunResult r = run({"fit", csv_, "--model", "a*exp(-b*x"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find('^'), std::string::npos) << r.err;
  const RunResult unknown = run({"fit", csv_, "--model", "no_such_model"});
  EXPECT_EQ(unknown.exit_code, 3) << unknown.err;
}

TEST_F(FitCli, ImpossibleMemoryLimitExitsFour) {
  const RunResult r = run({"fit", csv_, "--model", "exponential", "--memory-limit", "1KB"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_FALSE(r.err.empty());
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST_F(FitCli, ReadsCsvFromStdin) {
  std::string text = "x,y\n";
  for (int i = 0; i < 30; ++i) {
    const double x = 0.25 * i;
    char line[80];
    std::snprintf(line, sizeof line, "%.17g,%.17g\n", x, 2.5 * x - 4.0);
    text += line;
  }
  const RunResult r = run_with_stdin({"fit", "-", "--model", "linear", "--json"}, text);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = r.json();
  EXPECT_NEAR(param(j, "a"), 2.5, 1e-10);
  EXPECT_NEAR(param(j, "b"), -4.0, 1e-10);
  EXPECT_EQ(j.at("n_points"), 30);
}

TEST_F(FitCli, FixHoldsAParameterAndFreesTheOthers) {
  const RunResult r = run({"fit", csv_, "--model", "exponential", "--fix", "c=1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = r.json();
  EXPECT_EQ(param(j, "c"), 1.0);
  EXPECT_EQ(param(j, "c", "stderr"), 0.0);
  EXPECT_EQ(j.at("dof"), kPoints - 2);
  EXPECT_NEAR(param(j, "a"), kA, 5 * param(j, "a", "stderr"));
  EXPECT_NEAR(param(j, "b"), kB, 5 * param(j, "b", "stderr"));
  for (const auto& p : j.at("params")) EXPECT_EQ(p.at("fixed"), p.at("name") == "c");
}

TEST_F(FitCli, BoundsHoldAParameterAtAnActiveBound) {
  // The truth b = 0.5 lies outside [0, 0.3]: the fit ends on the upper bound.
  const RunResult r = run({"fit", csv_, "--model", "exponential", "--bounds", "b=0:0.3", "--json"});
  ASSERT_LE(r.exit_code, 1) << r.err;
  const nlohmann::json j = r.json();
  // TRF keeps its iterates strictly inside the bounds (as scipy): on the bound to rounding.
  EXPECT_NEAR(param(j, "b"), 0.3, 1e-12);
  EXPECT_LE(param(j, "b"), 0.3);
  for (const auto& p : j.at("params"))
    if (p.at("name") == "b") {
      EXPECT_EQ(p.at("active"), 1);
    }
  const RunResult text = run({"fit", csv_, "--model", "exponential", "--bounds", "b=0:0.3"});
  EXPECT_NE(text.out.find("at upper bound"), std::string::npos) << text.out;
}

TEST_F(FitCli, SoftL1LossRecoversTheTruthDespiteOutliers) {
  TempDir dir;
  const std::string file = dir / "outliers.csv";
  std::mt19937_64 random(11);
  std::normal_distribution<double> noise(0.0, 0.02);
  std::string text = "x,y\n";
  for (int i = 0; i < 400; ++i) {
    const double x = 10.0 * i / 399.0;
    double y = exponential(x, kA, kB, kC) + noise(random);
    if (i % 10 == 3) y += 4.0;  // 10% gross outliers, all upward
    char line[80];
    std::snprintf(line, sizeof line, "%.17g,%.17g\n", x, y);
    text += line;
  }
  write_text(file, text);
  const RunResult plain = run({"fit", file, "--model", "exponential", "--json"});
  const RunResult robust = run({"fit", file, "--model", "exponential", "--loss", "soft_l1", "--f-scale", "0.05", "--json"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  ASSERT_EQ(robust.exit_code, 0) << robust.err;
  // Least squares is pulled up by the outliers (c ~ 1.4); soft_l1 is not.
  EXPECT_GT(std::abs(param(plain.json(), "c") - kC), 0.2);
  const nlohmann::json j = robust.json();
  EXPECT_EQ(j.at("loss"), "soft_l1");
  EXPECT_NEAR(param(j, "a"), kA, 0.05);
  EXPECT_NEAR(param(j, "b"), kB, 0.01);
  EXPECT_NEAR(param(j, "c"), kC, 0.02);
}

TEST_F(FitCli, FormulaUsesTheCsvColumnNamedByX) {
  TempDir dir;
  const std::string file = dir / "decay.csv";
  std::string text = "t,signal\n";
  for (int i = 0; i < 50; ++i) {
    const double t = 0.1 * i;
    char line[80];
    std::snprintf(line, sizeof line, "%.17g,%.17g\n", t, 3.0 * std::exp(-0.7 * t));
    text += line;
  }
  write_text(file, text);
  const RunResult r = run({"fit", file, "--x", "t", "--y", "signal", "--model", "a*exp(-k*t)", "--p0", "a=2,k=0.3",
                           "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = r.json();
  ASSERT_EQ(j.at("params").size(), 2u);
  EXPECT_NEAR(param(j, "a"), 3.0, 1e-9);
  EXPECT_NEAR(param(j, "k"), 0.7, 1e-9);
  // Without --p0 a formula starts at 1 and says so.
  const RunResult ones = run({"fit", file, "--x", "t", "--y", "signal", "--model", "a*exp(-k*t)"});
  ASSERT_EQ(ones.exit_code, 0) << ones.err;
  EXPECT_NE(ones.out.find("starting at 1"), std::string::npos) << ones.out;
}

// Built-in models from their own guesses (no --p0), CSV and HDF5: every parameter within 5
// standard errors of the truth `generate` used (the model's example parameters).
TEST_F(FitCli, RecoversGeneratedTruthFromTheGuessWithinFiveStandardErrors) {
  struct Case {
    std::string model;
    std::vector<std::pair<std::string, double>> truth;  // the example parameters
  };
  const std::vector<Case> cases = {
      {"exponential", {{"a", 5.0}, {"b", 0.5}, {"c", 1.0}}},
      {"gaussian", {{"a", 3.0}, {"mu", 5.0}, {"sigma", 1.2}}},
      {"lorentzian", {{"a", 3.0}, {"x0", 5.0}, {"gamma", 0.8}}},
      {"logistic", {{"a", 4.0}, {"k", 1.5}, {"x0", 5.0}, {"c", 0.5}}},
      {"michaelis_menten", {{"vmax", 5.0}, {"km", 1.5}}},
  };
  TempDir dir;
  for (const auto& c : cases) {
    for (const char* extension : {".csv", ".h5"}) {
      const std::string file = dir / (c.model + extension);
      const RunResult g = run({"generate", "--model", c.model, "--points", "3000", "--noise", "0.05", "--seed", "5",
                               "--out", file});
      ASSERT_EQ(g.exit_code, 0) << g.err;
      const RunResult r = run({"fit", file, "--model", c.model, "--json"});
      ASSERT_EQ(r.exit_code, 0) << c.model << extension << "\n" << r.err;
      const nlohmann::json j = r.json();
      for (const auto& [name, truth] : c.truth) {
        const double se = param(j, name, "stderr");
        EXPECT_GT(se, 0) << c.model << " " << name;
        EXPECT_NEAR(param(j, name), truth, 5 * se) << c.model << extension << " " << name;
      }
    }
  }
}

// A failing run leaves neither the output files nor their temporary names behind.
TEST_F(FitCli, NoPartialOutputWhenTheFitFails) {
  TempDir dir;
  const std::string bad = dir / "bad.csv";
  std::string text = "x,y\n";
  for (int i = 0; i < 1000; ++i) text += std::to_string(i) + "," + std::to_string(2 * i + 1) + "\n";
  text += "1000,oops\n";
  write_text(bad, text);
  for (const char* mode : {"auto", "stream"}) {
    const RunResult r = run({"fit", bad, "--model", "linear", "--mode", mode, "--output", dir / "out.csv", "--plot",
                             dir / "out.svg"});
    EXPECT_EQ(r.exit_code, 3) << mode << "\n" << r.err;
    EXPECT_EQ(dir.files(), std::vector<std::string>{"bad.csv"}) << mode;
  }
  const RunResult model = run({"fit", bad, "--model", "a*x+", "--output", dir / "out.csv"});
  EXPECT_EQ(model.exit_code, 3) << model.err;
  EXPECT_EQ(dir.files(), std::vector<std::string>{"bad.csv"});
}

}  // namespace
}  // namespace curvefit::cli
