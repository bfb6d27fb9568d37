// HDF5 reading: datasets written here with the HDF5 C++ API (chunked + gzip, int32, float32,
// 2-D tables), read back exactly, by hyperslab ranges at chunk borders, and every bad file.
#include <H5Cpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include <sys/mman.h>
#include <unistd.h>

#include "core/data/data_open.h"
#include "core/data/data_test_util.h"
#include "core/data/hdf5_source.h"

namespace curvefit {
namespace {

using testing_data::data_error;
using testing_data::ScratchDir;
using ::testing::HasSubstr;

constexpr hsize_t kRows = 1000;
constexpr hsize_t kChunk = 64;  // row ranges below cross these borders

template <typename T>
void write_1d(H5::H5File& file, const std::string& path, const std::vector<T>& values, const H5::PredType& type,
              bool chunked_gzip) {
  hsize_t dims[1] = {values.size()};
  H5::DataSpace space(1, dims);
  H5::DSetCreatPropList properties;
  if (chunked_gzip) {
    hsize_t chunk[1] = {kChunk};
    properties.setChunk(1, chunk);
    properties.setDeflate(6);
  }
  H5::DataSet dataset = file.createDataSet(path, type, space, properties);
  dataset.write(values.data(), type);
}

// The file every test reads:
//   /x            float64, contiguous          x_i = i / 3
//   /y            float32, chunked + gzip      y_i = float(1.5 * i)
//   /group/sigma  int32,   chunked + gzip      1 + i % 5
//   /table        float64 1000 x 3, chunked    table[i][c] = 100 c + i
//   /short        float64, 999 rows
//   /names        fixed-length strings
//   /cube         float64 2 x 2 x 2
struct Fixture {
  ScratchDir dir;
  std::string path = dir.file("data.h5");
  std::vector<double> x, table_col2;
  std::vector<float> y;
  std::vector<int> sigma;

