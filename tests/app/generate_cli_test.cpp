// `curvefit generate`: the files hold the model at the true parameters on the documented points,
// the noise is what was asked for and reproducible, chunking does not change the data, and bad
// arguments fail cleanly without leaving files behind.
#include <H5Cpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "app/cli_util.h"

namespace fs = std::filesystem;

namespace {

using curvefit::cli::run;
using curvefit::cli::RunResult;

// The exit code of `curvefit ARGS`.
int exit_code(const std::vector<std::string>& args) { return run(args).exit_code; }

class GenerateCli : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_ / name; }
  // The files in the folder (no leftover temporaries).
  std::vector<std::string> files() const { return dir_.files(); }
  curvefit::cli::TempDir dir_;
};

struct Csv {
  std::string comment, header;
  std::vector<std::vector<double>> rows;
};
Csv read_csv(const std::string& file) {
  Csv csv;
  std::ifstream in(file);
  std::getline(in, csv.comment);
  std::getline(in, csv.header);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<double> row;
    std::stringstream fields(line);
    std::string field;
    while (std::getline(fields, field, ',')) row.push_back(std::strtod(field.c_str(), nullptr));
    csv.rows.push_back(row);
  }
  return csv;
}

std::vector<double> read_dataset(const H5::H5File& file, const std::string& name) {
  const H5::DataSet dataset = file.openDataSet(name);
  hsize_t size = 0;
  dataset.getSpace().getSimpleExtentDims(&size);
  std::vector<double> values(size);
  dataset.read(values.data(), H5::PredType::NATIVE_DOUBLE);
  return values;
}

std::string file_bytes(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(GenerateCli, CsvHoldsTheExampleCurveOnEvenlySpacedPoints) {
  ASSERT_EQ(
      exit_code({"generate", "--model", "exponential", "--points", "1001", "--out", path("e.csv")}),
      0);
  const Csv csv = read_csv(path("e.csv"));
  EXPECT_EQ(csv.comment.rfind("# curvefit generate --model exponential", 0), 0u) << csv.comment;
  EXPECT_NE(csv.comment.find("a=5,b=0.5,c=1"), std::string::npos) << csv.comment;
  EXPECT_EQ(csv.header, "x,y");
  ASSERT_EQ(csv.rows.size(), 1001u);
  for (std::size_t i = 0; i < csv.rows.size(); ++i) {
    const double x = csv.rows[i][0], y = csv.rows[i][1];
    EXPECT_NEAR(x, 10.0 * static_cast<double>(i) / 1000.0, 1e-13);
    EXPECT_NEAR(y, 5.0 * std::exp(-0.5 * x) + 1.0, 1e-14 * std::abs(y));
  }
  EXPECT_EQ(files(), std::vector<std::string>{"e.csv"});
}

TEST_F(GenerateCli, ParametersAndRangeFromTheCommandLineShapeTheCurve) {
  ASSERT_EQ(exit_code({"generate", "--model", "sine", "--points", "501", "--params", "a=3,w=2",
                       "--x-range", "-2:4", "--out", path("s.csv")}),
            0);
  const Csv csv = read_csv(path("s.csv"));
  ASSERT_EQ(csv.rows.size(), 501u);
  EXPECT_DOUBLE_EQ(csv.rows.front()[0], -2.0);
  EXPECT_DOUBLE_EQ(csv.rows.back()[0], 4.0);
  for (const auto& row : csv.rows)  // phi and c keep their example values 0.5 and 1
    EXPECT_NEAR(row[1], 3.0 * std::sin(2.0 * row[0] + 0.5) + 1.0, 1e-14 * 4);
}

TEST_F(GenerateCli, TwoPredictorsOnARowByRowGrid) {
  ASSERT_EQ(exit_code({"generate", "--model", "plane", "--points", "14", "--x-range", "-1:1",
                       "--out", path("p.csv")}),
            0);
  const Csv csv = read_csv(path("p.csv"));
  EXPECT_EQ(csv.header, "x1,x2,y");
  ASSERT_EQ(csv.rows.size(), 14u);  // side 4: three full rows and two points of the fourth
  for (std::size_t i = 0; i < csv.rows.size(); ++i) {
    const double x1 = -1 + 2 * static_cast<double>(i % 4) / 3,
                 x2 = -1 + 2 * static_cast<double>(i / 4) / 3;
    EXPECT_NEAR(csv.rows[i][0], x1, 1e-15);
    EXPECT_NEAR(csv.rows[i][1], x2, 1e-15);
    EXPECT_NEAR(csv.rows[i][2], 1.5 * x1 - 0.5 * x2 + 2.0, 1e-14);
  }
}

TEST_F(GenerateCli, Hdf5HoldsTheCurveAndTheTrueParameters) {
  ASSERT_EQ(exit_code({"generate", "--model", "gaussian", "--points", "3e5", "--chunk-points",
                       "70000", "--out", path("g.h5")}),
            0);
  const H5::H5File file(path("g.h5"), H5F_ACC_RDONLY);
  const std::vector<double> x = read_dataset(file, "/x"), y = read_dataset(file, "/y");
  ASSERT_EQ(x.size(), 300000u);
  ASSERT_EQ(y.size(), 300000u);
  for (std::size_t i = 0; i < x.size(); i += 997) {
    EXPECT_NEAR(x[i], 10.0 * static_cast<double>(i) / 299999.0, 1e-13);
    const double d = x[i] - 5.0;
    EXPECT_NEAR(y[i], 3.0 * std::exp(-d * d / (2 * 1.2 * 1.2)), 1e-14 * 3);
  }
  double params[3] = {0, 0, 0};
  file.openAttribute("param_values").read(H5::PredType::NATIVE_DOUBLE, params);
  EXPECT_EQ(params[0], 3.0);
  EXPECT_EQ(params[1], 5.0);
  EXPECT_EQ(params[2], 1.2);
  const H5::Attribute names = file.openAttribute("param_names");
  std::string text;
  names.read(names.getStrType(), text);
  EXPECT_EQ(text, "a,mu,sigma");
  EXPECT_EQ(files(), std::vector<std::string>{"g.h5"});
}

TEST_F(GenerateCli, Hdf5TwoPredictorsHoldTheGaussianOnTheGrid) {
  ASSERT_EQ(
      exit_code({"generate", "--model", "gaussian2d", "--points", "400", "--out", path("g2.h5")}),
      0);
  const H5::H5File file(path("g2.h5"), H5F_ACC_RDONLY);
  const auto x1 = read_dataset(file, "/x1"), x2 = read_dataset(file, "/x2"),
             y = read_dataset(file, "/y");
  ASSERT_EQ(y.size(), 400u);
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double d1 = x1[i] - 0.5, d2 = x2[i] + 0.3;
    EXPECT_NEAR(y[i], 3.0 * std::exp(-(d1 * d1 / (2 * 1.44) + d2 * d2 / (2 * 0.64))) + 0.2,
                1e-14 * 4);
  }
}

