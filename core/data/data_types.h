#pragma once
// What every data source and the dispatcher share: the options that choose and read columns, what
// a probe reports, and how messages list the places (CSV lines, HDF5 rows) where problems sit.
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace curvefit {

enum class NanPolicy { raise, omit };

// Which rows a fit uses (--x-range, --where): the readers drop the other rows while they read
// them, as nan_policy omit drops invalid ones, so that no mode holds or reads more than the
// selected rows after the first look. nan_policy then applies to the selected rows only.
struct RowSelection {
  // Columns the condition reads besides the fit's own: CSV header names, HDF5 dataset paths.
  std::vector<std::string> columns;
  // keep[i] = whether row i of a block of n rows is used: fit[c] are the fit's columns (x1..xk,
  // y, sigma if any), extra[c] the values of `columns`, all possibly NaN. Called concurrently.
  std::function<void(const double* const* fit, const double* const* extra, std::size_t n, unsigned char* keep)>
      keep;
  // For reports: "x in [2, 8], temp > 300".
  std::string text;
};

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
  // CSV: the decimal separator, '.' or ','; 0 = detect ('.' unless the delimiter is ';' and the
  // numbers of the first lines are written with a decimal comma).
  char decimal = 0;
  // CSV: nullopt = detect a header row; true/false = forced.
  std::optional<bool> header;
  // CSV: skip rows that do not parse instead of failing (reports how many and where).
  bool skip_invalid = false;
  // Non-finite x or y, or sigma <= 0: an error (raise) or the row is dropped (omit).
  NanPolicy nan_policy = NanPolicy::raise;
  // Only these rows are read (null: every row).
  std::shared_ptr<const RowSelection> selection;
  // HDF5 datasets used in place (mapped) under nan_policy raise: leave the value check to the
  // fit's first full pass (MemoryDataSource::defer_value_check) instead of a pass over the file
  // at load. The fit engine sets it; load_data alone checks at once.
  bool defer_value_check = false;
  // One file of a dataset of several (load_files, ShardedDataSource): a file left without rows by
  // the selection or nan_policy omit is no error; the dataset is, when none has rows left.
  bool file_of_several = false;
  // Whether input files may be mapped into memory (an HDF5 file used in place, its streamed
  // windows, a CSV's load into RAM) instead of read. A mapped file cut short while it is read
  // raises SIGBUS, which the command line turns into exit 3; a front end that cannot handle it
  // (the Python module: the interpreter would die) reads instead, at the cost of a copy.
  bool map_files = true;
  // Directory for the CSV spill file of streaming fits; empty = $TMPDIR or /tmp.
  std::string temp_dir;
  // CSV: text per parallel parse block; 0 = the parser's default. The planner makes it smaller
  // under a tight memory limit (CsvParseTuning::parse_buffer_bytes).
  std::size_t csv_block_bytes = 0;
  // CSV: whether the load into RAM may cut its blocks out of a mapping of the text (with
  // map_files). The planner says no under a limit that would not also hold the whole text.
  bool csv_map_text = true;
  // Receives one line per remark about the data ("FILE: skipped 3 invalid rows (lines 4, 9, 12)",
  // rows omitted by nan_policy omit); null = the remarks are dropped. The library prints nothing:
  // the command line sends them to stderr.
  std::function<void(const std::string& line)> on_notice;
};

enum class FileFormat { csv, hdf5 };

// One file of a dataset held in several files: where its rows sit in the whole (a driver that
// spreads the work over processes can hand out whole files).
struct Shard {
  std::string path;
  std::size_t first_row = 0;  // of the whole, 0-based
  std::size_t rows = 0;
};

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
  // Several files: each one's rows as probed (CSV rows are estimates unless rows_exact). Empty for
  // one file.
  std::vector<Shard> shards;
};

// "selected 120 of 1000 rows (x in [2, 8])", for notices.
std::string selected_rows_notice(std::size_t selected, std::size_t total, const RowSelection& selection);
// "no row of the 1000 is selected (x in [2, 8])", for the DataError that ends a fit with nothing to fit.
std::string no_row_selected(std::size_t total, const RowSelection& selection);

// Where a set of problems sits: text lines of a CSV file, or rows of an HDF5 table.
enum class PlaceUnit { line, row };

// "line 5, 9, 12" (or "rows 3, 4") for messages, with "..." when total exceeds the places listed.
std::string format_place_list(PlaceUnit unit, const std::vector<std::size_t>& places, std::size_t total);

}  // namespace curvefit
