// Issue 11 items 5 and 11: outputs never overwrite inputs, and every failure has its documented
// exit code (2 usage, 3 bad data or model, 5 an output cannot be written), with one JSON error
// object on stdout under --json and one line on stderr.
#include <gtest/gtest.h>
#include <unistd.h>

#include <H5Cpp.h>

#include <filesystem>
#include <string>

#include "app/cli_util.h"

namespace curvefit::cli {
namespace {

class FitExitCodes : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_ / "g.csv";
    write_text(data_, "x,y\n0,1\n1,3.1\n2,4.9\n3,7.2\n4,9\n5,11.1\n");
  }
  // The run failed with `code`, one line on stderr, and (with --json) the error object on stdout.
  static void expect_error(const RunResult& r, int code, const std::string& message_part,
                           bool json) {
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_NE(r.err.find(message_part), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    if (!json) return;
    const nlohmann::json j = r.json();
    EXPECT_EQ(j.at("status"), "error");
    EXPECT_EQ(j.at("success"), false);
    EXPECT_EQ(j.at("exit_code"), code);
    EXPECT_NE(j.at("message").get<std::string>().find(message_part), std::string::npos);
  }
  TempDir dir_;
  std::string data_;
};

TEST_F(FitExitCodes, OutputThatIsTheInputIsAUsageErrorAndTheInputSurvives) {
  const std::string before = read_text(data_);
  expect_error(run({"fit", data_, "--model", "linear", "-o", data_, "--json"}), 2,
               "never overwrites an input", true);
  const std::string symlink = dir_ / "link.csv", hardlink = dir_ / "hard.csv";
  std::filesystem::create_symlink(data_, symlink);
  std::filesystem::create_hard_link(data_, hardlink);
  expect_error(run({"fit", data_, "--model", "linear", "-o", symlink}), 2,
               "never overwrites an input", false);
  expect_error(run({"fit", data_, "--model", "linear", "--output", hardlink}), 2,
               "never overwrites an input", false);
  const std::string svg_link = dir_ / "data.svg";
  std::filesystem::create_symlink(data_, svg_link);
  expect_error(run({"fit", data_, "--model", "linear", "--plot", svg_link}), 2,
               "never overwrites an input", false);
  EXPECT_EQ(read_text(data_), before);
}

TEST_F(FitExitCodes, PlotOfAnHdf5FileIsRefusedBeforeAnyWork) {
  const std::string h5 = dir_ / "c.h5";
  ASSERT_EQ(run({"generate", "--model", "linear", "--points", "50", "--out", h5}).exit_code, 0);
  const std::string before = read_text(h5);
  expect_error(run({"fit", data_, "--model", "linear", "--plot", h5}), 2, "name it .svg", false);
  expect_error(run({"fit", data_, "--model", "linear", "--output", dir_ / "fit.h5"}), 2,
               "name it .csv", false);
  EXPECT_EQ(read_text(h5), before);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "fit.h5"));
}

