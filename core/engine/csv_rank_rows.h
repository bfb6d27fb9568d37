#pragma once
// A CSV file shared out among MPI ranks by byte ranges, so that no rank reads the whole file.
//
// A rank's rows are one block of consecutive chunks per round of S chunks (ChunkedObjective::
// rank_share), spread over the whole file; their byte offsets are found without parsing:
//   1. rank r scans bytes [r B / K, (r + 1) B / K) of the data (B bytes after the header), counting
//      the rows that start there and the line ends (core/data/csv_byte_ranges.h); the ranks gather
//      the counts, so every rank knows the row and line number at each range's first line;
//   2. every rank lists the rows whose offsets anyone needs: both ends of every rank's blocks and
//      of the blocks the initial guess and the subsample fit read; each rank finds those that start
//      in its bytes (from checkpoints its scan left), and the ranks gather them (3 integers each);
//   3. each rank parses only its blocks' bytes, with the parallel parser, from the first line of
//      each block (messages name the file's true line number).
// A rank reads about 2 B / K bytes: its scan, then its rows, plus the samples' rows.
//
// Where this cannot be exact, every rank reads the whole file as a single process does (through
// the binary spill): a '"' in the data (a quoted field may hold a line break, and only a parse from
// the file's start knows which line breaks are inside quotes), rows the reader drops
// (--skip-invalid, --nan-policy omit: which ones is known only after parsing), lines ended by a
// lone '\r', or standard input.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/data/csv_byte_ranges.h"
#include "core/data/data_types.h"

namespace curvefit {

class Distributed;  // core/engine/distributed.h

struct CsvRankRows {
  std::unique_ptr<CsvRowsSource> rows;  // every row of the file, read by byte ranges
  std::string refused;                  // when rows is null: why the file is read whole
};

// Blocks of rows [begin, begin + count) that the fit reads from every row (samples), for m rows.
using SamplePlaces = std::function<std::vector<std::pair<std::size_t, std::size_t>>(std::size_t m)>;

// The fit's chunk size for m rows, which with m fixes every rank's blocks (called on every rank at
// the same point once m is known, so it may be collective: the plan for the exact count).
using ChunkRowsFor = std::function<std::size_t(std::size_t m)>;

// Collective (every rank calls it with the same arguments; an error on one rank is raised on all).
CsvRankRows open_csv_by_byte_ranges(const std::string& path, const DataOptions& options, Distributed& world,
                                    const ChunkRowsFor& chunk_rows, const SamplePlaces& samples);

}  // namespace curvefit
