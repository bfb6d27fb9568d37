// --memory-limit is a promise for every input: over a scan of limits, a fit that succeeds at one
// limit succeeds at every larger one and its measured peak RSS (VmHWM, as the JSON reports it)
// stays within the limit, for CSV and HDF5 and every mode; below what it needs it exits 4 with the
// memory message. `plan` and `fit` choose the same mode and chunk; `plan --points` and `plan DATA`
// agree; under `ulimit -v` the fit succeeds or exits 4, never 3 or a crash; `curvefit memory`
// shows the default limit `fit` uses.
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "app/cli_util.h"
#include "core/engine/planner.h"

namespace curvefit::cli {
namespace {

constexpr std::size_t kRows = 1'000'000;

class MemoryLimit : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    for (const char* extension : {".csv", ".h5"}) {
      const RunResult g = run({"generate", "--model", "exponential", "--points", std::to_string(kRows), "--noise",
                               "0.01", "--seed", "7", "--out", *dir_ / (std::string("exp") + extension)});
      ASSERT_EQ(g.exit_code, 0) << g.err;
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string data(const std::string& extension) { return *dir_ / ("exp" + extension); }
  static TempDir* dir_;
};
TempDir* MemoryLimit::dir_ = nullptr;

// generate's example parameters for the exponential model: a = 5, b = 0.5, c = 1.
void expect_true_parameters(const nlohmann::json& fit, const std::string& what) {
  const std::vector<double> truth{5.0, 0.5, 1.0};
  for (std::size_t j = 0; j < truth.size(); ++j)
    EXPECT_NEAR(fit["params"][j]["value"].get<double>(), truth[j], 1e-3) << what;
}

TEST_F(MemoryLimit, SuccessIsMonotoneInTheLimitAndThePeakStaysWithinIt) {
  struct Case {
    std::string extension, mode;
  };
  const std::vector<Case> cases{{".csv", "auto"},    {".h5", "auto"},   {".csv", "chunked"},
                                {".csv", "stream"},  {".h5", "stream"}, {".h5", "memory"}};
  for (const Case& c : cases) {
    bool met = false;
    for (int megabytes : {16, 20, 22, 24, 26, 28, 30, 32, 34, 36, 40, 48, 56, 64}) {
      const std::string limit = std::to_string(megabytes) + "MB";
      const std::string what = c.extension + " --mode " + c.mode + " --memory-limit " + limit;
      const RunResult r = run({"fit", data(c.extension), "--model", "exponential", "--mode", c.mode,
                               "--memory-limit", limit, "--json", "-q"});
      if (r.exit_code == 4) {
        EXPECT_FALSE(met) << what << ": exit 4 though a smaller limit succeeded\n" << r.err;
        EXPECT_EQ(r.err.rfind("curvefit: memory limit: ", 0), 0u) << what << "\n" << r.err;
        continue;
      }
      ASSERT_EQ(r.exit_code, 0) << what << "\n" << r.err;
      met = true;
      const nlohmann::json fit = r.json();
      const auto peak = fit["memory"]["peak_rss_bytes"].get<std::uint64_t>();
      EXPECT_LE(peak, static_cast<std::uint64_t>(megabytes) * 1'000'000u) << what;
      EXPECT_LE(fit["memory"]["predicted_peak_bytes"].get<std::uint64_t>(),
                static_cast<std::uint64_t>(megabytes) * 1'000'000u) << what;
      if (c.mode != "auto") {
        EXPECT_EQ(fit["mode"], c.mode) << what;
      }
      expect_true_parameters(fit, what);
    }
    EXPECT_TRUE(met) << c.extension << " " << c.mode << ": no limit up to 64 MB succeeded";
  }
}

TEST_F(MemoryLimit, PlanAndFitChooseTheSameModeChunkAndPeak) {
  for (const std::string extension : {".csv", ".h5"})
    for (const std::string limit : {"30MB", "64MB", "1GB"}) {
      const std::string what = extension + " " + limit;
      const RunResult p = run({"plan", data(extension), "--model", "exponential", "--memory-limit", limit, "--json"});
      ASSERT_EQ(p.exit_code, 0) << what << "\n" << p.err;
      const RunResult f = run({"fit", data(extension), "--model", "exponential", "--memory-limit", limit, "--json", "-q"});
      ASSERT_EQ(f.exit_code, 0) << what << "\n" << f.err;
      const nlohmann::json plan = p.json(), fit = f.json();
      EXPECT_EQ(plan["mode"], fit["mode"]) << what;
      // The same arithmetic on each process's own baseline RSS, which differs by some pages; the
      // baseline is rounded up to a MiB, so a few pages on either side of a MiB flip it by one MiB. A
      // CSV's row count is an estimate in `plan` and exact in `fit` (2.5% apart for this file).
      const double planned = plan["chosen_predicted_peak_bytes"].get<double>();
      const double fitted = fit["memory"]["predicted_peak_bytes"].get<double>();
      const double limit_bytes = fit["memory"]["limit_bytes"].get<double>();
      const bool same_chunk = plan["chunk_size"] == fit["chunk_rows"];
      if (!same_chunk || std::abs(fitted - planned) > (extension == ".csv" ? 0.03 * planned : 1024.0 * 1024 + 512.0 * 1024)) {
        // Near the limit the chunk (and a CSV's parse block) is the largest that fits, and the two
        // processes' own baselines (rounded to a MiB) can fall on either side of a step: then both
        // plans must be bound by the limit, each within it.
        EXPECT_GT(planned, 0.85 * limit_bytes) << what;
        EXPECT_GT(fitted, 0.85 * limit_bytes) << what;
        EXPECT_LE(fitted, limit_bytes) << what;
      }
      EXPECT_EQ(plan["memory_limit_bytes"], fit["memory"]["limit_bytes"]) << what;
    }
}

// `plan --points N --params P` is the plan of N rows of x, y in an HDF5 file: the same mode, chunk
// and prediction above the baseline as `plan DATA.h5` of N rows for a 3-parameter model.
TEST_F(MemoryLimit, PlanFromSizesIsThePlanOfSuchData) {
  for (const std::string limit : {"24MB", "30MB", "64MB", "1GB"}) {
    const RunResult sizes = run({"plan", "--points", "1e6", "--params", "3", "--memory-limit", limit, "--json"});
    const RunResult file = run({"plan", data(".h5"), "--model", "exponential", "--memory-limit", limit, "--json"});
    ASSERT_EQ(sizes.exit_code, 0) << sizes.err;
    ASSERT_EQ(file.exit_code, 0) << file.err;
    const nlohmann::json a = sizes.json(), b = file.json();
    EXPECT_EQ(a["rows"], b["rows"]) << limit;
    EXPECT_EQ(a["mode"], b["mode"]) << limit;
    const auto above_baseline = [](const nlohmann::json& plan) {
      return plan["chosen_predicted_peak_bytes"].get<std::int64_t>() - plan["baseline_rss_bytes"].get<std::int64_t>();
    };
    if (a["chunk_size"] == b["chunk_size"]) {
      EXPECT_EQ(above_baseline(a), above_baseline(b)) << limit;
    } else {
      // A chunk bound by the limit moves with the baseline, and the two processes' baselines differ
      // by the HDF5 library's own memory: near a step one plan may still get the full chunk while
      // the other is cut to fit. Every chunk smaller than the full one must be limit-bound.
      const auto full_or_limit_bound = [](const nlohmann::json& plan) {
        return plan["chunk_size"].get<std::size_t>() >= kMaxChunkRows ||
               plan["chosen_predicted_peak_bytes"].get<double>() > 0.99 * plan["memory_limit_bytes"].get<double>();
      };
      EXPECT_TRUE(full_or_limit_bound(a)) << limit << "\n" << a.dump();
      EXPECT_TRUE(full_or_limit_bound(b)) << limit << "\n" << b.dump();
    }
  }
}

// Runs the binary under `ulimit -v kib` through bash; returns the exit code, stderr in `err`.
int run_under_address_limit(std::size_t kib, const std::vector<std::string>& args, std::string& err) {
  const std::string err_path = ::testing::TempDir() + "curvefit_ulimit_err.txt";
  std::string command = "ulimit -v " + std::to_string(kib) + "; exec " + CURVEFIT_BINARY;
  for (const std::string& a : args) command += " '" + a + "'";
  command += " > /dev/null 2> '" + err_path + "'";
  const int status = std::system(("bash -c \"" + command + "\"").c_str());
  std::ifstream in(err_path);
  std::stringstream text;
  text << in.rdbuf();
  err = text.str();
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST_F(MemoryLimit, UnderAnAddressSpaceLimitTheFitSucceedsOrExits4) {
  // The smallest limit (in steps of 10 MiB) under which the binary starts at all.
  std::string err;
  std::size_t start = 20'000;
  while (start < 400'000 && run_under_address_limit(start, {"--version"}, err) != 0) start += 10'000;
  ASSERT_LT(start, 400'000u) << err;
  for (const std::string extension : {".csv", ".h5"}) {
    bool succeeded = false;
    for (std::size_t kib = start; kib <= start + 150'000; kib += 10'000) {
      const int code = run_under_address_limit(kib, {"fit", data(extension), "--model", "exponential", "-q"}, err);
      const std::string what = extension + " under ulimit -v " + std::to_string(kib);
      EXPECT_TRUE(code == 0 || code == 4) << what << ": exit " << code << "\n" << err;
      if (code == 4) {
        EXPECT_EQ(err.rfind("curvefit: memory limit", 0), 0u) << what << "\n" << err;
      }
      EXPECT_EQ(err.find("bad_alloc"), std::string::npos) << what << "\n" << err;
      succeeded = succeeded || code == 0;
    }
    EXPECT_TRUE(succeeded) << extension << ": no address-space limit up to 150 MB above the start succeeded";
  }
}

// `curvefit memory` shows the limit `fit` plans against without --memory-limit, with its source.
TEST_F(MemoryLimit, MemoryCommandShowsTheDefaultLimitOfFitAndPlan) {
  const RunResult memory = run({"memory", "--json"});
  const RunResult plan = run({"plan", data(".h5"), "--model", "exponential", "--json"});
  const RunResult fit = run({"fit", data(".h5"), "--model", "exponential", "--json", "-q"});
  ASSERT_EQ(memory.exit_code, 0) << memory.err;
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  ASSERT_EQ(fit.exit_code, 0) << fit.err;
  const nlohmann::json shown = memory.json();
  const std::string source = shown["default_memory_limit_source"];
  EXPECT_EQ(source.rfind("available memory (", 0), 0u) << source;
  EXPECT_EQ(plan.json()["limit_source"], source);
  const nlohmann::json fitted = fit.json();
  bool noted = false;
  for (const auto& note : fitted["notes"]) noted = noted || note == "memory limit from " + source;
  EXPECT_TRUE(noted) << fit.out;
  // Three processes read the machine's available memory a moment apart: equal to 2%.
  const double bytes = shown["default_memory_limit_bytes"].get<double>();
  EXPECT_NEAR(plan.json()["memory_limit_bytes"].get<double>(), bytes, 0.02 * bytes);
  EXPECT_NEAR(fitted["memory"]["limit_bytes"].get<double>(), bytes, 0.02 * bytes);
}

// MB is 10^6 bytes in and out: --memory-limit 512MB is 512000000 bytes and printed as 512 MB.
TEST_F(MemoryLimit, MegabytesAreDecimalInTheReport) {
  const RunResult json = run({"fit", data(".h5"), "--model", "exponential", "--memory-limit", "512MB", "--json", "-q"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(json.json()["memory"]["limit_bytes"], 512'000'000u);
  const RunResult text = run({"fit", data(".h5"), "--model", "exponential", "--memory-limit", "512MB", "-q"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("limit 512 MB"), std::string::npos) << text.out;
  const RunResult mib = run({"plan", data(".h5"), "--model", "exponential", "--memory-limit", "64MiB"});
  ASSERT_EQ(mib.exit_code, 0) << mib.err;
  EXPECT_NE(mib.out.find("67.11 MB"), std::string::npos) << mib.out;
}

// --verbose reports the buffer pool: a streamed fit's workspaces, factors and read-ahead buffers
// all come from it.
TEST_F(MemoryLimit, VerboseReportsTheBufferPool) {
  const RunResult r = run({"fit", data(".h5"), "--model", "exponential", "--mode", "stream", "--verbose"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::size_t at = r.out.find("buffer pool: ");
  ASSERT_NE(at, std::string::npos) << r.out;
  EXPECT_GT(std::stoul(r.out.substr(at + 13)), 3u) << r.out.substr(at);
}

}  // namespace
}  // namespace curvefit::cli
