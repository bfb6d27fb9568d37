#pragma once
// A deterministic sample of the data copied into RAM, for the subsample fit and for the initial
// guess: blocks of consecutive rows at evenly spaced places from the first row to the last, so
// that it spans the whole data. Only those blocks are read (from RAM or from a file): not a full
// pass.
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "core/data/data_source.h"
#include "core/data/memory_source.h"

namespace curvefit {

// Rows of a block of the subsample fit: a block is one short read of a file and a few pages of
// memory, where single rows every stride-th row would touch every page (and, from a file, read
// all of it).
inline constexpr std::size_t kSubsampleBlockRows = 256;

// The blocks of rows [begin, begin + count) that sample_rows reads for `rows` of m rows.
std::vector<std::pair<std::size_t, std::size_t>> sample_blocks(std::size_t m, std::size_t rows,
                                                               std::size_t block_rows = kSubsampleBlockRows);

// About `rows` rows of `data` (all of them when rows >= data.rows()) in blocks of `block_rows`.
std::unique_ptr<MemoryDataSource> sample_rows(DataSource& data, std::size_t rows,
                                              std::size_t block_rows = kSubsampleBlockRows);

}  // namespace curvefit
