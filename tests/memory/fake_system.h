#pragma once
// A throw-away directory tree standing in for "/" (its proc/ and sys/), for SystemProbe tests.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace curvefit::testing {

class FakeSystem {
 public:
  FakeSystem() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "curvefit_fake_root_XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    root_ = pattern;
  }
  ~FakeSystem() {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }
  FakeSystem(const FakeSystem&) = delete;
  FakeSystem& operator=(const FakeSystem&) = delete;

  const std::filesystem::path& root() const { return root_; }

  // Writes `text` at the absolute-looking `path` ("/proc/meminfo") below the root.
  void write(const std::string& path, const std::string& text) const {
    const std::filesystem::path file = root_ / path.substr(path.find_first_not_of('/'));
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << text;
  }

  // /proc/meminfo with MemTotal and MemAvailable in kB.
  void meminfo(std::uint64_t total_kb, std::uint64_t available_kb) const {
    write("/proc/meminfo",
          "MemTotal:       " + std::to_string(total_kb) + " kB\nMemFree:        1000 kB\n" +
              "MemAvailable:   " + std::to_string(available_kb) + " kB\nBuffers:        10 kB\n");
  }
  // /proc/self/status with VmRSS, VmHWM, VmSize, VmData in kB.
  void status(std::uint64_t rss_kb, std::uint64_t peak_kb, std::uint64_t size_kb = 100000,
              std::uint64_t data_kb = 50000) const {
    write("/proc/self/status", "Name:\tcurvefit\nVmPeak:\t  999999 kB\nVmSize:\t  " +
                                   std::to_string(size_kb) + " kB\nVmHWM:\t  " +
                                   std::to_string(peak_kb) + " kB\nVmRSS:\t  " +
                                   std::to_string(rss_kb) + " kB\nVmData:\t  " +
                                   std::to_string(data_kb) + " kB\nThreads:\t1\n");
  }
  // /proc/self/limits with the given soft limits for address space and data ("unlimited" allowed).
  void limits(const std::string& address_space, const std::string& data) const {
    write("/proc/self/limits",
          "Limit                     Soft Limit           Hard Limit           Units     \n"
          "Max cpu time              unlimited            unlimited            seconds   \n"
          "Max data size             " +
              data +
              "            unlimited            bytes     \n"
              "Max stack size            8388608              unlimited            bytes     \n"
              "Max resident set          unlimited            unlimited            bytes     \n"
              "Max address space         " +
              address_space + "            unlimited            bytes     \n");
  }

 private:
  std::filesystem::path root_;
};

}  // namespace curvefit::testing
