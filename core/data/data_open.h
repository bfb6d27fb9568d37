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
#include "core/data/memory_source.h"

namespace curvefit {

enum class NanPolicy { raise, omit };

struct DataOptions {
  // Columns: for CSV a header name or a 1-based index ("1", "2"); for HDF5 a dataset path
  // ("/group/t"), or a column of a 2-D dataset ("/table:2", 1-based). Empty x or y: chosen by
  // the rule of core/data/columns.h (by name, else by position when unambiguous). Empty sigma:
  // no sigma column.
  std::vector<std::string> x;
  std::string y;
  std::string sigma;
  // Predictors the model needs when x is empty (1 for y = f(x), 2 for f(x1, x2)).
  int num_predictors = 1;
  // The model's names for its predictors, which columns are matched by when x is empty (empty:
  // "x", or "x1".."xk"); a formula's own names, see formula_predictors in columns.h.
  std::vector<std::string> predictor_names;
  // CSV: 0 = detect (comma, tab, semicolon, runs of spaces); otherwise that character.
  char delimiter = 0;
  // CSV: nullopt = detect a header row; true/false = forced.
  std::optional<bool> header;
  // CSV: skip rows that do not parse instead of failing (reports how many and where).
  bool skip_invalid = false;
  // Non-finite x or y, or sigma <= 0: an error (raise) or the row is dropped (omit).
  NanPolicy nan_policy = NanPolicy::raise;
  // Directory for the CSV spill file of streaming fits; empty = $TMPDIR or /tmp.
  std::string temp_dir;
  // Receives one line per remark about the data ("FILE: skipped 3 invalid rows (lines 4, 9, 12)",
  // rows omitted by nan_policy omit); null = the remarks are dropped. The library prints nothing:
  // the command line sends them to stderr.
  std::function<void(const std::string& line)> on_notice;
};

enum class FileFormat { csv, hdf5 };

// What the planner needs before choosing a mode.
struct DataInfo {
  FileFormat format = FileFormat::csv;
  std::size_t rows = 0;        // exact for HDF5; for CSV an estimate unless rows_exact
  bool rows_exact = false;
  std::size_t file_bytes = 0;
  int num_predictors = 1;
  bool has_sigma = false;
  std::vector<std::string> column_names;  // selected columns: predictors, y, sigma
  std::vector<std::string> notes;         // about the choice of columns, for the report
};

// Format from the content (HDF5 signature), not only the extension. "-" is CSV on stdin.
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

// A source that re-reads the file on every pass: HDF5 hyperslabs of the requested range; CSV is
// converted once into a binary columnar spill file in temp_dir (removed when the source dies, at
// exit, on error and on SIGINT/SIGTERM) that later reads use.
std::unique_ptr<DataSource> open_streaming(const std::string& path, const DataOptions& options);

}  // namespace curvefit
