#pragma once
// HDF5 data: 1-D numeric datasets, or columns of 2-D ones ("/table:2", 1-based), served by row
// range through hyperslabs of the requested rows only (chunked and compressed datasets included).
// Integer and float32 datasets are converted to double by HDF5 on read; an N x 1 dataset is its one
// column. A filter the library lacks (LZF, Blosc, ...) is reported at open with how to convert the
// file, and every read is checked against the file's size at open (a truncated file is an error,
// not rows of zeros).
//
// Threading: Debian's libhdf5 is built without thread safety, so every HDF5 call in curvefit goes
// through one process-wide mutex (hdf5_mutex()). read() is meant to be called from one thread
// (the streaming reader); concurrent calls are serialised, never parallel.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/data/columns.h"
#include "core/data/data_source.h"
#include "core/data/data_types.h"

namespace curvefit {

// Rows per column a streamed source reads at a time when it scans the file once at opening
// (nan_policy omit, a row selection): the planner counts these buffers.
inline constexpr std::size_t kHdf5ScanRows = std::size_t{1} << 16;

// The lock every HDF5 call in curvefit holds.
std::recursive_mutex& hdf5_mutex();

// True when the file starts with the HDF5 signature (at offset 0 or a user-block offset).
bool has_hdf5_signature(const std::string& path);

// One dataset of a file, for `inspect` and for the "datasets that exist" list.
struct Hdf5DatasetInfo {
  std::string path;               // "/group/t"
  std::string type;               // "float64", "int32", "string", "compound", ...
  bool numeric = false;
  std::vector<unsigned long long> dims;
};

// Every dataset in the file (recursively), sorted by path. Throws DataError for a file that is
// not HDF5 or cannot be opened.
std::vector<Hdf5DatasetInfo> list_hdf5_datasets(const std::string& path);

// The file's 1-D numeric datasets as the column rule sees them, with options' --x/--y/--sigma.
ColumnRequest hdf5_column_request(const std::string& path, const DataOptions& options);

class Hdf5DataSource : public DataSource {
 public:
  // Opens the file and the selected datasets and checks them (existence, numeric type, rank,
  // column, equal lengths), and the datasets a row selection reads (options.selection). When
  // scan_invalid, nan_policy applies: raise makes read() throw at the first non-finite x/y or
  // sigma <= 0 the first time it delivers that row (no extra pass); omit, or a row selection,
  // scans the data once here and remembers the rows kept as runs of consecutive rows, which read()
  // serves, so that rows() counts only those (raise then judges the selected rows in that scan).
  Hdf5DataSource(const std::string& path, const DataOptions& options, bool scan_invalid);
  ~Hdf5DataSource() override;

  std::size_t rows() const override { return filtered_ ? kept_rows_ : rows_; }
  std::size_t rows_total() const override { return rows_; }
  int num_predictors() const override { return num_predictors_; }
  bool has_sigma() const override { return has_sigma_; }
  std::vector<std::string> column_names() const override { return names_; }
  std::string description() const override { return path_; }
  void read(std::size_t begin, std::size_t count, double* const* x, double* y, double* sigma) override;
  void check_unchanged() const override { check_file_size(); }
  // Contiguous doubles (contiguous_file_offsets) and no omitted rows: read() copies the rows with
  // pread from their offsets in the file, not through the HDF5 library, so that a streamed pass's
  // workers read their batches themselves (ReadAhead). A copy, not mapped windows: mapping and
  // unmapping a window costs page-table work and a TLB shootdown on every core, which on this
  // project's VMs came to 1.2-4x the copy and varied fourfold from day to day (bench/RESULTS.md),
  // and a window of a file cut short meanwhile would end the process with SIGBUS.
  bool reads_by_position() const override { return !filtered_ && !positional_offsets_.empty(); }

  // About the choice of columns (ColumnChoice::notes).
  const std::vector<std::string>& column_notes() const { return column_notes_; }

  // Rows in the file, before any omission.
  std::size_t file_rows() const { return rows_; }
  // Bytes the index of the rows kept holds (omit, or a row selection): one Run per stretch of
  // consecutive kept rows. 0 when every row is served.
  std::size_t index_bytes() const { return runs_.capacity() * sizeof(Run); }
  // Rows [begin, begin + count) of the file as they are stored (no row dropped, no value
  // checked), with the row selection's datasets into extra[0..] (for loading).
  void read_file_rows(std::size_t begin, std::size_t count, double* const* x, double* y, double* sigma,
                      double* const* extra);

