// Everyday data files through `curvefit fit`: one data set of known truth written as a plain CSV
// and in every variant people produce (decimal comma, lone-CR line ends, a byte order mark,
// quoted notes with newlines, missing values, a misleading name, HDF5 as N x 1 datasets or named
// .bin); each must fit to the plain file's parameters. Missing values and HDF5 filters the library
// lacks end with exit 3 and one line that says where and what to do.
#include <H5Cpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "app/cli_util.h"

namespace curvefit::cli {
namespace {

using ::testing::HasSubstr;

// y = 5 exp(-0.5 x) + 1 plus a small deterministic wiggle, x in [0, 10).
constexpr int kPoints = 500;
constexpr double kA = 5.0, kB = 0.5, kC = 1.0;

struct Data {
  std::vector<double> x, y;
  std::vector<std::string> x_text, y_text;
  Data() {
    char text[64];
    for (int i = 0; i < kPoints; ++i) {
      x.push_back(10.0 * i / kPoints);
      y.push_back(kA * std::exp(-kB * x.back()) + kC + 0.01 * std::sin(17.0 * i));
      std::snprintf(text, sizeof text, "%.17g", x.back());
      x_text.push_back(text);
      std::snprintf(text, sizeof text, "%.17g", y.back());
      y_text.push_back(text);
    }
  }
};

std::string comma_decimals(std::string number) {
  for (char& c : number)
    if (c == '.') c = ',';
  return number;
}

nlohmann::json fit_json(const std::string& file, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"fit", file, "--model", "exponential", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const RunResult r = run(args);
  EXPECT_EQ(r.exit_code, 0) << join(args) << "\n" << r.err;
  return r.exit_code == 0 ? r.json() : nlohmann::json{};
}

void expect_same_fit(const nlohmann::json& got, const nlohmann::json& want, const std::string& variant) {
  ASSERT_FALSE(got.is_null()) << variant;
  for (const char* name : {"a", "b", "c"})
    EXPECT_NEAR(param(got, name), param(want, name), 1e-12 * std::abs(param(want, name))) << variant << " " << name;
}

TEST(DataFilesCli, EveryCsvVariantFitsToThePlainFilesParameters) {
  const Data data;
  TempDir dir;
  std::string plain = "x,y\n", semicolon = "x;y\n", tab = "x\ty\n", lone_cr = "x,y\r", bom = "\xEF\xBB\xBFx,y\r\n",
              notes = "x,note,y\n", missing = "x,y\n";
  for (int i = 0; i < kPoints; ++i) {
    const std::string& x = data.x_text[i];
    const std::string& y = data.y_text[i];
    plain += x + "," + y + "\n";
    semicolon += comma_decimals(x) + ";" + comma_decimals(y) + "\n";
    tab += comma_decimals(x) + "\t" + comma_decimals(y) + "\n";
    lone_cr += x + "," + y + "\r";
    bom += x + "," + y + "\r\n";
    notes += x + ",\"run " + std::to_string(i) + "\nchecked, ok\"," + y + "\n";
    missing += x + "," + y + "\n";
    if (i % 97 == 5) missing += std::string(i % 2 ? "NA" : "") + "," + y + "\n";
    if (i % 89 == 7) missing += x + "," + (i % 2 ? "null" : "N/A") + "\n";
  }
  write_text(dir / "plain.csv", plain);
  const nlohmann::json want = fit_json(dir / "plain.csv");
  ASSERT_FALSE(want.is_null());
  EXPECT_NEAR(param(want, "a"), kA, 0.02);
  EXPECT_NEAR(param(want, "b"), kB, 0.01);
  EXPECT_NEAR(param(want, "c"), kC, 0.01);

  struct Variant { std::string name, text; std::vector<std::string> options; };
  const std::vector<Variant> variants{
      {"german.csv", semicolon, {}},
      {"tab_comma.tsv", tab, {"--decimal", ","}},
      {"old_mac.txt", lone_cr, {}},
      {"excel_bom.csv", bom, {}},
      {"notes.csv", notes, {"--y", "y"}},
      {"missing.csv", missing, {"--nan-policy", "omit"}},
      {"looks_like.h5", plain, {}},
  };
  for (const auto& variant : variants) {
    write_text(dir / variant.name, variant.text);
    expect_same_fit(fit_json(dir / variant.name, variant.options), want, variant.name);
    std::vector<std::string> stream = variant.options;
    stream.insert(stream.end(), {"--mode", "stream"});
    expect_same_fit(fit_json(dir / variant.name, stream), want, variant.name + " --mode stream");
  }

  // The default nan-policy names the first missing value's place: the row after i = 5 (line 7,
  // after the header) is line 8, and its x is NA.
  const RunResult raise = run({"fit", dir / "missing.csv", "--model", "exponential"});
  EXPECT_EQ(raise.exit_code, 3);
  EXPECT_EQ(raise.err, "curvefit: " + (dir / "missing.csv") +
                           ":8:1: missing value 'NA' (use --nan-policy omit to drop such rows)\n");
  const RunResult clash = run({"fit", dir / "plain.csv", "--model", "exponential", "--decimal", ",", "--delimiter", ","});
  EXPECT_EQ(clash.exit_code, 2) << clash.err;
  EXPECT_THAT(clash.err, HasSubstr("--decimal ',' needs a delimiter other than ','"));
  EXPECT_THAT(run({"fit", "--help"}).out, HasSubstr("--decimal"));
}

void write_columns(const std::string& path, const Data& data, bool as_columns) {
  H5::H5File file(path, H5F_ACC_TRUNC);
  hsize_t dims[2] = {static_cast<hsize_t>(kPoints), 1};
  H5::DataSpace space(as_columns ? 2 : 1, dims);
  file.createDataSet("/x", H5::PredType::NATIVE_DOUBLE, space).write(data.x.data(), H5::PredType::NATIVE_DOUBLE);
  file.createDataSet("/y", H5::PredType::NATIVE_DOUBLE, space).write(data.y.data(), H5::PredType::NATIVE_DOUBLE);
}

TEST(DataFilesCli, Hdf5AsNx1ColumnsOrNamedBinFitsLikeTheCsv) {
  const Data data;
  TempDir dir;
  std::string plain = "x,y\n";
  for (int i = 0; i < kPoints; ++i) plain += data.x_text[i] + "," + data.y_text[i] + "\n";
  write_text(dir / "plain.csv", plain);
  const nlohmann::json want = fit_json(dir / "plain.csv");
  write_columns(dir / "columns.h5", data, true);
  write_columns(dir / "measurement.bin", data, false);
  expect_same_fit(fit_json(dir / "columns.h5"), want, "N x 1 datasets");
  expect_same_fit(fit_json(dir / "measurement.bin"), want, "HDF5 named .bin");
  expect_same_fit(fit_json(dir / "columns.h5", {"--mode", "stream"}), want, "N x 1 datasets, streamed");
}

// The filter exists only in this test process while it writes: curvefit, in its own process, has
// never heard of it, as a stock libhdf5 has never heard of h5py's LZF.
std::size_t negate_bytes(unsigned, std::size_t, const unsigned[], std::size_t bytes, std::size_t*, void** buffer) {
  auto* data = static_cast<unsigned char*>(*buffer);
  for (std::size_t i = 0; i < bytes; ++i) data[i] = static_cast<unsigned char>(~data[i]);
  return bytes;
}

TEST(DataFilesCli, AnHdf5FilterCurvefitLacksIsNamedWithTheH5repackCommand) {
  const Data data;
  TempDir dir;
  const H5Z_filter_t id = 40321;
  const H5Z_class2_t filter = {H5Z_CLASS_T_VERS, id, 1, 1, "negate", nullptr, nullptr, negate_bytes};
  ASSERT_GE(H5Zregister(&filter), 0);
  const std::string path = dir / "filtered.h5";
  {
    H5::H5File file(path, H5F_ACC_TRUNC);
    hsize_t dims[1] = {static_cast<hsize_t>(kPoints)}, chunk[1] = {100};
    H5::DSetCreatPropList properties;
    properties.setChunk(1, chunk);
    ASSERT_GE(H5Pset_filter(properties.getId(), id, H5Z_FLAG_MANDATORY, 0, nullptr), 0);
    file.createDataSet("/x", H5::PredType::NATIVE_DOUBLE, H5::DataSpace(1, dims), properties)
        .write(data.x.data(), H5::PredType::NATIVE_DOUBLE);
    file.createDataSet("/y", H5::PredType::NATIVE_DOUBLE, H5::DataSpace(1, dims))
        .write(data.y.data(), H5::PredType::NATIVE_DOUBLE);
  }
  H5Zunregister(id);
  const RunResult r = run({"fit", path, "--model", "exponential"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err, "curvefit: " + path + ": dataset /x: stored with filter 40321 (negate), which this HDF5 library "
                   "does not provide; convert the file to an unfiltered copy, e.g. h5repack -f NONE " + path +
                   " unfiltered.h5\n");
}

}  // namespace
}  // namespace curvefit::cli
