// Sharded data from the command line: `curvefit fit 'DIR/part-*'` and `fit a b c` fit the files
// as one dataset (the JSON's parameters and covariance are those of one file with the same rows,
// and "data" names the pattern and the count); a file with other columns is exit 3 naming it; a
// bad value in the second file names that file and its own line; a pattern matching nothing is a
// usage error (exit 2); `inspect` and `plan` count the rows of every file and their total; the
// loaded shards stay within the predicted peak memory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/cli_util.h"
#include "core/data/shard_test_files.h"

namespace curvefit::cli {
namespace {

using ::testing::HasSubstr;
using testing_data::exponential_rows;
using testing_data::Rows;

class FitShardsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    rows_ = exponential_rows(2000);
    testing_data::write_csv_rows(dir_ / "all.csv", rows_, 0, 2000);
    testing_data::write_csv_rows(dir_ / "part-1.csv", rows_, 0, 700);
    testing_data::write_hdf5_rows(dir_ / "part-2.h5", rows_, 700, 1300);
    testing_data::write_csv_rows(dir_ / "part-3.csv", rows_, 1300, 2000);
  }
  RunResult fit(const std::vector<std::string>& data, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"fit"};
    args.insert(args.end(), data.begin(), data.end());
    for (const char* a : {"--model", "exponential", "--json", "-q", "--chunk-size", "300"}) args.push_back(a);
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args);
  }
  TempDir dir_;
  Rows rows_;
};

TEST_F(FitShardsCli, PatternAndListFitAsOneFileWithTheSameRowsInEveryMode) {
  for (const char* mode : {"memory", "chunked", "stream"}) {
    const RunResult one = fit({dir_ / "all.csv"}, {"--mode", mode});
    ASSERT_EQ(one.exit_code, 0) << one.err;
    const RunResult pattern = fit({dir_ / "part-*"}, {"--mode", mode});
    ASSERT_EQ(pattern.exit_code, 0) << pattern.err;
    const RunResult list = fit({dir_ / "part-3.csv", dir_ / "part-1.csv", dir_ / "part-2.h5"}, {"--mode", mode});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    // The files' fit is one set of bits for 1 or 2 threads (each file's chunks fold into slots of
    // its own), and that of the one file to rounding.
    const nlohmann::json expected = one.json();
    const RunResult reference = fit({dir_ / "part-*"}, {"--mode", mode, "--threads", "1"});
    ASSERT_EQ(reference.exit_code, 0) << reference.err;
    for (const RunResult* sharded : {&pattern, &list}) {
      const nlohmann::json j = sharded->json();
      EXPECT_EQ(j["params"], reference.json()["params"]) << mode;
      EXPECT_EQ(j["covariance"], reference.json()["covariance"]) << mode;
      expect_same_fit_to_rounding(j, expected, mode);
      EXPECT_EQ(j["n_points"], 2000);
    }
    EXPECT_EQ(pattern.json()["data"], (dir_ / "part-*") + " (3 files)");
    EXPECT_NEAR(param(expected, "b"), 0.5, 5 * param(expected, "b", "stderr"));
  }
}

// Loaded into one block, the shards are held once: the measured peak (VmHWM) stays within the
// planner's prediction, which counts the data once (not the data plus a mapped file).
TEST(FitShardsMemory, LoadedShardsStayWithinThePredictedPeak) {
  TempDir dir;
  const std::size_t n = 6'000'000, shards = 3;
  {
    const Rows rows = exponential_rows(n);
    for (std::size_t s = 0; s < shards; ++s)
      testing_data::write_hdf5_rows(dir / ("big-" + std::to_string(s) + ".h5"), rows, s * n / shards,
                                    (s + 1) * n / shards);
  }
  const RunResult r = run({"fit", dir / "big-*.h5", "--model", "exponential", "--mode", "memory", "--json", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json memory = r.json()["memory"];
  EXPECT_LE(memory["peak_rss_bytes"].get<std::uint64_t>(), memory["predicted_peak_bytes"].get<std::uint64_t>());
  EXPECT_EQ(r.json()["n_points"], n);
}

TEST_F(FitShardsCli, AFileWithOtherColumnsIsBadDataNamingIt) {
  testing_data::write_csv_rows(dir_ / "part-4.csv", rows_, 0, 10, "t,y");
  const RunResult r = fit({dir_ / "part-*"});  // t is x in part-4.csv: the only other column
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr((dir_ / "part-4.csv") + ": its columns (t, y) differ from those of " +
                               (dir_ / "part-1.csv")));
}

TEST_F(FitShardsCli, ABadValueInTheSecondFileNamesThatFileAndItsOwnLine) {
  write_text(dir_ / "part-2.csv", "x,y\n5,1.1\n5.1,1.2\n5.2,bad\n5.3,1.0\n");
  for (const char* mode : {"memory", "stream"}) {
    const RunResult r = fit({dir_ / "part-*.csv"}, {"--mode", mode});
    EXPECT_EQ(r.exit_code, 3) << mode;
    EXPECT_THAT(r.err, HasSubstr((dir_ / "part-2.csv") + ":4:5:")) << mode;
  }
}

TEST_F(FitShardsCli, APatternMatchingNothingIsAUsageError) {
  const RunResult r = fit({dir_ / "nothing-*.h5"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr((dir_ / "nothing-*.h5") + ": no file matches this pattern"));
  EXPECT_EQ(run({"inspect", dir_ / "nothing-*.h5"}).exit_code, 2);
  EXPECT_EQ(run({"plan", dir_ / "nothing-*.h5", "--model", "linear"}).exit_code, 2);
}

TEST_F(FitShardsCli, InspectCountsEachFileAndTheTotal) {
  const RunResult r = run({"inspect", dir_ / "part-*"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("3 files\n"));
  EXPECT_THAT(r.out, HasSubstr((dir_ / "part-1.csv") + "  700\n"));
  EXPECT_THAT(r.out, HasSubstr((dir_ / "part-2.h5") + "   600\n"));
  EXPECT_THAT(r.out, HasSubstr("total" + std::string((dir_ / "part-1.csv").size() - 3, ' ') + "2000\n"));
}

TEST_F(FitShardsCli, PlanCountsTheRowsOfEveryFile) {
  const RunResult r = run({"plan", dir_ / "part-*", "--model", "exponential", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = r.json();
  EXPECT_EQ(j["files"], 3);
  // CSV rows are estimated from a sample until read; HDF5's 600 are exact.
  EXPECT_NEAR(j["rows"].get<double>(), 2000, 100);
  const RunResult text = run({"plan", dir_ / "part-2.h5", dir_ / "all.csv", "--model", "exponential"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("rows x 2 columns in 2 files"));
}

}  // namespace
}  // namespace curvefit::cli
