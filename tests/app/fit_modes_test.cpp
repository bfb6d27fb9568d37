// `curvefit fit` gives the same answer however it runs: in memory, chunked (7 and 1000 rows),
// streamed from CSV (through the spill file) and from HDF5 agree to 1e-10 relative; 1, 2 and 8
// threads give bit-identical parameters and covariance. A streaming fit of 2e7 points under a
// 96 MB limit chooses streaming and stays under the limit (measured VmHWM).
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <H5Cpp.h>
#include <gtest/gtest.h>

#include "app/cli_util.h"
#include "memory/size.h"

namespace curvefit::cli {
namespace {

class FitModes : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    for (const char* extension : {".csv", ".h5"}) {
      const RunResult g = run({"generate", "--model", "exponential", "--points", "20000", "--noise", "0.05", "--seed",
                               "3", "--out", *dir_ / (std::string("exp") + extension)});
      ASSERT_EQ(g.exit_code, 0) << g.err;
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static nlohmann::json fit(std::vector<std::string> extra, const std::string& file = "exp.csv") {
    std::vector<std::string> args = {"fit", *dir_ / file, "--model", "exponential", "--json", "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    const RunResult r = run(args);
    EXPECT_EQ(r.exit_code, 0) << join(args) << "\n" << r.err;
    if (r.exit_code != 0) return {};
    return r.json();
  }
  static TempDir* dir_;
};
TempDir* FitModes::dir_ = nullptr;

std::vector<double> values(const nlohmann::json& j) {
  std::vector<double> v;
  for (const auto& p : j.at("params")) v.push_back(p.at("value"));
  return v;
}

TEST_F(FitModes, MemoryChunkedAndStreamingAgreeTo1e10) {
  const nlohmann::json reference = fit({"--mode", "memory"});
  ASSERT_FALSE(reference.is_null());
  EXPECT_EQ(reference.at("mode"), "memory");
  const std::vector<double> expected = values(reference);
  struct Run {
    std::vector<std::string> args;
    std::string file, mode;
  };
  const std::vector<Run> runs = {
      {{"--mode", "chunked", "--chunk-size", "7"}, "exp.csv", "chunked"},
      {{"--mode", "chunked", "--chunk-size", "1000"}, "exp.csv", "chunked"},
      {{"--mode", "stream"}, "exp.csv", "stream"},
      {{"--mode", "stream", "--chunk-size", "777"}, "exp.h5", "stream"},
      {{"--mode", "memory"}, "exp.h5", "memory"},
  };
  for (const auto& run_ : runs) {
    const nlohmann::json j = fit(run_.args, run_.file);
    ASSERT_FALSE(j.is_null());
    EXPECT_EQ(j.at("mode"), run_.mode) << join(run_.args);
    EXPECT_EQ(j.at("status"), "converged");
    EXPECT_EQ(j.at("n_points"), 20000);
    const std::vector<double> got = values(j);
    ASSERT_EQ(got.size(), expected.size());
    for (std::size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], expected[i], 1e-10 * std::abs(expected[i])) << run_.file << " " << join(run_.args);
    EXPECT_NEAR(j.at("chi2").get<double>(), reference.at("chi2").get<double>(),
                1e-10 * reference.at("chi2").get<double>());
  }
}

TEST_F(FitModes, ThreadCountDoesNotChangeOneBit) {
  for (const std::vector<std::string>& mode : {std::vector<std::string>{"--mode", "chunked", "--chunk-size", "500"},
                                               std::vector<std::string>{"--mode", "stream", "--chunk-size", "900"}}) {
    nlohmann::json first;
    for (const char* threads : {"1", "2", "8"}) {
      std::vector<std::string> args = mode;
      args.insert(args.end(), {"--threads", threads});
      const nlohmann::json j = fit(args, "exp.h5");
      ASSERT_FALSE(j.is_null());
      EXPECT_EQ(j.at("threads"), std::stoi(threads));
      if (first.is_null()) {
        first = j;
        continue;
      }
      // JSON numbers read back exactly, so equal text-parsed doubles mean equal bits.
      EXPECT_EQ(values(j), values(first)) << join(args);
      EXPECT_EQ(j.at("covariance"), first.at("covariance")) << join(args);
      EXPECT_EQ(j.at("chi2"), first.at("chi2")) << join(args);
    }
  }
}

TEST_F(FitModes, TwentyMillionPointsStreamUnderA96MBLimit) {
  TempDir dir;
  const std::string file = dir / "big.h5";
  const RunResult g = run({"generate", "--model", "exponential", "--points", "2e7", "--noise", "0.05", "--seed", "9",
                           "--out", file});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  const RunResult r = run({"fit", file, "--model", "exponential", "--memory-limit", "96MB", "--json", "-q"});
  std::remove(file.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = r.json();
  EXPECT_EQ(j.at("mode"), "stream");
  EXPECT_EQ(j.at("status"), "converged");
  EXPECT_EQ(j.at("n_points"), 20000000);
  const std::size_t limit = parse_size("96MB");
  EXPECT_EQ(j.at("memory").at("limit_bytes").get<std::size_t>(), limit);
  const std::size_t peak = j.at("memory").at("peak_rss_bytes");
  EXPECT_GT(peak, 0u);
  EXPECT_LT(peak, limit) << "measured VmHWM " << peak << " bytes";
  EXPECT_LE(j.at("memory").at("predicted_peak_bytes").get<std::size_t>(), limit);
  EXPECT_LE(j.at("passes").get<long>(), 6);  // a subsample start leaves a few full passes
  // 2e7 points of noise 0.05: the truth within 5 standard errors.
  for (const auto& [name, truth] : std::vector<std::pair<std::string, double>>{{"a", 5.0}, {"b", 0.5}, {"c", 1.0}})
    EXPECT_NEAR(param(j, name), truth, 5 * param(j, name, "stderr")) << name;
  std::printf("2e7 points streamed: passes %ld, peak RSS %zu bytes (limit %zu), %.2f s\n",
              j.at("passes").get<long>(), peak, limit, j.at("time_s").get<double>());
}

}  // namespace
}  // namespace curvefit::cli

namespace curvefit::cli {
namespace {

// A bad row deep in a streamed HDF5 file is found while the fit reads it (no checking pass): one
// line naming the dataset and row, exit code 3, and no --output file.
TEST_F(FitModes, StreamedHdf5WithANanRowFailsWithOneLineAndNoOutput) {
  const std::string path = *dir_ / "nan.h5";
  std::vector<double> x(30000), y(30000);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<double>(i) / 3000.0;
    y[i] = 5.0 * std::exp(-0.5 * x[i]) + 1.0;
  }
  y[23456] = std::numeric_limits<double>::quiet_NaN();
  {
    H5::H5File file(path, H5F_ACC_TRUNC);
    const hsize_t dims[1] = {x.size()};
    H5::DataSpace space(1, dims);
    file.createDataSet("/x", H5::PredType::NATIVE_DOUBLE, space).write(x.data(), H5::PredType::NATIVE_DOUBLE);
    file.createDataSet("/y", H5::PredType::NATIVE_DOUBLE, space).write(y.data(), H5::PredType::NATIVE_DOUBLE);
  }
  const std::string out = *dir_ / "nan-fit.csv";
  const RunResult r = run({"fit", path, "--model", "exponential", "--mode", "stream", "--chunk-size", "1000",
                           "--p0", "a=4,b=0.4,c=0.5", "--output", out, "-q"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.err, "curvefit: " + path +
                       ": dataset /y: row 23457: non-finite value (use --nan-policy omit to drop such rows)\n");
  EXPECT_FALSE(std::filesystem::exists(out));
}

// The same file fitted in RAM: its contiguous datasets are mapped in place and checked in the
// fit's first full pass rather than in a pass of their own; the message, the exit code and the
// absent output are the stream fit's. A bad sigma is named the same way.
TEST_F(FitModes, MappedHdf5WithABadRowFailsInTheFirstPassWithTheExactRow) {
  std::vector<double> x(30000), y(30000), sigma(30000, 0.1);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<double>(i) / 3000.0;
    y[i] = 5.0 * std::exp(-0.5 * x[i]) + 1.0;
  }
  auto write = [&](const std::string& name) {
    const std::string path = *dir_ / name;
    H5::H5File file(path, H5F_ACC_TRUNC);
    const hsize_t dims[1] = {x.size()};
    H5::DataSpace space(1, dims);
    for (const auto& [dataset, values] : {std::pair{"/x", &x}, std::pair{"/y", &y}, std::pair{"/s", &sigma}})
      file.createDataSet(dataset, H5::PredType::NATIVE_DOUBLE, space).write(values->data(), H5::PredType::NATIVE_DOUBLE);
    return path;
  };
  // Two bad rows: the message names the first whichever chunk a thread meets first.
  y[23456] = std::numeric_limits<double>::quiet_NaN();
  x[29000] = std::numeric_limits<double>::infinity();
  const std::string nan_path = write("nan-mapped.h5");
  y[23456] = 1.0;
  x[29000] = 1.0;
  sigma[17] = -0.1;
  const std::string sigma_path = write("sigma-mapped.h5");
  const std::string out = *dir_ / "mapped-fit.csv";
  for (const char* mode : {"memory", "chunked", "auto"}) {
    const RunResult r = run({"fit", nan_path, "--model", "exponential", "--mode", mode, "--chunk-size", "1000",
                             "--threads", "2", "--p0", "a=4,b=0.4,c=0.5", "--output", out, "-q"});
    EXPECT_EQ(r.exit_code, 3) << mode << ": " << r.err;
    EXPECT_EQ(r.err, "curvefit: " + nan_path +
                         ": dataset /y: row 23457: non-finite value (use --nan-policy omit to drop such rows)\n")
        << mode;
    EXPECT_FALSE(std::filesystem::exists(out)) << mode;
    const RunResult s = run({"fit", sigma_path, "--model", "exponential", "--mode", mode, "--sigma", "/s",
                             "--p0", "a=4,b=0.4,c=0.5", "--output", out, "-q"});
    EXPECT_EQ(s.exit_code, 3) << mode << ": " << s.err;
    EXPECT_EQ(s.err, "curvefit: " + sigma_path +
                         ": dataset /s: row 18: sigma must be finite and > 0 (use --nan-policy omit to drop such rows)\n")
        << mode;
    EXPECT_FALSE(std::filesystem::exists(out)) << mode;
  }
  // Without a bad row the file is used in place and fits.
  sigma[17] = 0.1;
  const RunResult good = run({"fit", write("good-mapped.h5"), "--model", "exponential", "--p0", "a=4,b=0.4,c=0.5",
                              "--json", "-q"});
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_NE(good.out.find("mapped read-only"), std::string::npos) << good.out;
}

}  // namespace
}  // namespace curvefit::cli
