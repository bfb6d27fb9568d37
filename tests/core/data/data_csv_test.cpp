// CSV reading: round trips, every dialect, column selection, block borders, and each bad input
// with its FILE:LINE:COLUMN message.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "core/data/csv_reader.h"
#include "core/data/data_open.h"
#include "core/data/data_test_util.h"
#include "core/errors.h"

namespace curvefit {
namespace {

using testing_data::data_error;
using testing_data::ScratchDir;
using ::testing::HasSubstr;

std::vector<double> x_of(const MemoryDataSource& source, int k = 0) {
  return {source.x_column(k), source.x_column(k) + source.rows()};
}
std::vector<double> y_of(const MemoryDataSource& source) {
  return {source.y_column(), source.y_column() + source.rows()};
}

// x_i = i / 7, y_i = exp(-x_i) * 3.25: values with full 17-digit expansions.
std::string exact_table(std::size_t n, std::vector<double>& x, std::vector<double>& y) {
  std::string text = "t,signal\n";
  char line[96];
  for (std::size_t i = 0; i < n; ++i) {
    x.push_back(static_cast<double>(i) / 7.0);
    y.push_back(std::exp(-x.back()) * 3.25);
    std::snprintf(line, sizeof line, "%.17g,%.17g\n", x.back(), y.back());
    text += line;
  }
  return text;
}

TEST(CsvRead, RoundTripIsBitExact) {
  ScratchDir dir;
  std::vector<double> x, y;
  auto path = dir.write("exact.csv", exact_table(5000, x, y));
  auto source = load_data(path, {});
  ASSERT_EQ(source->rows(), 5000u);
  EXPECT_EQ(x_of(*source), x);
  EXPECT_EQ(y_of(*source), y);
  EXPECT_EQ(source->column_names(), (std::vector<std::string>{"t", "signal"}));
}

TEST(CsvRead, TinyBlocksGiveTheSameRowsAsOneBlock) {
  ScratchDir dir;
  std::vector<double> x, y;
  auto path = dir.write("exact.csv", exact_table(3000, x, y));
  for (std::size_t block : {1u, 37u, 64u, 4096u}) {
    CsvParseTuning tuning;
    tuning.block_bytes = block;
    CsvReader reader(path, {}, tuning);
    std::vector<double> got_x, got_y;
    reader.parse([&](CsvColumnsBlock& b) {
      got_x.insert(got_x.end(), b.columns[0].begin(), b.columns[0].end());
      got_y.insert(got_y.end(), b.columns[1].begin(), b.columns[1].end());
    });
    EXPECT_EQ(got_x, x) << "block " << block;
    EXPECT_EQ(got_y, y) << "block " << block;
  }
}

TEST(CsvRead, ErrorLineNumbersAreExactAcrossBlocks) {
  ScratchDir dir;
  std::string text = "# comment\n";
  for (int i = 0; i < 2000; ++i) text += std::to_string(i) + "," + std::to_string(2 * i) + "\n";
  text += "5,oops\n";  // line 2002
  text += "6,7\n";
  auto path = dir.write("late_error.csv", text);
  for (std::size_t block : {16u, 1000u, 8u << 20}) {
    CsvParseTuning tuning;
    tuning.block_bytes = block;
    EXPECT_EQ(data_error([&] { CsvReader(path, {}, tuning).parse([](CsvColumnsBlock&) {}); }),
              path + ":2002:3: field 2 'oops' is not a number")
        << "block " << block;
  }
}

struct Dialect {
  const char* name;
  std::string text;
};

TEST(CsvRead, EveryDialectReadsTheSameTable) {
  const std::vector<double> want_x{1, 2.5, -3e-2}, want_y{10, 20.25, 1e6};
  const std::vector<Dialect> dialects{
      {"comma", "1,10\n2.5,20.25\n-3e-2,1e6\n"},
      {"comma header", "x,y\n1,10\n2.5,20.25\n-3e-2,1e6\n"},
      {"tab", "x\ty\n1\t10\n2.5\t20.25\n-3e-2\t1e6\n"},
      {"semicolon", "x;y\n1;10\n2.5;20.25\n-3e-2;1e6\n"},
      {"whitespace runs", "  x    y\n   1   10\n2.5\t  20.25  \n -3e-2 1e6\n"},
      {"crlf", "x,y\r\n1,10\r\n2.5,20.25\r\n-3e-2,1e6\r\n"},
      {"comments and blanks", "# produced by hand\n\nx,y\n  # indented comment\n1,10\n\n2.5,20.25\n   \n-3e-2,1e6\n"},
      {"quoted", "\"x\",\"y\"\n\"1\",10\n2.5,\"20.25\"\n\"-3e-2\" , 1e6\n"},
      {"spaces around fields", "x , y\n 1 , 10\n2.5,  20.25\n-3e-2 ,1e6 \n"},
      {"plus signs and no final newline", "x,y\n+1,+10\n2.5,20.25\n-3e-2,1e6"},
  };
  ScratchDir dir;
  for (const auto& dialect : dialects) {
    auto path = dir.write("dialect.csv", dialect.text);
    auto source = load_data(path, {});
    EXPECT_EQ(x_of(*source), want_x) << dialect.name;
    EXPECT_EQ(y_of(*source), want_y) << dialect.name;
  }
}

TEST(CsvRead, DetectsTheDelimiterAndHeader) {
  ScratchDir dir;
  struct Case { std::string text; char delimiter; bool whitespace; bool header; };
  const std::vector<Case> cases{
      {"a,b,c\n1,2,3\n", ',', false, true},
      {"1\t2\t3\n4\t5\t6\n", '\t', false, false},
      {"a;b\n1,5;2\n", ';', false, true},
      {"1 2 3\n4 5 6\n", ' ', true, false},
  };
  for (const auto& c : cases) {
    CsvReader reader(dir.write("d.csv", c.text), {}, {}, /*choose_columns=*/false);
    EXPECT_EQ(reader.dialect().delimiter, c.delimiter) << c.text;
    EXPECT_EQ(reader.dialect().whitespace, c.whitespace) << c.text;
    EXPECT_EQ(reader.dialect().has_header, c.header) << c.text;
  }
}

TEST(CsvRead, ForcedDelimiterAndHeader) {
  ScratchDir dir;
  // '|' is never detected; forcing it reads the file. A numeric first row forced as header.
  DataOptions options;
  options.delimiter = '|';
  options.header = true;
  auto source = load_data(dir.write("pipe.csv", "100|200\n1|2\n3|4\n"), options);
  EXPECT_EQ(x_of(*source), (std::vector<double>{1, 3}));
  EXPECT_EQ(source->column_names(), (std::vector<std::string>{"100", "200"}));
  // A header-looking first row forced to be data is an error at that row.
  DataOptions no_header;
  no_header.header = false;
  auto path = dir.write("h.csv", "x,y\n1,2\n");
  EXPECT_EQ(data_error([&] { load_data(path, no_header); }), path + ":1:1: field 1 'x' is not a number");
}

TEST(CsvOptions, DelimiterOptionValues) {
  EXPECT_EQ(parse_delimiter_option(""), 0);
  EXPECT_EQ(parse_delimiter_option("tab"), '\t');
  EXPECT_EQ(parse_delimiter_option("\\t"), '\t');
  EXPECT_EQ(parse_delimiter_option("space"), ' ');
  EXPECT_EQ(parse_delimiter_option(";"), ';');
  EXPECT_EQ(parse_delimiter_option("|"), '|');
  EXPECT_THROW(parse_delimiter_option("ab"), UsageError);
  EXPECT_THROW(parse_delimiter_option("\""), UsageError);
}

TEST(CsvRead, ColumnsByNameAndIndex) {
  ScratchDir dir;
  auto path = dir.write("cols.csv", "id,time,signal,err\n1,0.5,10,0.1\n2,1.5,20,0.2\n3,2.5,30,0.3\n");
  DataOptions by_name;
  by_name.x = {"time"};
  by_name.y = "signal";
  by_name.sigma = "err";
  auto named = load_data(path, by_name);
  EXPECT_EQ(x_of(*named), (std::vector<double>{0.5, 1.5, 2.5}));
  EXPECT_EQ(y_of(*named), (std::vector<double>{10, 20, 30}));
  ASSERT_TRUE(named->has_sigma());
  EXPECT_EQ(std::vector<double>(named->sigma_column(), named->sigma_column() + 3), (std::vector<double>{0.1, 0.2, 0.3}));
  EXPECT_EQ(named->column_names(), (std::vector<std::string>{"time", "signal", "err"}));

  DataOptions by_index;
  by_index.x = {"2"};
  by_index.y = "3";
  by_index.sigma = "4";
  auto indexed = load_data(path, by_index);
  EXPECT_EQ(x_of(*indexed), x_of(*named));
  EXPECT_EQ(y_of(*indexed), y_of(*named));

  DataOptions same_column;  // one column as both x and sigma
  same_column.x = {"err"};
  same_column.y = "signal";
  same_column.sigma = "err";
  auto same = load_data(path, same_column);
  EXPECT_EQ(x_of(*same), (std::vector<double>{0.1, 0.2, 0.3}));
  EXPECT_EQ(std::vector<double>(same->sigma_column(), same->sigma_column() + 3), (std::vector<double>{0.1, 0.2, 0.3}));

  DataOptions two_predictors;  // defaults: x1 = column 1, x2 = column 2, y = column 3
  two_predictors.num_predictors = 2;
  auto two = load_data(path, two_predictors);
  EXPECT_EQ(two->num_predictors(), 2);
  EXPECT_EQ(x_of(*two, 0), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(x_of(*two, 1), (std::vector<double>{0.5, 1.5, 2.5}));
  EXPECT_EQ(y_of(*two), (std::vector<double>{10, 20, 30}));
}

TEST(CsvRead, NanAndInfAreRecognisedAndPolicedByNanPolicy) {
  ScratchDir dir;
  auto path = dir.write("nan.csv", "x,y,s\n1,2,1\n2,nan,1\n3,4,1\n-inf,5,1\n4,5,0\n5,Infinity,1\n6,7,1\n");
  DataOptions raise;
  raise.sigma = "s";
  EXPECT_EQ(data_error([&] { load_data(path, raise); }),
            path + ":3:3: non-finite value (use --nan-policy omit to drop such rows)");
  DataOptions omit = raise;
  omit.nan_policy = NanPolicy::omit;
  std::string log;  // the library's remarks go to on_notice (the command line prints them)
  omit.on_notice = [&log](const std::string& line) { log += line + "\n"; };
  auto source = load_data(path, omit);
  EXPECT_EQ(x_of(*source), (std::vector<double>{1, 3, 6}));
  EXPECT_THAT(log, HasSubstr("omitted 4 rows with non-finite x/y or sigma <= 0 (lines 3, 5, 6, 7)"));

  DataOptions sigma_raise;
  sigma_raise.sigma = "s";
  auto zero_sigma = dir.write("sigma.csv", "x,y,s\n1,2,1\n2,3,0\n");
  EXPECT_EQ(data_error([&] { load_data(zero_sigma, sigma_raise); }),
            zero_sigma + ":3:5: sigma must be finite and > 0 (use --nan-policy omit to drop such rows)");
}

TEST(CsvRead, SkipInvalidReportsCountAndFirstLines) {
  ScratchDir dir;
  std::string text = "x,y\n";
  for (int i = 1; i <= 20; ++i) text += (i % 3 == 0) ? "bad,row\n" : std::to_string(i) + "," + std::to_string(i) + "\n";
  text += "1,2,3\n";  // wrong field count
  auto path = dir.write("skip.csv", text);
  DataOptions options;
  options.skip_invalid = true;
  std::string log;
  options.on_notice = [&log](const std::string& line) { log += line + "\n"; };
  ::testing::internal::CaptureStderr();
  auto source = load_data(path, options);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");  // the library prints nothing
  EXPECT_EQ(source->rows(), 14u);
  EXPECT_EQ(log, path + ": skipped 7 invalid rows (lines 4, 7, 10, 13, 16, ...)\n");
}

TEST(CsvBadInput, EachProblemHasItsOwnLine) {
  ScratchDir dir;
  struct Case { const char* name; std::string text; std::string message; DataOptions options = {}; };
  DataOptions missing_name;
  missing_name.y = "voltage";
  DataOptions name_without_header;
  name_without_header.x = {"time"};
  DataOptions index_too_big;
  index_too_big.y = "7";
  const std::vector<Case> cases{
      {"non-numeric", "x,y\n1,2\n3,4x\n", ":3:3: field 2 '4x' is not a number"},
      {"newline in a header name", "\"a\nb\"\n1\n",
       ":1:1: cannot tell which columns to fit: no column is named x or y, and only 1 other column(s) remain "
       "(columns: a\\nb); choose with --x NAME, --y NAME (and --sigma NAME for weights)"},
      {"quoted newline in a bad field", "x,y\n1,\"2\nc\t\x01\"\n", ":2:3: field 2 '\"2\\nc\\t\\x01\"' is not a number"},
      {"empty field", "x,y\n1,2\n3,\n", ":3:3: empty field: a missing value (use --nan-policy omit to drop such rows)"},
      {"too few fields", "x,y,z\n1,2,3\n4,5\n", ":3:4: expected 3 fields, found 2"},
      {"too many fields", "x,y\n1,2\n4,5,6\n", ":3:6: expected 2 fields, found 3"},
      {"missing column name", "x,y\n1,2\n", ":1:1: --y column 'voltage' not found (columns: x, y)", missing_name},
      {"name without header", "1,2\n", ":1:1: --x column 'time' not found: the file has no header row (use a 1-based index)",
       name_without_header},
      {"index too big", "x,y\n1,2\n", ":1:1: --y column 7 does not exist: the file has 2 columns", index_too_big},
      {"empty file", "", ":1:1: empty file"},
      {"only comments", "# nothing\n\n", ":2:1: empty file: only comments and blank lines"},
      {"header only", "time,signal\n", ":1:1: header row but no data rows"},
      {"embedded NUL", std::string("x,y\n1,2\n3,\0\n", 12), ":3:3: embedded NUL byte (is this a binary file?)"},
      {"unterminated quote", "x,y\n\"1,2\n", ":2:1: unterminated quoted field"},
      {"one column only", "x\n1\n2\n",
       ":1:1: cannot tell which columns to fit: no column is named y, and no other column is left (columns: x); "
       "choose with --x NAME, --y NAME (and --sigma NAME for weights)"},
      {"one column, no header", "1\n2\n", ":1:1: --y column 2 does not exist: the file has 1 column"},
  };
  for (const auto& c : cases) {
    auto path = dir.write(std::string(c.name) + ".csv", c.text);
    EXPECT_EQ(data_error([&] { load_data(path, c.options); }), path + c.message) << c.name;
  }
}

TEST(CsvBadInput, LineOfUnboundedLengthIsRefusedWithoutBufferingIt) {
  ScratchDir dir;
  // 3 MB without a newline after two good rows: the 1 MB line cap stops it.
  std::string text = "x,y\n1,2\n3,4\n" + std::string(3u << 20, '7');
  auto path = dir.write("long.csv", text);
  EXPECT_EQ(data_error([&] { load_data(path, {}); }), path + ":4:1: line longer than 1048576 bytes");
  // The same inside the detection sample (first line) and with a tiny cap in the block stage.
  auto first = dir.write("long_first.csv", std::string(3u << 20, '1') + "\n1,2\n");
  EXPECT_EQ(data_error([&] { load_data(first, {}); }), first + ":1:1: line longer than 1048576 bytes");
  CsvParseTuning tuning;
  tuning.max_line_bytes = 64;
  tuning.block_bytes = 32;
  auto later = dir.write("long_later.csv", "x,y\n1,2\n" + std::string(200, '5') + ",1\n");
  EXPECT_EQ(data_error([&] { CsvReader(later, {}, tuning).parse([](CsvColumnsBlock&) {}); }),
            later + ":3:1: line longer than 64 bytes");
}

TEST(CsvRead, MissingFileIsADataError) {
  EXPECT_EQ(data_error([] { load_data("/nonexistent/file.csv", {}); }),
            "/nonexistent/file.csv: cannot open: No such file or directory");
}

TEST(CsvProbe, EstimatesRowsAndNamesColumns) {
  ScratchDir dir;
  std::vector<double> x, y;
  auto small = dir.write("small.csv", exact_table(100, x, y));
  DataInfo info = probe_data(small, {});
  EXPECT_EQ(info.format, FileFormat::csv);
  EXPECT_TRUE(info.rows_exact);
  EXPECT_EQ(info.rows, 100u);
  EXPECT_EQ(info.column_names, (std::vector<std::string>{"t", "signal"}));
  // Larger than the 1 MB sample: an estimate within a few percent of the truth.
  x.clear();
  y.clear();
  auto large = dir.write("large.csv", exact_table(60000, x, y));
  DataInfo estimate = probe_data(large, {});
  EXPECT_FALSE(estimate.rows_exact);
  EXPECT_NEAR(static_cast<double>(estimate.rows), 60000.0, 60000.0 * 0.05);
}

// Lines that get longer down the file (as x counting up from 0 does): the first megabyte alone
// says 40 % too many rows; windows spread over the file see the longer lines. The estimate sizes
// the loaded columns (a short one makes them grow, copied whole, at the end of the load) and the
// plan.
TEST(CsvProbe, EstimatesRowsOfAFileWhoseLinesGetLonger) {
  ScratchDir dir;
  std::string text = "x,y\n";
  const std::size_t rows = 400000;
  for (std::size_t i = 0; i < rows; ++i)
    text += std::to_string(i < rows / 2 ? i % 1000 : 1000000000 + i) + ",1.5\n";
  const std::string path = dir.write("longer.csv", text);
  const DataInfo info = probe_data(path, {});
  EXPECT_FALSE(info.rows_exact);
  EXPECT_NEAR(static_cast<double>(info.rows), static_cast<double>(rows), rows * 0.02);
  // And the load (which may still have to grow the columns) has every row.
  EXPECT_EQ(load_data(path, {})->rows(), rows);
}

// Standard input: probe_data("-") then load_data("-") sees every row (the probe's sample is kept).
TEST(CsvStdin, ProbeThenLoadReadsEverything) {
  ScratchDir dir;
  std::vector<double> x, y;
  auto path = dir.write("stdin.csv", exact_table(200000, x, y));  // > 1 MB: beyond the sample
  int saved = ::dup(0);
  int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ::dup2(fd, 0);
  ::close(fd);
  DataInfo info = probe_data("-", {});
  auto source = load_data("-", {});
  ::dup2(saved, 0);
  ::close(saved);
  EXPECT_EQ(info.column_names, (std::vector<std::string>{"t", "signal"}));
  EXPECT_EQ(source->description(), "<stdin>");
  ASSERT_EQ(source->rows(), 200000u);
  EXPECT_EQ(x_of(*source), x);
  EXPECT_EQ(y_of(*source), y);
}

}  // namespace
}  // namespace curvefit