TEST_F(GenerateCli, NoiseHasTheRequestedSpreadAndIsReproducible) {
  const std::vector<std::string> base = {"generate", "--model", "linear", "--points",
                                         "20000",    "--noise", "0.5"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), base.begin(), base.end());
    return more;
  };
  ASSERT_EQ(exit_code(with({"--seed", "7", "--out", path("a.csv")})), 0);
  ASSERT_EQ(exit_code(with({"--seed", "7", "--chunk-points", "333", "--out", path("b.csv")})), 0);
  ASSERT_EQ(exit_code(with({"--seed", "8", "--out", path("c.csv")})), 0);
  EXPECT_EQ(file_bytes(path("a.csv")), file_bytes(path("b.csv")));  // chunking changes nothing
  EXPECT_NE(file_bytes(path("a.csv")), file_bytes(path("c.csv")));
  const Csv csv = read_csv(path("a.csv"));
  double sum = 0, sum2 = 0;
  for (const auto& row : csv.rows) {
    const double r = row[1] - (2.0 * row[0] + 1.0);
    sum += r, sum2 += r * r;
  }
  const double n = static_cast<double>(csv.rows.size());
  const double mean = sum / n, sd = std::sqrt(sum2 / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 5 * 0.5 / std::sqrt(n));
  EXPECT_NEAR(sd, 0.5, 5 * 0.5 / std::sqrt(2 * n));
}

TEST_F(GenerateCli, BadArgumentsFailWithTheDocumentedCodeAndLeaveNoFile) {
  EXPECT_EQ(
      exit_code({"generate", "--model", "no_such_model", "--points", "10", "--out", path("x.csv")}),
      3);
  EXPECT_EQ(exit_code({"generate", "--model", "linear", "--points", "0", "--out", path("x.csv")}),
            2);
  EXPECT_EQ(exit_code({"generate", "--model", "linear", "--points", "2.5", "--out", path("x.csv")}),
            2);
  EXPECT_EQ(exit_code({"generate", "--model", "linear", "--points", "10", "--out", path("x.txt")}),
            2);
  EXPECT_EQ(exit_code({"generate", "--model", "linear", "--points", "10", "--params", "q=1",
                       "--out", path("x.csv")}),
            2);
  EXPECT_EQ(exit_code({"generate", "--model", "linear", "--points", "10", "--params", "a=abc",
                       "--out", path("x.csv")}),
            2);
  EXPECT_EQ(exit_code({"generate", "--model", "linear", "--points", "10", "--x-range", "3:1",
                       "--out", path("x.csv")}),
            2);
  EXPECT_EQ(exit_code({"generate", "--model", "linear", "--points", "10", "--noise", "-1", "--out",
                       path("x.csv")}),
            2);
  EXPECT_EQ(exit_code({"generate", "--model", "linear", "--points", "10", "--out",
                       path("missing_dir/x.csv")}),
            5);  // an output that cannot be written is exit 5, not bad data
  EXPECT_TRUE(files().empty());
}

TEST_F(GenerateCli, RefusesARangeWhereTheModelIsNotFiniteNamingTheFirstX) {
  // log(x) is finite from x = 0.5 on: the first point of -1:1 in steps of 0.5 that is not is -1.
  const RunResult r = run({"generate", "--model", "logarithmic", "--points", "5", "--x-range",
                           "-1:1", "--out", path("l.csv")});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("not finite at x = -1 "), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(files().empty());
  const RunResult two = run({"generate", "--model", "a*log(x1)+x2", "--params", "a=1", "--points",
                             "9", "--x-range", "-1:1", "--out", path("p.csv")});
  EXPECT_EQ(two.exit_code, 3) << two.err;
  EXPECT_NE(two.err.find("not finite at x1 = -1, x2 = -1 "), std::string::npos) << two.err;
  ASSERT_EQ(exit_code({"generate", "--model", "logarithmic", "--points", "5", "--x-range", "0.5:1",
                       "--out", path("l.csv")}),
            0);
}

TEST_F(GenerateCli, QuietPrintsNothingOnSuccess) {
  const RunResult r =
      run({"generate", "--model", "linear", "--points", "10", "--out", path("q.csv"), "-q"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_FALSE(
      run({"generate", "--model", "linear", "--points", "10", "--out", path("v.csv")}).err.empty());
}

}  // namespace
