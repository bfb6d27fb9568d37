#include "core/output/atomic_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/errors.h"
#include "core/owned_files.h"

namespace curvefit {

namespace {

// An existing path that is not a regular file (a device, a FIFO): written in place.
bool existing_special_file(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode) && !S_ISDIR(info.st_mode);
}

std::string reason() { return std::strerror(errno); }

}  // namespace

AtomicOutputFile::AtomicOutputFile(std::string path) : path_(std::move(path)) {
  if (existing_special_file(path_)) {
    temporary_ = path_;
    file_ = std::fopen(path_.c_str(), "wb");
    if (!file_) throw IoError(path_ + ": cannot write: " + reason());
    return;
  }
  const std::filesystem::path destination(path_);
  std::string directory = destination.parent_path().string();
  if (directory.empty()) directory = ".";
  remove_stale_files(directory);  // what runs killed while writing here left behind
  const OwnedFile file = create_owned_file(directory, destination.filename().string(), 0666);
  if (file.fd < 0) throw IoError(path_ + ": cannot write: " + reason());
  temporary_ = file.path;
  file_ = ::fdopen(file.fd, "wb");
  if (!file_) {
    const int error = errno;
    ::close(file.fd);
    std::remove(temporary_.c_str());
    errno = error;
    throw IoError(path_ + ": cannot write: " + reason());
  }
}

AtomicOutputFile::~AtomicOutputFile() {
  if (file_) std::fclose(file_);
  if (!committed_ && temporary_ != path_) std::remove(temporary_.c_str());
}

void AtomicOutputFile::write(std::string_view text) {
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size())
    throw IoError(path_ + ": write failed: " + reason());
}

void AtomicOutputFile::commit() {
  errno = 0;
  // fsync before the rename: after a crash of the machine the name holds the old file or the
  // whole new one.
  const bool ok = std::fflush(file_) == 0 && !std::ferror(file_) &&
                  (temporary_ == path_ || ::fsync(::fileno(file_)) == 0);
  const int flush_errno = errno;
  const int close_result = std::fclose(file_);
  file_ = nullptr;
  if (!ok || close_result != 0) {
    if (!ok && flush_errno != 0) errno = flush_errno;
    throw IoError(path_ + ": write failed: " + reason());
  }
  if (temporary_ != path_ && std::rename(temporary_.c_str(), path_.c_str()) != 0)
    throw IoError(path_ + ": cannot rename the finished file into place: " + reason());
  committed_ = true;
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat first {
  }, second{};
  if (::stat(a.c_str(), &first) != 0 || ::stat(b.c_str(), &second) != 0) return false;
  return first.st_dev == second.st_dev && first.st_ino == second.st_ino;
}

void check_output_path(const std::string& path, const std::string& option,
                       const std::vector<std::string>& inputs) {
  if (path.empty() || path == "-") throw UsageError(option + " needs a file name");
  for (const std::string& input : inputs)
    if (same_file(path, input))
      throw UsageError(option + " " + path + " is the input file " + input +
                       ": an output never overwrites an input");
  if (existing_special_file(path)) return;
  std::filesystem::path directory = std::filesystem::path(path).parent_path();
  if (directory.empty()) directory = ".";
  if (::access(directory.c_str(), W_OK | X_OK) != 0)
    throw IoError(path + ": cannot write: " + reason());
}

}  // namespace curvefit