  Fixture() {
    H5::H5File file(path, H5F_ACC_TRUNC);
    for (hsize_t i = 0; i < kRows; ++i) {
      x.push_back(static_cast<double>(i) / 3.0);
      y.push_back(static_cast<float>(1.5 * static_cast<double>(i)));
      sigma.push_back(1 + static_cast<int>(i % 5));
      table_col2.push_back(200.0 + static_cast<double>(i));
    }
    write_1d(file, "/x", x, H5::PredType::NATIVE_DOUBLE, false);
    write_1d(file, "/y", y, H5::PredType::NATIVE_FLOAT, true);
    file.createGroup("/group");
    write_1d(file, "/group/sigma", sigma, H5::PredType::NATIVE_INT32, true);
    write_1d(file, "/short", std::vector<double>(kRows - 1, 1.0), H5::PredType::NATIVE_DOUBLE, false);

    std::vector<double> table(kRows * 3);
    for (hsize_t i = 0; i < kRows; ++i)
      for (hsize_t c = 0; c < 3; ++c) table[i * 3 + c] = 100.0 * static_cast<double>(c) + static_cast<double>(i);
    hsize_t dims[2] = {kRows, 3}, chunk[2] = {kChunk, 3};
    H5::DSetCreatPropList properties;
    properties.setChunk(2, chunk);
    properties.setDeflate(4);
    file.createDataSet("/table", H5::PredType::NATIVE_DOUBLE, H5::DataSpace(2, dims), properties)
        .write(table.data(), H5::PredType::NATIVE_DOUBLE);

    H5::StrType text(H5::PredType::C_S1, 8);
    hsize_t name_dims[1] = {2};
    const char names[16] = "alpha\0\0\0beta\0\0\0";
    file.createDataSet("/names", text, H5::DataSpace(1, name_dims)).write(names, text);

    hsize_t cube_dims[3] = {2, 2, 2};
    std::vector<double> cube(8, 0.0);
    file.createDataSet("/cube", H5::PredType::NATIVE_DOUBLE, H5::DataSpace(3, cube_dims))
        .write(cube.data(), H5::PredType::NATIVE_DOUBLE);
  }
};

TEST(Hdf5Read, DefaultsLoadXAndYExactlyWithConversion) {
  Fixture f;
  EXPECT_EQ(detect_format(f.path), FileFormat::hdf5);
  auto source = load_data(f.path, {});
  ASSERT_EQ(source->rows(), kRows);
  EXPECT_EQ(std::vector<double>(source->x_column(0), source->x_column(0) + kRows), f.x);
  for (hsize_t i = 0; i < kRows; ++i) ASSERT_EQ(source->y_column()[i], static_cast<double>(f.y[i])) << i;
  EXPECT_EQ(source->column_names(), (std::vector<std::string>{"/x", "/y"}));
}

TEST(Hdf5Read, PathsTableColumnsAndIntegerSigma) {
  Fixture f;
  DataOptions options;
  options.x = {"/table:1"};
  options.y = "/table:3";
  options.sigma = "/group/sigma";
  auto source = load_data(f.path, options);
  ASSERT_EQ(source->rows(), kRows);
  ASSERT_TRUE(source->has_sigma());
  for (hsize_t i = 0; i < kRows; ++i) {
    ASSERT_EQ(source->x_column(0)[i], static_cast<double>(i));
    ASSERT_EQ(source->y_column()[i], f.table_col2[i]);
    ASSERT_EQ(source->sigma_column()[i], static_cast<double>(f.sigma[i]));
  }
  DataInfo info = probe_data(f.path, options);
  EXPECT_TRUE(info.rows_exact);
  EXPECT_EQ(info.rows, kRows);
  EXPECT_TRUE(info.has_sigma);
  EXPECT_EQ(info.column_names, (std::vector<std::string>{"/table:1", "/table:3", "/group/sigma"}));
}

TEST(Hdf5Read, RangesAtChunkBordersFromTheStreamingSource) {
  Fixture f;
  DataOptions options;
  options.x = {"/x"};
  options.y = "/table:3";
  options.sigma = "/group/sigma";
  auto source = open_streaming(f.path, options);
  ASSERT_EQ(source->rows(), kRows);
  struct Range { std::size_t begin, count; };
  for (Range r : {Range{0, 1}, Range{kRows - 1, 1}, Range{kChunk - 3, 7}, Range{kChunk * 5 - 1, kChunk + 2},
                  Range{10, 0}, Range{0, kRows}}) {
    std::vector<double> x(r.count + 1, -1), y(r.count + 1, -1), s(r.count + 1, -1);
    double* xs[1] = {x.data()};
    source->read(r.begin, r.count, xs, y.data(), s.data());
    for (std::size_t i = 0; i < r.count; ++i) {
      ASSERT_EQ(x[i], f.x[r.begin + i]) << r.begin << "+" << i;
      ASSERT_EQ(y[i], f.table_col2[r.begin + i]);
      ASSERT_EQ(s[i], static_cast<double>(f.sigma[r.begin + i]));
    }
    EXPECT_EQ(x[r.count], -1) << "wrote past the range";
  }
  double dummy[1];
  double* xs[1] = {dummy};
  EXPECT_THAT(data_error([&] { source->read(kRows, 1, xs, dummy, dummy); }), HasSubstr("requested but the data have 1000"));
}

TEST(Hdf5Read, NanPolicyRaiseAndOmitInLoadAndStreaming) {
  ScratchDir dir;
  std::string path = dir.file("nan.h5");
  std::vector<double> x, y;
  for (int i = 0; i < 300; ++i) {
    x.push_back(i);
    y.push_back(i % 50 == 7 ? std::numeric_limits<double>::quiet_NaN() : 2.0 * i);
  }
  x[100] = std::numeric_limits<double>::infinity();
  {
    H5::H5File file(path, H5F_ACC_TRUNC);
    write_1d(file, "/x", x, H5::PredType::NATIVE_DOUBLE, true);
    write_1d(file, "/y", y, H5::PredType::NATIVE_DOUBLE, true);
  }
  EXPECT_EQ(data_error([&] { load_data(path, {}); }),
            path + ": dataset /y: row 8: non-finite value (use --nan-policy omit to drop such rows)");
  // Streaming checks rows as they are first read (no pass spent on checking): opening succeeds,
  // reading the rows that hold the first bad one fails with the same message, whatever the range.
  std::unique_ptr<DataSource> stream = open_streaming(path, {});
  std::vector<double> bx(300), by(300);
  double* bxs[1] = {bx.data()};
  stream->read(0, 5, bxs, by.data(), nullptr);  // rows 1..5 are fine
  EXPECT_EQ(data_error([&] { stream->read(0, 300, bxs, by.data(), nullptr); }),
            path + ": dataset /y: row 8: non-finite value (use --nan-policy omit to drop such rows)");
  EXPECT_EQ(data_error([&] { stream->read(90, 20, bxs, by.data(), nullptr); }),
            path + ": dataset /x: row 101: non-finite value (use --nan-policy omit to drop such rows)");
  DataOptions omit;
  omit.nan_policy = NanPolicy::omit;
  std::string log;  // the library's remarks go to on_notice (the command line prints them)
  omit.on_notice = [&log](const std::string& line) { log += line + "\n"; };
  auto loaded = load_data(path, omit);
  auto streaming = open_streaming(path, omit);
  EXPECT_THAT(log, HasSubstr("omitted 7 rows with non-finite x/y or sigma <= 0 (rows 8, 58, 101, 108, 158, ...)"));
  // The valid rows, independently: i not 7 mod 50 and not 100; y = 2 i.
  std::vector<double> want_x;
  for (int i = 0; i < 300; ++i)
    if (i % 50 != 7 && i != 100) want_x.push_back(i);
  ASSERT_EQ(loaded->rows(), want_x.size());
  ASSERT_EQ(streaming->rows(), want_x.size());
  EXPECT_EQ(std::vector<double>(loaded->x_column(0), loaded->x_column(0) + loaded->rows()), want_x);
  // Streaming ranges that straddle omitted rows map to the same valid rows.
  for (std::size_t begin : {0u, 5u, 6u, 7u, 90u, 150u}) {
    for (std::size_t count : {1u, 2u, 60u}) {
      if (begin + count > want_x.size()) continue;
      std::vector<double> gx(count), gy(count);
      double* xs[1] = {gx.data()};
      streaming->read(begin, count, xs, gy.data(), nullptr);
      for (std::size_t i = 0; i < count; ++i) {
        ASSERT_EQ(gx[i], want_x[begin + i]) << begin << "+" << i;
        ASSERT_EQ(gy[i], 2.0 * want_x[begin + i]);
      }
    }
  }
}

// A row selection: the streaming source keeps runs of selected rows and serves any range of them
// (ranges across a long unselected stretch, longer than its read window, of one row), the loaded
// source the same rows; both count the rows before the selection.
TEST(Hdf5Selection, RunsServeTheSelectedRowsForAnyRange) {
  ScratchDir dir;
  const std::string path = dir.file("selected.h5");
  const std::size_t n = 300000;
  std::vector<double> x(n), y(n), flag(n);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = static_cast<double>(i);
    y[i] = 2.0 * static_cast<double>(i);
    flag[i] = static_cast<double>(i % 3);
  }
  {
    H5::H5File file(path, H5F_ACC_TRUNC);
    write_1d(file, "/x", x, H5::PredType::NATIVE_DOUBLE, false);
    write_1d(file, "/y", y, H5::PredType::NATIVE_DOUBLE, true);
    write_1d(file, "/flag", flag, H5::PredType::NATIVE_DOUBLE, false);
  }
  auto selection = std::make_shared<RowSelection>();
  selection->columns = {"/flag"};
  selection->text = "flag != 0 outside [100000, 250000)";
  selection->keep = [](const double* const* fit, const double* const* extra, std::size_t count, unsigned char* keep) {
    for (std::size_t i = 0; i < count; ++i) keep[i] = extra[0][i] != 0 && (fit[0][i] < 100000 || fit[0][i] >= 250000);
  };
  std::vector<double> want;  // the selected x, independently
  for (std::size_t i = 0; i < n; ++i)
    if (i % 3 != 0 && (i < 100000 || i >= 250000)) want.push_back(static_cast<double>(i));
  DataOptions options;
  options.selection = selection;
  std::string log;
  options.on_notice = [&log](const std::string& line) { log += line + "\n"; };
  auto streaming = open_streaming(path, options);
  ASSERT_EQ(streaming->rows(), want.size());
  EXPECT_EQ(streaming->rows_total(), n);
  EXPECT_THAT(log, HasSubstr("selected " + std::to_string(want.size()) + " of 300000 rows"));
  const std::size_t gap = 66666;  // want[gap] is the first selected row after the gap
  ASSERT_EQ(want[gap - 1], 99998);
  ASSERT_EQ(want[gap], 250000);
  struct Range { std::size_t begin, count; };
  for (Range r : {Range{0, 1}, Range{gap - 5, 10}, Range{gap - 1, 2}, Range{1000, 95000}, Range{0, want.size()},
                  Range{want.size() - 1, 1}, Range{gap, 30000}}) {
    std::vector<double> gx(r.count + 1, -1), gy(r.count + 1, -1);
    double* xs[1] = {gx.data()};
    streaming->read(r.begin, r.count, xs, gy.data(), nullptr);
    for (std::size_t i = 0; i < r.count; ++i) {
      ASSERT_EQ(gx[i], want[r.begin + i]) << r.begin << "+" << i;
      ASSERT_EQ(gy[i], 2.0 * want[r.begin + i]);
    }
    EXPECT_EQ(gx[r.count], -1) << "wrote past the range";
  }
  auto loaded = load_data(path, options);
  EXPECT_EQ(std::vector<double>(loaded->x_column(0), loaded->x_column(0) + loaded->rows()), want);
  EXPECT_EQ(loaded->rows_total(), n);
}

// Contiguous float64 datasets are used in place (mapped, not copied): the same values as HDF5
// reads, bit for bit. Anything else — chunked, converted, a table column, a file with a user
// block, a NaN (nan_policy must see it) — goes through HDF5 and gives the same values.
TEST(Hdf5Mapped, ContiguousDoublesAreUsedInPlaceAndEverythingElseIsCopied) {
  ScratchDir dir;
  std::vector<double> x(3000), y(3000), sigma(3000);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<double>(i) / 7.0;
    y[i] = std::exp(-x[i] / 100.0) + 1e-3 * static_cast<double>(i % 13);
    sigma[i] = 0.5 + static_cast<double>(i % 3);
  }
  auto write = [&](const std::string& name, bool chunked, hsize_t user_block = 0) {
    const std::string path = dir.file(name);
    H5::FileCreatPropList create;
    if (user_block) create.setUserblock(user_block);
    H5::H5File file(path, H5F_ACC_TRUNC, create);
    write_1d(file, "/x", x, H5::PredType::NATIVE_DOUBLE, chunked);
    write_1d(file, "/y", y, H5::PredType::NATIVE_DOUBLE, chunked);
    write_1d(file, "/s", sigma, H5::PredType::NATIVE_DOUBLE, chunked);
    write_1d(file, "/yf", std::vector<float>(y.begin(), y.end()), H5::PredType::NATIVE_FLOAT, false);
    return path;
  };
  DataOptions with_sigma;
  with_sigma.sigma = "/s";
  auto same = [&](const MemoryDataSource& data) {
    EXPECT_EQ(std::memcmp(data.x_column(0), x.data(), x.size() * sizeof(double)), 0);
    EXPECT_EQ(std::memcmp(data.y_column(), y.data(), y.size() * sizeof(double)), 0);
    ASSERT_NE(data.sigma_column(), nullptr);
    EXPECT_EQ(std::memcmp(data.sigma_column(), sigma.data(), sigma.size() * sizeof(double)), 0);
    // read() serves the same rows as the direct pointers.
    std::vector<double> rx(10), ry(10), rs(10);
    double* xs[1] = {rx.data()};
    const_cast<MemoryDataSource&>(data).read(2990, 10, xs, ry.data(), rs.data());
    EXPECT_EQ(rx[9], x[2999]);
    EXPECT_EQ(ry[0], y[2990]);
    EXPECT_EQ(rs[5], sigma[2995]);
  };
  {
    auto data = load_data(write("contiguous.h5", false), with_sigma);
    EXPECT_TRUE(data->external_columns());
    EXPECT_EQ(data->rows(), x.size());
    same(*data);
  }
  {
    auto data = load_data(write("chunked.h5", true), with_sigma);
    EXPECT_FALSE(data->external_columns());
    same(*data);
  }
  {
    auto data = load_data(write("userblock.h5", false, 512), with_sigma);
    EXPECT_FALSE(data->external_columns());
    same(*data);
  }
  {
    DataOptions converted = with_sigma;
    converted.y = "/yf";
    auto data = load_data(dir.file("contiguous.h5"), converted);
    EXPECT_FALSE(data->external_columns());
    EXPECT_EQ(data->y_column()[1], static_cast<double>(static_cast<float>(y[1])));
  }
  {
    y[1234] = std::numeric_limits<double>::infinity();
    const std::string path = write("bad.h5", false);
    EXPECT_EQ(data_error([&] { load_data(path, {}); }),
              path + ": dataset /y: row 1235: non-finite value (use --nan-policy omit to drop such rows)");
    // Deferred to the fit's first pass: the file is mapped unscanned, and the check says the same.
    DataOptions deferred;
    deferred.defer_value_check = true;
    auto unchecked = load_data(path, deferred);
    EXPECT_TRUE(unchecked->external_columns());
    EXPECT_FALSE(unchecked->values_checked());
    EXPECT_EQ(data_error([&] { unchecked->check_values(); }),
              path + ": dataset /y: row 1235: non-finite value (use --nan-policy omit to drop such rows)");
    EXPECT_FALSE(unchecked->values_checked());
    DataOptions omit;
    omit.nan_policy = NanPolicy::omit;
    omit.defer_value_check = true;  // omit must drop the row now: no deferral
    auto data = load_data(path, omit);
    EXPECT_FALSE(data->external_columns());
    EXPECT_EQ(data->rows(), x.size() - 1);
    sigma[7] = 0.0;
    y[1234] = 1.0;
    const std::string bad_sigma = write("bad_sigma.h5", false);
    EXPECT_THAT(data_error([&] { load_data(bad_sigma, with_sigma); }), HasSubstr("dataset /s: row 8: sigma must be"));
    DataOptions sigma_deferred = with_sigma;
    sigma_deferred.defer_value_check = true;
    auto unchecked_sigma = load_data(bad_sigma, sigma_deferred);
    EXPECT_THAT(data_error([&] { unchecked_sigma->check_values(); }), HasSubstr("dataset /s: row 8: sigma must be"));
  }
}

