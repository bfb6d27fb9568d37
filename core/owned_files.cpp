#include "core/owned_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string_view>

namespace curvefit {
namespace {

constexpr std::string_view kTag = ".tmp-curvefit-";
constexpr std::size_t kRandomLetters = 8;

// Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); nullopt when unreadable.
std::optional<unsigned long long> start_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return std::nullopt;
  const std::size_t paren = text.rfind(')');  // the command name may hold blanks and parentheses
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(paren + 1));
  std::string field;
  for (int number = 3; number <= 22; ++number)
    if (!(fields >> field)) return std::nullopt;
  unsigned long long ticks = 0;
  const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), ticks);
  if (error != std::errc{} || end != field.data() + field.size()) return std::nullopt;
  return ticks;
}

std::string random_letters() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  unsigned char bytes[kRandomLetters];
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    std::random_device device;
    for (unsigned char& byte : bytes) byte = static_cast<unsigned char>(device());
  }
  std::string letters;
  for (unsigned char byte : bytes) letters += kAlphabet[byte % (sizeof kAlphabet - 1)];
  return letters;
}

struct Owner {
  pid_t pid = 0;
  unsigned long long start = 0;
};

// "<stem>.tmp-curvefit-<pid>-<start>-<random>" -> pid and start.
std::optional<Owner> owner_of(std::string_view name) {
  const std::size_t tag = name.rfind(kTag);
  if (tag == std::string_view::npos) return std::nullopt;
  std::string_view rest = name.substr(tag + kTag.size());
  Owner owner;
  long long pid = 0;
  auto [after_pid, pid_error] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
  if (pid_error != std::errc{} || pid <= 0 || after_pid == rest.data() + rest.size() || *after_pid != '-')
    return std::nullopt;
  rest.remove_prefix(static_cast<std::size_t>(after_pid - rest.data()) + 1);
  auto [after_start, start_error] = std::from_chars(rest.data(), rest.data() + rest.size(), owner.start);
  if (start_error != std::errc{} || after_start == rest.data() + rest.size() || *after_start != '-') return std::nullopt;
  rest.remove_prefix(static_cast<std::size_t>(after_start - rest.data()) + 1);
  if (rest.size() != kRandomLetters) return std::nullopt;
  owner.pid = static_cast<pid_t>(pid);
  return owner;
}

// The pid names no process, or a process that started at another time (the pid was reused).
bool pid_is_gone(const Owner& owner) {
  if (::kill(owner.pid, 0) != 0 && errno == ESRCH) return true;
  const auto start = start_ticks(owner.pid);
  return start && *start != owner.start;  // unreadable: assume it is the owner
}

// True when the regular file `name` in `directory` carries no live owner's lock. A file that
// cannot be opened (a symlink, another user's) counts as held.
bool lock_is_free(int directory, const char* name) {
  const int fd = ::openat(directory, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat info {};
  bool free = ::fstat(fd, &info) == 0 && S_ISREG(info.st_mode);
  if (free) {
    struct flock probe {};
    probe.l_type = F_WRLCK;
    probe.l_whence = SEEK_SET;
    // A filesystem without locks tells nothing: the pid check alone decides.
    if (::fcntl(fd, F_OFD_GETLK, &probe) == 0) free = probe.l_type == F_UNLCK;
  }
  ::close(fd);
  return free;
}

}  // namespace

bool is_owned_file_name(const std::string& file_name) { return owner_of(file_name).has_value(); }

OwnedFile create_owned_file(const std::string& directory, const std::string& stem, mode_t mode) {
  const pid_t pid = ::getpid();
  const std::string prefix = directory + "/" + stem + std::string(kTag) + std::to_string(pid) + "-" +
                             std::to_string(start_ticks(pid).value_or(0)) + "-";
  for (int attempt = 0; attempt < 100; ++attempt) {
    OwnedFile file{prefix + random_letters(), -1};
    file.fd = ::open(file.path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (file.fd >= 0) {
      struct flock lock {};
      lock.l_type = F_WRLCK;
      lock.l_whence = SEEK_SET;
      ::fcntl(file.fd, F_OFD_SETLK, &lock);  // without lock support, the name alone tells the owner
      return file;
    }
    if (errno != EEXIST) return {file.path, -1};
  }
  errno = EEXIST;
  return {prefix, -1};
}

std::size_t remove_stale_files(const std::string& directory) noexcept {
  DIR* listing = ::opendir(directory.c_str());
  if (!listing) return 0;
  const int directory_fd = ::dirfd(listing);
  std::size_t removed = 0;
  try {
    while (const dirent* entry = ::readdir(listing)) {
      const std::optional<Owner> owner = owner_of(entry->d_name);
      if (!owner || !pid_is_gone(*owner)) continue;
      if (lock_is_free(directory_fd, entry->d_name) && ::unlinkat(directory_fd, entry->d_name, 0) == 0) ++removed;
    }
  } catch (...) {  // out of memory while reading /proc: what is left waits for the next run
  }
  ::closedir(listing);
  return removed;
}

}  // namespace curvefit
