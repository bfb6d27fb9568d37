#pragma once
// What memory this process may use, read from the kernel's files:
//   /proc/meminfo            MemTotal, MemAvailable
//   /proc/self/cgroup        the process's cgroup (v2 "0::/path", v1 "N:memory:/path")
//   /proc/self/mountinfo     where the cgroup2 / v1 memory hierarchies are mounted
//   cgroup v2                memory.max, memory.high (this cgroup and its ancestors),
//                            memory.current, memory.stat inactive_file
//   cgroup v1                memory.limit_in_bytes (this cgroup and its ancestors),
//                            memory.usage_in_bytes, memory.stat total_inactive_file
//   /proc/self/limits        RLIMIT_AS ("Max address space"), RLIMIT_DATA ("Max data size")
//   /proc/self/status        VmRSS, VmHWM (peak RSS), VmSize, VmData
// All paths are read below a configurable root, so tests can point the probe at fake trees.
//
// Each readable limit gives a candidate "available" figure; the effective available memory is the
// smallest candidate, and the snapshot names the source that set it.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace curvefit {

struct MemorySnapshot {
  // Physical RAM (MemTotal); the fallback figure when /proc/meminfo cannot be read.
  std::uint64_t total_bytes = 0;
  // Effective available memory: the smallest of MemAvailable, (cgroup limit - cgroup usage not
  // counting reclaimable inactive file cache), (RLIMIT_AS - VmSize), (RLIMIT_DATA - VmData).
  std::uint64_t available_bytes = 0;
  // The limit of the source that set available_bytes: the cgroup limit, the rlimit, MemTotal for
  // "meminfo", the fallback figure for "fallback".
  std::uint64_t limit_bytes = 0;
  // "cgroup v2", "cgroup v1", "rlimit", "meminfo" or "fallback".
  std::string limit_source;
  std::uint64_t process_rss_bytes = 0;   // VmRSS, 0 when unreadable
  std::uint64_t process_peak_bytes = 0;  // VmHWM, 0 when unreadable
  // Human-readable remarks: which cgroup was read, which files were missing, fallbacks taken.
  std::vector<std::string> notes;
};

class SystemProbe {
 public:
  // Used when nothing at all can be read: a conservative 1 GiB.
  static constexpr std::uint64_t kFallbackBytes = std::uint64_t{1} << 30;

  explicit SystemProbe(std::filesystem::path root = "/");
  const std::filesystem::path& root() const { return root_; }

  // Reads every source now (a few small files; tens of microseconds).
  MemorySnapshot snapshot() const;

 private:
  std::filesystem::path root_;
};

// VmRSS and VmHWM of this process from /proc/self/status; 0 when unreadable.
std::uint64_t current_rss_bytes();
std::uint64_t peak_rss_bytes();

}  // namespace curvefit
