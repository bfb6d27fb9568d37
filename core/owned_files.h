#pragma once
// Files a run creates for itself and renames or removes before it ends: spill files in the temp
// directory, and outputs being written under a temporary name next to their destination. A run
// killed with SIGKILL (or a machine that loses power) cannot remove them, so the next run does:
//
// Name. "<stem>.tmp-curvefit-<pid>-<start>-<random>": the owner's pid, its start time (clock
// ticks since boot, /proc/<pid>/stat field 22) and 8 random letters, so that names cannot be
// guessed in advance.
// Creation. open(O_CREAT | O_EXCL | O_NOFOLLOW): an existing name (a planted symlink included) is
// never opened, truncated or followed; another name is drawn instead.
// Owner alive. The owner holds an open-file-description lock (F_OFD_SETLK) on the file for as
// long as it keeps the descriptor, which the kernel drops when the process dies however it dies.
// Leftovers. remove_stale_files() removes a regular file with such a name only when its owner is
// gone: no process has that pid, or the process with that pid started at another time (the pid
// was reused), and no process holds the file's lock (which also covers an owner in another pid
// namespace sharing the directory). Symlinks and files it cannot inspect are left alone.
#include <sys/types.h>

#include <cstddef>
#include <string>

namespace curvefit {

struct OwnedFile {
  std::string path;
  int fd = -1;  // open for reading and writing, locked; the caller closes it
};

// Creates a new file "<directory>/<stem>.tmp-curvefit-<pid>-<start>-<random>" with `mode`
// (subject to the umask). On failure fd is -1 and errno says why (the caller names the file).
OwnedFile create_owned_file(const std::string& directory, const std::string& stem, mode_t mode);

// Removes the files in `directory` whose owner is gone (see above); returns how many. Never
// throws: a directory that cannot be read is left as it is.
std::size_t remove_stale_files(const std::string& directory) noexcept;

// True for a name create_owned_file() makes.
bool is_owned_file_name(const std::string& file_name);

}  // namespace curvefit
