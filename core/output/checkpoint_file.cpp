#include "core/output/checkpoint_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/output/atomic_file.h"

namespace curvefit {

namespace {

// The rename is on the disk once the directory is: without this a crash could bring back the
// previous checkpoint (harmless, only older) or none at all.
void sync_directory_of(const std::string& path) {
  std::filesystem::path directory = std::filesystem::path(path).parent_path();
  if (directory.empty()) directory = ".";
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_checkpoint(const std::string& path, const FitCheckpoint& checkpoint) {
  AtomicOutputFile file(path);
  file.write(checkpoint_to_json(checkpoint).dump(1));
  file.write("\n");
  if (std::fflush(file.stream()) != 0 || ::fsync(::fileno(file.stream())) != 0)
    throw IoError(path + ": write failed: " + std::strerror(errno));
  file.commit();
  sync_directory_of(path);
}

FitCheckpoint read_checkpoint(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError(path + ": cannot read the checkpoint: " + std::strerror(errno));
  try {
    return checkpoint_from_json(nlohmann::json::parse(in));
  } catch (const std::exception& error) {
    throw UsageError(path + ": not a usable curvefit checkpoint: " + error.what());
  }
}

}  // namespace curvefit
