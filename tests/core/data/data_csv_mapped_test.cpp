// The load into RAM (CsvReader::parse_placed) cuts its blocks out of a mapping of the file; parse()
// reads the same file through a buffer, block by block, carrying partial records over. Known
// truth: the table's own numbers, and parse()'s rows and messages, which every other test of the
// reader pins down. Tiny blocks put a border inside every record: quoted fields holding newlines,
// CRLF, a byte order mark, comments, a last line without its newline.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/data/csv_reader.h"
#include "core/data/data_test_util.h"
#include "core/errors.h"

namespace curvefit {
namespace {

using testing_data::data_error;
using testing_data::ScratchDir;
using ::testing::HasSubstr;

constexpr std::size_t kRows = 300;
const std::size_t kBlocks[] = {1, 7, 64, 1000, std::size_t{8} << 20};

struct Columns {
  std::vector<double> x, y;
  std::size_t rows_total = 0;
};

CsvParseTuning blocks_of(std::size_t bytes) {
  CsvParseTuning tuning;
  tuning.block_bytes = bytes;
  return tuning;
}

Columns read_through_buffer(const std::string& path, const DataOptions& options, std::size_t block) {
  Columns out;
  CsvReader reader(path, options, blocks_of(block));
  out.rows_total = reader.parse([&](CsvColumnsBlock& b) {
    out.x.insert(out.x.end(), b.columns[0].begin(), b.columns[0].end());
    out.y.insert(out.y.end(), b.columns[1].begin(), b.columns[1].end());
  }).rows_total();
  return out;
}

Columns read_mapped(const std::string& path, const DataOptions& options, std::size_t block) {
  std::map<std::size_t, CsvColumnsBlock> placed;  // by first row; the workers call in any order
  std::mutex mutex;
  CsvReader reader(path, options, blocks_of(block));
  Columns out;
  out.rows_total = reader.parse_placed([&](std::size_t first_row, const CsvColumnsBlock& b) {
    std::lock_guard lock(mutex);
    placed.emplace(first_row, b);
  }).rows_total();
  for (const auto& [first_row, b] : placed) {
    EXPECT_EQ(first_row, out.x.size()) << "blocks tile the rows";
    out.x.insert(out.x.end(), b.columns[0].begin(), b.columns[0].end());
    out.y.insert(out.y.end(), b.columns[1].begin(), b.columns[1].end());
  }
  return out;
}

std::string number(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

TEST(CsvMapped, EveryVariantAndBlockSizeReadsTheTableAsTheBufferedParseDoes) {
  std::vector<double> x, y;
  for (std::size_t i = 0; i < kRows; ++i) {
    x.push_back(static_cast<double>(i) / 8.0);
    y.push_back(2.5 * std::exp(-0.3 * x.back()) + 0.5);
  }
  struct Variant { std::string name, text; };
  std::vector<Variant> variants{{"plain", "t,y\n"},
                                {"BOM and CRLF", "\xEF\xBB\xBFt,y\r\n"},
                                {"quoted newlines", "t,note,y\n"},
                                {"comments, blanks, padding, quoted numbers", "# made by hand\nt,y\n"},
                                {"no newline at the end", "t,y\n"},
                                {"lone CR (read, not mapped)", "t,y\r"}};
  for (std::size_t i = 0; i < kRows; ++i) {
    const std::string xs = number(x[i]), ys = number(y[i]);
    variants[0].text += xs + "," + ys + "\n";
    variants[1].text += xs + "," + ys + "\r\n";
    variants[2].text += xs + ",\"a \"\"quoted\"\" note\n\nover, three lines\"," + ys + "\n";
    variants[3].text += (i % 7 == 0 ? "\n# note\n" : "") + std::string(" ") + xs + " , \"" + ys + "\"\n";
    variants[4].text += xs + "," + ys + (i + 1 < kRows ? "\n" : "");
    variants[5].text += xs + "," + ys + "\r";
  }
  ScratchDir dir;
  for (const Variant& variant : variants) {
    const std::string path = dir.write("variant.csv", variant.text);
    DataOptions options;
    options.y = variant.name == "quoted newlines" ? "y" : "";
    for (std::size_t block : kBlocks) {
      const Columns buffered = read_through_buffer(path, options, block);
      const Columns mapped = read_mapped(path, options, block);
      EXPECT_EQ(buffered.x, x) << variant.name << ", block " << block;
      EXPECT_EQ(buffered.y, y) << variant.name << ", block " << block;
      EXPECT_EQ(mapped.x, x) << variant.name << ", block " << block;
      EXPECT_EQ(mapped.y, y) << variant.name << ", block " << block;
      EXPECT_EQ(mapped.rows_total, buffered.rows_total) << variant.name << ", block " << block;
    }
  }
}

// Errors name the same file:line:column whichever way the text arrives: a bad value three lines
// into a record whose quoted newlines straddle block borders, and a line longer than the cap.
TEST(CsvMapped, ErrorsNameTheSameLineAndColumnAsTheBufferedParse) {
  std::string text = "t,note,y\n";
  for (std::size_t i = 0; i < kRows; ++i)
    text += std::to_string(i) + ",\"a note\nover three\nlines\"," + (i == 10 ? "oops" : std::to_string(2 * i)) + "\n";
  ScratchDir dir;
  const std::string path = dir.write("bad.csv", text);
  DataOptions options;
  options.y = "y";
  // Record 11 starts on line 2 + 10 * 3 = 32; its y is on line 34, after "lines\",".
  const std::string expected = path + ":34:8: field 3 'oops' is not a number";
  for (std::size_t block : kBlocks) {
    EXPECT_EQ(data_error([&] { read_through_buffer(path, options, block); }), expected) << "block " << block;
    EXPECT_EQ(data_error([&] { read_mapped(path, options, block); }), expected) << "block " << block;
  }
  CsvParseTuning capped = blocks_of(32);
  capped.max_line_bytes = 64;
  const std::string long_line = dir.write("long.csv", "x,y\n1,2\n" + std::string(200, '5') + ",1\n");
  EXPECT_EQ(data_error([&] { CsvReader(long_line, {}, capped).parse_placed([](std::size_t, const CsvColumnsBlock&) {}); }),
            long_line + ":3:1: line longer than 64 bytes");
  const std::string unbounded = dir.write("unbounded.csv", "x,y\n1,2\n" + std::string(200, '5'));
  EXPECT_EQ(data_error([&] { CsvReader(unbounded, {}, capped).parse_placed([](std::size_t, const CsvColumnsBlock&) {}); }),
            unbounded + ":3:1: line longer than 64 bytes");
}

// A file written to in place while it is mapped: the check at the end of the parse sees it (the
// mapping may show either bytes, so the rows cannot be trusted).
TEST(CsvMapped, AFileWrittenToWhileItIsMappedIsAnError) {
  std::string text = "x,y\n";
  for (std::size_t i = 0; i < 20000; ++i) text += std::to_string(i) + "," + std::to_string(3 * i) + "\n";
  ScratchDir dir;
  const std::string path = dir.write("rewritten.csv", text);
  const auto size = static_cast<off_t>(std::filesystem::file_size(path));
  CsvReader reader(path, {}, blocks_of(4096));
  bool written = false;
  const std::string message = data_error([&] {
    reader.parse_placed([&](std::size_t, const CsvColumnsBlock&) {
      if (written) return;
      written = true;
      const int fd = ::open(path.c_str(), O_WRONLY);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(::pwrite(fd, "9", 1, size - 3), 1);
      ::close(fd);
    });
  });
  EXPECT_THAT(message, HasSubstr(path + ": the file changed while it was being read"));
}

// Whether /proc/self/maps lists `path` (a mapping of the file is alive now).
bool mapped_now(const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  const std::string absolute = std::filesystem::absolute(path).string();
  for (std::string line; std::getline(maps, line);)
    if (line.size() >= absolute.size() && line.compare(line.size() - absolute.size(), absolute.size(), absolute) == 0)
      return true;
  return false;
}

// DataOptions::map_files = false (the Python module: it cannot survive the SIGBUS of a file cut
// short under a mapping): the load reads the file, no mapping of it exists while it parses, and
// the columns are the same.
TEST(CsvMapped, WithoutMapFilesTheLoadReadsTheFileInstead) {
  ScratchDir dir;
  const std::string path = dir.file("plain.csv");
  {
    std::ofstream out(path);
    out << "x,y\n";
    for (std::size_t i = 0; i < kRows; ++i) out << number(0.5 * i) << "," << number(std::sin(0.5 * i)) << "\n";
  }
  for (const bool map : {true, false}) {
    DataOptions options;
    options.map_files = map;
    CsvReader reader(path, options, blocks_of(1000));
    std::atomic<bool> seen_mapped{false};
    std::vector<double> y(kRows);
    reader.parse_placed([&](std::size_t first_row, const CsvColumnsBlock& b) {
      if (mapped_now(path)) seen_mapped = true;
      std::copy(b.columns[1].begin(), b.columns[1].end(), y.begin() + static_cast<std::ptrdiff_t>(first_row));
    });
    EXPECT_EQ(seen_mapped.load(), map);
    EXPECT_EQ(y, read_through_buffer(path, {}, 1000).y) << "map_files " << map;
  }
}

}  // namespace
}  // namespace curvefit