TEST(Hdf5BadInput, EachProblemHasAClearMessage) {
  Fixture f;
  auto error_for = [&](std::vector<std::string> x, std::string y) {
    DataOptions options;
    options.x = std::move(x);
    options.y = std::move(y);
    return data_error([&] { load_data(f.path, options); });
  };
  EXPECT_EQ(error_for({"/time"}, "/y"),
            f.path + ": dataset /time: not found (datasets in the file: /cube, /group/sigma, /names, /short, /table, /x, /y)");
  EXPECT_THAT(error_for({"/nogroup/t"}, "/y"), HasSubstr("dataset /nogroup/t: not found (datasets in the file: /cube"));
  EXPECT_EQ(error_for({"/x"}, "/short"), f.path + ": dataset /short: has 999 rows but /x has 1000");
  EXPECT_EQ(error_for({"/x"}, "/names"), f.path + ": dataset /names: type string is not numeric");
  EXPECT_EQ(error_for({"/x"}, "/cube"),
            f.path + ": dataset /cube: rank 3 is not supported (1-D datasets, or a column of a 2-D dataset as /name:N)");
  EXPECT_EQ(error_for({"/x"}, "/table"), f.path + ": dataset /table: is 2-D (1000 x 3): choose a column, e.g. /table:1");
  EXPECT_EQ(error_for({"/x"}, "/table:4"), f.path + ": dataset /table: has 3 columns; no column 4");
  EXPECT_EQ(error_for({"/x:2"}, "/y"), f.path + ": dataset /x: is 1-D; a column (/x:2) needs a 2-D dataset");
}

