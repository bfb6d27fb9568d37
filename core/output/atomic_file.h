#pragma once
// An output file that appears under its name only when complete: written to a temporary name in
// the same directory (an owned file, core/owned_files.h: created with O_EXCL, never through a
// symlink, named with the owner's pid and start time) and renamed on commit(). Destroyed without
// commit (error, interrupt), the temporary file is removed; a run killed with SIGKILL leaves it,
// and the next AtomicOutputFile in that directory removes it. No partial file ever appears under
// the destination's name. A path that already
// exists as something other than a regular file (/dev/stdout, a FIFO, /dev/full) is written in
// place: renaming over a device would replace it.
#include <cstdio>
#include <string>
#include <vector>

namespace curvefit {

class AtomicOutputFile {
 public:
  // Opens "<path>.tmp-curvefit-<pid>-<start>-<random>" (or the device itself) for writing, after
  // removing the leftovers of dead runs in that directory; throws IoError naming the path and the
  // system's reason on failure.
  explicit AtomicOutputFile(std::string path);
  ~AtomicOutputFile();
  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;

  std::FILE* stream() const { return file_; }
  void write(std::string_view text);
  // Flushes, closes and renames to the final path; throws IoError on any write error (ENOSPC...).
  void commit();
  const std::string& path() const { return path_; }
  const std::string& temporary_path() const { return temporary_; }

 private:
  std::string path_;
  std::string temporary_;  // equal to path_ when written in place
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

// True when both paths name one existing file (same device and inode: hard links and symlinks
// count).
bool same_file(const std::string& a, const std::string& b);

// Checks, before any work, that an output path can be written and destroys no input: UsageError
// (exit 2) when it is the same file as one of `inputs`; IoError (exit 5) when its directory does
// not exist or is not writable. `option` names the flag in messages ("--output").
void check_output_path(const std::string& path, const std::string& option,
                       const std::vector<std::string>& inputs);

}  // namespace curvefit
