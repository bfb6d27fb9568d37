// Faults for real, through the `curvefit` binary: kill -9 at several moments of `generate` and of a
// fit with --output, --plot and --json redirected; symlinks planted where temporary files go; full
// disks (a 1 MB tmpfs, skipped where mounting is not allowed); data files cut short or written to
// under a fit; two fits of one file at once; a file replaced by rename during a fit.
//
// Moments are observed, never timed: a temporary file appears or reaches a size, an iteration line
// appears on stderr. Where a test needs the fit to be at a known point while it acts, it stops the
// fit (SIGSTOP), acts, and lets it go on (SIGCONT).
#include <sys/mount.h>
#include <sys/stat.h>

#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "app/cli_util.h"

namespace curvefit::cli {
namespace {

// Files in dir whose names start with prefix.
std::vector<fs::path> files_starting(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> found;
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator(dir, ignored))
    if (entry.path().filename().string().rfind(prefix, 0) == 0) found.push_back(entry.path());
  return found;
}

// The owned temporary of `name` written by process `pid` (core/owned_files.h).
std::string temporary_prefix(const std::string& name, pid_t pid) {
  return name + ".tmp-curvefit-" + std::to_string(pid) + "-";
}

// An iteration line of -v on the full data ("    <n> <cost> ...", not the subsample's "sub ").
bool has_full_iteration(const std::string& err_file) {
  std::istringstream lines(read_text(err_file));
  for (std::string line; std::getline(lines, line);)
    if (line.size() > 9 && line.compare(0, 4, "    ") == 0 && std::isdigit(static_cast<unsigned char>(line[8])))
      return true;
  return false;
}
bool has_any_iteration(const std::string& err_file) {
  const std::string err = read_text(err_file);
  return has_full_iteration(err_file) || err.find("\nsub ") != std::string::npos;
}

std::size_t size_or_zero(const fs::path& path) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  return error ? 0 : static_cast<std::size_t>(size);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class Faults : public ::testing::Test {
 protected:
  // `curvefit generate` of the exponential model (a, b, c) with noise sd `noise`.
  std::string generate(const std::string& name, const std::string& points, const std::string& params = "a=5,b=0.5,c=1",
                       const std::string& noise = "0") {
    const std::string path = dir / name;
    const RunResult r = run({"generate", "--model", "exponential", "--points", points, "--params", params, "--noise",
                             noise, "--out", path, "-q"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return path;
  }
  TempDir dir;
};

// --- kill -9 ---------------------------------------------------------------------------------------

TEST_F(Faults, GenerateKilledLeavesNoFileAndTheNextRunRemovesItsTemporary) {
  for (const std::string extension : {"csv", "h5"}) {
    for (const std::size_t grown : {std::size_t{0}, std::size_t{4} << 20}) {
      const std::string name = "big." + extension;
      FileProcess generate({"generate", "--model", "exponential", "--points", "3e7", "--out", dir / name, "-q"},
                           dir / "generate.out", dir / "generate.err");
      fs::path temporary;
      ASSERT_TRUE(wait_until(generate, [&] {
        const auto found = files_starting(dir.path(), temporary_prefix(name, generate.pid()));
        if (!found.empty()) temporary = found.front();
        return !found.empty() && size_or_zero(temporary) >= grown;
      })) << name << ": no temporary file appeared: " << read_text(dir / "generate.err");
      ASSERT_EQ(::kill(generate.pid(), SIGKILL), 0);
      EXPECT_EQ(generate.wait(), 128 + SIGKILL);
      EXPECT_FALSE(fs::exists(dir / name)) << "a partial " << name << " appeared";
      EXPECT_TRUE(fs::exists(temporary)) << "a killed run cannot clean up: nothing was tested";

      const RunResult next = run({"generate", "--model", "linear", "--points", "10", "--out", dir / "small.csv", "-q"});
      EXPECT_EQ(next.exit_code, 0) << next.err;
      EXPECT_FALSE(fs::exists(temporary)) << temporary << " of the killed run was not removed";
    }
  }
}

TEST_F(Faults, FitKilledAtAnyMomentLeavesNoOutputAndTheNextRunRemovesItsTemporaries) {
  const std::string data = generate("data.h5", "3e6", "a=5,b=0.5,c=1", "0.01");
  const std::vector<std::string> args = {"fit", data, "--model", "exponential", "-v", "--json",
                                         "--output", dir / "fit.csv", "--plot", dir / "fit.svg"};
  struct Moment {
    const char* what;
    std::size_t output_bytes;  // 0: the fit is iterating; otherwise: the --output temporary holds this much
  };
  for (const Moment moment : {Moment{"iterating", 0}, Moment{"output started", 1}, Moment{"output half", 64 << 20}}) {
    const std::string report = dir / (std::string(moment.what) + ".json"), log = dir / (std::string(moment.what) + ".err");
    FileProcess fit(args, report, log);
    const std::string prefix = temporary_prefix("fit.csv", fit.pid());
    ASSERT_TRUE(wait_until(fit, [&] {
      if (moment.output_bytes == 0) return has_full_iteration(log);
      const auto found = files_starting(dir.path(), prefix);
      return !found.empty() && size_or_zero(found.front()) >= moment.output_bytes;
    })) << moment.what << ": the moment never came:\n" << read_text(log);
    ASSERT_EQ(::kill(fit.pid(), SIGKILL), 0);
    EXPECT_EQ(fit.wait(), 128 + SIGKILL);
    EXPECT_FALSE(fs::exists(dir / "fit.csv")) << moment.what;
    EXPECT_FALSE(fs::exists(dir / "fit.svg")) << moment.what;
    EXPECT_EQ(size_or_zero(report), 0u) << moment.what << ": the redirected report is partial";
    const auto left = files_starting(dir.path(), prefix);
    if (moment.output_bytes > 0) {
      EXPECT_EQ(left.size(), 1u) << moment.what;
    }

    const std::string small = generate("small.csv", "100");
    const RunResult next = run({"fit", small, "--model", "exponential", "-q", "--output", dir / "other.csv"});
    EXPECT_EQ(next.exit_code, 0) << next.err;
    EXPECT_TRUE(files_starting(dir.path(), prefix).empty()) << moment.what << ": the killed run's temporary is left";
  }
}

TEST_F(Faults, AStreamedCsvFitKilledLeavesPrivateSpillFilesThatTheNextRunRemoves) {
  const std::string data = generate("data.csv", "1e6", "a=5,b=0.5,c=1", "0.01");
  const std::string spill_dir = dir / "tmp";
  fs::create_directories(spill_dir);
  FileProcess fit({"fit", data, "--model", "exponential", "--mode", "stream"}, dir / "fit.out", dir / "fit.err",
                  {"TMPDIR=" + spill_dir}, [] { ::umask(0); });
  const std::string prefix = "curvefit-spill.tmp-curvefit-" + std::to_string(fit.pid()) + "-";
  ASSERT_TRUE(wait_until(fit, [&] { return files_starting(spill_dir, prefix).size() == 2; }))
      << read_text(dir / "fit.err");
  for (const fs::path& spill : files_starting(spill_dir, prefix)) {
    struct stat info {};
    ASSERT_EQ(::lstat(spill.c_str(), &info), 0);
    EXPECT_TRUE(S_ISREG(info.st_mode));
    EXPECT_EQ(info.st_mode & 0777, 0600u) << spill << " is readable by others (umask 0)";
  }
  ASSERT_EQ(::kill(fit.pid(), SIGKILL), 0);
  EXPECT_EQ(fit.wait(), 128 + SIGKILL);
  ASSERT_EQ(files_starting(spill_dir, prefix).size(), 2u);

  const std::string small = generate("small.csv", "100");
  const RunResult next = run({"fit", small, "--model", "exponential", "-q"}, {"TMPDIR=" + spill_dir});
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_TRUE(files_starting(spill_dir, prefix).empty()) << "the killed run's spill files are left";
}

// --- symlinks --------------------------------------------------------------------------------------

// A symlink planted where a temporary file could go (here: the name an earlier scheme used,
// "<output>.tmp-<pid>") must neither be written through nor become the output.
TEST_F(Faults, SymlinksPlantedAtTemporaryNamesAreNotFollowed) {
  const std::string victim = dir / "victim.txt";
  write_text(victim, "precious\n");
  auto plant_for = [&](const std::string& output) {
    return [output, victim] {
      const std::string link = output + ".tmp-" + std::to_string(::getpid());
      if (::symlink(victim.c_str(), link.c_str()) != 0) ::_exit(125);
    };
  };
  const std::string generated = dir / "data.csv";
  FileProcess generate({"generate", "--model", "exponential", "--points", "1000", "--out", generated, "-q"},
                       dir / "g.out", dir / "g.err", {}, plant_for(generated));
  ASSERT_EQ(generate.wait(), 0) << read_text(dir / "g.err");
  const std::string fitted = dir / "fit.csv";
  FileProcess fit({"fit", generated, "--model", "exponential", "-q", "--output", fitted}, dir / "f.out", dir / "f.err",
                  {}, plant_for(fitted));
  ASSERT_EQ(fit.wait(), 0) << read_text(dir / "f.err");
  EXPECT_EQ(read_text(victim), "precious\n");
  for (const std::string& output : {generated, fitted}) {
    EXPECT_FALSE(fs::is_symlink(output)) << output;
    EXPECT_TRUE(fs::is_regular_file(output)) << output;
  }
  EXPECT_EQ(read_text(generated).rfind("# curvefit generate", 0), 0u);
  EXPECT_EQ(read_text(fitted).rfind("x,y,fit,residual,fit_lower95,fit_upper95,pred_lower95,pred_upper95\n", 0), 0u);
}

// --- full disks ------------------------------------------------------------------------------------

// A 1 MB tmpfs mounted for the test (root or CAP_SYS_ADMIN), unmounted afterwards.
class SmallTmpfs {
 public:
  explicit SmallTmpfs(const fs::path& where) : path_(where) {
    fs::create_directories(path_);
    if (::mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") == 0)
      mounted_ = true;
    else
      reason_ = std::strerror(errno);
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& reason() const { return reason_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(path_)) names.push_back(entry.path().filename().string());
    return names;
  }
  // Takes every free byte, so that the next write fails.
  void fill() const {
    const int fd = ::open((path_ / "filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const std::string block(65536, 'x');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    ::close(fd);
  }

 private:
  fs::path path_;
  bool mounted_ = false;
  std::string reason_;
};

#define SKIP_WITHOUT(disk)                                                                          \
  if (!(disk).mounted())                                                                            \
  GTEST_SKIP() << "cannot mount a tmpfs here (" << (disk).reason() << "): full-disk tests need root " \
               << "or CAP_SYS_ADMIN"

TEST_F(Faults, GenerateOnAFullDiskIsExit5WithOneLineAndLeavesNothing) {
  SmallTmpfs disk(dir.path() / "disk");
  SKIP_WITHOUT(disk);
  for (const std::string extension : {"csv", "h5"}) {
    const std::string out = disk / ("data." + extension);
    const RunResult r = run({"generate", "--model", "exponential", "--points", "2e5", "--out", out, "-q"});
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_EQ(r.err, "curvefit: " + out + (extension == "csv" ? ": write failed: " : ": cannot write HDF5: ") +
                         "No space left on device\n");
    EXPECT_TRUE(disk.files().empty()) << disk.files().front();
  }
}

TEST_F(Faults, FitOutputsOnAFullDiskAreExit5WithOneLineAndLeaveNothing) {
  SmallTmpfs disk(dir.path() / "disk");
  SKIP_WITHOUT(disk);
  const std::string data = generate("data.csv", "1e5", "a=5,b=0.5,c=1", "0.01");
  const RunResult csv = run({"fit", data, "--model", "exponential", "-q", "--json", "--output", disk / "fit.csv"});
  EXPECT_EQ(csv.exit_code, 5) << csv.err;
  EXPECT_EQ(csv.err, "curvefit: " + (disk / "fit.csv") + ": write failed: No space left on device\n");
  EXPECT_EQ(csv.json().at("exit_code"), 5);
  EXPECT_TRUE(disk.files().empty()) << disk.files().front();

  disk.fill();
  const RunResult svg = run({"fit", data, "--model", "exponential", "-q", "--plot", disk / "fit.svg"});
  EXPECT_EQ(svg.exit_code, 5) << svg.err;
  EXPECT_EQ(svg.err, "curvefit: " + (disk / "fit.svg") + ": write failed: No space left on device\n");
  EXPECT_EQ(disk.files(), std::vector<std::string>{"filler"});
}

TEST_F(Faults, ASpillOnAFullDiskIsExit5NamingTheSpillFileAndRemovesIt) {
  SmallTmpfs disk(dir.path() / "disk");
  SKIP_WITHOUT(disk);
  const std::string data = generate("data.csv", "1e5", "a=5,b=0.5,c=1", "0.01");  // 1.6 MB of spill
  const RunResult r =
      run({"fit", data, "--model", "exponential", "-q", "--mode", "stream", "--temp-dir", (dir.path() / "disk").string()});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  const std::vector<std::string> lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_EQ(lines[0].rfind("curvefit: " + data + ": writing the spill file " + (disk / "curvefit-spill.tmp-curvefit-"), 0),
            0u)
      << lines[0];
  EXPECT_NE(lines[0].find(" failed: No space left on device"), std::string::npos) << lines[0];
  EXPECT_TRUE(disk.files().empty()) << disk.files().front();
}

// --- data files that change under a fit -------------------------------------------------------------

struct Change {
  const char* what;
  const char* mode;
  bool truncate;  // else: 8 bytes written in place near the end (a value of /y)
  const char* message;
};

TEST_F(Faults, AFileCutShortOrWrittenToDuringAFitIsExit3NamingIt) {
  for (const Change change : {Change{"cut short, streamed", "stream", true, ": the file shrank from "},
                              Change{"written to, streamed", "stream", false, ": the file was written to while"},
                              Change{"written to, mapped", "memory", false, ": the file was written to while"}}) {
    const std::string data = generate("data.h5", "2e6", "a=5,b=0.5,c=1", "0.01");
    const std::string out = dir / (std::string(change.what) + ".json"), log = dir / (std::string(change.what) + ".err");
    FileProcess fit({"fit", data, "--model", "exponential", "--mode", change.mode, "-v", "--json", "--ftol", "0",
                     "--xtol", "0", "--gtol", "1e-15", "--max-nfev", "100"},
                    out, log);
    ASSERT_TRUE(wait_until(fit, [&] { return has_full_iteration(log); })) << read_text(log);
    ASSERT_EQ(::kill(fit.pid(), SIGSTOP), 0);
    const auto size = fs::file_size(data);
    if (change.truncate) {
      ASSERT_EQ(::truncate(data.c_str(), static_cast<off_t>(size / 2)), 0);
    } else {
      const int fd = ::open(data.c_str(), O_WRONLY);
      ASSERT_EQ(::pwrite(fd, "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f", 8, static_cast<off_t>(size - 800)), 8);
      ::close(fd);
    }
    ASSERT_EQ(::kill(fit.pid(), SIGCONT), 0);
    EXPECT_EQ(fit.wait(), 3) << change.what << "\n" << read_text(log);
    const std::string err = read_text(log);
    // A streamed file cut short is caught by the size check after a short read: its rows are
    // copied with pread, never mapped, so no lost page can raise SIGBUS.
    EXPECT_NE(err.find("curvefit: " + data + change.message), std::string::npos) << change.what << "\n" << err;
    const nlohmann::json report = nlohmann::json::parse(read_text(out));
    EXPECT_EQ(report.at("status"), "error") << change.what;
    fs::remove(data);
  }
}

// --- concurrency ----------------------------------------------------------------------------------

TEST_F(Faults, TwoFitsOfOneFileAtOnceAgreeAndKeepEachOthersSpillFiles) {
  const std::string data = generate("data.csv", "1e6", "a=5,b=0.5,c=1", "0.01");
  const std::string spill_dir = dir / "tmp";
  fs::create_directories(spill_dir);
  const std::vector<std::string> args = {"fit", data, "--model", "exponential", "--mode", "stream", "--json"};
  FileProcess first(args, dir / "first.json", dir / "first.err", {"TMPDIR=" + spill_dir});
  const std::string prefix = "curvefit-spill.tmp-curvefit-" + std::to_string(first.pid()) + "-";
  ASSERT_TRUE(wait_until(first, [&] { return files_starting(spill_dir, prefix).size() == 2; }))
      << read_text(dir / "first.err");
  ASSERT_EQ(::kill(first.pid(), SIGSTOP), 0);  // the first fit is alive, mid-way, while the second runs

  const RunResult second = run(args, {"TMPDIR=" + spill_dir});
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(files_starting(spill_dir, prefix).size(), 2u) << "the second fit removed the first one's spill files";

  ASSERT_EQ(::kill(first.pid(), SIGCONT), 0);
  EXPECT_EQ(first.wait(), 0) << read_text(dir / "first.err");
  const nlohmann::json a = nlohmann::json::parse(read_text(dir / "first.json")), b = second.json();
  for (const char* name : {"a", "b", "c"}) {
    EXPECT_EQ(param(a, name), param(b, name)) << name;  // same data, same options: same bits
    const double truth = std::string(name) == "a" ? 5.0 : std::string(name) == "b" ? 0.5 : 1.0;
    EXPECT_NEAR(param(a, name), truth, 5 * param(a, name, "stderr")) << name;
  }
  EXPECT_TRUE(fs::is_empty(spill_dir));
}

// Replacing a file by writing a new one and renaming it over the old name (what `generate` and
// careful writers do): a fit that has opened the file reads the old data to the end; the next fit
// reads the new data.
TEST_F(Faults, AFileReplacedByRenameDuringAFitIsFittedAsItWasWhenOpened) {
  for (const char* mode : {"stream", "memory"}) {
    const std::string data = generate("data.h5", "2e6", "a=5,b=0.5,c=1");
    const std::string out = dir / (std::string(mode) + ".json"), log = dir / (std::string(mode) + ".err");
    FileProcess fit({"fit", data, "--model", "exponential", "--mode", mode, "-v", "--json"}, out, log);
    ASSERT_TRUE(wait_until(fit, [&] { return has_any_iteration(log); })) << read_text(log);
    ASSERT_EQ(::kill(fit.pid(), SIGSTOP), 0);
    const std::string replacement = generate("new.h5", "2e6", "a=2,b=0.25,c=3");
    ASSERT_EQ(::rename(replacement.c_str(), data.c_str()), 0);
    ASSERT_EQ(::kill(fit.pid(), SIGCONT), 0);
    ASSERT_EQ(fit.wait(), 0) << mode << "\n" << read_text(log);
    const nlohmann::json old_fit = nlohmann::json::parse(read_text(out));
    EXPECT_NEAR(param(old_fit, "a"), 5.0, 1e-6) << mode;
    EXPECT_NEAR(param(old_fit, "b"), 0.5, 1e-6) << mode;
    EXPECT_NEAR(param(old_fit, "c"), 1.0, 1e-6) << mode;

    const RunResult next = run({"fit", data, "--model", "exponential", "--mode", mode, "--json"});
    ASSERT_EQ(next.exit_code, 0) << next.err;
    EXPECT_NEAR(param(next.json(), "a"), 2.0, 1e-6) << mode;
    EXPECT_NEAR(param(next.json(), "b"), 0.25, 1e-6) << mode;
    EXPECT_NEAR(param(next.json(), "c"), 3.0, 1e-6) << mode;
    fs::remove(data);
  }
}

}  // namespace
}  // namespace curvefit::cli
