#pragma once
// A view of some rows of another source: one or more patterns of blocks of `block` consecutive rows,
// the first starting at row `first` and the next every `period` rows, up to the pattern's end;
// served, pattern after pattern, as rows 0, 1, ... of the view. An MPI rank reads its share of a file through it: only these rows are ever read (HDF5
// hyperslabs of each block; the CSV spill at each block's offset).
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/data/data_source.h"
#include "core/data/memory_source.h"

namespace curvefit {

// Rows first + j period + i for j >= 0 and 0 <= i < block, below end.
struct RowPattern {
  std::size_t first = 0, block = 1, period = 1, end = 0;
  std::size_t rows() const;
};

class RowBlocksSource : public DataSource {
 public:
  // `source` must outlive the view; block <= period; patterns in row order, ends within the source.
  RowBlocksSource(DataSource& source, std::vector<RowPattern> patterns);
  // One pattern up to the source's end.
  RowBlocksSource(DataSource& source, std::size_t first, std::size_t block, std::size_t period);

  std::size_t rows() const override { return rows_; }
  int num_predictors() const override { return source_.num_predictors(); }
  bool has_sigma() const override { return source_.has_sigma(); }
  std::vector<std::string> column_names() const override { return source_.column_names(); }
  std::string description() const override { return source_.description(); }
  // Rows [begin, begin + count) of the view: one read of the source per block they touch.
  void read(std::size_t begin, std::size_t count, double* const* x, double* y, double* sigma) override;

  // The source's row of the view's row i.
  std::size_t source_row(std::size_t i) const;
  // The view's rows as its blocks [begin, begin + rows), in order: reads that never cross a block.
  std::vector<std::pair<std::size_t, std::size_t>> view_blocks() const;

 private:
  std::size_t pattern_of_row(std::size_t i) const;
  DataSource& source_;
  std::vector<RowPattern> patterns_;
  std::vector<std::size_t> pattern_first_;  // the view's first row of each pattern
  std::size_t rows_ = 0;
};

// Every row of `source` copied into RAM (one buffer for all columns), read in slabs of `slab_rows`,
// or in the slabs [begin, begin + rows) given (in order, covering every row).
std::unique_ptr<MemoryDataSource> copy_into_memory(DataSource& source, std::size_t slab_rows);
std::unique_ptr<MemoryDataSource> copy_into_memory(DataSource& source,
                                                   const std::vector<std::pair<std::size_t, std::size_t>>& slabs);

}  // namespace curvefit
