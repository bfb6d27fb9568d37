// Fits under a real memory cgroup, without --memory-limit: the planner must find the cgroup's limit
// itself (the process's own nested cgroup path, v1 or v2), choose a plan that fits, and the fit
// must succeed inside the cgroup — never OOM-killed — with its peak RSS below the limit, on data
// whose in-RAM copy (320 MB) exceeds every limit tried (64, 128, 256 MB).
//
// Needs root and a memory controller this process may create children under; skipped otherwise.
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "app/cli_util.h"
#include "tests/memory/own_cgroup.h"

namespace curvefit::cli {
namespace {

using testing::OwnCgroup;
using testing::own_memory_cgroup;

// A child memory cgroup with a limit, removed when done (after the processes in it have ended).
class ChildCgroup {
 public:
  ChildCgroup(const OwnCgroup& parent, const std::string& name, std::uint64_t limit)
      : directory_(parent.directory + "/" + name), v2_(parent.v2) {
    if (::mkdir(directory_.c_str(), 0755) != 0) {
      problem_ = "cannot create " + directory_ + ": " + std::strerror(errno);
      return;
    }
    std::ofstream out(directory_ + (v2_ ? "/memory.max" : "/memory.limit_in_bytes"));
    out << limit;
    out.flush();
    if (!out) problem_ = "cannot set a memory limit in " + directory_ + " (memory controller not delegated here?)";
    procs_ = directory_ + "/cgroup.procs";
  }
  ~ChildCgroup() { ::rmdir(directory_.c_str()); }
  const std::string& problem() const { return problem_; }
  // Moves the calling process into the cgroup: for FileProcess's in_child (async-signal-safe).
  void join() const {
    const int fd = ::open(procs_.c_str(), O_WRONLY);
    char text[24];
    int length = 0;
    for (pid_t pid = ::getpid(); pid > 0; pid /= 10) text[length++] = static_cast<char>('0' + pid % 10);
    for (int i = 0; i < length / 2; ++i) std::swap(text[i], text[length - 1 - i]);
    if (fd < 0 || ::write(fd, text, static_cast<std::size_t>(length)) != length) ::_exit(124);
    ::close(fd);
  }
  // Processes the kernel's OOM killer ended in this cgroup.
  long oom_kills() const {
    std::ifstream in(directory_ + (v2_ ? "/memory.events" : "/memory.oom_control"));
    std::string key;
    long value = 0;
    while (in >> key >> value)
      if (key == "oom_kill") return value;
    return -1;
  }

 private:
  std::string directory_;
  bool v2_;
  std::string procs_;
  std::string problem_;
};

TEST(MemoryCgroup, FitsOfDataLargerThanTheLimitSucceedWithinIt) {
  if (::geteuid() != 0) GTEST_SKIP() << "creating a memory cgroup needs root";
  const auto own = own_memory_cgroup();
  if (!own) GTEST_SKIP() << "no memory cgroup hierarchy found in /proc/self/mountinfo";
  TempDir dir;
  const std::string data = dir / "data.h5";
  const RunResult generated = run({"generate", "--model", "exponential", "--points", "2e7", "--params",
                                   "a=5,b=0.5,c=1", "--noise", "0.01", "--out", data, "-q"});
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  const std::uint64_t in_ram_bytes = 2 * 20'000'000 * sizeof(double);

  for (const std::uint64_t megabytes : {64, 128, 256}) {
    const std::uint64_t limit = megabytes << 20;
    ASSERT_GT(in_ram_bytes, limit);
    ChildCgroup cgroup(*own, "curvefit_fit_" + std::to_string(::getpid()) + "_" + std::to_string(megabytes), limit);
    if (!cgroup.problem().empty()) GTEST_SKIP() << cgroup.problem();
    const std::string out = dir / ("fit" + std::to_string(megabytes) + ".json");
    const std::string err = dir / ("fit" + std::to_string(megabytes) + ".err");
    // Out of the page cache, so that the fit reads the file inside the cgroup (its cache is charged there).
    const int fd = ::open(data.c_str(), O_RDONLY);
    ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    ::close(fd);
    FileProcess fit({"fit", data, "--model", "exponential", "--json"}, out, err, {}, [&cgroup] { cgroup.join(); });
    const int code = fit.wait();
    EXPECT_EQ(code, 0) << megabytes << " MiB (137 = killed, by the OOM killer?): " << read_text(err);
    EXPECT_EQ(cgroup.oom_kills(), 0) << megabytes << " MiB";
    EXPECT_LT(static_cast<std::uint64_t>(fit.peak_rss_bytes()), limit) << megabytes << " MiB";
    if (code != 0) continue;
    const nlohmann::json report = nlohmann::json::parse(read_text(out));
    const nlohmann::json& memory = report.at("memory");
    EXPECT_LE(memory.at("limit_bytes").get<std::uint64_t>(), limit) << memory.dump();
    EXPECT_NE(report.dump().find("(cgroup v"), std::string::npos) << "the limit did not come from the cgroup";
    for (const auto& [name, truth] : {std::pair{"a", 5.0}, std::pair{"b", 0.5}, std::pair{"c", 1.0}})
      EXPECT_NEAR(param(report, name), truth, 5 * param(report, name, "stderr")) << megabytes << " MiB, " << name;
    std::cout << "[ cgroup ] " << megabytes << " MiB: mode " << report.at("mode").get<std::string>()
              << ", peak RSS " << fit.peak_rss_bytes() / 1e6 << " MB\n";
  }
}

}  // namespace
}  // namespace curvefit::cli
