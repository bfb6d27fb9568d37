#include "core/output/atomic_file.h"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <unistd.h>

namespace curvefit {

AtomicOutputFile::AtomicOutputFile(std::string path)
    : path_(std::move(path)), temporary_(path_ + ".tmp-" + std::to_string(::getpid())) {
  file_ = std::fopen(temporary_.c_str(), "wb");
  if (!file_)
    throw std::runtime_error(path_ + ": cannot write: " + std::strerror(errno));
}

AtomicOutputFile::~AtomicOutputFile() {
  if (file_) std::fclose(file_);
  if (!committed_) std::remove(temporary_.c_str());
}

void AtomicOutputFile::write(std::string_view text) {
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size())
    throw std::runtime_error(path_ + ": write failed: " + std::strerror(errno));
}

void AtomicOutputFile::commit() {
  const bool ok = std::fflush(file_) == 0 && !std::ferror(file_);
  const int close_result = std::fclose(file_);
  file_ = nullptr;
  if (!ok || close_result != 0)
    throw std::runtime_error(path_ + ": write failed: " + std::strerror(errno));
  if (std::rename(temporary_.c_str(), path_.c_str()) != 0)
    throw std::runtime_error(path_ + ": cannot rename the finished file into place: " +
                             std::strerror(errno));
  committed_ = true;
}

}  // namespace curvefit
