#pragma once
// Opening data files: what the planner asks before it decides (rows and columns), and the three
// ways the fit engine then reads them (loaded into RAM once, or re-read on every pass).
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/data/columns.h"
#include "core/data/data_source.h"
#include "core/data/data_types.h"
#include "core/data/memory_source.h"

namespace curvefit {

// Format from the content: the HDF5 signature (at 0, 512, 1024, ...) means HDF5, text means CSV
// whatever the name; "-" is CSV on stdin.

// CSV data loaded into RAM: the columns reserve a little above the estimated row count (growing a
// billion-row vector would double its peak); the planner plans for as many rows.
constexpr std::size_t csv_reserved_rows(std::size_t estimated_rows) {
  return estimated_rows + estimated_rows / 32 + 16;
}

// HDF5 data loaded into RAM are read in slabs of this many rows per column (load_data).
inline constexpr std::size_t kHdf5LoadSlabRows = std::size_t{1} << 18;

FileFormat detect_format(const std::string& path);

// Cheap look at a file: format, selected columns, rows (HDF5 exact; CSV estimated from a sample
// of lines and the file size). Throws DataError for a missing file, column or dataset.
DataInfo probe_data(const std::string& path, const DataOptions& options);

// The file's columns as the column rule sees them (CSV header, or HDF5 numeric datasets), with
// options' --x/--y/--sigma, for formula_predictors; chooses nothing. Throws DataError like probe_data.
ColumnRequest describe_columns(const std::string& path, const DataOptions& options);

// Loads the selected columns into RAM (CSV parsed in parallel blocks; HDF5 read in hyperslabs),
// applying skip_invalid and nan_policy. Reports skipped/omitted rows to options.on_notice. HDF5 datasets
// stored as contiguous float64 are not copied but mapped read-only (external_columns() is then
// true): the file must not be rewritten while the source is in use; if it is truncated, reading
// the lost rows raises SIGBUS: a front end handles it (app/main.cpp prints one line naming
// mapped_file_path() and exits with code 3).
std::unique_ptr<MemoryDataSource> load_data(const std::string& path, const DataOptions& options);

// The path of the file last mapped by load_data ("" if none). Async-signal-safe: for a SIGBUS
// handler.
const char* mapped_file_path();

// Several files as one dataset, rows in the order given (expand_data_paths in sharded_source.h
// sorts them). Every file must select the same columns: a DataError names the first that does
// not. Errors about values name the file and its own line or row. One path: the one-file
// functions above.
//
// probe_files: each file probed; rows and bytes summed; `shards` lists each file's rows; the
// format is HDF5 when every file is.
DataInfo probe_files(const std::vector<std::string>& paths, const DataOptions& options);
// load_files: every file loaded into one MemoryDataSource (none mapped in place); `shards`, when
// given, receives where each file's rows landed (after skip_invalid and nan_policy).
std::unique_ptr<MemoryDataSource> load_files(const std::vector<std::string>& paths, const DataOptions& options,
                                             std::vector<Shard>* shards = nullptr);
// open_streaming_files: a ShardedDataSource (sharded_source.h).
std::unique_ptr<DataSource> open_streaming_files(const std::vector<std::string>& paths, const DataOptions& options);

// A source that re-reads the file on every pass: HDF5 hyperslabs of the requested range; CSV is
// converted once into a binary columnar spill file in temp_dir (removed when the source dies, at
// exit, on error and on SIGINT/SIGTERM) that later reads use.
std::unique_ptr<DataSource> open_streaming(const std::string& path, const DataOptions& options);

}  // namespace curvefit
