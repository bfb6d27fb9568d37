// The manager's default limit and its MemoryError, checked against arithmetic written out here.
#include "memory/memory_manager.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace curvefit {
namespace {

MemoryManager::SnapshotSource machine(std::uint64_t available, std::uint64_t rss, std::string source) {
  return [=] {
    MemorySnapshot snapshot;
    snapshot.total_bytes = 16'000'000'000;
    snapshot.available_bytes = available;
    snapshot.limit_bytes = available + rss;
    snapshot.limit_source = source;
    snapshot.process_rss_bytes = rss;
    return snapshot;
  };
}

// The process may use what is available beyond what it holds: 1.2 GB available at a safety factor
// of 1.2 leaves 1 GB, and the 100 MB it already holds count towards its peak.
TEST(FitLimit, AvailableOverSafetyFactorPlusWhatTheProcessHolds) {
  MemoryManager manager(machine(1'200'000'000, 100'000'000, "cgroup v1"), 0.8, 1.2);
  const MemoryManager::FitLimit limit = manager.default_limit();
  EXPECT_EQ(limit.bytes, 1'100'000'000u);
  EXPECT_EQ(limit.source, "available memory (cgroup v1) / 1.2");
  MemoryManager cautious(machine(3'000'000'000, 0, "meminfo"), 0.8, 1.5);
  EXPECT_EQ(cautious.default_limit().bytes, 2'000'000'000u);
  EXPECT_EQ(cautious.default_limit().source, "available memory (meminfo) / 1.5");
}

// In a fresh 64 MiB cgroup the process's RSS (14 MB, mostly shared libraries charged to the parent
// cgroup) is not part of the cgroup's usage: available + RSS would plan beyond the cgroup's limit.
TEST(FitLimit, NeverAboveTheCgroupLimit) {
  const auto cgroup = [](std::string source) {
    return [source] {
      MemorySnapshot snapshot;
      snapshot.total_bytes = 16'000'000'000;
      snapshot.available_bytes = 66'000'000;
      snapshot.limit_bytes = 67'108'864;
      snapshot.limit_source = source;
      snapshot.process_rss_bytes = 14'000'000;
      return snapshot;
    };
  };
  MemoryManager v1(cgroup("cgroup v1"), 0.8, 1.2);
  EXPECT_EQ(v1.default_limit().bytes, 67'108'864u);
  EXPECT_EQ(v1.fit_limit(100'000'000).bytes, 67'108'864u);
  MemoryManager v2(cgroup("cgroup v2"), 0.8, 1.2);
  EXPECT_EQ(v2.default_limit().bytes, 67'108'864u);
  MemoryManager roomy(cgroup("cgroup v1"), 0.8, 2.0);  // 33 MB + 14 MB: below the limit, unchanged
  EXPECT_EQ(roomy.default_limit().bytes, 47'000'000u);
}

// --memory-limit is taken as given unless the process cannot hold it (here 1.2 GB available and
// 100 MB held): a larger request is capped at 1.3 GB and says why.
TEST(FitLimit, RequestedLimitIsCappedAtWhatTheProcessCanHold) {
  MemoryManager manager(machine(1'200'000'000, 100'000'000, "cgroup v2"), 0.8, 1.2);
  EXPECT_EQ(manager.fit_limit(512'000'000).bytes, 512'000'000u);
  EXPECT_EQ(manager.fit_limit(512'000'000).source, "--memory-limit");
  const MemoryManager::FitLimit capped = manager.fit_limit(4'000'000'000);
  EXPECT_EQ(capped.bytes, 1'300'000'000u);
  EXPECT_NE(capped.source.find("capped"), std::string::npos) << capped.source;
  EXPECT_NE(capped.source.find("cgroup v2"), std::string::npos) << capped.source;
  EXPECT_EQ(manager.fit_limit(std::nullopt).bytes, manager.default_limit().bytes);
}

TEST(MemoryErrorMessage, NamesNeededAvailableAndTheLimitInDecimalUnits) {
  const MemoryError error(35'101'248, 32'000'000, "--memory-limit");
  const std::string message = error.what();
  EXPECT_EQ(message.rfind("memory limit: ", 0), 0u) << message;
  EXPECT_NE(message.find("35101248 bytes (35.1 MB)"), std::string::npos) << message;
  EXPECT_NE(message.find("32000000 bytes (32 MB)"), std::string::npos) << message;
  EXPECT_NE(message.find("--memory-limit"), std::string::npos) << message;
  EXPECT_EQ(error.needed_bytes(), 35'101'248u);
  EXPECT_EQ(error.available_bytes(), 32'000'000u);
}

TEST(MemoryManagerOptions, RejectsThresholdAndSafetyOutOfRange) {
  EXPECT_THROW(MemoryManager(MemoryManager::fixed_limit(1), 0.0, 1.2), std::invalid_argument);
  EXPECT_THROW(MemoryManager(MemoryManager::fixed_limit(1), 0.8, 0.9), std::invalid_argument);
}

}  // namespace
}  // namespace curvefit