TEST(Hdf5BadInput, NotHdf5AndTruncatedFiles) {
  Fixture f;
  // The content decides, not the name: text named .h5 is CSV, binary named .h5 without the
  // signature is reported as not HDF5, and HDF5 named .bin is HDF5.
  auto text = f.dir.write("text.h5", "x,y\n1,2\n3,5\n");
  EXPECT_EQ(detect_format(text), FileFormat::csv);
  EXPECT_EQ(load_data(text, {})->y_column()[1], 5.0);
  auto junk = f.dir.write("junk.h5", std::string("\x01\x02\0\0binary", 10));
  EXPECT_EQ(detect_format(junk), FileFormat::hdf5);
  EXPECT_EQ(data_error([&] { load_data(junk, {}); }), junk + ": not an HDF5 file (no HDF5 signature)");
  auto renamed = f.dir.file("data.bin");
  std::filesystem::copy_file(f.path, renamed);
  EXPECT_EQ(detect_format(renamed), FileFormat::hdf5);
  EXPECT_EQ(load_data(renamed, {})->rows(), kRows);

  // The first half of a real file: the signature is there, the rest is not.
  auto truncated = f.dir.file("truncated.h5");
  std::filesystem::copy_file(f.path, truncated);
  std::filesystem::resize_file(truncated, std::filesystem::file_size(f.path) / 2);
  std::string message = data_error([&] { load_data(truncated, {}); });
  EXPECT_THAT(message, HasSubstr(truncated + ": cannot open as HDF5: "));
  EXPECT_THAT(message, HasSubstr("truncated"));
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(Hdf5Shapes, AnNx1DatasetIsItsColumnAndA1xNDatasetGetsAHintThatWorks) {
  ScratchDir dir;
  const std::string path = dir.file("shapes.h5");
  std::vector<double> x(50), y(50);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = 0.5 * static_cast<double>(i);
    y[i] = 3.0 - 2.0 * x[i];
  }
  {
    H5::H5File file(path, H5F_ACC_TRUNC);
    hsize_t column[2] = {50, 1}, row[2] = {1, 50};
    file.createDataSet("/x", H5::PredType::NATIVE_DOUBLE, H5::DataSpace(2, column)).write(x.data(), H5::PredType::NATIVE_DOUBLE);
    file.createDataSet("/y", H5::PredType::NATIVE_DOUBLE, H5::DataSpace(2, column)).write(y.data(), H5::PredType::NATIVE_DOUBLE);
    file.createDataSet("/row", H5::PredType::NATIVE_DOUBLE, H5::DataSpace(2, row)).write(y.data(), H5::PredType::NATIVE_DOUBLE);
  }
  auto data = load_data(path, {});
  ASSERT_EQ(data->rows(), 50u);
  EXPECT_EQ(std::vector<double>(data->x_column(0), data->x_column(0) + 50), x);
  EXPECT_EQ(std::vector<double>(data->y_column(), data->y_column() + 50), y);
  DataOptions row;
  row.y = "/row";
  EXPECT_EQ(data_error([&] { load_data(path, row); }),
            path + ": dataset /row: is 2-D (1 x 50), one row; curvefit reads the columns of a 2-D dataset, so "
                   "store these values as a 1-D dataset or as 50 x 1");
}

