#pragma once
// A view of some rows of another source: blocks of `block` consecutive rows, the first starting at
// row `first` and the next every `period` rows, up to the source's end; served as rows 0, 1, ... of
// the view. An MPI rank reads its share of a file through it: only these rows are ever read (HDF5
// hyperslabs of each block; the CSV spill at each block's offset).
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/data/data_source.h"
#include "core/data/memory_source.h"

namespace curvefit {

class RowBlocksSource : public DataSource {
 public:
  // `source` must outlive the view; block <= period.
  RowBlocksSource(DataSource& source, std::size_t first, std::size_t block, std::size_t period);

  std::size_t rows() const override { return rows_; }
  int num_predictors() const override { return source_.num_predictors(); }
  bool has_sigma() const override { return source_.has_sigma(); }
  std::vector<std::string> column_names() const override { return source_.column_names(); }
  std::string description() const override { return source_.description(); }
  // Rows [begin, begin + count) of the view: one read of the source per block they touch.
  void read(std::size_t begin, std::size_t count, double* const* x, double* y, double* sigma) override;

  // The source's row of the view's row i.
  std::size_t source_row(std::size_t i) const { return first_ + (i / block_) * period_ + i % block_; }

 private:
  DataSource& source_;
  std::size_t first_, block_, period_;
  std::size_t rows_ = 0;
};

// Every row of `source` copied into RAM (one buffer for all columns), read in slabs of `slab_rows`.
std::unique_ptr<MemoryDataSource> copy_into_memory(DataSource& source, std::size_t slab_rows);

}  // namespace curvefit
