#include "core/engine/csv_rank_rows.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>

#include "core/data/data_open.h"
#include "core/data/hdf5_source.h"
#include "core/engine/chunked_objective.h"
#include "core/engine/distributed.h"

namespace curvefit {
namespace {

// What rank r's scan of its bytes found, as it travels between the ranks.
constexpr std::size_t kCountFields = 4;  // first line start, rows, newlines, has quote
// A scan leaves a checkpoint about every 1/kCheckpoints of its bytes (no closer than
// kMinCheckpointBytes), so that finding a row later rescans at most that much: 1.5 MB of positions
// per rank, against a rescan of the whole range for the initial guess's 10 000 rows.
constexpr std::size_t kCheckpoints = 65536;
constexpr std::size_t kMinCheckpointBytes = 512;

std::string refusal_for_options(const std::string& path, const DataOptions& options) {
  if (path == "-") return "standard input cannot be split";
  if (options.skip_invalid) return "--skip-invalid drops rows that only a parse finds";
  if (options.nan_policy == NanPolicy::omit) return "--nan-policy omit drops rows that only a parse finds";
  if (options.selection) return "--x-range/--where select rows that only a parse finds";
  return "";
}

// Where each rank's range of bytes begins: rank r's is [begins[r], begins[r + 1]). Given bounds
// (file offsets, one per rank and the end) are clamped to the data; else 1/K of the data each.
std::vector<std::size_t> range_begins(const CsvLineScanner& scanner, int ranks, const std::vector<std::size_t>& bounds) {
  const std::size_t bytes = scanner.file_bytes() - scanner.data_begin();
  const auto k = static_cast<std::size_t>(ranks);
  std::vector<std::size_t> begins;
  for (std::size_t r = 0; r <= k; ++r) {
    if (bounds.size() == k + 1) {
      begins.push_back(std::clamp(bounds[r], scanner.data_begin(), scanner.file_bytes()));
      continue;
    }
    begins.push_back(scanner.data_begin() + bytes / k * r + bytes % k * r / k);  // floor(bytes r / k) without overflow
  }
  begins.back() = scanner.file_bytes();
  return begins;
}

// Every rank's range: where its first line starts, and the rows and lines before it.
struct RangeStarts {
  std::vector<CsvPosition> start;    // by rank
  std::vector<std::size_t> rows;     // rows starting in the range, by rank
  std::size_t total_rows = 0;
  bool has_quote = false;
};

RangeStarts combine_counts(const std::vector<std::uint64_t>& all, const std::vector<std::size_t>& begins,
                           std::size_t lines_before_data, int ranks) {
  RangeStarts ranges;
  std::size_t rows = 0, lines = lines_before_data;
  for (int r = 0; r < ranks; ++r) {
    const std::uint64_t* count = all.data() + static_cast<std::size_t>(r) * kCountFields;
    const std::size_t begin = begins[static_cast<std::size_t>(r)], first_line = count[0];
    // The line end just before the first line start lies in this range unless the range starts a line.
    ranges.start.push_back({first_line, rows, lines + (first_line > begin ? 1 : 0)});
    ranges.rows.push_back(count[1]);
    rows += count[1];
    lines += count[2];
    ranges.has_quote = ranges.has_quote || count[3] != 0;
  }
  ranges.total_rows = rows;
  return ranges;
}

// Phase 2 on this rank: the positions of the wanted rows that start in its range, each searched
// from the nearest checkpoint or from the last row found, whichever is nearer.
std::vector<std::uint64_t> find_wanted_rows(CsvLineScanner& scanner, const CsvRangeCount& scan,
                                            const CsvPosition& start, const std::vector<std::size_t>& wanted) {
  std::vector<std::uint64_t> found;
  const std::size_t first = start.row, end = start.row + scan.rows;
  CsvPosition at = start;
  std::size_t next_checkpoint = 0;
  for (auto w = std::lower_bound(wanted.begin(), wanted.end(), first); w != wanted.end() && *w < end; ++w) {
    while (next_checkpoint < scan.checkpoints.size() && first + scan.checkpoints[next_checkpoint].row <= *w) {
      const CsvPosition& c = scan.checkpoints[next_checkpoint++];
      if (first + c.row > at.row) at = {c.offset, first + c.row, start.line + c.line};
    }
    at = scanner.advance(at, *w);
    found.insert(found.end(), {at.offset, at.row, at.line});
  }
  return found;
}

}  // namespace

std::vector<std::size_t> wanted_rows(const ChunkLayout& layout, const SamplePlaces& samples) {
  const std::size_t m = layout.rows();
  std::vector<std::size_t> rows;
  for (int r = 0; r < layout.ranks(); ++r)
    for (const auto& [begin, count] : layout.blocks(r)) {
      rows.push_back(begin);
      rows.push_back(begin + count);
    }
  if (samples)
    for (const auto& [begin, count] : samples(m)) {
      rows.push_back(begin);
      rows.push_back(begin + count);
    }
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  rows.erase(std::lower_bound(rows.begin(), rows.end(), m), rows.end());
  return rows;
}

CsvByteRangeSplit::CsvByteRangeSplit(const std::string& path, const DataOptions& options, Distributed& world,
                                     const std::vector<std::size_t>& scan_bounds)
    : world_(world) {
  refused_ = refusal_for_options(path, options);
  if (!refused_.empty()) return;
  const int rank = world.rank(), ranks = world.size();
  world.run_agreed([&] {
    reader_ = std::make_unique<CsvReader>(path, options);
    if (reader_->lone_cr_line_ends()) return;  // the same file on every rank: every rank refuses
    scanner_ = std::make_unique<CsvLineScanner>(path, reader_->data_offset());
    range_begins_ = range_begins(*scanner_, ranks, scan_bounds);
    const std::size_t begin = range_begins_[static_cast<std::size_t>(rank)];
    const std::size_t end = range_begins_[static_cast<std::size_t>(rank) + 1];
    // An empty range (a file this rank will not read) reads nothing, not even the line around it.
    if (begin < end) scan_ = scanner_->count(begin, end, std::max(kMinCheckpointBytes, (end - begin) / kCheckpoints));
    else scan_.first_line_start = begin;
  });
  if (!scanner_) {
    refused_ = "its lines end with a lone carriage return";
    return;
  }
  std::vector<int> counts;
  const std::vector<std::uint64_t> mine = {scan_.first_line_start, scan_.rows, scan_.newlines,
                                           scan_.has_quote ? 1u : 0u};
  const RangeStarts ranges = combine_counts(world.all_gather_integers(mine, counts), range_begins_,
                                            reader_->lines_before_data(), ranks);
  if (ranges.has_quote) {
    refused_ = "the data hold '\"': a quoted field may hold a line break, which only a parse from the start finds";
    return;
  }
  if (ranges.total_rows == 0) {
    refused_ = "the line scan found no data rows";  // the whole-file parse says where
    return;
  }
  rows_ = ranges.total_rows;
  range_starts_ = ranges.start;
  range_rows_ = ranges.rows;
}

CsvByteRangeSplit::~CsvByteRangeSplit() = default;

std::unique_ptr<CsvRowsSource> CsvByteRangeSplit::finish(const std::vector<std::size_t>& wanted) {
  const int rank = world_.rank(), ranks = world_.size();
  std::vector<std::uint64_t> found;
  world_.run_agreed([&] { found = find_wanted_rows(*scanner_, scan_, range_starts_[static_cast<std::size_t>(rank)], wanted); });
  std::vector<int> counts;
  const std::vector<std::uint64_t> all_found = world_.all_gather_integers(found, counts);
  std::vector<CsvPosition> anchors = {{scanner_->data_begin(), 0, reader_->lines_before_data()},
                                      {scanner_->file_bytes(), rows_, 0}};
  for (int r = 0; r < ranks; ++r)
    if (range_rows_[static_cast<std::size_t>(r)] > 0) anchors.push_back(range_starts_[static_cast<std::size_t>(r)]);
  for (std::size_t i = 0; i + 3 <= all_found.size(); i += 3)
    anchors.push_back({all_found[i], all_found[i + 1], all_found[i + 2]});
  return std::make_unique<CsvRowsSource>(std::move(reader_), std::move(scanner_), rows_, anchors);
}

CsvRankRows open_csv_by_byte_ranges(const std::string& path, const DataOptions& options, Distributed& world,
                                    const ChunkRowsFor& chunk_rows, const SamplePlaces& samples) {
  CsvRankRows result;
  CsvByteRangeSplit split(path, options, world);
  result.refused = split.refused();
  if (!result.refused.empty()) return result;
  const std::size_t m = split.rows();
  result.rows = split.finish(wanted_rows(ChunkLayout(m, chunk_rows(m), {}, world.size()), samples));
  return result;
}

namespace {

// Byte bounds of each rank's scan of file i (K + 1 file offsets): the share of the estimated rows
// of the file's segment that ranks before r will own in the estimated layout, as a share of the
// file's bytes. Empty when there is no estimate.
std::vector<std::size_t> scan_bounds(const ChunkLayout& estimated, std::size_t i, std::size_t file_bytes) {
  std::vector<std::size_t> bounds;
  const std::size_t segment = estimated.segment_of_file(i);
  if (segment >= estimated.segments().size()) return bounds;
  const std::size_t rows = estimated.segments()[segment].rows;
  std::size_t before = 0;
  for (int r = 0; r <= estimated.ranks(); ++r) {
    bounds.push_back(static_cast<std::size_t>(static_cast<long double>(file_bytes) * before / rows));
    if (r == estimated.ranks()) break;
    for (const ChunkLayout::RankPart& part : estimated.share(r).parts)
      if (part.segment == segment) before += part.rows.rows();
  }
  return bounds;
}

}  // namespace

ShardedRankRows open_shards_by_byte_ranges(const std::vector<std::string>& paths, const DataOptions& options,
                                           Distributed& world, const ChunkRowsFor& chunk_rows,
                                           const SamplePlaces& samples, const ShardEstimate& estimate) {
  ShardedRankRows result;
  // Agreed: a file that vanished since the plan fails on every rank alike.
  std::vector<FileFormat> formats(paths.size());
  world.run_agreed([&] { std::transform(paths.begin(), paths.end(), formats.begin(), detect_format); });
  if (std::find(formats.begin(), formats.end(), FileFormat::csv) == formats.end()) return result;
  // Options that drop rows refuse every CSV file: said before any file is opened (an HDF5 file
  // opened to count its rows would be scanned whole for them).
  result.refused = refusal_for_options(paths.front(), options);
  if (!result.refused.empty()) return result;
  const bool estimated = estimate.rows.size() == paths.size() && estimate.chunk_rows > 0;
  ChunkLayout layout_estimate;
  if (estimated) {
    std::size_t total = 0;
    for (std::size_t rows : estimate.rows) total += rows;
    layout_estimate = ChunkLayout(total, estimate.chunk_rows, estimate.rows, world.size());
  }
  std::vector<std::unique_ptr<CsvByteRangeSplit>> splits(paths.size());
  std::vector<std::size_t> first_row(paths.size() + 1, 0);  // of each file in the dataset
  for (std::size_t i = 0; i < paths.size(); ++i) {
    std::size_t rows = 0;
    if (formats[i] == FileFormat::csv) {
      std::vector<std::size_t> bounds;
      if (estimated) world.run_agreed([&] { bounds = scan_bounds(layout_estimate, i, std::filesystem::file_size(paths[i])); });
      splits[i] = std::make_unique<CsvByteRangeSplit>(paths[i], options, world, bounds);
      if (!splits[i]->refused().empty()) {
        result.refused = paths[i] + ": " + splits[i]->refused();
        return result;
      }
      rows = splits[i]->rows();
    } else {
      world.run_agreed([&] { rows = Hdf5DataSource(paths[i], options, true).rows(); });
    }
    first_row[i + 1] = first_row[i] + rows;
  }
  const std::size_t m = first_row.back();
  std::vector<std::size_t> file_rows;  // files (or runs of small files) have slots of their own
  for (std::size_t i = 0; i < paths.size(); ++i) file_rows.push_back(first_row[i + 1] - first_row[i]);
  const std::vector<std::size_t> wanted = wanted_rows(ChunkLayout(m, chunk_rows(m), file_rows, world.size()), samples);
  std::vector<std::unique_ptr<DataSource>> csv_rows(paths.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (!splits[i]) continue;
    std::vector<std::size_t> in_file;  // the wanted rows of this file, counted within it
    for (auto w = std::lower_bound(wanted.begin(), wanted.end(), first_row[i]);
         w != wanted.end() && *w < first_row[i + 1]; ++w)
      in_file.push_back(*w - first_row[i]);
    std::unique_ptr<CsvRowsSource> rows = splits[i]->finish(in_file);
    result.csv.push_back(rows.get());
    csv_rows[i] = std::move(rows);
  }
  world.run_agreed(
      [&] { result.rows = std::make_unique<ShardedDataSource>(paths, formats, options, std::move(csv_rows)); });
  return result;
}

}  // namespace curvefit
