#pragma once
// The binary columnar spill of a CSV for streaming fits: the text is parsed once (in parallel
// blocks) and each selected column is appended to its own file of native doubles in the temp
// directory; later passes read row ranges with pread() instead of re-parsing text.
// The files are registered with core/temp_files.h: removed when the source is destroyed, at exit,
// and on SIGINT/SIGTERM. They are owned files (core/owned_files.h: mode 0600, created with O_EXCL
// and never through a symlink, named with the owner's pid and start time): the spill files of a
// run killed with SIGKILL are removed by the next spill into the same directory.
#include <string>
#include <utility>
#include <vector>

#include "core/data/csv_byte_ranges.h"
#include "core/data/csv_reader.h"
#include "core/data/data_source.h"

namespace curvefit {

class SpillDataSource : public DataSource {
 public:
  // Parses everything reader selects into spill files under temp_dir (empty: $TMPDIR or /tmp).
  SpillDataSource(CsvReader& reader, const std::string& temp_dir);
  // Parses the blocks of rows [begin, begin + count) of `rows`, in the order given, into spill
  // files (an MPI rank's share of a CSV split by byte ranges).
  SpillDataSource(CsvRowsSource& rows, const std::vector<std::pair<std::size_t, std::size_t>>& blocks,
                  const std::string& temp_dir);
  // The same blocks of any source, read through rows.read() in slabs of kCopySlabRows (a rank's
  // share of a dataset of several files, CSV split by byte ranges among them).
  SpillDataSource(DataSource& rows, const std::vector<std::pair<std::size_t, std::size_t>>& blocks,
                  const std::string& temp_dir);
  static constexpr std::size_t kCopySlabRows = 65536;
  ~SpillDataSource() override;
  // Parses everything another reader selects onto the end of the same spill files (the next file
  // of a dataset held in several); its selection must have as many columns. Returns its rows.
  std::size_t append(CsvReader& reader);
  SpillDataSource(const SpillDataSource&) = delete;
  SpillDataSource& operator=(const SpillDataSource&) = delete;

  std::size_t rows() const override { return rows_; }
  std::size_t rows_total() const override { return rows_total_; }
  int num_predictors() const override { return num_predictors_; }
  bool has_sigma() const override { return has_sigma_; }
  std::vector<std::string> column_names() const override { return names_; }
  std::string description() const override { return description_; }
  // pread() of each column file; safe to call from one thread at a time (no shared offsets).
  void read(std::size_t begin, std::size_t count, double* const* x, double* y, double* sigma) override;

  // The spill files (one per selected column), for tests and messages.
  std::vector<std::string> spill_paths() const;
  const CsvParseStats& parse_stats() const { return stats_; }

 private:
  struct ColumnFile {
    std::string path;
    int fd = -1;
  };
  // Empty column files for the columns of `shape` (the other constructors delegate to it).
  SpillDataSource(const DataSource& shape, const std::string& temp_dir);
  void create_files(const std::string& temp_dir, std::size_t columns);
  void release() noexcept;
  void spill(CsvReader& reader);
  void append_columns(const double* const* columns, std::size_t rows);

  std::vector<ColumnFile> files_;
  std::size_t rows_ = 0;
  std::size_t rows_total_ = 0;  // before the selection and nan_policy omit
  int num_predictors_ = 1;
  bool has_sigma_ = false;
  std::vector<std::string> names_;
  std::string description_;
  CsvParseStats stats_;
};

}  // namespace curvefit
