// CSV as people write it: one table of known values written the plain way and in every variant a
// spreadsheet, R, pandas or an old Mac produces (decimal comma, lone-CR line ends, a byte order
// mark, quoted fields holding newlines, missing values); each variant must read back to exactly
// the plain file's numbers, and each problem must name its file:line:column.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/data/csv_reader.h"
#include "core/data/data_open.h"
#include "core/data/data_test_util.h"
#include "core/errors.h"

namespace curvefit {
namespace {

using testing_data::data_error;
using testing_data::ScratchDir;
using ::testing::HasSubstr;

constexpr std::size_t kRows = 400;

// x_i = i / 8, y_i = 2.5 exp(-0.3 x_i) + 0.5, written with 17 digits so that they read back exactly.
struct Truth {
  std::vector<double> x, y;
  std::vector<std::string> x_text, y_text;
  Truth() {
    char text[64];
    for (std::size_t i = 0; i < kRows; ++i) {
      x.push_back(static_cast<double>(i) / 8.0);
      y.push_back(2.5 * std::exp(-0.3 * x.back()) + 0.5);
      std::snprintf(text, sizeof text, "%.17g", x.back());
      x_text.push_back(text);
      std::snprintf(text, sizeof text, "%.17g", y.back());
      y_text.push_back(text);
    }
  }
};

std::string with_decimal_comma(std::string number) {
  for (char& c : number)
    if (c == '.') c = ',';
  return number;
}

void expect_truth(const MemoryDataSource& source, const Truth& truth, const std::string& variant) {
  ASSERT_EQ(source.rows(), kRows) << variant;
  EXPECT_EQ(std::vector<double>(source.x_column(0), source.x_column(0) + kRows), truth.x) << variant;
  EXPECT_EQ(std::vector<double>(source.y_column(), source.y_column() + kRows), truth.y) << variant;
}

TEST(CsvVariants, EveryVariantReadsBackThePlainTable) {
  const Truth truth;
  struct Variant { std::string name, text; DataOptions options = {}; };
  std::vector<Variant> variants{{"plain", "t,y\n"}, {"decimal comma, detected", "t;y\n"},
                                {"decimal comma, forced, tab", "t\ty\n"}, {"lone CR", "t,y\r"},
                                {"BOM and CRLF", "\xEF\xBB\xBFt,y\r\n"}, {"quoted newlines", "t,note,y\n"},
                                {"headerless decimal comma", ""}};
  variants[2].options.decimal = ',';
  variants[5].options.y = "y";
  for (std::size_t i = 0; i < kRows; ++i) {
    const std::string& x = truth.x_text[i];
    const std::string& y = truth.y_text[i];
    variants[0].text += x + "," + y + "\n";
    variants[1].text += with_decimal_comma(x) + ";" + with_decimal_comma(y) + "\n";
    variants[2].text += with_decimal_comma(x) + "\t" + with_decimal_comma(y) + "\n";
    variants[3].text += x + "," + y + "\r";
    variants[4].text += x + "," + y + "\r\n";
    variants[5].text += x + ",\"sample " + std::to_string(i) + "\nsecond line, with a comma\"," + y + "\n";
    variants[6].text += with_decimal_comma(x) + ";" + with_decimal_comma(y) + "\n";
  }
  ScratchDir dir;
  for (const auto& variant : variants) {
    // Named .dat: the content decides how it is read.
    const std::string path = dir.write("variant.dat", variant.text);
    ASSERT_EQ(detect_format(path), FileFormat::csv);
    expect_truth(*load_data(path, variant.options), truth, variant.name);
    // The streaming path reads the same numbers through its spill file.
    auto stream = open_streaming(path, variant.options);
    std::vector<double> x(kRows), y(kRows);
    double* xs[1] = {x.data()};
    stream->read(0, kRows, xs, y.data(), nullptr);
    EXPECT_EQ(x, truth.x) << variant.name;
    EXPECT_EQ(y, truth.y) << variant.name;
  }
}

TEST(CsvVariants, DialectReportsTheDecimalCommaOnlyWhereTheNumbersUseIt) {
  ScratchDir dir;
  EXPECT_EQ(CsvReader(dir.write("a.csv", "t;y\n0,5;1,25\n"), {}).dialect().decimal, ',');
  EXPECT_EQ(CsvReader(dir.write("b.csv", "t;y\n0.5;1.25\n"), {}).dialect().decimal, '.');
  EXPECT_EQ(CsvReader(dir.write("c.csv", "t;y\n1;2\n"), {}).dialect().decimal, '.');
  // A text field with a comma says nothing about the numbers.
  EXPECT_EQ(CsvReader(dir.write("d.csv", "t;y;note\n0.5;1.25;a, b\n"), {}).dialect().decimal, '.');
  DataOptions clash;
  clash.decimal = ',';
  clash.delimiter = ',';
  EXPECT_THROW(CsvReader(dir.write("e.csv", "1,2\n"), clash), UsageError);
  EXPECT_EQ(parse_decimal_option(""), 0);
  EXPECT_EQ(parse_decimal_option(","), ',');
  EXPECT_EQ(parse_decimal_option("."), '.');
  EXPECT_THROW(parse_decimal_option(";"), UsageError);
}

TEST(CsvVariants, QuotedNewlinesNeverSplitAcrossBlocksAndLinesStayExact) {
  const Truth truth;
  std::string text = "t,note,y\n";
  for (std::size_t i = 0; i < kRows; ++i)
    text += truth.x_text[i] + ",\"a \"\"quoted\"\" note\n\nover three lines\"," + truth.y_text[i] + "\n";
  ScratchDir dir;
  const std::string path = dir.write("notes.csv", text);
  DataOptions options;
  options.y = "y";
  for (std::size_t block : {1u, 7u, 64u, 1000u}) {
    CsvParseTuning tuning;
    tuning.block_bytes = block;
    CsvReader reader(path, options, tuning);
    std::vector<double> x, y;
    reader.parse([&](CsvColumnsBlock& b) {
      x.insert(x.end(), b.columns[0].begin(), b.columns[0].end());
      y.insert(y.end(), b.columns[1].begin(), b.columns[1].end());
    });
    EXPECT_EQ(x, truth.x) << "block " << block;
    EXPECT_EQ(y, truth.y) << "block " << block;
  }
  // inspect counts records, not lines.
  CsvReader counter(path, options);
  EXPECT_EQ(counter.count_data_lines(), kRows);
  // A bad value after quoted newlines is reported on its physical line: records take 3 lines each
  // after the header, so record 11 starts on line 2 + 10 * 3 = 32 and its y sits on line 34.
  std::string bad = text;
  const std::string eleventh = truth.y_text[10] + "\n";
  bad.replace(bad.find("lines\"," + eleventh) + 7, eleventh.size() - 1, "oops");
  const std::string bad_path = dir.write("bad.csv", bad);
  for (std::size_t block : {5u, 8u << 20}) {
    CsvParseTuning tuning;
    tuning.block_bytes = block;
    EXPECT_EQ(data_error([&] { CsvReader(bad_path, options, tuning).parse([](CsvColumnsBlock&) {}); }),
              bad_path + ":34:19: field 3 'oops' is not a number")
        << "block " << block;
  }
}

// Only a quote that starts a field opens a quoted field: a stray one in the middle of a text
// field (inches) must not join the lines after it into one record.
TEST(CsvVariants, AQuoteInsideAFieldIsText) {
  ScratchDir dir;
  const std::string path = dir.write("inches.csv", "t,label,y\n1,5\" pipe,2\n2,ok,4\n3,\"6\"\" pipe\n, bent\",6\n4,x,8\n");
  for (std::size_t block : {1u, 3u, 8u << 20}) {
    CsvParseTuning tuning;
    tuning.block_bytes = block;
    DataOptions options;
    options.y = "y";
    CsvReader reader(path, options, tuning);
    std::vector<double> y;
    reader.parse([&](CsvColumnsBlock& b) { y.insert(y.end(), b.columns[1].begin(), b.columns[1].end()); });
    EXPECT_EQ(y, (std::vector<double>{2, 4, 6, 8})) << "block " << block;
  }
  DataOptions options;
  options.y = "y";
  EXPECT_EQ(CsvReader(path, options).count_data_lines(), 4u);
}

TEST(CsvVariants, MissingValuesAreRaisedWithTheirPlaceOrOmitted) {
  const Truth truth;
  std::string text = "t,y\n";
  const std::vector<std::string> missing{"", "NA", "N/A", "NaN", "null", " na ", "\"\""};
  for (std::size_t i = 0; i < kRows; ++i) {
    text += truth.x_text[i] + "," + truth.y_text[i] + "\n";
    if (i % 50 == 3) text += missing[(i / 50) % missing.size()] + ",1\n";  // a row with no x
    if (i % 50 == 9) text += "2.5," + missing[(i / 50) % missing.size()] + "\n";  // a row with no y
  }
  ScratchDir dir;
  const std::string path = dir.write("missing.csv", text);
  // Raise (the default): the first one, with its line and column. Row 3 (0-based) is on line 5,
  // so the first missing x is on line 6.
  EXPECT_EQ(data_error([&] { load_data(path, {}); }),
            path + ":6:1: empty field: a missing value (use --nan-policy omit to drop such rows)");
  const std::string second = dir.write("na.csv", "t,y\n1,2\n3,NA\n");
  EXPECT_EQ(data_error([&] { load_data(second, {}); }),
            second + ":3:3: missing value 'NA' (use --nan-policy omit to drop such rows)");
  // --skip-invalid does not hide them: missing values are nan-policy's business.
  DataOptions skip;
  skip.skip_invalid = true;
  EXPECT_THAT(data_error([&] { load_data(path, skip); }), HasSubstr(":6:1: empty field: a missing value"));
  // Omit: exactly the plain table, in RAM and streamed.
  DataOptions omit;
  omit.nan_policy = NanPolicy::omit;
  std::string log;
  omit.on_notice = [&log](const std::string& line) { log += line + "\n"; };
  auto source = load_data(path, omit);
  auto stream = open_streaming(path, omit);
  expect_truth(*source, truth, "omit");
  EXPECT_EQ(stream->rows(), kRows);
  EXPECT_THAT(log, HasSubstr("omitted 16 rows with non-finite x/y or sigma <= 0 (lines 6, 13, 58, 65, 110, ...)"));
}

TEST(CsvVariants, AHeaderlessFileWithMissingValuesInItsFirstRowHasNoHeader) {
  ScratchDir dir;
  DataOptions omit;
  omit.nan_policy = NanPolicy::omit;
  ::testing::internal::CaptureStderr();
  auto source = load_data(dir.write("first.csv", "NA,1\n1,2\n2,4\n"), omit);
  ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(source->rows(), 2u);
  EXPECT_EQ(source->y_column()[1], 4.0);
}

}  // namespace
}  // namespace curvefit
