// A CSV's rows found by byte offset (core/data/csv_byte_ranges.h) against the reader's own parse of
// the whole file: the line scan numbers rows as the reader does (blank, padded and comment lines,
// CRLF, a byte order mark, a header after comments, whitespace-separated columns, no final line
// end), whatever byte ranges the file is cut into, and any row range read through the located
// offsets holds the reader's values; a bad field names the file's true line.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/data/csv_byte_ranges.h"
#include "core/data/csv_reader.h"
#include "tests/core/data/data_test_util.h"

namespace curvefit {
namespace {

using testing_data::data_error;
using testing_data::ScratchDir;

struct Columns {
  std::vector<double> x, y;
};

Columns parse_whole(const std::string& path) {
  CsvReader reader(path, DataOptions{});
  Columns all;
  reader.parse([&](CsvColumnsBlock& block) {
    all.x.insert(all.x.end(), block.columns[0].begin(), block.columns[0].end());
    all.y.insert(all.y.end(), block.columns[1].begin(), block.columns[1].end());
  });
  return all;
}

// Every row of the file through a CsvRowsSource that knows only row 0 and the end.
std::unique_ptr<CsvRowsSource> rows_source(const std::string& path, std::size_t rows) {
  auto reader = std::make_unique<CsvReader>(path, DataOptions{});
  auto scanner = std::make_unique<CsvLineScanner>(path, reader->data_offset());
  const std::vector<CsvPosition> anchors = {{scanner->data_begin(), 0, reader->lines_before_data()},
                                            {scanner->file_bytes(), rows, 0}};
  return std::make_unique<CsvRowsSource>(std::move(reader), std::move(scanner), rows, anchors);
}

// Files as people write them; each has 7 data rows.
std::vector<std::string> tricky_files() {
  return {
      "x,y\n1,2\n2,4\n3,6\n4,8\n5,10\n6,12\n7,14\n",
      "\xEF\xBB\xBF# exported\r\n\r\nx,y\r\n1,2\r\n  \r\n2,4\r\n# mid\r\n3,6\r\n4,8\r\n\t\r\n5,10\r\n6,12\r\n7,14",
      "1 2\n  2   4\n3 6\n\n4 8\n  # c\n5 10\n6 12\n7 14\n\n\n",
      "x;y\n1;2\n2;4\n3;6\n4;8\n5;10\n6;12\n7;14\n# trailing comment\n",
      "# c1\n# c2\n1,2\n2,4\n\n\n3,6\n4,8\n5,10\n6,12\n7,14\n",
  };
}

TEST(CsvByteRanges, EveryCutOfTheFileCountsTheReadersRows) {
  ScratchDir dir;
  for (const std::string& text : tricky_files()) {
    const std::string path = dir.write("data.csv", text);
    const Columns whole = parse_whole(path);
    ASSERT_EQ(whole.y.size(), 7u) << text;
    const CsvReader reader(path, DataOptions{});
    CsvLineScanner scanner(path, reader.data_offset());
    const std::size_t data_bytes = scanner.file_bytes() - scanner.data_begin();
    for (std::size_t ranges = 1; ranges <= data_bytes; ++ranges) {
      std::size_t rows = 0, newlines = 0;
      for (std::size_t r = 0; r < ranges; ++r) {
        const std::size_t begin = scanner.data_begin() + data_bytes * r / ranges;
        const std::size_t end = scanner.data_begin() + data_bytes * (r + 1) / ranges;
        const CsvRangeCount count = scanner.count(begin, end, 1);
        rows += count.rows;
        newlines += count.newlines;
        EXPECT_FALSE(count.has_quote);
      }
      EXPECT_EQ(rows, 7u) << ranges << " ranges of\n" << text;
      EXPECT_EQ(newlines, static_cast<std::size_t>(std::count(text.begin() + static_cast<std::ptrdiff_t>(scanner.data_begin()),
                                                              text.end(), '\n')))
          << ranges << " ranges of\n" << text;
    }
  }
}

TEST(CsvByteRanges, AnyRowRangeHoldsTheReadersValues) {
  ScratchDir dir;
  for (const std::string& text : tricky_files()) {
    const std::string path = dir.write("data.csv", text);
    const Columns whole = parse_whole(path);
    for (std::size_t begin = 0; begin < 7; ++begin)
      for (std::size_t count = 1; begin + count <= 7; ++count) {
        const std::unique_ptr<CsvRowsSource> source = rows_source(path, 7);
        std::vector<double> x(count), y(count);
        double* xs[] = {x.data()};
        source->read(begin, count, xs, y.data(), nullptr);
        for (std::size_t i = 0; i < count; ++i) {
          EXPECT_EQ(x[i], whole.x[begin + i]) << begin << "+" << i << " of\n" << text;
          EXPECT_EQ(y[i], whole.y[begin + i]) << begin << "+" << i << " of\n" << text;
        }
        EXPECT_GT(source->bytes_read(), 0u);
      }
  }
}

TEST(CsvByteRanges, QuotesAreReported) {
  ScratchDir dir;
  const std::string path = dir.write("quoted.csv", "x,y\n1,2\n\"2\",4\n3,6\n");
  const CsvReader reader(path, DataOptions{});
  CsvLineScanner scanner(path, reader.data_offset());
  EXPECT_TRUE(scanner.count(scanner.data_begin(), scanner.file_bytes(), 1).has_quote);
  EXPECT_FALSE(scanner.count(scanner.data_begin(), scanner.data_begin() + 4, 1).has_quote);
}

TEST(CsvByteRanges, ABadFieldNamesTheFilesLine) {
  ScratchDir dir;
  const std::string path = dir.write("bad.csv", "# c\nx,y\r\n1,2\r\n\r\n2,4\r\n3,oops\r\n4,8\r\n");
  const std::unique_ptr<CsvRowsSource> source = rows_source(path, 4);
  std::vector<double> x(2), y(2);
  double* xs[] = {x.data()};
  source->read(0, 2, xs, y.data(), nullptr);  // rows 1 and 2: fine
  EXPECT_EQ(y[1], 4.0);
  const std::string message = data_error([&] { source->read(2, 2, xs, y.data(), nullptr); });
  EXPECT_NE(message.find("bad.csv:6:3: field 2 'oops' is not a number"), std::string::npos) << message;
}

}  // namespace
}  // namespace curvefit
