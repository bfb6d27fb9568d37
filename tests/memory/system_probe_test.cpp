// SystemProbe against fake /proc and /sys trees (cgroup v2, v1, rlimits, meminfo, fallback), and
// the real probe inside a child memory cgroup and under a real RLIMIT_AS.
#include "memory/system_probe.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>

#include "tests/memory/fake_system.h"
#include "tests/memory/own_cgroup.h"

namespace curvefit {
namespace {

using testing::FakeSystem;

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;
constexpr std::uint64_t kGiB = 1024 * kMiB;

// A machine with 16 GiB of RAM, 12 GiB available, a process of 100 MiB RSS (peak 150 MiB), and no
// cgroup or rlimit files yet.
void base_machine(const FakeSystem& fake) {
  fake.meminfo(16 * kGiB / kKiB, 12 * kGiB / kKiB);
  fake.status(100 * kMiB / kKiB, 150 * kMiB / kKiB);
}

// The layout of this machine: cgroup v1 with the memory controller, plus an empty unified mount.
void v1_layout(const FakeSystem& fake, const std::string& cgroup_path) {
  fake.write("/proc/self/cgroup",
             "9:name=systemd:/\n4:memory:" + cgroup_path + "\n3:cpuset:/\n0::/\n");
  fake.write("/proc/self/mountinfo",
             "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
             "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
             "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
             "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n");
  fake.write("/sys/fs/cgroup/unified/cgroup.procs", "");
}

// A pure cgroup v2 machine with the process in `cgroup_path`.
void v2_layout(const FakeSystem& fake, const std::string& cgroup_path) {
  fake.write("/proc/self/cgroup", "0::" + cgroup_path + "\n");
  fake.write("/proc/self/mountinfo",
             "24 30 0:22 / /proc rw,nosuid - proc proc rw\n"
             "35 30 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 "
             "rw,nsdelegate\n");
}

TEST(SystemProbe, MeminfoOnlyMachineReportsMemAvailable) {
  FakeSystem fake;
  base_machine(fake);
  const MemorySnapshot s = SystemProbe(fake.root()).snapshot();
  EXPECT_EQ(s.total_bytes, 16 * kGiB);
  EXPECT_EQ(s.available_bytes, 12 * kGiB);
  EXPECT_EQ(s.limit_bytes, 16 * kGiB);
  EXPECT_EQ(s.limit_source, "meminfo");
  EXPECT_EQ(s.process_rss_bytes, 100 * kMiB);
  EXPECT_EQ(s.process_peak_bytes, 150 * kMiB);
}

TEST(SystemProbe, OldKernelWithoutMemAvailableUsesFreePlusCache) {
  FakeSystem fake;
  fake.write("/proc/meminfo",
             "MemTotal: 8000 kB\nMemFree: 1000 kB\nBuffers: 200 kB\nCached: 3000 kB\n");
  const MemorySnapshot s = SystemProbe(fake.root()).snapshot();
  EXPECT_EQ(s.available_bytes, (1000 + 200 + 3000) * kKiB);
  EXPECT_EQ(s.limit_source, "meminfo");
}

TEST(SystemProbe, CgroupV1WithLimitSetsAvailable) {
  FakeSystem fake;
  base_machine(fake);
  v1_layout(fake, "/process_api/abc");
  const std::string dir = "/sys/fs/cgroup/memory/process_api/abc/";
  fake.write(dir + "memory.limit_in_bytes", std::to_string(2 * kGiB) + "\n");
  fake.write(dir + "memory.usage_in_bytes", std::to_string(700 * kMiB) + "\n");
  // 200 MiB of the usage is inactive page cache the kernel would reclaim first.
  fake.write(dir + "memory.stat",
             "cache 300\ntotal_cache 1\ntotal_inactive_file " + std::to_string(200 * kMiB) + "\n");
  const MemorySnapshot s = SystemProbe(fake.root()).snapshot();
  EXPECT_EQ(s.limit_source, "cgroup v1");
  EXPECT_EQ(s.limit_bytes, 2 * kGiB);
  EXPECT_EQ(s.available_bytes, 2 * kGiB - 500 * kMiB);
  EXPECT_EQ(s.total_bytes, 16 * kGiB);
}

TEST(SystemProbe, CgroupV1UnlimitedValueMeansNoLimit) {
  FakeSystem fake;
  base_machine(fake);
  v1_layout(fake, "/process_api/abc");
  fake.write("/sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes",
             "9223372036854771712\n");
  fake.write("/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  fake.write("/sys/fs/cgroup/memory/process_api/abc/memory.usage_in_bytes", "2895872\n");
  const MemorySnapshot s = SystemProbe(fake.root()).snapshot();
  EXPECT_EQ(s.limit_source, "meminfo");
  EXPECT_EQ(s.available_bytes, 12 * kGiB);
}

TEST(SystemProbe, CgroupV1ParentLimitBindsTheChild) {
  FakeSystem fake;
  base_machine(fake);
  v1_layout(fake, "/outer/inner");
  fake.write("/sys/fs/cgroup/memory/outer/memory.limit_in_bytes", std::to_string(1 * kGiB));
  fake.write("/sys/fs/cgroup/memory/outer/inner/memory.limit_in_bytes", "9223372036854771712");
  fake.write("/sys/fs/cgroup/memory/outer/inner/memory.usage_in_bytes", std::to_string(24 * kMiB));
  const MemorySnapshot s = SystemProbe(fake.root()).snapshot();
  EXPECT_EQ(s.limit_source, "cgroup v1");
  EXPECT_EQ(s.limit_bytes, 1 * kGiB);
  EXPECT_EQ(s.available_bytes, 1 * kGiB - 24 * kMiB);
}

TEST(SystemProbe, CgroupV1MountedSubtreeIsFound) {
  // Inside a container the hierarchy's root is often the container's own cgroup.
  FakeSystem fake;
  base_machine(fake);
  fake.write("/proc/self/cgroup", "4:memory:/docker/0123\n");
  fake.write("/proc/self/mountinfo",
             "34 30 0:31 /docker/0123 /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n");
  fake.write("/sys/fs/cgroup/memory/memory.limit_in_bytes", std::to_string(512 * kMiB));
  fake.write("/sys/fs/cgroup/memory/memory.usage_in_bytes", std::to_string(12 * kMiB));
  const MemorySnapshot s = SystemProbe(fake.root()).snapshot();
  EXPECT_EQ(s.limit_source, "cgroup v1");
  EXPECT_EQ(s.limit_bytes, 512 * kMiB);
  EXPECT_EQ(s.available_bytes, 500 * kMiB);
}

TEST(SystemProbe, CgroupV2WithMaxSetsAvailable) {
  FakeSystem fake;
  base_machine(fake);
  v2_layout(fake, "/user.slice/job");
  fake.write("/sys/fs/cgroup/user.slice/job/memory.max", std::to_string(3 * kGiB) + "\n");
  fake.write("/sys/fs/cgroup/user.slice/job/memory.high", "max\n");
  fake.write("/sys/fs/cgroup/user.slice/job/memory.current", std::to_string(1 * kGiB) + "\n");
  fake.write("/sys/fs/cgroup/user.slice/job/memory.stat",
             "anon 1\nfile 2\ninactive_file " + std::to_string(256 * kMiB) + "\n");
  const MemorySnapshot s = SystemProbe(fake.root()).snapshot();
  EXPECT_EQ(s.limit_source, "cgroup v2");
  EXPECT_EQ(s.limit_bytes, 3 * kGiB);
  EXPECT_EQ(s.available_bytes, 2 * kGiB + 256 * kMiB);
}

TEST(SystemProbe, CgroupV2HighBelowMaxIsTheLimit) {
  FakeSystem fake;
  base_machine(fake);
  v2_layout(fake, "/job");
  fake.write("/sys/fs/cgroup/job/memory.max", std::to_string(4 * kGiB));
  fake.write("/sys/fs/cgroup/job/memory.high", std::to_string(3 * kGiB));
  fake.write("/sys/fs/cgroup/job/memory.current", "0");
  const MemorySnapshot s = SystemProbe(fake.root()).snapshot();
  EXPECT_EQ(s.limit_source, "cgroup v2");
  EXPECT_EQ(s.limit_bytes, 3 * kGiB);
}

TEST(SystemProbe, CgroupV2WithoutLimitFallsToMeminfo) {
  FakeSystem fake;
  base_machine(fake);
  v2_layout(fake, "/job");
  fake.write("/sys/fs/cgroup/job/memory.max", "max\n");
  fake.write("/sys/fs/cgroup/job/memory.high", "max\n");
  fake.write("/sys/fs/cgroup/job/memory.current", "123456\n");
  const MemorySnapshot s = SystemProbe(fake.root()).snapshot();
  EXPECT_EQ(s.limit_source, "meminfo");
  EXPECT_EQ(s.available_bytes, 12 * kGiB);
}

TEST(SystemProbe, CgroupLimitAboveAvailableRamLeavesMeminfoInCharge) {
  FakeSystem fake;
  base_machine(fake);
  v2_layout(fake, "/job");
  fake.write("/sys/fs/cgroup/job/memory.max", std::to_string(64 * kGiB));
  fake.write("/sys/fs/cgroup/job/memory.current", "0");
  const MemorySnapshot s = SystemProbe(fake.root()).snapshot();
  EXPECT_EQ(s.limit_source, "meminfo");
  EXPECT_EQ(s.available_bytes, 12 * kGiB);
}

TEST(SystemProbe, RlimitAddressSpaceSetsAvailable) {
  FakeSystem fake;
  base_machine(fake);
  fake.status(100 * kMiB / kKiB, 150 * kMiB / kKiB, /*VmSize*/ 300 * kMiB / kKiB,
              /*VmData*/ 80 * kMiB / kKiB);
  fake.limits(std::to_string(2 * kGiB), "unlimited");
  const MemorySnapshot s = SystemProbe(fake.root()).snapshot();
  EXPECT_EQ(s.limit_source, "rlimit");
  EXPECT_EQ(s.limit_bytes, 2 * kGiB);
  EXPECT_EQ(s.available_bytes, 2 * kGiB - 300 * kMiB);
}

TEST(SystemProbe, RlimitDataSetsAvailable) {
  FakeSystem fake;
  base_machine(fake);
  fake.status(100 * kMiB / kKiB, 150 * kMiB / kKiB, 300 * kMiB / kKiB, 80 * kMiB / kKiB);
  fake.limits("unlimited", std::to_string(1 * kGiB));
  const MemorySnapshot s = SystemProbe(fake.root()).snapshot();
  EXPECT_EQ(s.limit_source, "rlimit");
  EXPECT_EQ(s.limit_bytes, 1 * kGiB);
  EXPECT_EQ(s.available_bytes, 1 * kGiB - 80 * kMiB);
}

TEST(SystemProbe, SmallestOfCgroupAndRlimitWins) {
  FakeSystem fake;
  base_machine(fake);
  v1_layout(fake, "/job");
  fake.write("/sys/fs/cgroup/memory/job/memory.limit_in_bytes", std::to_string(1 * kGiB));
  fake.write("/sys/fs/cgroup/memory/job/memory.usage_in_bytes", "0");
  fake.limits(std::to_string(4 * kGiB), "unlimited");
  EXPECT_EQ(SystemProbe(fake.root()).snapshot().limit_source, "cgroup v1");
  fake.limits(std::to_string(512 * kMiB), "unlimited");
  EXPECT_EQ(SystemProbe(fake.root()).snapshot().limit_source, "rlimit");
}

TEST(SystemProbe, NothingReadableFallsBackConservativelyAndSaysSo) {
  FakeSystem fake;
  const MemorySnapshot s = SystemProbe(fake.root()).snapshot();
  EXPECT_EQ(s.limit_source, "fallback");
  EXPECT_EQ(s.available_bytes, SystemProbe::kFallbackBytes);
  EXPECT_EQ(s.limit_bytes, SystemProbe::kFallbackBytes);
  EXPECT_EQ(s.process_rss_bytes, 0u);
  const bool says_so = std::any_of(s.notes.begin(), s.notes.end(), [](const std::string& note) {
    return note.find("assuming") != std::string::npos;
  });
  EXPECT_TRUE(says_so);
}

TEST(SystemProbe, RealProcessRssIsPlausible) {
  const std::uint64_t rss = current_rss_bytes();
  const std::uint64_t peak = peak_rss_bytes();
  ASSERT_GT(rss, 0u);
  EXPECT_GE(peak, rss);
  // Touch 64 MiB: the peak must grow by (nearly) that much.
  const std::size_t bytes = 64 * kMiB;
  std::vector<char> block(bytes, 1);
  EXPECT_GE(peak_rss_bytes(), rss + bytes * 9 / 10);
  EXPECT_EQ(block[bytes - 1], 1);
}

// ---- The real probe, run through the curvefit binary in a constrained child ----

// Runs `curvefit memory --json` in a child; `prepare` runs in the child between fork and exec and
// may use only async-signal-safe calls. Returns the JSON, or nullopt if the child failed.
template <class Prepare>
std::optional<nlohmann::json> run_memory_json(Prepare prepare) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return std::nullopt;
  const char* binary = CURVEFIT_BINARY;
  const pid_t child = fork();
  if (child < 0) return std::nullopt;
  if (child == 0) {
    close(pipe_fds[0]);
    if (!prepare()) _exit(90);
    dup2(pipe_fds[1], STDOUT_FILENO);
    close(pipe_fds[1]);
    execl(binary, binary, "memory", "--json", static_cast<char*>(nullptr));
    _exit(91);
  }
  close(pipe_fds[1]);
  std::string output;
  char buffer[4096];
  for (ssize_t got; (got = read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
    output.append(buffer, static_cast<std::size_t>(got));
  close(pipe_fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << "curvefit memory --json exited with status " << status
                  << ", output: " << output;
    return std::nullopt;
  }
  return nlohmann::json::parse(output);
}

using testing::OwnCgroup;
using testing::own_memory_cgroup;

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

TEST(SystemProbeReal, ChildMemoryCgroupLimitIsReported) {
  if (geteuid() != 0) GTEST_SKIP() << "creating a memory cgroup needs root";
  const auto own = own_memory_cgroup();
  if (!own) GTEST_SKIP() << "no memory cgroup hierarchy found in /proc/self/mountinfo";
  const std::string child_dir = own->directory + "/curvefit_test_" + std::to_string(getpid());
  if (mkdir(child_dir.c_str(), 0755) != 0)
    GTEST_SKIP() << "cannot create " << child_dir << ": " << std::strerror(errno);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { rmdir(dir.c_str()); }
  } cleanup{child_dir};

  constexpr std::uint64_t kLimit = 64 * kMiB;
  const std::string limit_file = child_dir + (own->v2 ? "/memory.max" : "/memory.limit_in_bytes");
  if (!write_file(limit_file, std::to_string(kLimit)))
    GTEST_SKIP() << "cannot set " << limit_file << " (memory controller not delegated here?)";
  const std::string procs = child_dir + "/cgroup.procs";

  const auto json = run_memory_json([&procs] {
    // Async-signal-safe: move this (child) process into the cgroup by writing its pid.
    const int fd = open(procs.c_str(), O_WRONLY);
    if (fd < 0) return false;
    char digits[24];
    int length = 0;
    for (pid_t pid = getpid(); pid > 0; pid /= 10)
      digits[length++] = static_cast<char>('0' + pid % 10);
    char text[24];
    for (int i = 0; i < length; ++i) text[i] = digits[length - 1 - i];
    const bool ok = write(fd, text, static_cast<std::size_t>(length)) == length;
    close(fd);
    return ok;
  });
  ASSERT_TRUE(json.has_value());
  EXPECT_EQ((*json)["limit_source"], own->v2 ? "cgroup v2" : "cgroup v1");
  EXPECT_EQ((*json)["limit_bytes"].get<std::uint64_t>(), kLimit);
  EXPECT_LE((*json)["available_bytes"].get<std::uint64_t>(), kLimit);
  EXPECT_GT((*json)["available_bytes"].get<std::uint64_t>(), 0u);
}

TEST(SystemProbeReal, AddressSpaceRlimitIsReported) {
  constexpr std::uint64_t kLimit = 4 * kGiB;
  const MemorySnapshot here = SystemProbe().snapshot();
  if (here.available_bytes <= kLimit)
    GTEST_SKIP() << "this machine already has less than 4 GiB available (" << here.limit_source
                 << ")";
  const auto json = run_memory_json([] {
    const rlimit limit{kLimit, kLimit};
    return setrlimit(RLIMIT_AS, &limit) == 0;
  });
  ASSERT_TRUE(json.has_value());
  EXPECT_EQ((*json)["limit_source"], "rlimit");
  EXPECT_EQ((*json)["limit_bytes"].get<std::uint64_t>(), kLimit);
  EXPECT_LT((*json)["available_bytes"].get<std::uint64_t>(), kLimit);
}

}  // namespace
}  // namespace curvefit
