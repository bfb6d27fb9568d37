#pragma once
// Checkpoint files (core/engine/checkpoint.h): small JSON files replaced atomically, so that a
// kill at any moment leaves either the previous checkpoint or the new one, whole.
#include <string>

#include "core/engine/checkpoint.h"

namespace curvefit {

// Writes the checkpoint to a temporary file beside `path`, flushes it to the disk (fsync), renames
// it over `path` and syncs the directory. Throws IoError naming the path and the reason.
void write_checkpoint(const std::string& path, const FitCheckpoint& checkpoint);

// Throws UsageError "<path>: ..." when the file cannot be read or is not a checkpoint.
FitCheckpoint read_checkpoint(const std::string& path);

}  // namespace curvefit
