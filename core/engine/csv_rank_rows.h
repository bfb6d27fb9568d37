#pragma once
// A CSV file shared out among MPI ranks by byte ranges, so that no rank reads the whole file.
//
// A rank's rows are one block of consecutive chunks per round of S chunks (ChunkLayout), spread
// over the whole file (or over each file it shares with other ranks); their byte offsets are found without parsing:
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
#include "core/data/sharded_source.h"
#include "core/engine/chunk_layout.h"

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

// The rows whose positions some rank needs among the layout's m: both ends of every rank's blocks
// and of every sample block; sorted, each once, below m.
std::vector<std::size_t> wanted_rows(const ChunkLayout& layout, const SamplePlaces& samples);

// The two steps of the split of one file, for callers that must count the rows of several files
// before they know which rows they want (a dataset of several files). Collective throughout.
class CsvByteRangeSplit {
 public:
  // Step 1: this rank scans its range of the bytes and the ranks gather the counts: 1/K of the
  // data each, or [scan_bounds[r], scan_bounds[r + 1]) (file offsets, K + 1 of them, clamped to the
  // data) when given, e.g. the part of a dataset of several files that rank r will read.
  CsvByteRangeSplit(const std::string& path, const DataOptions& options, Distributed& world,
                    const std::vector<std::size_t>& scan_bounds = {});
  ~CsvByteRangeSplit();
  // Why the file cannot be split ("" when it can).
  const std::string& refused() const { return refused_; }
  // The file's data rows (when not refused).
  std::size_t rows() const { return rows_; }
  // Steps 2 and 3: the positions of the `wanted` rows (sorted, each once, below rows()), each found
  // by the rank whose bytes hold it, and the source that reads rows from them. Once only.
  std::unique_ptr<CsvRowsSource> finish(const std::vector<std::size_t>& wanted);

 private:
  Distributed& world_;
  std::string refused_;
  std::unique_ptr<CsvReader> reader_;
  std::unique_ptr<CsvLineScanner> scanner_;
  CsvRangeCount scan_;
  std::size_t rows_ = 0;
  std::vector<std::size_t> range_begins_;  // by rank and the end: where its range of bytes begins
  std::vector<CsvPosition> range_starts_;  // by rank: where its range's first line starts
  std::vector<std::size_t> range_rows_;    // by rank: the rows starting in its range
};

// Collective (every rank calls it with the same arguments; an error on one rank is raised on all).
CsvRankRows open_csv_by_byte_ranges(const std::string& path, const DataOptions& options, Distributed& world,
                                    const ChunkRowsFor& chunk_rows, const SamplePlaces& samples);

// A dataset of several files (CSV and HDF5, in order) shared out among the ranks: each CSV file
// split by byte ranges as above, the rows every rank wants chosen from the whole dataset's layout
// (ChunkLayout: each file's chunks in slots of its own); HDF5 files are read by rows as they are.
// Collective.
struct ShardedRankRows {
  std::unique_ptr<ShardedDataSource> rows;  // every row of the dataset
  std::vector<const CsvRowsSource*> csv;    // the CSV files' sources within `rows`
  std::string refused;                      // when rows is null: why it cannot be split ("": no CSV file)
};
// The planner's estimate of each file's rows and of the chunk size: each rank then scans the bytes
// of the rows it will probably own (whole files where they balance), which it reads again from the
// page cache when it parses them, instead of 1/K of every file. Empty: 1/K of every file.
struct ShardEstimate {
  std::vector<std::size_t> rows;
  std::size_t chunk_rows = 0;
};
ShardedRankRows open_shards_by_byte_ranges(const std::vector<std::string>& paths, const DataOptions& options,
                                           Distributed& world, const ChunkRowsFor& chunk_rows,
                                           const SamplePlaces& samples, const ShardEstimate& estimate = {});

}  // namespace curvefit