TEST_F(FitExitCodes, TsvOutputIsTabSeparated) {
  const RunResult r = run({"fit", data_, "--model", "linear", "-o", dir_ / "fit.tsv"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = read_text(dir_ / "fit.tsv");
  EXPECT_EQ(text.substr(0, text.find('\n')),
            "x\ty\tfit\tresidual\tfit_lower95\tfit_upper95\tpred_lower95\tpred_upper95");
}

TEST_F(FitExitCodes, ModelNotFiniteAtTheStartIsExit3NamingRowAndX) {
  expect_error(run({"fit", data_, "--model", "a*x^-2+b", "--json"}), 3, "data row 1 (x = 0)", true);
}

TEST_F(FitExitCodes, UnwritableOutputIsExit5WithTheSystemsReason) {
  expect_error(
      run({"fit", data_, "--model", "linear", "-o", dir_ / "no_such_dir/fit.csv", "--json"}), 5,
      "No such file or directory", true);
  // A full disk: /dev/full accepts the open and fails the write with ENOSPC.
  expect_error(run({"fit", data_, "--model", "linear", "-o", "/dev/full", "--json"}), 5,
               "/dev/full: write failed: No space left on device", true);
  EXPECT_TRUE(std::filesystem::is_character_file("/dev/full"));
  expect_error(run({"fit", data_, "--model", "linear", "--plot", dir_ / "no_such_dir/fit.svg"}), 5,
               "No such file or directory", false);
}

// The library's remarks about the data reach stderr through the command line, one line each.
TEST_F(FitExitCodes, SkippedRowsAreReportedOnStderr) {
  const std::string bad = dir_ / "bad.csv";
  write_text(bad, "x,y\n0,1\n1,3.1\nzz,4.9\n3,7.2\n4,9\n5,11.1\n");
  const RunResult r = run({"fit", bad, "--model", "linear", "--skip-invalid", "--no-progress"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "curvefit: " + bad + ": skipped 1 invalid row (line 4)\n");
}

TEST_F(FitExitCodes, UsageAndDataErrorsPrintTheJsonErrorObject) {
  expect_error(run({"fit", data_, "--model", "linear", "--p0", "q=1", "--json"}), 2, "q", true);
  expect_error(run({"fit", dir_ / "missing.csv", "--model", "linear", "--json"}), 3, "missing.csv",
               true);
  expect_error(run({"fit", data_, "--model", "no_such_model", "--json"}), 3, "no_such_model", true);
}

TEST_F(FitExitCodes, CompositeClashesAndBadTiesNameTheProblem) {
  expect_error(run({"fit", data_, "--model", "gaussian + gaussian", "--json"}), 3,
               "both have the parameter 'a'", true);
  expect_error(run({"fit", data_, "--model", "gaussian[1p] + linear"}), 3, "takes a prefix name", false);
  expect_error(run({"fit", data_, "--model", "linear", "--tie", "a = q"}), 2, "'q' is not another parameter",
               false);
  expect_error(run({"fit", data_, "--model", "linear", "--tie", "a == b"}), 2, "NAME = EXPRESSION", false);
  const std::string columns = dir_ / "columns.csv";
  write_text(columns, "x,temp,y\n0,1,1\n1,2,3.1\n2,3,4.9\n3,4,7.2\n4,5,9\n5,6,11.1\n6,7,12\n");
  expect_error(run({"fit", columns, "--model", "gaussian[g] + k*temp", "--x", "temp"}), 3,
               "gaussian's predictor is x, which is not among the predictors (temp)", false);
  const RunResult assignment = run({"fit", data_, "--model", "a*x + (x = 1)"});  // with the formula and a caret
  EXPECT_EQ(assignment.exit_code, 3);
  EXPECT_NE(assignment.err.find("column 10: unexpected '='; write == to compare"), std::string::npos) << assignment.err;
}

TEST_F(FitExitCodes, ATiedParameterIsReportedAsTied) {
  const RunResult r = run({"fit", data_, "--model", "quadratic", "--tie", "a = b/100", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = r.json();
  ASSERT_EQ(j.at("params").size(), 3u);  // b, c free; a tied, last
  EXPECT_EQ(j.at("params")[2].at("name"), "a");
  EXPECT_EQ(j.at("params")[2].at("tied"), "b/100");
  EXPECT_DOUBLE_EQ(j.at("params")[2].at("value").get<double>(), j.at("params")[0].at("value").get<double>() / 100);
  EXPECT_NEAR(j.at("params")[2].at("stderr").get<double>(), j.at("params")[0].at("stderr").get<double>() / 100,
              1e-12 * j.at("params")[0].at("stderr").get<double>());
  const RunResult text = run({"fit", data_, "--model", "quadratic", "--tie", "a = b/100"});
  EXPECT_NE(text.out.find("(tied: b/100)"), std::string::npos) << text.out;
}

}  // namespace
}  // namespace curvefit::cli

namespace curvefit::cli {
namespace {

// One finite y of 1.38e306 among 1.2e6 rows: the subsample fit misses it, and the full fit's sum of
// squares overflows at its start. That is bad data (exit 3 naming the row), never a "converged"
// fit whose cost is inf.
TEST(FitOverflow, AResidualWhoseSquareOverflowsIsBadDataNamingItsRow) {
  TempDir dir;
  const std::string data = dir / "big.h5";
  ASSERT_EQ(run({"generate", "--model", "exponential", "--points", "1.2e6", "--noise", "0.01", "--out", data}).exit_code, 0);
  {
    H5::H5File file(data, H5F_ACC_RDWR);
    H5::DataSet y = file.openDataSet("/y");
    H5::DataSpace space = y.getSpace();
    const hsize_t row[1] = {700000}, one[1] = {1};
    space.selectHyperslab(H5S_SELECT_SET, one, row);
    H5::DataSpace memory(1, one);
    const double huge = 1.38e306;
    y.write(&huge, H5::PredType::NATIVE_DOUBLE, memory, space);
  }
  for (const char* mode : {"memory", "stream"}) {
    const RunResult r = run({"fit", data, "--model", "exponential", "--mode", mode, "--no-progress"});
    EXPECT_EQ(r.exit_code, 3) << mode << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find("overflows"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("data row 700001"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace curvefit::cli
