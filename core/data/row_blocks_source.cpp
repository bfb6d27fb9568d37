#include "core/data/row_blocks_source.h"

#include <algorithm>
#include <stdexcept>

namespace curvefit {

RowBlocksSource::RowBlocksSource(DataSource& source, std::size_t first, std::size_t block,
                                 std::size_t period)
    : source_(source), first_(first), block_(block), period_(period) {
  if (block == 0 || block > period) throw std::invalid_argument("row blocks: need 0 < block <= period");
  const std::size_t m = source.rows();
  if (first >= m) return;
  const std::size_t blocks = (m - first + period - 1) / period;
  const std::size_t last_start = first + (blocks - 1) * period;
  rows_ = (blocks - 1) * block + std::min(block, m - last_start);
}

void RowBlocksSource::read(std::size_t begin, std::size_t count, double* const* x, double* y,
                           double* sigma) {
  if (begin + count > rows_) throw std::out_of_range("row range beyond the view");
  const std::size_t k = static_cast<std::size_t>(num_predictors());
  std::vector<double*> xs(k);
  for (std::size_t done = 0; done < count;) {
    const std::size_t i = begin + done;
    const std::size_t n = std::min(count - done, block_ - i % block_);
    for (std::size_t q = 0; q < k; ++q) xs[q] = x[q] + done;
    source_.read(source_row(i), n, xs.data(), y + done, sigma ? sigma + done : nullptr);
    done += n;
  }
}

std::unique_ptr<MemoryDataSource> copy_into_memory(DataSource& source, std::size_t slab_rows) {
  const std::size_t rows = source.rows();
  const std::size_t k = static_cast<std::size_t>(source.num_predictors());
  const std::size_t columns = k + 1 + (source.has_sigma() ? 1 : 0);
  std::shared_ptr<double[]> storage(new double[std::max<std::size_t>(1, columns * rows)]);
  std::vector<double*> x(k);
  for (std::size_t q = 0; q < k; ++q) x[q] = storage.get() + q * rows;
  double* y = storage.get() + k * rows;
  double* sigma = source.has_sigma() ? y + rows : nullptr;
  std::vector<double*> xs(k);
  for (std::size_t begin = 0; begin < rows; begin += slab_rows) {
    const std::size_t n = std::min(slab_rows, rows - begin);
    for (std::size_t q = 0; q < k; ++q) xs[q] = x[q] + begin;
    source.read(begin, n, xs.data(), y + begin, sigma ? sigma + begin : nullptr);
  }
  return std::make_unique<MemoryDataSource>(std::vector<const double*>(x.begin(), x.end()), y, sigma, rows,
                                            std::move(storage), source.column_names(), source.description());
}

}  // namespace curvefit
