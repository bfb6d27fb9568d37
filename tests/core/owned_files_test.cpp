// Owned temporary files (core/owned_files.h): created new and private, and removed by a later run
// only when their owner is gone — a dead pid, a reused pid, never a file a live process holds,
// never through or of a symlink.
#include "core/owned_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "core/data/data_test_util.h"

namespace curvefit {
namespace {

namespace fs = std::filesystem;
using testing_data::ScratchDir;

// A pid that named a process a moment ago and names none now: a child that exited and was reaped.
pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

std::string our_start_ticks() {
  std::ifstream in("/proc/self/stat");
  std::string text;
  std::getline(in, text);
  std::istringstream fields(text.substr(text.rfind(')') + 1));
  std::string field;
  for (int number = 3; number <= 22; ++number) fields >> field;
  return field;
}

void touch(const std::string& path) { std::ofstream(path) << "left behind"; }

TEST(OwnedFiles, AreNewPrivateFilesNamedWithTheirOwner) {
  ScratchDir dir;
  const mode_t old_mask = ::umask(0);
  const OwnedFile a = create_owned_file(dir.path().string(), "stem", 0600);
  const OwnedFile b = create_owned_file(dir.path().string(), "stem", 0600);
  ::umask(old_mask);
  ASSERT_GE(a.fd, 0);
  ASSERT_GE(b.fd, 0);
  EXPECT_NE(a.path, b.path);
  const std::string prefix =
      dir.file("stem.tmp-curvefit-" + std::to_string(::getpid()) + "-" + our_start_ticks() + "-");
  EXPECT_EQ(a.path.rfind(prefix, 0), 0u) << a.path;
  EXPECT_EQ(a.path.size(), prefix.size() + 8) << a.path;
  EXPECT_TRUE(is_owned_file_name(fs::path(a.path).filename().string()));
  struct stat info {};
  ASSERT_EQ(::lstat(a.path.c_str(), &info), 0);
  EXPECT_TRUE(S_ISREG(info.st_mode));
  EXPECT_EQ(info.st_mode & 07777, 0600u);
  ::close(a.fd);
  ::close(b.fd);
}

TEST(OwnedFiles, ALiveOwnersFilesAreKept) {
  ScratchDir dir;
  const OwnedFile file = create_owned_file(dir.path().string(), "curvefit-spill", 0600);
  ASSERT_GE(file.fd, 0);
  EXPECT_EQ(remove_stale_files(dir.path().string()), 0u);
  EXPECT_TRUE(fs::exists(file.path));
  ::close(file.fd);
}

TEST(OwnedFiles, ADeadOwnersFileIsRemovedAndOthersAreNot) {
  ScratchDir dir;
  const std::string stale = dir.file("fit.csv.tmp-curvefit-" + std::to_string(dead_pid()) + "-123-abcdEFGH");
  touch(stale);
  for (const char* name : {"fit.csv", "fit.csv.tmp-curvefit-1-2-short", "notes.tmp-curvefit-x-1-abcdEFGH"})
    touch(dir.file(name));
  EXPECT_EQ(remove_stale_files(dir.path().string()), 1u);
  EXPECT_FALSE(fs::exists(stale));
  for (const char* name : {"fit.csv", "fit.csv.tmp-curvefit-1-2-short", "notes.tmp-curvefit-x-1-abcdEFGH"})
    EXPECT_TRUE(fs::exists(dir.file(name))) << name;
}

// The pid is alive but started at another time: a new process got the dead owner's pid.
TEST(OwnedFiles, AReusedPidDoesNotKeepAFileAlive) {
  ScratchDir dir;
  const std::string stale = dir.file("curvefit-spill.tmp-curvefit-" + std::to_string(::getpid()) + "-" +
                                     std::to_string(std::stoull(our_start_ticks()) + 1) + "-abcdEFGH");
  touch(stale);
  EXPECT_EQ(remove_stale_files(dir.path().string()), 1u);
  EXPECT_FALSE(fs::exists(stale));
}

// An owner in another pid namespace has a pid that means nothing here; its lock still says it lives.
TEST(OwnedFiles, AFileALiveProcessHoldsLockedIsKeptWhateverItsName) {
  ScratchDir dir;
  const std::string held = dir.file("out.h5.tmp-curvefit-" + std::to_string(dead_pid()) + "-5-abcdEFGH");
  touch(held);
  const int fd = ::open(held.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  ASSERT_EQ(::fcntl(fd, F_OFD_SETLK, &lock), 0);
  EXPECT_EQ(remove_stale_files(dir.path().string()), 0u);
  EXPECT_TRUE(fs::exists(held));
  ::close(fd);  // the owner is gone now
  EXPECT_EQ(remove_stale_files(dir.path().string()), 1u);
  EXPECT_FALSE(fs::exists(held));
}

TEST(OwnedFiles, APlantedSymlinkIsNeitherFollowedNorRemoved) {
  ScratchDir dir;
  const std::string victim = dir.file("victim.txt");
  std::ofstream(victim) << "precious";
  const std::string link = dir.file("fit.csv.tmp-curvefit-" + std::to_string(dead_pid()) + "-7-abcdEFGH");
  ASSERT_EQ(::symlink(victim.c_str(), link.c_str()), 0);
  EXPECT_EQ(remove_stale_files(dir.path().string()), 0u);
  EXPECT_TRUE(fs::is_symlink(link));
  std::ifstream in(victim);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "precious");
}

TEST(OwnedFiles, AnUnwritableDirectoryGivesTheSystemsReason) {
  const OwnedFile file = create_owned_file("/nonexistent-dir", "stem", 0600);
  EXPECT_EQ(file.fd, -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(remove_stale_files("/nonexistent-dir"), 0u);
}

}  // namespace
}  // namespace curvefit
