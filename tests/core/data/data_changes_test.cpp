// A data file that changes while it is read: cut short or written to in place, it is an error
// naming the file (never fewer rows, zeros or a mix of old and new values); replaced by rename,
// the reader keeps the file it opened and reads the old data to the end.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/data/csv_reader.h"
#include "core/data/data_open.h"
#include "core/data/data_test_util.h"
#include "core/model/generate.h"
#include "core/model/model_library.h"

namespace curvefit {
namespace {

using testing_data::data_error;
using testing_data::ScratchDir;
using ::testing::HasSubstr;

constexpr std::size_t kRows = 200000;

// y = 2 + 0.5 x on x = 0, 1e-3, ...; the file's modification time is set an hour back, so that any
// later write is seen whatever the filesystem's timestamp granularity.
std::string write_csv(const ScratchDir& dir, const std::string& name, double offset = 2.0) {
  std::string text = "x,y\n";
  for (std::size_t i = 0; i < kRows; ++i) {
    const double x = static_cast<double>(i) * 1e-3;
    text += std::to_string(x) + "," + std::to_string(offset + 0.5 * x) + "\n";
  }
  const std::string path = dir.write(name, text);
  std::filesystem::last_write_time(path, std::filesystem::last_write_time(path) - std::chrono::hours(1));
  return path;
}

std::string write_hdf5(const ScratchDir& dir, const std::string& name, double a) {
  const auto model = make_model("exponential");
  GenerateSpec spec;
  spec.points = kRows;
  spec.params = {a, 0.5, 1.0};
  spec.model_label = "exponential";
  const std::string path = dir.file(name);
  generate_data(*model, spec, path);
  std::filesystem::last_write_time(path, std::filesystem::last_write_time(path) - std::chrono::hours(1));
  return path;
}

// Small blocks so that the parse is far from the end of the file when the first block arrives.
CsvParseTuning small_blocks() {
  CsvParseTuning tuning;
  tuning.block_bytes = 4096;
  tuning.max_line_bytes = 4096;
  tuning.sample_bytes = 4096;
  return tuning;
}

void overwrite_bytes(const std::string& path, off_t offset, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), offset), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

TEST(DataChanges, ACsvCutShortWhileItIsParsedIsAnErrorNotFewerRows) {
  ScratchDir dir;
  const std::string path = write_csv(dir, "shrinks.csv");
  const auto full = std::filesystem::file_size(path);
  CsvReader reader(path, {}, small_blocks());
  bool cut = false;
  const std::string message = data_error([&] {
    reader.parse([&](CsvColumnsBlock&) {
      if (!cut) {
        ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(full / 2)), 0);
      }
      cut = true;
    });
  });
  EXPECT_THAT(message, HasSubstr(path + ": the file changed while it was being read (" + std::to_string(full) +
                                 " bytes when opened, " + std::to_string(full / 2) + " now"));
}

TEST(DataChanges, ACsvWrittenToInPlaceWhileItIsParsedIsAnError) {
  ScratchDir dir;
  const std::string path = write_csv(dir, "rewritten.csv");
  const auto full = std::filesystem::file_size(path);
  CsvReader reader(path, {}, small_blocks());
  bool written = false;
  const std::string message = data_error([&] {
    reader.parse([&](CsvColumnsBlock&) {
      if (!written) overwrite_bytes(path, static_cast<off_t>(full - 9), "9");  // a digit of the last y
      written = true;
    });
  });
  EXPECT_THAT(message, HasSubstr(path + ": the file changed while it was being read"));
}

TEST(DataChanges, ACsvReplacedByRenameIsReadToTheEndFromTheOpenedFile) {
  ScratchDir dir;
  const std::string path = write_csv(dir, "replaced.csv");
  const std::string replacement = write_csv(dir, "new.csv", 7.0);
  CsvReader reader(path, {}, small_blocks());
  std::size_t rows = 0;
  double last_y = 0;
  bool replaced = false;
  reader.parse([&](CsvColumnsBlock& block) {
    if (!replaced) {
      ASSERT_EQ(::rename(replacement.c_str(), path.c_str()), 0);
    }
    replaced = true;
    rows += block.rows;
    last_y = block.columns[1][block.rows - 1];
  });
  EXPECT_EQ(rows, kRows);
  EXPECT_DOUBLE_EQ(last_y, 2.0 + 0.5 * static_cast<double>(kRows - 1) * 1e-3);
}

TEST(DataChanges, AStreamedHdf5WrittenToInPlaceIsAnErrorAtTheNextRead) {
  ScratchDir dir;
  const std::string path = write_hdf5(dir, "rewritten.h5", 3.0);
  auto stream = open_streaming(path, {});
  std::vector<double> x(1000), y(1000);
  double* xs[1] = {x.data()};
  stream->read(0, 1000, xs, y.data(), nullptr);
  overwrite_bytes(path, static_cast<off_t>(std::filesystem::file_size(path) - 8), std::string(8, '\0'));
  EXPECT_EQ(data_error([&] { stream->read(1000, 1000, xs, y.data(), nullptr); }),
            path + ": the file was written to while it was being read; it must not change during a fit");
}

// Columns mapped in place see a write at once: the fit asks afterwards and reports no result.
TEST(DataChanges, AMappedHdf5WrittenToInPlaceIsReportedAfterTheFit) {
  ScratchDir dir;
  const std::string path = write_hdf5(dir, "mapped.h5", 3.0);
  const auto source = load_data(path, {});
  ASSERT_TRUE(source->external_columns()) << "expected the columns mapped in place";
  source->check_unchanged();
  overwrite_bytes(path, static_cast<off_t>(std::filesystem::file_size(path) - 8), std::string(8, '\0'));
  EXPECT_EQ(data_error([&] { source->check_unchanged(); }),
            path + ": the file was written to while it was being read; it must not change during a fit");
}

TEST(DataChanges, AMappedHdf5ReplacedByRenameKeepsTheOldValues) {
  ScratchDir dir;
  const std::string path = write_hdf5(dir, "mapped.h5", 3.0);
  const std::string replacement = write_hdf5(dir, "new.h5", 9.0);
  const auto source = load_data(path, {});
  ASSERT_TRUE(source->external_columns());
  const double first_y = source->y_column()[0];
  EXPECT_DOUBLE_EQ(first_y, 3.0 + 1.0);  // a exp(-b 0) + c
  ASSERT_EQ(::rename(replacement.c_str(), path.c_str()), 0);
  source->check_unchanged();
  EXPECT_EQ(source->y_column()[0], first_y);
}

}  // namespace
}  // namespace curvefit
