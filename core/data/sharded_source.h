#pragma once
// Several files fitted as one dataset: the rows of every file in the order of the sorted file
// names. The file list comes from paths and glob(3) patterns (expand_data_paths); the in-memory
// modes load every file into one MemoryDataSource (data_open.h), and streaming reads through the
// files with ShardedDataSource. Every file keeps its own messages: a bad value in the second file
// is reported with that file's name and its own line or row.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/data/data_source.h"
#include "core/data/data_types.h"
#include "core/data/spill_source.h"

namespace curvefit {

// The files that arguments name: each path as given, each pattern (a name with * ? or [ that is
// not itself a file) replaced by the files glob(3) finds; then sorted by name. "-" (stdin) only
// alone. Throws UsageError for a pattern that matches nothing, a file named twice, or "-" among
// several.
std::vector<std::string> expand_data_paths(const std::vector<std::string>& arguments);

// How reports name the data: one file by its path ("<stdin>" for "-"); several by the arguments
// and their count, "runs/*.h5 (12 files)", "a.csv b.csv (2 files)".
std::string describe_data_paths(const std::vector<std::string>& arguments, const std::vector<std::string>& files);

// The end of reading a dataset of several files (`files`: where each file's rows landed, of
// rows_total read): a DataError when no file has rows left (DataOptions::file_of_several let each
// file end without rows), else the dataset's one notice of a row selection, "selected 90 of 300
// rows (x in [2, 8]); none from b.csv", in place of one per file.
void finish_files(const std::string& description, std::size_t rows, std::size_t rows_total,
                  const std::vector<Shard>& files, const DataOptions& options);

// Throws DataError naming `path` when its selected columns differ from `first`'s in count or
// names (an HDF5 dataset "/x" and a CSV column "x" are the same name).
void check_same_columns(const std::string& first, const std::vector<std::string>& first_names,
                        const std::string& path, const std::vector<std::string>& names);

// Streaming over several files: CSV files are spilled together once (one binary spill, rows in
// file order); an HDF5 file is opened when its rows are read and closed when reading moves to
// another file, so that at most one HDF5 file is open however many there are (with nan_policy
// omit each opening scans that file for invalid rows again: one more read of it per pass). Reads
// that cross a file boundary are served from both files.
class ShardedDataSource : public DataSource {
 public:
  // Opens every file once to count its rows (spilling the CSV files), checking that each selects
  // the same columns as the first. Throws DataError naming the file.
  // formats[i] is paths[i]'s (detect_format).
  // csv_rows: when given, a source of every row of each CSV file (null for the others), read
  // instead of a spill (an MPI rank's byte-range split of each file, core/engine/csv_rank_rows.h).
  ShardedDataSource(const std::vector<std::string>& paths, const std::vector<FileFormat>& formats,
                    const DataOptions& options, std::vector<std::unique_ptr<DataSource>> csv_rows = {});

  std::size_t rows() const override { return rows_; }
  std::size_t rows_total() const override { return rows_total_; }
  int num_predictors() const override { return num_predictors_; }
  bool has_sigma() const override { return has_sigma_; }
  std::vector<std::string> column_names() const override { return names_; }
  std::string description() const override { return description_; }
  void read(std::size_t begin, std::size_t count, double* const* x, double* y, double* sigma) override;

  // Where each file's rows sit in the whole.
  const std::vector<Shard>& shards() const { return shards_; }

 private:
  // Rows [begin, begin + count) of shard s, counted within that shard.
  void read_shard(std::size_t s, std::size_t begin, std::size_t count, double* const* x, double* y,
                  double* sigma);
  void add_shard(const std::string& path, std::size_t rows, const std::vector<std::string>& names,
                 bool has_sigma);

  DataOptions options_;
  std::vector<Shard> shards_;
  // Per shard: its first row in the spill of the CSV files, or kNone for an HDF5 file or a CSV
  // file read through csv_rows_.
  std::vector<std::size_t> spill_first_row_;
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::unique_ptr<SpillDataSource> spill_;
  std::vector<std::unique_ptr<DataSource>> csv_rows_;  // per shard, when the caller gave them
  std::size_t open_shard_ = kNone;  // the HDF5 file held open, by shard index
  std::unique_ptr<DataSource> open_source_;
  std::size_t rows_ = 0;
  std::size_t rows_total_ = 0;
  int num_predictors_ = 1;
  bool has_sigma_ = false;
  std::vector<std::string> names_;
  std::string description_;
};

}  // namespace curvefit
