#include "core/data/row_blocks_source.h"

#include <algorithm>
#include <stdexcept>

namespace curvefit {

std::size_t RowPattern::rows() const {
  if (first >= end) return 0;
  const std::size_t blocks = (end - first + period - 1) / period;
  const std::size_t last_start = first + (blocks - 1) * period;
  return (blocks - 1) * block + std::min(block, end - last_start);
}

RowBlocksSource::RowBlocksSource(DataSource& source, std::vector<RowPattern> patterns)
    : source_(source), patterns_(std::move(patterns)) {
  for (const RowPattern& p : patterns_) {
    if (p.block == 0 || p.block > p.period) throw std::invalid_argument("row blocks: need 0 < block <= period");
    if (p.end > source.rows()) throw std::invalid_argument("row blocks: beyond the source's rows");
    pattern_first_.push_back(rows_);
    rows_ += p.rows();
  }
}

RowBlocksSource::RowBlocksSource(DataSource& source, std::size_t first, std::size_t block, std::size_t period)
    : RowBlocksSource(source, std::vector<RowPattern>{{first, block, period, source.rows()}}) {}

std::size_t RowBlocksSource::pattern_of_row(std::size_t i) const {
  return static_cast<std::size_t>(std::upper_bound(pattern_first_.begin(), pattern_first_.end(), i) -
                                  pattern_first_.begin()) - 1;
}

std::size_t RowBlocksSource::source_row(std::size_t i) const {
  const std::size_t q = pattern_of_row(i);
  const RowPattern& p = patterns_[q];
  const std::size_t within = i - pattern_first_[q];
  return p.first + (within / p.block) * p.period + within % p.block;
}

std::vector<std::pair<std::size_t, std::size_t>> RowBlocksSource::view_blocks() const {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  std::size_t row = 0;
  for (const RowPattern& p : patterns_)
    for (std::size_t begin = p.first; begin < p.end; begin += p.period) {
      const std::size_t n = std::min(p.block, p.end - begin);
      out.emplace_back(row, n);
      row += n;
    }
  return out;
}

void RowBlocksSource::read(std::size_t begin, std::size_t count, double* const* x, double* y,
                           double* sigma) {
  if (begin + count > rows_) throw std::out_of_range("row range beyond the view");
  const std::size_t k = static_cast<std::size_t>(num_predictors());
  std::vector<double*> xs(k);
  for (std::size_t done = 0; done < count;) {
    const std::size_t i = begin + done;
    const std::size_t q = pattern_of_row(i);
    const RowPattern& p = patterns_[q];
    const std::size_t within = i - pattern_first_[q];
    const std::size_t row = p.first + (within / p.block) * p.period + within % p.block;
    const std::size_t n = std::min({count - done, p.block - within % p.block, p.end - row});
    for (std::size_t q2 = 0; q2 < k; ++q2) xs[q2] = x[q2] + done;
    source_.read(row, n, xs.data(), y + done, sigma ? sigma + done : nullptr);
    done += n;
  }
}

std::unique_ptr<MemoryDataSource> copy_into_memory(DataSource& source, std::size_t slab_rows) {
  std::vector<std::pair<std::size_t, std::size_t>> slabs;
  for (std::size_t begin = 0; begin < source.rows(); begin += slab_rows)
    slabs.emplace_back(begin, std::min(slab_rows, source.rows() - begin));
  return copy_into_memory(source, slabs);
}

std::unique_ptr<MemoryDataSource> copy_into_memory(DataSource& source,
                                                   const std::vector<std::pair<std::size_t, std::size_t>>& slabs) {
  const std::size_t rows = source.rows();
  const std::size_t k = static_cast<std::size_t>(source.num_predictors());
  const std::size_t columns = k + 1 + (source.has_sigma() ? 1 : 0);
  std::shared_ptr<double[]> storage(new double[std::max<std::size_t>(1, columns * rows)]);
  std::vector<double*> x(k);
  for (std::size_t q = 0; q < k; ++q) x[q] = storage.get() + q * rows;
  double* y = storage.get() + k * rows;
  double* sigma = source.has_sigma() ? y + rows : nullptr;
  std::vector<double*> xs(k);
  for (const auto& [begin, n] : slabs) {
    for (std::size_t q = 0; q < k; ++q) xs[q] = x[q] + begin;
    source.read(begin, n, xs.data(), y + begin, sigma ? sigma + begin : nullptr);
  }
  return std::make_unique<MemoryDataSource>(std::vector<const double*>(x.begin(), x.end()), y, sigma, rows,
                                            std::move(storage), source.column_names(), source.description());
}

}  // namespace curvefit