// A filter registered only while the file is written, then gone: the reader meets a file whose
// filter its HDF5 library lacks, as with h5py's LZF on a stock libhdf5.
constexpr H5Z_filter_t kTestFilterId = 40123;
std::size_t xor_bytes(unsigned, std::size_t, const unsigned[], std::size_t bytes, std::size_t*, void** buffer) {
  auto* data = static_cast<unsigned char*>(*buffer);
  for (std::size_t i = 0; i < bytes; ++i) data[i] ^= 0x5a;
  return bytes;
}

std::string write_with_unavailable_filter(const ScratchDir& dir) {
  const H5Z_class2_t filter = {H5Z_CLASS_T_VERS, kTestFilterId, 1, 1, "xor test filter", nullptr, nullptr, xor_bytes};
  EXPECT_GE(H5Zregister(&filter), 0);
  const std::string path = dir.file("filtered.h5");
  {
    H5::H5File file(path, H5F_ACC_TRUNC);
    std::vector<double> values(300);
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i);
    write_1d(file, "/x", values, H5::PredType::NATIVE_DOUBLE, false);
    for (const auto& [name, flags] : {std::pair{"/mandatory", H5Z_FLAG_MANDATORY}, {"/optional", H5Z_FLAG_OPTIONAL}}) {
      hsize_t dims[1] = {values.size()}, chunk[1] = {kChunk};
      H5::DSetCreatPropList properties;
      properties.setChunk(1, chunk);
      EXPECT_GE(H5Pset_filter(properties.getId(), kTestFilterId, flags, 0, nullptr), 0);
      file.createDataSet(name, H5::PredType::NATIVE_DOUBLE, H5::DataSpace(1, dims), properties)
          .write(values.data(), H5::PredType::NATIVE_DOUBLE);
    }
  }
  EXPECT_GE(H5Zunregister(kTestFilterId), 0);
  return path;
}