  // Byte offsets in the file of each selected column's values (predictors, y, sigma) when every
  // one of them can be read in place: a 1-D dataset, contiguous and allocated, stored as native
  // doubles, 8-byte aligned, in a file without a user block. Empty otherwise (chunked, compressed,
  // converted, or a column of a 2-D dataset), and then the data must be read through HDF5.
  std::vector<std::uint64_t> contiguous_file_offsets() const;

 private:
  struct Column;
  void open_column(const std::string& spec, std::string& first_spec);
  void read_physical(std::size_t begin, std::size_t count, double* const* x, double* y, double* sigma,
                     double* const* extra = nullptr);
  // Column c's rows [begin, begin + count) into `target`, through the library or by position.
  void read_through_hdf5(std::size_t c, std::size_t begin, std::size_t count, double* target) const;
  void read_by_position(std::size_t c, std::size_t begin, std::size_t count, double* target) const;
  // Sets positional_offsets_ to contiguous_file_offsets() if the first and the last rows read by
  // position are the values the library reads, else leaves it empty (the constructor, once).
  void verify_positional_offsets();
  // Logical rows [begin, begin + count) through the runs of kept rows.
  void read_kept(std::size_t begin, std::size_t count, double* const* x, double* y, double* sigma);
  // Throws DataError when the file is now shorter than when it was opened, or was written since.
  void check_file_size() const;
  // nan_policy omit or a row selection: one pass over the file remembering the rows kept (selected,
  // and valid under omit; a selected invalid row under raise is an error here).
  void find_kept_rows(NanPolicy policy, const RowSelection* selection);
  // Throws DataError naming the first bad row of rows [begin, begin + count), which read() put at
  // x[c][offset..], y[offset..], sigma[offset..].
  void check_rows(std::size_t begin, std::size_t count, const double* const* x, const double* y,
                  const double* sigma, std::size_t offset);

  std::string path_;
  std::function<void(const std::string&)> on_notice_;  // DataOptions::on_notice
  bool file_of_several_ = false;                       // DataOptions::file_of_several
  int num_predictors_ = 1;
  bool has_sigma_ = false;
  std::vector<std::string> names_;
  std::vector<std::string> column_notes_;
  std::size_t rows_ = 0;
  struct Handles;
  std::unique_ptr<Handles> handles_;
  // Consecutive kept rows: physical rows [physical, physical + length) are logical rows from `logical`.
  struct Run {
    std::size_t physical, logical, length;
  };
  std::vector<Run> runs_;   // in order; used when filtered_
  bool filtered_ = false;   // rows are dropped (omit, or a selection)
  std::size_t kept_rows_ = 0;
  std::size_t fit_columns_ = 0;  // handles_->columns beyond these are the selection's
  std::vector<double> scratch_;
  bool check_on_read_ = false;   // nan_policy raise: rows are checked as they are read
  // Where read_by_position() finds each fit column (verify_positional_offsets); empty when the
  // columns are read through the library.
  std::vector<std::uint64_t> positional_offsets_;
  std::size_t checked_rows_ = 0; // rows [0, checked_rows_) have been checked
};

// nan_policy raise over columns used in place: throws DataError naming the first row with a
// non-finite x/y or a sigma (may be null) not finite and > 0, in apply_nan_policy's words.
void check_values_raise(const std::vector<const double*>& x, const double* y, const double* sigma,
                        std::size_t rows, const std::string& file, const std::vector<std::string>& names);

// Whether row r of the columns passes nan_policy's test (x and y finite, sigma, may be null,
// finite and > 0). A row that fails under raise throws DataError naming the dataset and the
// file's row file_row (0-based), in apply_nan_policy's words.
bool row_passes(const std::vector<const double*>& x, const double* y, const double* sigma, std::size_t r,
                NanPolicy policy, std::size_t file_row, const std::string& file, const std::vector<std::string>& names);

// Applies nan_policy to loaded columns in place: raise throws DataError naming the row and
// dataset; omit drops the rows and returns how many. Rows are 1-based in messages.
// Omitted rows are reported to on_notice (may be null). Rows before first_row belong to files
// loaded before this one: they are left alone, and this file's rows count from first_row.
std::size_t apply_nan_policy(std::vector<std::vector<double>>& x, std::vector<double>& y,
                             std::vector<double>& sigma, NanPolicy policy, const std::string& file,
                             const std::vector<std::string>& names,
                             const std::function<void(const std::string&)>& on_notice,
                             std::size_t first_row = 0);

}  // namespace curvefit
