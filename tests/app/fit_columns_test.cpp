// Which columns `curvefit fit` uses, end to end: named columns win over positions (a pandas index,
// "y,x", "idx,x,y,label"), an ambiguous file exits 3 with the listing, a formula's names that are
// columns are its predictors, and HDF5 datasets named like the CSV columns follow the same rule.
// The data are generated here without noise, so each fit must return the truth that made them.
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <H5Cpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "app/cli_util.h"

namespace curvefit::cli {
namespace {

// y = 3 exp(-0.7 x) + 1, the exponential model's a, b, c.
constexpr double kA = 3.0, kB = 0.7, kC = 1.0;
double decay(double x) { return kA * std::exp(-kB * x) + kC; }

// Rows of the decay at x = 0, 0.1, ..., 4.9 as text, one per line; `row` formats (i, x, y).
template <class Row>
std::string decay_table(const std::string& header, Row row) {
  std::string text = header + "\n";
  for (int i = 0; i < 50; ++i) text += row(i, 0.1 * i, decay(0.1 * i)) + "\n";
  return text;
}

std::string number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", v);
  return buffer;
}

void expect_decay_truth(const RunResult& r, const std::string& x_column, const std::string& y_column) {
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = r.json();
  EXPECT_EQ(j.at("columns").at("x"), nlohmann::json::array({x_column}));
  EXPECT_EQ(j.at("columns").at("y"), y_column);
  EXPECT_TRUE(j.at("columns").at("sigma").is_null());
  EXPECT_NEAR(param(j, "a"), kA, 1e-7);
  EXPECT_NEAR(param(j, "b"), kB, 1e-7);
  EXPECT_NEAR(param(j, "c"), kC, 1e-7);
}

TEST(FitColumns, PandasIndexColumnIsSkipped) {
  TempDir dir;
  const std::string file = dir / "pandas.csv";
  write_text(file, decay_table(",x,y", [](int i, double x, double y) {
               return std::to_string(i) + "," + number(x) + "," + number(y);
             }));
  expect_decay_truth(run({"fit", file, "--model", "exponential", "--json"}), "x", "y");
  const std::string renamed = dir / "pandas_t.csv";
  write_text(renamed, decay_table(",t,signal", [](int i, double x, double y) {
               return std::to_string(i) + "," + number(x) + "," + number(y);
             }));
  expect_decay_truth(run({"fit", renamed, "--model", "exponential", "--json"}), "t", "signal");
}

TEST(FitColumns, HeaderYThenXIsReadByName) {
  TempDir dir;
  const std::string file = dir / "yx.csv";
  write_text(file, decay_table("y,x", [](int, double x, double y) { return number(y) + "," + number(x); }));
  const RunResult r = run({"fit", file, "--model", "exponential", "--json"});
  expect_decay_truth(r, "x", "y");
  const RunResult report = run({"fit", file, "--model", "exponential"});
  EXPECT_NE(report.out.find("columns: x = x; y = y; sigma = none"), std::string::npos) << report.out;
}

TEST(FitColumns, IndexAndLabelColumnsAreLeftAlone) {
  TempDir dir;
  const std::string file = dir / "labelled.csv";
  write_text(file, decay_table("idx,x,y,label", [](int i, double x, double y) {
               return std::to_string(100 + i) + "," + number(x) + "," + number(y) + ",point" + std::to_string(i);
             }));
  expect_decay_truth(run({"fit", file, "--model", "exponential", "--json"}), "x", "y");
}

TEST(FitColumns, AmbiguousColumnsExitThreeWithTheListing) {
  TempDir dir;
  const std::string file = dir / "abc.csv";
  write_text(file, decay_table("a,b,c", [](int i, double x, double y) {
               return number(x) + "," + number(y) + "," + std::to_string(i);
             }));
  const RunResult r = run({"fit", file, "--model", "exponential", "--json"});
  EXPECT_EQ(r.exit_code, 3);
  const std::string message = file +
                              ":1:1: cannot tell which columns to fit: no column is named x or y, and 3 other columns "
                              "could be (columns: a, b, c); choose with --x NAME, --y NAME (and --sigma NAME for weights)";
  EXPECT_EQ(r.err, "curvefit: " + message + "\n");
  // With --json the failure is also one JSON object on stdout.
  const auto error = nlohmann::json::parse(r.out);
  EXPECT_EQ(error.at("status"), "error");
  EXPECT_EQ(error.at("exit_code"), 3);
  EXPECT_EQ(error.at("message"), message);
  // The options that choose make it fit.
  expect_decay_truth(run({"fit", file, "--model", "exponential", "--x", "a", "--y", "b", "--json"}), "a", "b");
}

TEST(FitColumns, UncertaintyColumnIsUsedOnlyWhenAskedAndTheReportSaysHow) {
  TempDir dir;
  const std::string file = dir / "sigma.csv";
  write_text(file, decay_table("t,y,sigma", [](int i, double x, double y) {
               return number(x) + "," + number(y) + "," + (i % 2 ? "0.1" : "0.2");
             }));
  const RunResult plain = run({"fit", file, "--model", "exponential", "--json"});
  expect_decay_truth(plain, "t", "y");
  EXPECT_NE(plain.out.find("--sigma sigma weights the fit"), std::string::npos) << plain.out;
  const RunResult weighted = run({"fit", file, "--model", "exponential", "--sigma", "sigma", "--json"});
  ASSERT_EQ(weighted.exit_code, 0) << weighted.err;
  EXPECT_EQ(weighted.json().at("columns").at("sigma"), "sigma");
}

// rate = A exp(-k temp) sin(w press) + B log(conc) at scattered points.
struct RateTable {
  std::vector<double> temp, press, conc, rate;
};
constexpr double kRateA = 2.0, kRateK = 0.7, kRateW = 1.3, kRateB = 0.5;
RateTable rate_table() {
  std::mt19937_64 random(42);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  RateTable t;
  for (int i = 0; i < 300; ++i) {
    t.temp.push_back(3.0 * unit(random));
    t.press.push_back(2.0 * unit(random));
    t.conc.push_back(0.5 + 4.5 * unit(random));
    t.rate.push_back(kRateA * std::exp(-kRateK * t.temp.back()) * std::sin(kRateW * t.press.back()) +
                     kRateB * std::log(t.conc.back()));
  }
  return t;
}

const char* const kRateModel = "A*exp(-k*temp)*sin(w*press)+B*log(conc)";

void expect_rate_truth(const RunResult& r, const std::vector<std::string>& x, const std::string& y) {
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = r.json();
  EXPECT_EQ(j.at("columns").at("x"), nlohmann::json(x));
  EXPECT_EQ(j.at("columns").at("y"), y);
  ASSERT_EQ(j.at("params").size(), 4u);  // temp, press and conc are not parameters
  EXPECT_NEAR(param(j, "A"), kRateA, 1e-8);
  EXPECT_NEAR(param(j, "k"), kRateK, 1e-8);
  EXPECT_NEAR(param(j, "w"), kRateW, 1e-8);
  EXPECT_NEAR(param(j, "B"), kRateB, 1e-8);
}

TEST(FitColumns, FormulaNamesThatAreColumnsArePredictors) {
  TempDir dir;
  const RateTable t = rate_table();
  std::string text = "temp,press,conc,rate\n";
  for (std::size_t i = 0; i < t.rate.size(); ++i)
    text += number(t.temp[i]) + "," + number(t.press[i]) + "," + number(t.conc[i]) + "," + number(t.rate[i]) + "\n";
  const std::string file = dir / "rate.csv";
  write_text(file, text);
  const std::vector<std::string> p0{"--p0", "A=1,k=1,w=1,B=1"};
  std::vector<std::string> args{"fit", file, "--model", kRateModel, "--y", "rate", "--json"};
  args.insert(args.end(), p0.begin(), p0.end());
  expect_rate_truth(run(args), {"temp", "press", "conc"}, "rate");
  // Without --y the one column left is the response.
  std::vector<std::string> no_y{"fit", file, "--model", kRateModel, "--json"};
  no_y.insert(no_y.end(), p0.begin(), p0.end());
  expect_rate_truth(run(no_y), {"temp", "press", "conc"}, "rate");
  // --x names them explicitly, in another order: the same fit.
  std::vector<std::string> explicit_x{"fit", file, "--model", kRateModel, "--x", "conc,temp,press", "--json"};
  explicit_x.insert(explicit_x.end(), p0.begin(), p0.end());
  expect_rate_truth(run(explicit_x), {"conc", "temp", "press"}, "rate");
  // A misspelt column leaves no predictor: exit 3 with the columns, not a constant fit.
  const RunResult typo = run({"fit", file, "--model", "A*exp(-k*tmp)", "--y", "rate"});
  EXPECT_EQ(typo.exit_code, 3);
  EXPECT_NE(typo.err.find("the formula uses no predictor"), std::string::npos) << typo.err;
  EXPECT_NE(typo.err.find("(columns: temp, press, conc, rate)"), std::string::npos) << typo.err;
}

TEST(FitColumns, Hdf5DatasetsFollowTheSameRule) {
  TempDir dir;
  const RateTable t = rate_table();
  const std::string file = dir / "rate.h5";
  {
    H5::H5File h5(file, H5F_ACC_TRUNC);
    const hsize_t dims[1] = {t.rate.size()};
    H5::DataSpace space(1, dims);
    h5.createGroup("/run");
    const std::vector<std::pair<const char*, const std::vector<double>*>> datasets{
        {"/run/temp", &t.temp}, {"/run/press", &t.press}, {"/run/conc", &t.conc}, {"/run/rate", &t.rate}};
    for (const auto& [name, values] : datasets)
      h5.createDataSet(name, H5::PredType::NATIVE_DOUBLE, space).write(values->data(), H5::PredType::NATIVE_DOUBLE);
  }
  expect_rate_truth(run({"fit", file, "--model", kRateModel, "--p0", "A=1,k=1,w=1,B=1", "--json"}),
                    {"/run/temp", "/run/press", "/run/conc"}, "/run/rate");
  expect_rate_truth(run({"fit", file, "--model", kRateModel, "--y", "rate", "--p0", "A=1,k=1,w=1,B=1", "--json"}),
                    {"/run/temp", "/run/press", "/run/conc"}, "/run/rate");
  // A built-in model on datasets that name neither x nor y, in no order: exit 3 with the listing.
  const RunResult r = run({"fit", file, "--model", "exponential"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("no column is named x or y"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(columns: /run/conc, /run/press, /run/rate, /run/temp)"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace curvefit::cli