TEST(Hdf5Filters, AFilterTheLibraryLacksIsNamedWithHowToConvertTheFile) {
  ScratchDir dir;
  const std::string path = write_with_unavailable_filter(dir);
  const std::string advice = "stored with filter 40123 (xor test filter), which this HDF5 library does not provide; "
                             "convert the file to an unfiltered copy, e.g. h5repack -f NONE " + path + " unfiltered.h5";
  DataOptions mandatory;
  mandatory.y = "/mandatory";
  EXPECT_EQ(data_error([&] { load_data(path, mandatory); }), path + ": dataset /mandatory: " + advice);
  EXPECT_EQ(data_error([&] { open_streaming(path, mandatory); }), path + ": dataset /mandatory: " + advice);
  // An optional filter may have been skipped for some chunks: the file opens, and the first read
  // of a filtered chunk says the same.
  DataOptions optional;
  optional.y = "/optional";
  auto stream = open_streaming(path, optional);
  std::vector<double> x(10), y(10);
  double* xs[1] = {x.data()};
  EXPECT_EQ(data_error([&] { stream->read(0, 10, xs, y.data(), nullptr); }), path + ": dataset /optional: " + advice);
}

// HDF5 hands back zeros for storage past the end of a truncated file: the source must notice.
TEST(Hdf5Streaming, AFileTruncatedBetweenPassesIsAnErrorNamingTheFile) {
  ScratchDir dir;
  const std::string path = dir.file("shrinks.h5");
  constexpr std::size_t rows = 100000;
  std::vector<double> x(rows), y(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    x[i] = static_cast<double>(i) * 1e-3;
    y[i] = 2.0 + 0.5 * x[i];
  }
  // y chunked: read through the library; both contiguous: read by position (pread), where a
  // file cut short gives a short read, not zeros.
  for (const bool chunked_y : {true, false}) {
    {
      H5::H5File file(path, H5F_ACC_TRUNC);
      write_1d(file, "/x", x, H5::PredType::NATIVE_DOUBLE, false);
      write_1d(file, "/y", y, H5::PredType::NATIVE_DOUBLE, chunked_y);
    }
    auto stream = open_streaming(path, {});
    EXPECT_EQ(stream->reads_by_position(), !chunked_y);
    std::vector<double> x_read(1000), y_read(1000);
    double* xs[1] = {x_read.data()};
    stream->read(rows - 1000, 1000, xs, y_read.data(), nullptr);  // the first pass reads the end
    EXPECT_EQ(y_read.back(), y.back());
    const auto full = std::filesystem::file_size(path);
    ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(full / 3)), 0);
    const std::string message = data_error([&] { stream->read(rows - 1000, 1000, xs, y_read.data(), nullptr); });
    EXPECT_THAT(message, HasSubstr(path + ": the file shrank from " + std::to_string(full) + " to " +
                                   std::to_string(full / 3) + " bytes while it was being read"))
        << "chunked y: " << chunked_y;
  }
}

TEST(Hdf5List, DatasetsWithTypesAndShapes) {
  Fixture f;
  auto datasets = list_hdf5_datasets(f.path);
  ASSERT_EQ(datasets.size(), 7u);
  EXPECT_EQ(datasets[1].path, "/group/sigma");
  EXPECT_EQ(datasets[1].type, "int32");
  EXPECT_EQ(datasets[4].path, "/table");
  EXPECT_EQ(datasets[4].dims, (std::vector<unsigned long long>{1000, 3}));
  EXPECT_EQ(datasets[6].type, "float32");
  EXPECT_FALSE(datasets[2].numeric);
}

