// RowBlocksSource (an MPI rank's view of its rows) serves exactly the rows of its blocks, in order,
// with reads that cross block borders; and the views of every rank's share
// (ChunkLayout) cover each row of the data exactly once, about m / K rows each, with each file's
// chunks in slots of its own and whole files per rank where the files balance.
#include "core/data/row_blocks_source.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "core/engine/chunk_layout.h"
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

// Segment layouts to try for m rows: one file, three files, files with an empty one, many small.
std::vector<std::vector<std::size_t>> segment_sets(std::size_t m) {
  std::vector<std::vector<std::size_t>> sets = {{}};
  if (m >= 3) sets.push_back({m / 3, m / 3, m - 2 * (m / 3)});
  sets.push_back({0, m, 0});
  if (m >= 20) {
    std::vector<std::size_t> many(10, m / 20);
    many.push_back(m - 10 * (m / 20));
    sets.push_back(many);
  }
  return sets;
}

TEST(RowBlocksSource, RankSharesCoverEveryRowOnce) {
  for (std::size_t m : {1, 7, 100, 1000, 3001}) {
    for (std::size_t chunk : {1, 3, 40, 256}) {
      MemoryDataSource data = counting_rows(m);
      for (const std::vector<std::size_t>& segments : segment_sets(m)) {
        for (int ranks = 1; ranks <= 5; ++ranks) {
          const ChunkLayout layout(m, chunk, segments, ranks);
          std::vector<int> seen(m, 0);
          for (int r = 0; r < ranks; ++r) {
            RowBlocksSource view(data, layout.patterns(r));
            ASSERT_EQ(view.rows(), layout.share(r).rows);
            for (double row : read_all(view, 17)) ++seen[static_cast<std::size_t>(row)];
          }
          for (std::size_t i = 0; i < m; ++i)
            ASSERT_EQ(seen[i], 1) << "row " << i << ", m " << m << ", chunk " << chunk << ", " << segments.size()
                                  << " segments, " << ranks << " ranks";
        }
      }
    }
  }
}

// Every chunk lies within one segment, folds into a slot of that segment's own, and is found again
// by its owner among its own rows: global_chunk and local_row invert each other, and the row the
// rank's view serves there is the chunk's first row.
TEST(ChunkLayout, ChunksStayInTheirSegmentAndRanksFindThemAmongTheirRows) {
  for (std::size_t m : {100, 3001, 20000}) {
    MemoryDataSource data = counting_rows(m);
    for (const std::vector<std::size_t>& segments : segment_sets(m)) {
      for (std::size_t chunk : {3, 40, 256}) {
        for (int ranks : {1, 2, 3, 5}) {
          const ChunkLayout layout(m, chunk, segments, ranks);
          std::size_t rows = 0;
          for (std::size_t c = 0; c < layout.num_chunks(); ++c) {
            const ChunkLayout::Chunk place = layout.chunk(c);
            const ChunkLayout::Segment& file = layout.segments()[layout.segment_of_chunk(c)];
            ASSERT_GE(place.begin, file.first_row);
            ASSERT_LE(place.begin + place.rows, file.first_row + file.rows);
            ASSERT_GE(place.slot, file.first_slot);
            ASSERT_LT(place.slot, file.first_slot + file.slots);
            EXPECT_EQ(place.begin, rows) << "chunks follow each other";
            rows += place.rows;
          }
          EXPECT_EQ(rows, m);
          for (int r = 0; r < ranks; ++r) {
            RowBlocksSource view(data, layout.patterns(r));
            for (std::size_t l = 0; l < layout.share(r).chunks; ++l) {
              const std::size_t c = layout.global_chunk(r, l);
              ASSERT_EQ(layout.owner_of_slot(layout.chunk(c).slot), r);
              ASSERT_EQ(view.source_row(layout.local_row(r, c)), layout.chunk(c).begin)
                  << "m " << m << ", chunk " << chunk << ", rank " << r << " of " << ranks << ", local chunk " << l;
            }
          }
        }
      }
    }
  }
}

