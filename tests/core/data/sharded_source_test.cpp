// Several files read as one dataset: loaded (load_files) and streamed (ShardedDataSource) they
// deliver exactly the rows of one file holding them all, in the order of the sorted names, for
// row ranges that cross file boundaries; a file with other columns or a bad value is named in the
// error with its own line or row; patterns expand with glob(3) and a pattern without a match is a
// usage error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "core/data/data_open.h"
#include "core/data/data_test_util.h"
#include "core/data/shard_test_files.h"
#include "core/data/sharded_source.h"
#include "core/data/temp_files.h"

namespace curvefit {
namespace {

using testing_data::data_error;
using testing_data::exponential_rows;
using testing_data::Rows;
using testing_data::ScratchDir;
using ::testing::HasSubstr;

constexpr std::size_t kRows = 1000;
// Shard boundaries: three files of 300, 450 and 250 rows.
constexpr std::size_t kEnd1 = 300, kEnd2 = 750;

// Three shards of the same rows, named so that sorting puts them in row order: "part-10" after
// "part-09" (sorted as text, as glob(3) and `ls` do).
std::vector<std::string> write_shards(const ScratchDir& dir, const Rows& rows, const std::string& kinds) {
  const std::size_t bounds[4] = {0, kEnd1, kEnd2, kRows};
  const char* names[3] = {"part-08", "part-09", "part-10"};
  std::vector<std::string> paths;
  for (std::size_t s = 0; s < 3; ++s) {
    const bool hdf5 = kinds[s] == 'h';
    const std::string path = dir.file(std::string(names[s]) + (hdf5 ? ".h5" : ".csv"));
    if (hdf5) testing_data::write_hdf5_rows(path, rows, bounds[s], bounds[s + 1]);
    else testing_data::write_csv_rows(path, rows, bounds[s], bounds[s + 1]);
    paths.push_back(path);
  }
  return paths;
}

// Reads [begin, begin + count) and compares every value with the rows written, bit for bit.
void expect_rows(DataSource& source, const Rows& rows, std::size_t begin, std::size_t count) {
  std::vector<double> x(count), y(count);
  double* xs[1] = {x.data()};
  source.read(begin, count, xs, y.data(), nullptr);
  for (std::size_t i = 0; i < count; ++i) {
    ASSERT_EQ(x[i], rows.x[begin + i]) << "row " << begin + i;
    ASSERT_EQ(y[i], rows.y[begin + i]) << "row " << begin + i;
  }
}

class ShardedSource : public ::testing::TestWithParam<const char*> {};

TEST_P(ShardedSource, LoadedAndStreamedRowsAreThoseOfOneFileAcrossFileBoundaries) {
  ScratchDir dir;
  const Rows rows = exponential_rows(kRows);
  std::vector<std::string> paths = write_shards(dir, rows, GetParam());
  // Given in reverse: the rows still come in the order of the sorted names.
  std::vector<std::string> reversed(paths.rbegin(), paths.rend());
  const std::vector<std::string> files = expand_data_paths(reversed);
  ASSERT_EQ(files, paths);
  DataOptions options;
  std::vector<Shard> shards;
  const std::unique_ptr<MemoryDataSource> loaded = load_files(files, options, &shards);
  const std::unique_ptr<DataSource> streamed = open_streaming_files(files, options);
  for (DataSource* source : {static_cast<DataSource*>(loaded.get()), streamed.get()}) {
    ASSERT_EQ(source->rows(), kRows);
    ASSERT_EQ(source->num_predictors(), 1);
    expect_rows(*source, rows, 0, kRows);
    expect_rows(*source, rows, kEnd1 - 7, 20);             // across the first boundary
    expect_rows(*source, rows, kEnd1 - 1, kEnd2 - kEnd1 + 2);  // across both
    expect_rows(*source, rows, kEnd2, kRows - kEnd2);      // exactly the last file
    expect_rows(*source, rows, 5, 3);                      // back to the first file
  }
  const auto* sharded = dynamic_cast<const ShardedDataSource*>(streamed.get());
  ASSERT_NE(sharded, nullptr);
  const std::vector<std::pair<std::size_t, std::size_t>> expected = {{0, kEnd1}, {kEnd1, kEnd2 - kEnd1},
                                                                     {kEnd2, kRows - kEnd2}};
  for (const std::vector<Shard>* list : {static_cast<const std::vector<Shard>*>(&shards), &sharded->shards()}) {
    ASSERT_EQ(list->size(), 3u);
    for (std::size_t s = 0; s < 3; ++s) {
      EXPECT_EQ((*list)[s].path, paths[s]);
      EXPECT_EQ((*list)[s].first_row, expected[s].first);
      EXPECT_EQ((*list)[s].rows, expected[s].second);
    }
  }
  const DataInfo info = probe_files(files, options);
  EXPECT_EQ(info.shards.size(), 3u);
  if (std::string(GetParam()) == "hhh") {
    EXPECT_EQ(info.rows, kRows);
    EXPECT_EQ(info.format, FileFormat::hdf5);
  } else {
    EXPECT_EQ(info.format, FileFormat::csv);
  }
}

INSTANTIATE_TEST_SUITE_P(CsvHdf5AndMixed, ShardedSource, ::testing::Values("ccc", "hhh", "chc"));

TEST(ShardedSourceStreaming, CsvShardsShareOneSpillSoManyFilesNeedFewTemporaryFiles) {
  ScratchDir dir;
  const Rows rows = exponential_rows(400);
  std::vector<std::string> paths;
  // More files than the temporary-file registry holds (64): one spill per file could not work.
  for (std::size_t s = 0; s < 100; ++s) {
    char name[32];
    std::snprintf(name, sizeof name, "s%03zu.csv", s);
    paths.push_back(dir.file(name));
    testing_data::write_csv_rows(paths.back(), rows, 4 * s, 4 * s + 4);
  }
  const int before = temporary_file_count();
  const std::unique_ptr<DataSource> streamed = open_streaming_files(paths, DataOptions{});
  EXPECT_EQ(temporary_file_count() - before, 2);  // one spill file per column
  ASSERT_EQ(streamed->rows(), 400u);
  expect_rows(*streamed, rows, 0, 400);
  expect_rows(*streamed, rows, 9, 111);
}

std::size_t open_descriptors() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

TEST(ShardedSourceStreaming, HoldsAtMostOneHdf5FileOpenHoweverManyThereAre) {
  ScratchDir dir;
  const Rows rows = exponential_rows(600);
  std::vector<std::string> paths;
  for (std::size_t s = 0; s < 60; ++s) {
    char name[32];
    std::snprintf(name, sizeof name, "s%03zu.h5", s);
    paths.push_back(dir.file(name));
    testing_data::write_hdf5_rows(paths.back(), rows, 10 * s, 10 * s + 10);
  }
  const std::size_t before = open_descriptors();
  const std::unique_ptr<DataSource> streamed = open_streaming_files(paths, DataOptions{});
  for (std::size_t begin = 0; begin < 600; begin += 7) {
    expect_rows(*streamed, rows, begin, std::min<std::size_t>(7, 600 - begin));
    ASSERT_LE(open_descriptors(), before + 1) << "reading row " << begin;
  }
  EXPECT_EQ(open_descriptors(), before + 1);  // the last file read: an open HDF5 file is counted
}

TEST(ShardedSourceErrors, AFileWithOtherColumnsIsNamedWithTheColumnsOfBoth) {
  ScratchDir dir;
  const Rows rows = exponential_rows(30);
  const std::string a = dir.file("a.csv"), b = dir.file("b.csv"), c = dir.file("c.csv");
  testing_data::write_csv_rows(a, rows, 0, 10);
  testing_data::write_csv_rows(b, rows, 10, 20, "t,y");
  testing_data::write_csv_rows(c, rows, 20, 30);
  DataOptions options;
  options.x = {"1"};
  options.y = "2";
  for (const auto& action : std::vector<std::function<void()>>{
           [&] { probe_files({a, b, c}, options); }, [&] { load_files({a, b, c}, options); },
           [&] { open_streaming_files({a, b, c}, options); }}) {
    const std::string message = data_error(action);
    EXPECT_THAT(message, HasSubstr(b + ": its columns (t, y) differ from those of " + a + " (x, y)"));
  }
}

TEST(ShardedSourceErrors, ABadValueInTheSecondFileNamesThatFileAndItsOwnLine) {
  ScratchDir dir;
  const Rows rows = exponential_rows(30);
  const std::string a = dir.file("a.csv"), c = dir.file("c.csv");
  testing_data::write_csv_rows(a, rows, 0, 10);
  testing_data::write_csv_rows(c, rows, 20, 30);
  // Line 5 of b.csv (the header is line 1), field 2.
  const std::string b = dir.write("b.csv", "x,y\n1,2\n2,3\n3,4\n4,oops\n5,6\n");
  for (const auto& action : std::vector<std::function<void()>>{
           [&] { load_files({a, b, c}, DataOptions{}); }, [&] { open_streaming_files({a, b, c}, DataOptions{}); }})
    EXPECT_THAT(data_error(action), HasSubstr(b + ":5:3:"));
}

TEST(ShardedSourceErrors, ANanInTheSecondHdf5FileNamesThatFileAndItsOwnRow) {
  ScratchDir dir;
  Rows rows = exponential_rows(30);
  rows.y[13] = std::numeric_limits<double>::quiet_NaN();  // row 4 of the second file
  const std::string a = dir.file("a.h5"), b = dir.file("b.h5"), c = dir.file("c.h5");
  testing_data::write_hdf5_rows(a, rows, 0, 10);
  testing_data::write_hdf5_rows(b, rows, 10, 20);
  testing_data::write_hdf5_rows(c, rows, 20, 30);
  EXPECT_THAT(data_error([&] { load_files({a, b, c}, DataOptions{}); }), HasSubstr(b + ": dataset /y: row 4:"));
  const std::unique_ptr<DataSource> streamed = open_streaming_files({a, b, c}, DataOptions{});
  std::vector<double> x(30), y(30);
  double* xs[1] = {x.data()};
  EXPECT_THAT(data_error([&] { streamed->read(0, 30, xs, y.data(), nullptr); }),
              HasSubstr(b + ": dataset /y: row 4:"));
  // nan_policy omit drops that row only, from both ways of reading.
  DataOptions omit;
  omit.nan_policy = NanPolicy::omit;
  EXPECT_EQ(load_files({a, b, c}, omit)->rows(), 29u);
  EXPECT_EQ(open_streaming_files({a, b, c}, omit)->rows(), 29u);
}

TEST(ExpandDataPaths, PatternsExpandSortedAndEveryMistakeIsAUsageError) {
  ScratchDir dir;
  for (const char* name : {"r2.h5", "r10.h5", "r1.h5", "other.csv"}) dir.write(name, "x");
  const std::string base = dir.path().string() + "/";
  EXPECT_EQ(expand_data_paths({base + "r*.h5"}),
            (std::vector<std::string>{base + "r1.h5", base + "r10.h5", base + "r2.h5"}));
  EXPECT_EQ(expand_data_paths({base + "r2.h5", base + "other.csv"}),
            (std::vector<std::string>{base + "other.csv", base + "r2.h5"}));
  EXPECT_EQ(expand_data_paths({"-"}), std::vector<std::string>{"-"});
  EXPECT_THROW(expand_data_paths({base + "none*.h5"}), UsageError);
  EXPECT_THROW(expand_data_paths({base + "r1.h5", base + "r[12].h5"}), UsageError);  // r1.h5 twice
  EXPECT_THROW(expand_data_paths({"-", base + "r1.h5"}), UsageError);
  try {
    expand_data_paths({base + "none*.h5"});
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), base + "none*.h5: no file matches this pattern");
  }
  EXPECT_EQ(describe_data_paths({base + "r*.h5"}, expand_data_paths({base + "r*.h5"})), base + "r*.h5 (3 files)");
  EXPECT_EQ(describe_data_paths({"-"}, {"-"}), "<stdin>");
}

}  // namespace
}  // namespace curvefit