// Files on which Debian's libhdf5 itself crashes (found by tests/fuzz/hdf5_fuzz.cpp; each file
// there is the fuzzer's input: one option byte, then the file): a DataError naming the file, as
// for any damaged file, instead of a crash of the whole process.
TEST(Hdf5List, FilesThatCrashLibhdf5AreADataErrorNotACrash) {
  ScratchDir dir;
  for (const std::string name : {"segv_local_heap_in_H5Lvisit", "null_from_unchecked_malloc_in_H5C_protect"}) {
    std::ifstream in(std::string(CURVEFIT_SOURCE_DIR) + "/tests/fuzz/libhdf5/" + name, std::ios::binary);
    ASSERT_TRUE(in) << name;
    std::string bytes(std::istreambuf_iterator<char>(in), {});
    const std::string path = dir.file(name + ".h5");
    std::ofstream(path, std::ios::binary) << bytes.substr(1);
    EXPECT_THAT(data_error([&] { list_hdf5_datasets(path); }),
                HasSubstr(path + ": cannot open as HDF5: the HDF5 library crashed reading the file's metadata"))
        << name;
  }
}

// A group whose B-tree is damaged stops HDF5's walk of the file part way: listing what was found
// so far would present a damaged file as one with fewer (or no) datasets, and a column as absent
// rather than unreadable.
TEST(Hdf5List, AFileWhoseGroupStructureIsDamagedIsAnErrorNotAShorterList) {
  ScratchDir dir;
  const std::string path = dir.file("damaged.h5");
  {
    H5::H5File file(path, H5F_ACC_TRUNC);  // the default format keeps groups in "TREE" B-trees
    std::vector<double> values(100, 1.0);
    write_1d(file, "/x", values, H5::PredType::NATIVE_DOUBLE, false);
    file.createGroup("/group");
    write_1d(file, "/group/z", values, H5::PredType::NATIVE_DOUBLE, false);
  }
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::size_t root_tree = bytes.find("TREE");
  const std::size_t group_tree = bytes.find("TREE", root_tree + 4);
  ASSERT_NE(group_tree, std::string::npos) << "expected the root's and /group's B-trees";
  bytes.replace(group_tree, 4, "XXXX");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  EXPECT_THAT(data_error([&] { list_hdf5_datasets(path); }),
              HasSubstr(path + ": cannot list the file's datasets (its group structure is damaged)"));
}

}  // namespace
}  // namespace curvefit

namespace curvefit {
namespace {

// Resident bytes of the mapping of this process that holds `address` (/proc/self/smaps).
std::size_t resident_bytes_of_mapping(const void* address) {
  std::ifstream smaps("/proc/self/smaps");
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    unsigned long begin = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &begin, &end) == 2 && line.find(':') > line.find(' ')) {
      inside = begin <= at && at < end;
      continue;
    }
    unsigned long kb = 0;
    if (inside && std::sscanf(line.c_str(), "Rss: %lu kB", &kb) == 1) return kb * 1024;
  }
  return 0;
}

// The columns a fit uses in place are mapped into the process at once (MADV_POPULATE_READ: one
// call instead of a page fault per 64 KiB in the fit's first pass), and only they: a large
// dataset the fit does not use stays out of the RSS, as the plan, which counts the fit's columns
// only, assumes.
TEST(Hdf5Mapped, TheFitsColumnsArePopulatedAndNoOtherDataset) {
  {
    void* probe = ::mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(probe, MAP_FAILED);
    const int populated = ::madvise(probe, 4096, 22 /* MADV_POPULATE_READ */);
    ::munmap(probe, 4096);
    if (populated != 0) GTEST_SKIP() << "this kernel has no MADV_POPULATE_READ (Linux 5.14 and later)";
  }
  ScratchDir dir;
  const std::size_t rows = std::size_t{1} << 17;  // 1 MiB a column
  std::vector<double> x(rows), y(rows), unused(std::size_t{4} << 20, 1.5);  // 32 MiB unused
  for (std::size_t i = 0; i < rows; ++i) x[i] = static_cast<double>(i), y[i] = 0.5 * static_cast<double>(i);
  const std::string path = dir.file("wide.h5");
  {
    H5::H5File file(path, H5F_ACC_TRUNC);
    write_1d(file, "/unused", unused, H5::PredType::NATIVE_DOUBLE, false);
    write_1d(file, "/x", x, H5::PredType::NATIVE_DOUBLE, false);
    write_1d(file, "/y", y, H5::PredType::NATIVE_DOUBLE, false);
  }
  DataOptions options;
  options.x = {"/x"};
  options.y = "/y";
  options.defer_value_check = true;  // as the fit loads it: no scan of the values at load
  const auto data = load_data(path, options);
  ASSERT_TRUE(data->external_columns());
  const std::size_t resident = resident_bytes_of_mapping(data->x_column(0));
  const std::size_t columns = 2 * rows * sizeof(double);
  EXPECT_GE(resident, columns) << "the fit's columns are not all mapped in";
  EXPECT_LT(resident, columns + (std::size_t{4} << 20)) << "the unused dataset was mapped in too";
  EXPECT_EQ(std::memcmp(data->y_column(), y.data(), rows * sizeof(double)), 0);
}

