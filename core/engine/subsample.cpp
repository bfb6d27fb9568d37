#include "core/engine/subsample.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "memory/huge_pages.h"

namespace curvefit {

std::vector<std::pair<std::size_t, std::size_t>> sample_blocks(std::size_t m, std::size_t rows,
                                                               std::size_t block_rows) {
  rows = std::min(rows, m);
  const std::size_t block = rows == m ? rows : std::max<std::size_t>(1, std::min(block_rows, rows));
  const std::size_t blocks = rows == 0 ? 0 : (rows + block - 1) / block;
  std::vector<std::pair<std::size_t, std::size_t>> places;
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::size_t count = std::min(block, rows - b * block);
    // Evenly spaced starts, the first at row 0 and the last ending at row m.
    const std::size_t begin = blocks == 1 ? 0 : (m - count) * b / (blocks - 1);
    places.emplace_back(begin, count);
  }
  return places;
}

std::unique_ptr<MemoryDataSource> sample_rows(DataSource& data, std::size_t rows,
                                              std::size_t block_rows) {
  rows = std::min(rows, data.rows());
  const std::vector<std::pair<std::size_t, std::size_t>> places = sample_blocks(data.rows(), rows, block_rows);
  const std::size_t k = static_cast<std::size_t>(data.num_predictors());
  // One buffer for every column, in huge pages: the subsample is written once and read by every
  // iteration of its fit, and fresh 4 KiB pages are what copying it would mostly cost.
  const std::size_t columns = k + 1 + (data.has_sigma() ? 1 : 0);
  std::shared_ptr<double> storage =
      allocate_huge_page_doubles(std::max<std::size_t>(1, columns * rows));
  std::vector<double*> x(k);
  for (std::size_t q = 0; q < k; ++q) x[q] = storage.get() + q * rows;
  double* y = storage.get() + k * rows;
  double* sigma = data.has_sigma() ? storage.get() + (k + 1) * rows : nullptr;
  std::vector<double*> xs(k);
  std::size_t out = 0;
  for (const auto& [begin, count] : places) {
    for (std::size_t q = 0; q < k; ++q) xs[q] = x[q] + out;
    data.read(begin, count, xs.data(), y + out, sigma ? sigma + out : nullptr);
    out += count;
  }
  // Data whose values are still to be checked (a mapped file): a bad row in the sample is
  // reported as the check of all rows reports it, naming the first bad row of the data.
  const auto* memory = dynamic_cast<const MemoryDataSource*>(&data);
  if (memory && !memory->values_checked() && !rows_valid(x.data(), k, y, sigma, rows)) memory->check_values();
  return std::make_unique<MemoryDataSource>(std::vector<const double*>(x.begin(), x.end()), y,
                                            sigma, rows, std::move(storage), data.column_names(),
                                            data.description() + " (subsample)");
}

}  // namespace curvefit
