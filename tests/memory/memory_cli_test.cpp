// `curvefit memory` and `curvefit plan` as a user runs them: JSON keys, values against independent
// arithmetic, and exit codes for bad input.
#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "app/cli_util.h"
#include "memory/system_probe.h"

namespace curvefit {
namespace {

using cli::RunResult;
using cli::run;

TEST(MemoryCommand, JsonHasTheDocumentedKeysAndAgreesWithTheProbe) {
  const RunResult result = run({"memory", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.out;
  const auto json = nlohmann::json::parse(result.out);
  for (const char* key : {"total_bytes", "available_bytes", "limit_bytes", "limit_source",
                          "process_rss_bytes", "process_peak_bytes"})
    EXPECT_TRUE(json.contains(key)) << key;
  // The child runs in this process's cgroup with its rlimits: the same source decides.
  EXPECT_EQ(json["limit_source"], SystemProbe().snapshot().limit_source);
  EXPECT_LE(json["available_bytes"].get<std::uint64_t>(), json["limit_bytes"].get<std::uint64_t>());
  EXPECT_GT(json["process_rss_bytes"].get<std::uint64_t>(), 0u);
  EXPECT_GE(json["process_peak_bytes"].get<std::uint64_t>(),
            json["process_rss_bytes"].get<std::uint64_t>());
}

TEST(MemoryCommand, TextNamesTheSource) {
  const RunResult result = run({"memory"});
  ASSERT_EQ(result.exit_code, 0);
  EXPECT_NE(result.out.find(SystemProbe().snapshot().limit_source), std::string::npos)
      << result.out;
}

TEST(PlanCommand, ScientificAndPlainPointCountsAgree) {
  const RunResult a = run({"plan", "--points", "1e8", "--params", "5", "--memory-limit", "512MB", "--json"});
  const RunResult b = run({"plan", "--points", "100000000", "--params", "5", "--memory-limit", "512MB", "--json"});
  ASSERT_EQ(a.exit_code, 0) << a.out;
  ASSERT_EQ(b.exit_code, 0) << b.out;
  const auto ja = nlohmann::json::parse(a.out);
  const auto jb = nlohmann::json::parse(b.out);
  // The same plan; each process measures its own baseline RSS, and the peaks above it agree.
  for (const char* key : {"rows", "mode", "chunk_size", "n_chunks", "memory_limit_bytes", "subsample_rows"})
    EXPECT_EQ(ja[key], jb[key]) << key;
  const auto above_baseline = [](const nlohmann::json& plan, const char* key) {
    return plan[key].get<std::int64_t>() - plan["baseline_rss_bytes"].get<std::int64_t>();
  };
  EXPECT_EQ(above_baseline(ja, "predicted_bytes"), above_baseline(jb, "predicted_bytes"));
  EXPECT_EQ(above_baseline(ja, "chosen_predicted_peak_bytes"), above_baseline(jb, "chosen_predicted_peak_bytes"));
  for (const char* key : {"method", "predicted_bytes", "memory_limit_bytes", "needs_chunking",
                          "chunk_size", "n_chunks", "memory_per_chunk_bytes"})
    EXPECT_TRUE(ja.contains(key)) << key;
  EXPECT_EQ(ja["method"], "trf");
  EXPECT_EQ(ja["memory_limit_bytes"].get<std::uint64_t>(), 512'000'000u);
  // 1e8 rows of x and y loaded into RAM: 8 * 1e8 * 2 = 1.6e9 bytes above the baseline, plus at
  // most some MB of HDF5 slabs and caches or of workspaces (the Jacobian is never whole).
  EXPECT_GE(above_baseline(ja, "predicted_bytes"), 1'600'000'000);
  EXPECT_LT(above_baseline(ja, "predicted_bytes"), 1'616'000'000);
  EXPECT_EQ(ja["mode"], "stream");
  EXPECT_TRUE(ja["needs_chunking"].get<bool>());
  const auto chunk = ja["chunk_size"].get<std::uint64_t>();
  EXPECT_EQ(ja["n_chunks"].get<std::uint64_t>(), (100'000'000 + chunk - 1) / chunk);
  EXPECT_EQ(ja["memory_per_chunk_bytes"].get<std::uint64_t>(), 8 * chunk * (4 + 5));
}

TEST(PlanCommand, SmallProblemFitsInMemory) {
  const RunResult r =
      run({"plan", "--points", "1000", "--params", "3", "--method", "lm", "--memory-limit", "1GiB", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto json = nlohmann::json::parse(r.out);
  EXPECT_EQ(json["method"], "lm");
  EXPECT_FALSE(json["needs_chunking"].get<bool>());
  EXPECT_EQ(json["n_chunks"], 1);
  EXPECT_EQ(json["chunk_size"], 1000);
  EXPECT_EQ(json["memory_limit_bytes"].get<std::uint64_t>(), 1ull << 30);
}

TEST(PlanCommand, BadInputExitCodes) {
  EXPECT_EQ(run({"plan", "--points", "1e8", "--params", "5", "--memory-limit", "12XB"}).exit_code, 2);
  EXPECT_EQ(run({"plan", "--points", "ten", "--params", "5"}).exit_code, 2);
  EXPECT_EQ(run({"plan", "--points", "0", "--params", "5"}).exit_code, 2);
  EXPECT_EQ(run({"plan", "--points", "100", "--params", "0"}).exit_code, 2);
  EXPECT_EQ(run({"plan", "--points", "100", "--params", "2", "--method", "newton"}).exit_code, 2);
  EXPECT_EQ(run({"plan", "--params", "2"}).exit_code, 2);
  // A limit below what the smallest chunk needs: exit 4, memory limit cannot be met.
  EXPECT_EQ(run({"plan", "--points", "1e8", "--params", "5", "--memory-limit", "10kB"}).exit_code, 4);
}

}  // namespace
}  // namespace curvefit