// DataOptions::map_files = false (the Python module): a contiguous file is copied, not used in
// place; the values are the same.
TEST(Hdf5Mapped, WithoutMapFilesNothingIsMapped) {
  ScratchDir dir;
  std::vector<double> x(2000), y(2000);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.5 * static_cast<double>(i), y[i] = std::cos(x[i]);
  const std::string path = dir.file("contiguous.h5");
  {
    H5::H5File file(path, H5F_ACC_TRUNC);
    write_1d(file, "/x", x, H5::PredType::NATIVE_DOUBLE, false);
    write_1d(file, "/y", y, H5::PredType::NATIVE_DOUBLE, false);
  }
  DataOptions options;
  EXPECT_TRUE(load_data(path, options)->external_columns());  // the default maps it
  options.map_files = false;
  const auto copied = load_data(path, options);
  EXPECT_FALSE(copied->external_columns());
  EXPECT_EQ(std::memcmp(copied->y_column(), y.data(), y.size() * sizeof(double)), 0);
  Hdf5DataSource source(path, options, true);
  std::vector<double> rx(100), ry(100);
  double* xs[1] = {rx.data()};
  source.read(1900, 100, xs, ry.data(), nullptr);
  EXPECT_EQ(std::memcmp(ry.data(), y.data() + 1900, 100 * sizeof(double)), 0);
}

// Streaming passes copy contiguous doubles with pread from their offsets in the file
// (reads_by_position), not through the library: the same values as HDF5 reads at any offset, the
// raise check names the exact row, and what cannot be read so (chunked, omitted rows) says so.
TEST(Hdf5ByPosition, ContiguousDoublesReadByPositionAreTheValuesTheLibraryReads) {
  ScratchDir dir;
  std::vector<double> x(5000), y(5000), sigma(5000);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<double>(i) * 0.25;
    y[i] = std::sin(x[i]);
    sigma[i] = 1.0 + static_cast<double>(i % 5);
  }
  auto write = [&](const std::string& name, bool chunked) {
    const std::string path = dir.file(name);
    H5::H5File file(path, H5F_ACC_TRUNC);
    write_1d(file, "/x", x, H5::PredType::NATIVE_DOUBLE, chunked);
    write_1d(file, "/y", y, H5::PredType::NATIVE_DOUBLE, chunked);
    write_1d(file, "/s", sigma, H5::PredType::NATIVE_DOUBLE, chunked);
    return path;
  };
  DataOptions options;
  options.sigma = "/s";
  const auto read_matches = [&](Hdf5DataSource& source) {
    for (const auto& [begin, count] : {std::pair<std::size_t, std::size_t>{0, 5000}, {1, 999}, {4097, 903}, {4999, 1}}) {
      std::vector<double> rx(count), ry(count), rs(count);
      double* xs[1] = {rx.data()};
      source.read(begin, count, xs, ry.data(), rs.data());
      EXPECT_EQ(std::memcmp(rx.data(), x.data() + begin, count * sizeof(double)), 0) << begin;
      EXPECT_EQ(std::memcmp(ry.data(), y.data() + begin, count * sizeof(double)), 0) << begin;
      EXPECT_EQ(std::memcmp(rs.data(), sigma.data() + begin, count * sizeof(double)), 0) << begin;
    }
  };
  Hdf5DataSource contiguous(write("contiguous.h5", false), options, true);
  EXPECT_TRUE(contiguous.reads_by_position());
  read_matches(contiguous);
  Hdf5DataSource chunked(write("chunked.h5", true), options, true);
  EXPECT_FALSE(chunked.reads_by_position());
  read_matches(chunked);

  y[3210] = std::numeric_limits<double>::infinity();
  const std::string bad = write("bad.h5", false);
  Hdf5DataSource raising(bad, options, true);
  EXPECT_TRUE(raising.reads_by_position());
  std::vector<double> rx(3000), ry(3000), rs(3000);
  double* xs[1] = {rx.data()};
  EXPECT_NO_THROW(raising.read(0, 3000, xs, ry.data(), rs.data()));
  EXPECT_EQ(data_error([&] { raising.read(3000, 2000, xs, ry.data(), rs.data()); }),
            bad + ": dataset /y: row 3211: non-finite value (use --nan-policy omit to drop such rows)");
  DataOptions omit = options;
  omit.nan_policy = NanPolicy::omit;
  Hdf5DataSource omitting(bad, omit, true);
  EXPECT_FALSE(omitting.reads_by_position());  // its rows are not the file's rows
}

}  // namespace
}  // namespace curvefit
