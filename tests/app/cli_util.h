#pragma once
// Running the real `curvefit` binary from a test: fork + exec with stdout and stderr captured
// separately (and optional stdin), or sent to files (FileProcess), the exit code, a per-test
// temporary folder, and JSON parsing.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace curvefit::cli {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;   // WEXITSTATUS, or 128 + signal when killed by one
  std::string out;      // stdout
  std::string err;      // stderr
  nlohmann::json json() const { return nlohmann::json::parse(out); }
};

// A child process running the binary with its stdout/stderr on pipes (and stdin from a string or
// /dev/null). Environment additions as NAME=VALUE. A launcher (e.g. {"mpirun", "-np", "2"}), if
// given, runs the binary: it is looked up on PATH and gets the binary and args after its own.
class Process {
 public:
  Process(const std::vector<std::string>& args, const std::string& stdin_text = {},
          const std::vector<std::string>& env = {}, bool feed_stdin = false,
          const std::vector<std::string>& launcher = {}) {
    int out_pipe[2], err_pipe[2], in_pipe[2];
    if (::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0 || ::pipe(in_pipe) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      ::dup2(in_pipe[0], 0);
      ::dup2(out_pipe[1], 1);
      ::dup2(err_pipe[1], 2);
      for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], in_pipe[0], in_pipe[1]}) ::close(fd);
      for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
      std::vector<char*> argv;
      std::vector<std::string> copy = launcher;
      copy.push_back(CURVEFIT_BINARY);
      copy.insert(copy.end(), args.begin(), args.end());
      for (auto& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    ::close(in_pipe[0]);
    out_fd_ = out_pipe[0];
    err_fd_ = err_pipe[0];
    // Small inputs only (pipe buffer); larger ones go through a file.
    if (feed_stdin && !stdin_text.empty()) {
      std::size_t done = 0;
      while (done < stdin_text.size()) {
        const ssize_t w = ::write(in_pipe[1], stdin_text.data() + done, stdin_text.size() - done);
        if (w <= 0) break;
        done += static_cast<std::size_t>(w);
      }
    }
    ::close(in_pipe[1]);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process() {
    if (pid_ > 0 && !waited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    if (err_fd_ >= 0) ::close(err_fd_);
  }
  pid_t pid() const { return pid_; }

  // Reads what is available on both pipes for up to timeout_ms; false when both are closed.
  bool pump(int timeout_ms) {
    std::vector<pollfd> fds;
    if (out_fd_ >= 0) fds.push_back({out_fd_, POLLIN, 0});
    if (err_fd_ >= 0) fds.push_back({err_fd_, POLLIN, 0});
    if (fds.empty()) return false;
    const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0 && errno != EINTR) return false;
    for (const auto& p : fds) {
      if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buffer[65536];
      const ssize_t n = ::read(p.fd, buffer, sizeof buffer);
      std::string& sink = p.fd == out_fd_ ? result_.out : result_.err;
      if (n > 0) {
        sink.append(buffer, static_cast<std::size_t>(n));
      } else {
        ::close(p.fd);
        (p.fd == out_fd_ ? out_fd_ : err_fd_) = -1;
      }
    }
    return out_fd_ >= 0 || err_fd_ >= 0;
  }
  const std::string& err_so_far() const { return result_.err; }
  const std::string& out_so_far() const { return result_.out; }

  RunResult wait() {
    while (pump(1000)) {
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    waited_ = true;
    result_.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
    return result_;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  bool waited_ = false;
  RunResult result_;
};

// A child process running the binary with stdout and stderr going to files, as `curvefit ... >
// out 2> err` in a shell, for tests that kill, stop or confine it. `in_child` runs in the child
// just before exec (plant a file, join a cgroup, set the umask).
class FileProcess {
 public:
  FileProcess(const std::vector<std::string>& args, const std::string& out_file, const std::string& err_file,
              const std::vector<std::string>& env = {}, const std::function<void()>& in_child = {}) {
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      const int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out < 0 || err < 0) ::_exit(126);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::close(out);
      ::close(err);
      for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
      if (in_child) in_child();
      std::string binary = CURVEFIT_BINARY;
      std::vector<std::string> copy = args;
      std::vector<char*> argv{binary.data()};
      for (auto& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
  }
  FileProcess(const FileProcess&) = delete;
  FileProcess& operator=(const FileProcess&) = delete;
  ~FileProcess() {
    if (!waited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // True once the child has ended (it is then reaped: wait() returns at once).
  bool ended() {
    if (waited_) return true;
    const pid_t done = ::wait4(pid_, &status_, WNOHANG, &usage_);
    if (done == pid_) waited_ = true;
    return waited_;
  }
  // WEXITSTATUS, or 128 + signal when killed by one.
  int wait() {
    if (!waited_) ::wait4(pid_, &status_, 0, &usage_);
    waited_ = true;
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : WIFSIGNALED(status_) ? 128 + WTERMSIG(status_) : -1;
  }
  // The child's peak resident set size in bytes (after wait()).
  long peak_rss_bytes() const { return usage_.ru_maxrss * 1024L; }

 private:
  pid_t pid_ = -1;
  bool waited_ = false;
  int status_ = 0;
  struct rusage usage_ {};
};

// Polls `ready` (every 2 ms: a polling interval, not a timing assumption) until it holds; false
// when the child ends first or after `deadline` (a guard against a hang only).
inline bool wait_until(FileProcess& child, const std::function<bool()>& ready,
                       std::chrono::seconds deadline = std::chrono::seconds(300)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!ready()) {
    if (child.ended() || std::chrono::steady_clock::now() > end) return ready();
    ::usleep(2000);
  }
  return true;
}

// Waits until `ready` holds, pumping the child's output; false at the deadline (a guard against a
// hang only) or when the child has closed its output first.
inline bool wait_for(Process& p, const std::function<bool()>& ready, std::chrono::seconds deadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!ready()) {
    if (std::chrono::steady_clock::now() > end) return false;
    if (!p.pump(50) && !ready()) return false;  // the child closed its output: it is gone
  }
  return true;
}

inline RunResult run(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  Process p(args, {}, env);
  return p.wait();
}

inline RunResult run_with_stdin(const std::vector<std::string>& args, const std::string& input) {
  Process p(args, input, {}, true);
  return p.wait();
}

// A fresh folder per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("curvefit_cli_" + std::to_string(::getpid()) + "_" + (info ? std::string(info->name()) : "x"));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(path_)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  fs::path path_;
};

inline std::string read_text(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
inline void write_text(const std::string& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary);
  out << text;
}

// A parameter's value from the fit JSON, by name.
inline double param(const nlohmann::json& j, const std::string& name, const char* field = "value") {
  for (const auto& p : j.at("params"))
    if (p.at("name") == name) return p.at(field).get<double>();
  throw std::runtime_error("no parameter " + name);
}

// The same fit up to the order of its sums (a dataset of several files against one file with its
// rows: each file's chunks fold into slots of their own): parameters within 1e-10 relative (the
// solver stops within xtol = 1e-12 of a minimum that rounding moves; standard errors are ~1e-4),
// covariance within 1e-9 of the standard errors' product.
inline void expect_same_fit_to_rounding(const nlohmann::json& a, const nlohmann::json& b, const std::string& what) {
  ASSERT_EQ(a["params"].size(), b["params"].size()) << what;
  const std::size_t n = b["params"].size();
  for (std::size_t j = 0; j < n; ++j) {
    const double value = b["params"][j]["value"].get<double>();
    EXPECT_NEAR(a["params"][j]["value"].get<double>(), value, 1e-10 * std::abs(value)) << what << ": parameter " << j;
    for (std::size_t k = 0; k < n; ++k) {
      const double scale = std::sqrt(b["covariance"][j][j].get<double>() * b["covariance"][k][k].get<double>());
      EXPECT_NEAR(a["covariance"][j][k].get<double>(), b["covariance"][j][k].get<double>(), 1e-9 * scale)
          << what << ": covariance " << j << "," << k;
    }
  }
}

inline std::string join(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

// The last full-fit iteration line's iteration number and cost ("    <it> <cost> ..." of --progress
// or -v on stderr; not the subsample's "sub" lines), of the complete lines; {-1, 0} if none.
inline std::pair<int, double> last_full_iteration(const std::string& err) {
  std::pair<int, double> last{-1, 0.0};
  std::size_t start = 0;
  while (start < err.size()) {
    std::size_t end = err.find('\n', start);
    if (end == std::string::npos) break;
    std::string line = err.substr(start, end - start);
    const auto cr = line.rfind('\r');
    if (cr != std::string::npos) line = line.substr(cr + 1);
    if (line.compare(0, 3, "\033[K") == 0) line = line.substr(3);
    if (line.size() > 9 && line.compare(0, 4, "    ") == 0 && std::isdigit(static_cast<unsigned char>(line[8]))) {
      char* rest = nullptr;
      const long iteration = std::strtol(line.c_str(), &rest, 10);
      last = {static_cast<int>(iteration), std::strtod(rest, nullptr)};
    }
    start = end + 1;
  }
  return last;
}

}  // namespace curvefit::cli