// A file of a full round of slots (64 chunks) or more is a segment of its own; smaller files join
// the files after them until their segment holds a full round; an empty file has no rows of its
// own anywhere. Segments never split a file.
TEST(ChunkLayout, SmallFilesShareASegmentUntilItHoldsAFullRoundOfSlots) {
  const std::size_t chunk = 10, round = 64 * chunk;
  const std::vector<std::size_t> files = {round + 5, 100, 0, 300, 300, 50, 2 * round, 10};
  std::size_t m = 0;
  for (std::size_t rows : files) m += rows;
  const ChunkLayout layout(m, chunk, files, 3);
  ASSERT_EQ(layout.segments().size(), 5u);
  const std::vector<std::size_t> rows = {round + 5, 100 + 0 + 300 + 300, 50, 2 * round, 10};
  const std::vector<std::size_t> held = {1, 4, 1, 1, 1};
  for (std::size_t g = 0; g < rows.size(); ++g) {
    EXPECT_EQ(layout.segments()[g].rows, rows[g]) << "segment " << g;
    EXPECT_EQ(layout.segments()[g].files, held[g]) << "segment " << g;
  }
  EXPECT_EQ(layout.segments()[0].slots, 64u);
  EXPECT_EQ(layout.segments()[1].slots, 64u);  // 700 rows: 70 chunks, a full round
  EXPECT_EQ(layout.segments()[2].slots, 5u);   // 50 rows, cut short by the large file after it
  EXPECT_EQ(layout.segments()[4].slots, 1u);
  const std::vector<std::size_t> segment_of_file = {0, 1, 1, 1, 1, 2, 3, 4};
  for (std::size_t i = 0; i < files.size(); ++i) EXPECT_EQ(layout.segment_of_file(i), segment_of_file[i]) << i;
  EXPECT_EQ(layout.num_slots(), 64u + 64u + 5u + 64u + 1u);
}

// With files of about equal size and at most as many ranks as files, every rank reads whole files
// (its cut moved to a file's border within an eighth of a share); where the files do not balance
// a file is shared, and no rank is off its share by more than that eighth and one slot.
TEST(ChunkLayout, RanksTakeWholeFilesWhereTheyBalance) {
  const std::size_t chunk = 1000;
  const std::vector<std::size_t> eight(8, 200'000);
  for (int ranks : {2, 4, 8}) {
    const ChunkLayout layout(8 * 200'000, chunk, eight, ranks);
    for (int r = 0; r < ranks; ++r) {
      EXPECT_EQ(layout.share(r).parts.size(), 8u / static_cast<std::size_t>(ranks)) << "rank " << r << " of " << ranks;
      for (const ChunkLayout::RankPart& part : layout.share(r).parts) {
        EXPECT_EQ(part.slot_begin, 0u);
        EXPECT_EQ(part.slot_end, layout.segments()[part.segment].slots) << "rank " << r << " of " << ranks;
      }
    }
  }
  // One large file and three small ones (70 %, 10 % each): the large one is shared.
  const std::vector<std::size_t> uneven = {700'000, 100'000, 100'000, 100'000};
  for (int ranks : {2, 3, 4}) {
    const ChunkLayout layout(1'000'000, chunk, uneven, ranks);
    std::size_t total = 0;
    for (int r = 0; r < ranks; ++r) {
      const double share = 1e6 / ranks, rows = static_cast<double>(layout.share(r).rows);
      EXPECT_LE(std::abs(rows - share), 0.125 * share + 11 * chunk) << "rank " << r << " of " << ranks;
      total += layout.share(r).rows;
    }
    EXPECT_EQ(total, 1'000'000u);
    EXPECT_GT(layout.share(0).parts.front().slot_end - layout.share(0).parts.front().slot_begin, 0u);
    EXPECT_LT(layout.share(0).parts.front().slot_end, layout.segments()[0].slots) << "the large file is shared";
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
      const ChunkLayout layout(m, chunk, {}, ranks);
      std::size_t total = 0;
      for (int r = 0; r < ranks; ++r) {
        const std::size_t rows = layout.share(r).rows;
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
