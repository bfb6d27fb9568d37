#pragma once
// Where the chunks of a fit lie, which slot folds each, and which rows each MPI rank owns.
//
// The data are one or more segments of consecutive rows: runs of whole files of a sharded dataset
// (a file of a full round of kMaxSlotsPerSegment chunks or more alone, smaller files together until
// their segment holds a full round), or the whole data. Each segment is cut into chunks of chunk_rows rows (its last chunk shorter) and has
// S_f = min(kMaxSlotsPerSegment, its chunks) slots of its own: chunk j of the segment belongs to
// its slot j mod S_f. The slots of all segments, numbered one after the other, are the leaves of
// the fixed binary tree that combines them (ChunkedObjective). One segment is the layout of a
// single file: slot c mod S over the whole data.
//
// Ranks take runs of consecutive slots, about 1/K of the chunks each (the cut nearest r C / K from
// below, in chunks), moved to a segment's border when one lies within kWholeSegmentSlack of a
// share: a rank then reads whole files, and a file is split among ranks only where the files do
// not balance. Within a segment a rank's rows are one block of consecutive chunks per round of
// S_f chunks. Chunks, slots and tree depend only on the rows, the segments and the chunk size, not
// on K, so every K folds the same leaves into the same tree.
#include <cstddef>
#include <vector>

#include "core/data/row_blocks_source.h"

namespace curvefit {

class ChunkLayout {
 public:
  static constexpr std::size_t kMaxSlotsPerSegment = 64;
  // A rank's cut moves to a segment border within this fraction of a share (1/8: no rank then holds
  // more than 1.25 shares), so that ranks read whole files where the files balance.
  static constexpr double kWholeSegmentSlack = 0.125;

  struct Segment {
    std::size_t files = 1;  // consecutive files it holds
    std::size_t first_row = 0, rows = 0;
    std::size_t first_chunk = 0, chunks = 0;
    std::size_t first_slot = 0, slots = 0;
  };
  struct Chunk {
    std::size_t begin = 0, rows = 0, slot = 0;  // begin: global row
  };
  // A rank's part of one segment: its slots [slot_begin, slot_end) of the segment (relative), the
  // segment's rows that they own, and where these sit among the rank's own rows and chunks.
  struct RankPart {
    std::size_t segment = 0;
    std::size_t slot_begin = 0, slot_end = 0;
    RowPattern rows;
    std::size_t local_first_row = 0, local_first_chunk = 0, local_chunks = 0;
  };
  struct RankShare {
    std::size_t slot_begin = 0, slot_end = 0;  // global slots
    std::vector<RankPart> parts;               // in row order
    std::size_t rows = 0, chunks = 0;
  };

  ChunkLayout() = default;
  // m rows in files of file_rows rows (empty: one file; else they must add up to m), chunks of
  // min(chunk_rows, m) rows, shared among `ranks` ranks. Files smaller than a full round of slots
  // share a segment with the files after them; segments without rows are dropped.
  ChunkLayout(std::size_t m, std::size_t chunk_rows, const std::vector<std::size_t>& file_rows, int ranks = 1);

  std::size_t rows() const { return m_; }
  std::size_t chunk_rows() const { return chunk_rows_; }
  std::size_t num_chunks() const { return chunks_; }
  std::size_t num_slots() const { return slots_; }
  const std::vector<Segment>& segments() const { return segments_; }
  // The segment that holds file i's rows (of an empty file: the next non-empty segment, or
  // segments().size()).
  std::size_t segment_of_file(std::size_t i) const { return file_segment_.at(i); }
  Chunk chunk(std::size_t c) const;
  std::size_t segment_of_chunk(std::size_t c) const;
  std::size_t segment_of_slot(std::size_t s) const;

  int ranks() const { return static_cast<int>(shares_.size()); }
  const RankShare& share(int rank) const { return shares_[static_cast<std::size_t>(rank)]; }
  int owner_of_slot(std::size_t s) const;
  // Rank r's global chunk of its local chunk l (its chunks in row order), and its local row of
  // global chunk c (which it must own).
  std::size_t global_chunk(int rank, std::size_t local) const;
  std::size_t local_row(int rank, std::size_t c) const;
  // Rank r's rows as blocks (global begin, rows) in row order.
  std::vector<std::pair<std::size_t, std::size_t>> blocks(int rank) const;
  std::vector<RowPattern> patterns(int rank) const;

  // Same chunks, slots and shares.
  bool operator==(const ChunkLayout& other) const;

 private:
  std::size_t chunks_before_slot(std::size_t s) const;
  std::size_t first_slot_of_rank(std::size_t r, std::size_t k) const;
  RankShare make_share(std::size_t slot_begin, std::size_t slot_end) const;
  const RankPart& part_of_local_chunk(int rank, std::size_t local) const;

  std::size_t m_ = 0, chunk_rows_ = 1, chunks_ = 0, slots_ = 0;
  std::vector<Segment> segments_;
  std::vector<std::size_t> file_segment_;
  std::vector<RankShare> shares_;
};

}  // namespace curvefit
