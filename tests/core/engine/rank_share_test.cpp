// RowBlocksSource (an MPI rank's view of its rows) serves exactly the rows of its blocks, in order,
// with reads that cross block borders; and the views of every rank's share
// (ChunkedObjective::rank_share) cover each row of the data exactly once, about m / K rows each.
#include "core/data/row_blocks_source.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "core/engine/chunked_objective.h"

namespace curvefit {
namespace {

MemoryDataSource counting_rows(std::size_t m) {
  std::vector<double> x(m), y(m);
  std::iota(x.begin(), x.end(), 0.0);
  for (std::size_t i = 0; i < m; ++i) y[i] = -x[i];
  return MemoryDataSource({x}, y);
}

std::vector<double> read_all(DataSource& view, std::size_t piece) {
  std::vector<double> x(view.rows()), y(view.rows());
  for (std::size_t begin = 0; begin < view.rows(); begin += piece) {
    const std::size_t n = std::min(piece, view.rows() - begin);
    double* xs[1] = {x.data() + begin};
    view.read(begin, n, xs, y.data() + begin, nullptr);
    for (std::size_t i = begin; i < begin + n; ++i) EXPECT_EQ(y[i], -x[i]);
  }
  return x;
}

TEST(RowBlocksSource, ServesTheRowsOfItsBlocksInOrder) {
  MemoryDataSource data = counting_rows(23);
  RowBlocksSource view(data, 2, 3, 7);  // rows 2-4, 9-11, 16-18, 23.. (none)
  EXPECT_EQ(view.rows(), 9u);
  const std::vector<double> expected = {2, 3, 4, 9, 10, 11, 16, 17, 18};
  for (std::size_t piece : {1, 2, 4, 9}) EXPECT_EQ(read_all(view, piece), expected) << piece;
  RowBlocksSource clipped(data, 5, 3, 7);  // 5-7, 12-14, 19-21
  EXPECT_EQ(read_all(clipped, 5), (std::vector<double>{5, 6, 7, 12, 13, 14, 19, 20, 21}));
  RowBlocksSource last(data, 8, 4, 7);  // 8-11, 15-18, 22
  EXPECT_EQ(read_all(last, 3), (std::vector<double>{8, 9, 10, 11, 15, 16, 17, 18, 22}));
}

TEST(RowBlocksSource, RankSharesCoverEveryRowOnce) {
  for (std::size_t m : {1, 7, 100, 1000, 3001}) {
    for (std::size_t chunk : {1, 3, 40, 256}) {
      MemoryDataSource data = counting_rows(m);
      for (int ranks = 1; ranks <= 5; ++ranks) {
        std::vector<int> seen(m, 0);
        for (int r = 0; r < ranks; ++r) {
          const RankShare share = ChunkedObjective::rank_share(m, chunk, r, ranks);
          RowBlocksSource view(data, share.first_row, share.block_rows, share.period_rows);
          for (double row : read_all(view, 17)) ++seen[static_cast<std::size_t>(row)];
        }
        for (std::size_t i = 0; i < m; ++i)
          ASSERT_EQ(seen[i], 1) << "row " << i << ", m " << m << ", chunk " << chunk << ", " << ranks << " ranks";
      }
    }
  }
}

// Each rank's rows are about m / K: off by at most one slot's chunks. The first C mod S slots hold
// one chunk more than the others; equal runs of slots gave rank 0 of 3 at 3001 rows in chunks of
// 40 (76 chunks, 64 slots) 33 chunks of the 76, and at 1.28e6 rows in chunks of 16384 46 % of them.
TEST(RankShare, RanksFoldAboutEqualRowsWhenSomeSlotsHoldAChunkMore) {
  for (const auto& [m, chunk] : {std::pair<std::size_t, std::size_t>{3001, 40}, {1280000, 16384}, {100000, 1000},
                                 {6400, 100}, {6500, 100}, {20000, 7}}) {
    const std::size_t chunks = (m + chunk - 1) / chunk;
    const std::size_t slots = std::min(ChunkedObjective::kMaxSlots, chunks);
    const std::size_t slot_rows = (chunks + slots - 1) / slots * chunk;  // the largest slot's rows
    for (int ranks = 2; ranks <= 8; ++ranks) {
      std::size_t total = 0;
      for (int r = 0; r < ranks; ++r) {
        const RankShare share = ChunkedObjective::rank_share(m, chunk, r, ranks);
        std::size_t rows = 0;
        for (std::size_t begin = share.first_row; begin < m; begin += share.period_rows)
          rows += std::min(share.block_rows, m - begin);
        total += rows;
        const double ideal = static_cast<double>(m) / ranks;
        EXPECT_LE(std::abs(static_cast<double>(rows) - ideal), static_cast<double>(slot_rows))
            << "rank " << r << " of " << ranks << ", m " << m << ", chunk " << chunk << ": " << rows << " rows";
      }
      EXPECT_EQ(total, m);
    }
  }
}

}  // namespace
}  // namespace curvefit
