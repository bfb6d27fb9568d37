#pragma once
// An output file that appears under its name only when complete: written to a temporary name in
// the same directory and renamed on commit(). Destroyed without commit (error, interrupt), the
// temporary file is removed, so no partial output file is ever left behind.
#include <cstdio>
#include <string>

namespace curvefit {

class AtomicOutputFile {
 public:
  // Opens "<path>.tmp-<pid>" for writing; throws std::runtime_error naming the path on failure.
  explicit AtomicOutputFile(std::string path);
  ~AtomicOutputFile();
  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;

  std::FILE* stream() const { return file_; }
  void write(std::string_view text);
  // Flushes, closes and renames to the final path; throws on any write error.
  void commit();
  const std::string& path() const { return path_; }
  const std::string& temporary_path() const { return temporary_; }

 private:
  std::string path_;
  std::string temporary_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

}  // namespace curvefit
