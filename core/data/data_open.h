#pragma once
// Opening data files: what the planner asks before it decides (rows and columns), and the three
// ways the fit engine then reads them (loaded into RAM once, or re-read on every pass).
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/data/data_source.h"
#include "core/data/memory_source.h"

namespace curvefit {

enum class NanPolicy { raise, omit };

struct DataOptions {
  // Columns: for CSV a header name or a 1-based index ("1", "2"); for HDF5 a dataset path
  // ("/group/t"), or a column of a 2-D dataset ("/table:2", 1-based). Empty x means the default:
  // CSV column 1 / HDF5 "/x" (or "/x1", "/x2", ... when num_predictors > 1); empty y means CSV
  // column 2 (after the predictors) / HDF5 "/y". Empty sigma: no sigma column.
  std::vector<std::string> x;
  std::string y;
  std::string sigma;
  // Predictors the model needs when x is empty (1 for y = f(x), 2 for f(x1, x2)).
  int num_predictors = 1;
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
  // CSV: text per parallel parse block; 0 = the parser's default. The planner makes it smaller
  // under a tight memory limit (CsvParseTuning::parse_buffer_bytes).
  std::size_t csv_block_bytes = 0;
};

// CSV data loaded into RAM: the columns reserve a little above the estimated row count (growing a
// billion-row vector would double its peak); the planner plans for as many rows.
constexpr std::size_t csv_reserved_rows(std::size_t estimated_rows) {
  return estimated_rows + estimated_rows / 32 + 16;
}

// HDF5 data loaded into RAM are read in slabs of this many rows per column (load_data).
inline constexpr std::size_t kHdf5LoadSlabRows = std::size_t{1} << 18;

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
};

// Format from the content (HDF5 signature), not only the extension. "-" is CSV on stdin.
FileFormat detect_format(const std::string& path);

// Cheap look at a file: format, selected columns, rows (HDF5 exact; CSV estimated from a sample
// of lines and the file size). Throws DataError for a missing file, column or dataset.
DataInfo probe_data(const std::string& path, const DataOptions& options);

// Loads the selected columns into RAM (CSV parsed in parallel blocks; HDF5 read in hyperslabs),
// applying skip_invalid and nan_policy. Reports skipped/omitted rows on stderr. HDF5 datasets
// stored as contiguous float64 are not copied but mapped read-only (external_columns() is then
// true): the file must not be rewritten while the source is in use; if it is truncated, reading
// the lost rows prints one line and exits with code 3 (a SIGBUS handler).
std::unique_ptr<MemoryDataSource> load_data(const std::string& path, const DataOptions& options);

// A source that re-reads the file on every pass: HDF5 hyperslabs of the requested range; CSV is
// converted once into a binary columnar spill file in temp_dir (removed when the source dies, at
// exit, on error and on SIGINT/SIGTERM) that later reads use.
std::unique_ptr<DataSource> open_streaming(const std::string& path, const DataOptions& options);

}  // namespace curvefit
