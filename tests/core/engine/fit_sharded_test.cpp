// A dataset held in several files fits as one file holding the same rows: the same starting
// guess, the same parameters and covariance to rounding (each file's chunks fold into slots of
// its own, ChunkLayout, so the sums are added in another order), for CSV, HDF5 and mixed shards;
// and the same bits with 1 or 2 threads (same chunk size). Large
// enough to start from a subsample, the subsample is drawn from the same rows. The fit finds the
// generating parameters.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/data/data_test_util.h"
#include "core/data/shard_test_files.h"
#include "core/engine/fit_setup.h"

namespace curvefit {
namespace {

using testing_data::exponential_rows;
using testing_data::Rows;
using testing_data::ScratchDir;

// Writes rows [0, n) split at the given bounds into files a, b, c with the kinds given ('c' CSV,
// 'h' HDF5), and the same rows into one file; returns the shard paths.
std::vector<std::string> write_split(const ScratchDir& dir, const Rows& rows, const std::string& kinds,
                                     const std::vector<std::size_t>& bounds) {
  std::vector<std::string> paths;
  for (std::size_t s = 0; s + 1 < bounds.size(); ++s) {
    const bool hdf5 = kinds[s] == 'h';
    paths.push_back(dir.file(std::string(1, static_cast<char>('a' + s)) + (hdf5 ? ".h5" : ".csv")));
    if (hdf5) testing_data::write_hdf5_rows(paths.back(), rows, bounds[s], bounds[s + 1]);
    else testing_data::write_csv_rows(paths.back(), rows, bounds[s], bounds[s + 1]);
  }
  return paths;
}

FitResult fit_files(const std::string& one, const std::vector<std::string>& several, FitMode mode,
                    std::size_t chunk_rows, int threads = 2) {
  FitSpec spec;
  spec.data_path = one;
  spec.data_paths = several;
  spec.model = "exponential";
  spec.mode = mode;
  spec.chunk_rows = chunk_rows;
  spec.threads = threads;
  return fit(spec);
}

// The same fit, within `relative` (0: bit for bit): the same rows, guess and subsample; the
// parameters within `relative`, covariance and cost within 10 x `relative` of their scale.
void expect_same_fit(const FitResult& sharded, const FitResult& single, double relative) {
  ASSERT_TRUE(single.success) << single.message;
  ASSERT_TRUE(sharded.success) << sharded.message;
  EXPECT_EQ(sharded.n_points, single.n_points);
  EXPECT_EQ(sharded.subsample_rows, single.subsample_rows);
  for (Eigen::Index j = 0; j < single.params.size(); ++j) {
    EXPECT_EQ(sharded.used.init[j], single.used.init[j]) << "guess " << j;
    EXPECT_NEAR(sharded.params[j], single.params[j], relative * std::abs(single.params[j])) << "parameter " << j;
    for (Eigen::Index k = 0; k < single.params.size(); ++k)
      EXPECT_NEAR(sharded.covariance(j, k), single.covariance(j, k),
                  10 * relative * std::sqrt(single.covariance(j, j) * single.covariance(k, k)))
          << "covariance " << j << "," << k;
  }
  EXPECT_NEAR(sharded.cost, single.cost, 10 * relative * single.cost);
}

void expect_same_bits(const FitResult& sharded, const FitResult& single) { expect_same_fit(sharded, single, 0); }

// The same fit up to the order of its sums: parameters within 1e-10 relative (the solver stops
// within xtol = 1e-12 of a minimum that rounding moves; standard errors are about 1e-4 relative),
// covariance and cost within 1e-9.
void expect_same_to_rounding(const FitResult& sharded, const FitResult& single) {
  expect_same_fit(sharded, single, 1e-10);
}

// The generating parameters a = 5, b = 0.5, c = 1, within 5 standard errors.
void expect_truth(const FitResult& r) {
  const double truth[3] = {5.0, 0.5, 1.0};
  for (Eigen::Index j = 0; j < 3; ++j) EXPECT_NEAR(r.params[j], truth[j], 5 * r.stderr_[j]) << "parameter " << j;
}

struct Case {
  const char* kinds;
  FitMode mode;
};

class FitSharded : public ::testing::TestWithParam<Case> {};

TEST_P(FitSharded, GivesTheFitOfOneFileWithTheSameRowsAndTheSameBitsInEveryMode) {
  ScratchDir dir;
  const Rows rows = exponential_rows(30000);
  const std::vector<std::string> shards = write_split(dir, rows, GetParam().kinds, {0, 10000, 17777, 30000});
  const std::string one = dir.file("all.csv");
  testing_data::write_csv_rows(one, rows, 0, 30000);
  const FitResult single = fit_files(one, {}, GetParam().mode, 256);
  // Given in another order and as a pattern: the sorted names decide the order of the rows.
  const FitResult sharded = fit_files("", {shards[2], shards[0], shards[1]}, GetParam().mode, 256);
  expect_same_to_rounding(sharded, single);
  EXPECT_EQ(sharded.used.data, shards[2] + " " + shards[0] + " " + shards[1] + " (3 files)");
  const FitResult pattern = fit_files("", {dir.path().string() + "/[abc].*"}, GetParam().mode, 256);
  expect_same_bits(pattern, sharded);
  // The files' own fit is one set of bits whatever the threads (and the mode, but for the guess,
  // which takes single rows from data in RAM and blocks from a file).
  const FitResult reference = fit_files("", shards, GetParam().mode, 256, 1);
  expect_same_bits(sharded, reference);
  EXPECT_EQ(pattern.used.data, dir.path().string() + "/[abc].* (3 files)");
  expect_truth(sharded);
}

INSTANTIATE_TEST_SUITE_P(
    ModesAndFormats, FitSharded,
    ::testing::Values(Case{"ccc", FitMode::memory}, Case{"ccc", FitMode::chunked}, Case{"ccc", FitMode::stream},
                      Case{"hhh", FitMode::memory}, Case{"hhh", FitMode::chunked}, Case{"hhh", FitMode::stream},
                      Case{"hch", FitMode::memory}, Case{"chc", FitMode::chunked}, Case{"hch", FitMode::stream}));

// Above the planner's subsample threshold (1e6 rows) the fit starts from a subsample of blocks
// spread over the rows: from shards it reads the same rows, across file boundaries.
TEST(FitShardedLarge, SubsampleStartIsTheSameAsFromOneFile) {
  ScratchDir dir;
  const std::size_t n = 1'200'000;
  const Rows rows = exponential_rows(n);
  const std::vector<std::string> shards = write_split(dir, rows, "hhh", {0, 400'001, 799'999, n});
  const std::string one = dir.file("all.h5");
  testing_data::write_hdf5_rows(one, rows, 0, n);
  for (FitMode mode : {FitMode::chunked, FitMode::stream}) {
    const FitResult single = fit_files(one, {}, mode, 65536);
    const FitResult sharded = fit_files("", shards, mode, 65536);
    ASSERT_GT(single.subsample_rows, 0u);
    expect_same_to_rounding(sharded, single);
    expect_truth(sharded);
  }
}

}  // namespace
}  // namespace curvefit
