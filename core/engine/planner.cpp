#include "core/engine/planner.h"

#include <algorithm>

#include <oneapi/tbb/info.h>

#include "core/engine/chunked_objective.h"
#include "core/engine/curve_bands.h"
#include "core/errors.h"
#include "core/data/csv_reader.h"
#include "core/data/data_open.h"
#include "core/data/hdf5_source.h"
#include "core/data/read_ahead.h"
#include "memory/footprint.h"
#include "memory/memory_manager.h"
#include "memory/size.h"

namespace curvefit {

std::string_view to_string(FitMode mode) {
  switch (mode) {
    case FitMode::automatic: return "auto";
    case FitMode::memory: return "memory";
    case FitMode::chunked: return "chunked";
    case FitMode::stream: return "stream";
  }
  return "?";
}

std::size_t planned_baseline_bytes(const PlanRequest& request) {
  // Rounded up to a whole MiB: two processes planning the same fit (`plan` and `fit`) measure their
  // RSS a few pages apart, and near a threshold that alone would make them choose differently.
  constexpr std::size_t kQuantum = std::size_t{1} << 20;
  return (request.baseline_rss_bytes + kQuantum - 1) / kQuantum * kQuantum;
}

FitMode parse_fit_mode(std::string_view text) {
  if (text == "auto") return FitMode::automatic;
  if (text == "memory") return FitMode::memory;
  if (text == "chunked") return FitMode::chunked;
  if (text == "stream") return FitMode::stream;
  throw UsageError("unknown mode '" + std::string(text) + "' (expected auto, memory, chunked or stream)");
}

namespace {

int resolved_threads(const PlanRequest& request) {
  return request.threads > 0 ? request.threads : tbb::info::default_concurrency();
}

std::size_t free_params(const PlanRequest& request) {
  return request.free_params > 0 ? request.free_params : request.model_params;
}

// The slots of `rows` rows in chunks of chunk_rows over `files` files: at most kMaxSlots per file
// and one per chunk (a chunk per file at least), which bounds ChunkLayout's count from above.
std::size_t slots_for(std::size_t rows, std::size_t chunk_rows, std::size_t files = 1) {
  const std::size_t chunks = (rows + chunk_rows - 1) / chunk_rows + (files > 1 ? files - 1 : 0);
  return std::min(ChunkedObjective::kMaxSlots * std::max<std::size_t>(files, 1), std::max<std::size_t>(chunks, 1));
}

std::size_t subsample_stride(const PlanRequest& request) {
  if (request.subsample_threshold == 0 || request.rows <= request.subsample_threshold ||
      request.subsample_rows == 0)
    return 1;
  return (request.rows + request.subsample_rows - 1) / request.subsample_rows;
}

std::size_t saturating_sub(std::size_t a, std::size_t b) { return a > b ? a - b : 0; }

// The parts of a mode's peak, each named after the allocation it predicts. Loading and fitting
// do not overlap: the parser's blocks are freed (and trimmed) before the fit allocates.
struct PeakParts {
  std::size_t baseline = 0;
  std::size_t data = 0;            // data loaded into RAM
  std::size_t load = 0;            // while loading: CSV parse blocks, or HDF5 slabs and cache
  std::size_t csv_block = 0;       // the CSV parse block size `load` is for
  bool csv_text_mapped = true;     // the CSV's load may cut its blocks out of a mapping of the text
  std::size_t jacobian = 0;        // worker workspaces
  std::size_t read_ahead = 0;      // streaming ring + HDF5 cache
  std::size_t small = 0;           // TSQR slots, solver workspace, fitted values (and their CSV text)
  std::size_t subsample = 0;       // the subsample fit's data and factors
  std::size_t threads = 0;         // the fit's threads (workers, and the reader when streaming)
  std::size_t fitting() const { return jacobian + read_ahead + small + subsample + threads; }
  std::size_t total() const { return baseline + data + std::max(load, fitting()); }
};

// CSV: the parse of the whole file (loading it, or converting it to the spill file streaming
// reads), with the block already chosen or else the largest, halving from the parser's default,
// that fits in `room`.
// The text's bytes per row are over the rows the parse reads (request.file_rows, once known), else
// over `rows`, the planned count (an upper estimate), so that bytes per row is a lower one.
void add_csv_load(const PlanRequest& request, std::size_t rows, std::size_t room, PeakParts& parts) {
  const std::size_t columns = request.columns + request.selection_columns;
  const std::size_t text_rows = request.file_rows > 0 ? request.file_rows : rows;
  const double bytes_per_row = request.file_bytes > 0
                                   ? static_cast<double>(request.file_bytes) / static_cast<double>(text_rows)
                                   : 2.0 * static_cast<double>(columns);
  CsvParseTuning tuning;
  if (request.csv_block_bytes > 0) tuning.block_bytes = request.csv_block_bytes;
  const std::size_t parse_threads = kThreadBytes * static_cast<std::size_t>(tbb::info::default_concurrency());
  while (request.csv_block_bytes == 0 && tuning.block_bytes > kMinCsvBlockBytes &&
         tuning.parse_buffer_bytes(columns, bytes_per_row) + parse_threads > room)
    tuning.block_bytes /= 2;
  parts.csv_block = tuning.block_bytes;
  parts.load = tuning.parse_buffer_bytes(columns, bytes_per_row) + parse_threads;
  // A load that maps the text drops each block's pages once parsed, but the kernel also maps the
  // pages around every fault (fault-around, whole large folios of the page cache), which no
  // arithmetic here can bound: a 1e6-row fit planned at 34.7 MB peaked at 33-43 MB so, at
  // 29-32 MB with the text read into the parse blocks (bench/RESULTS.md). So the text is mapped
  // only where all of it would fit beside the blocks; else it is read into them, which `load` counts.
  parts.csv_text_mapped = parts.load + request.file_bytes <= room;
}

// What reading the data costs besides the data: the CSV parse, or HDF5 slabs and chunk cache.
void add_load(const PlanRequest& request, FitMode mode, std::size_t rows, PeakParts& parts) {
  if (request.location == DataLocation::csv_file) {
    add_csv_load(request, rows, saturating_sub(request.memory_limit_bytes, parts.baseline + parts.data), parts);
  } else if (request.location == DataLocation::hdf5_file && (mode != FitMode::stream || request.drops_rows)) {
    const std::size_t slab = mode == FitMode::stream ? kHdf5ScanRows : kHdf5LoadSlabRows;
    parts.load = (request.columns + request.selection_columns) *
                     (footprint::data_bytes(std::min(rows, slab), 1) + kHdf5CacheBytesPerColumn) +
                 kHdf5MetadataCacheBytes;
  }
}

PeakParts peak_parts(const PlanRequest& request, FitMode mode, std::size_t chunk_rows) {
  const std::size_t m = request.rows_exact ? request.rows : csv_reserved_rows(request.rows);
  const std::size_t threads = static_cast<std::size_t>(resolved_threads(request));
  const std::size_t n_free = free_params(request);
  const std::size_t chunk = std::max<std::size_t>(1, std::min(chunk_rows, std::max<std::size_t>(m, 1)));
  const std::size_t worker_workspace =
      ChunkedObjective::worker_workspace_bytes(chunk, request.model_params, request.columns);
  PeakParts parts;
  parts.baseline = planned_baseline_bytes(request);
  parts.small = slots_for(m, chunk, request.files) * footprint::tsqr_factor_bytes(n_free) +
                solver_workspace_bytes(workspace_spec(request.method), n_free) + sizeof(double) * chunk;
  if (request.writes_fitted_csv)  // the text of a chunk (fit, residual, four band columns), its half-widths
    parts.small += chunk * ((request.columns + 6) * kFittedCsvBytesPerField + 2 * sizeof(double)) +
                   CurveBands::scratch_bytes(request.model_params);
  parts.jacobian = threads * worker_workspace;
  parts.threads = kThreadBytes * (threads + (mode == FitMode::stream ? 1 : 0));
  if (mode == FitMode::stream) {
    const std::size_t batch_chunks = ChunkedObjective::stream_batch_chunks(
        threads, slots_for(m, chunk), chunk);
    parts.read_ahead = ReadAhead::ring_bytes(batch_chunks * chunk, request.columns, ReadAhead::kDefaultBuffers);
    if (request.location == DataLocation::hdf5_file)
      parts.read_ahead += kHdf5CacheBytesPerColumn * request.columns + kHdf5MetadataCacheBytes;
  } else if (request.location != DataLocation::in_memory) {
    parts.data = footprint::data_bytes(m, request.columns);
  }
  parts.data += request.row_index_bytes;
  add_load(request, mode, m, parts);
  const std::size_t stride = subsample_stride(request);
  if (stride > 1) {
    // The subsample's own data and factors; its worker workspaces go back to the pool and are
    // reused by the full fit's workers of the same size.
    const std::size_t sub_rows = (m + stride - 1) / stride;
    parts.subsample = footprint::data_bytes(sub_rows, request.columns) +
                      slots_for(sub_rows, std::min(chunk, sub_rows)) * footprint::tsqr_factor_bytes(n_free);
  }
  return parts;
}

std::string describe(const PeakParts& parts) {
  std::string text = "baseline " + format_size(parts.baseline);
  if (parts.data) text += " + data " + format_size(parts.data);
  std::string fitting = "workspaces " + format_size(parts.jacobian);
  if (parts.read_ahead) fitting += " + read-ahead " + format_size(parts.read_ahead);
  if (parts.subsample) fitting += " + subsample " + format_size(parts.subsample);
  fitting += " + factors/solver " + format_size(parts.small) + " + threads " + format_size(parts.threads);
  if (!parts.load) return text + " + " + fitting;
  std::string load = "loading " + format_size(parts.load);
  if (parts.csv_block)
    load += " (CSV blocks of " + format_size(parts.csv_block) + (parts.csv_text_mapped ? ")" : ", the text read, not mapped)");
  return text + " + the larger of " + load + " and fitting " + format_size(parts.fitting()) + " (" +
         fitting + ")";
}

// The largest chunk in [kMinChunkRows, kMaxChunkRows] (or m, if smaller) whose peak fits; 0 if
// none. The peak grows with the chunk (the slot count term shrinks, but by far less than a row
// adds), so a bisection finds it; the result is checked.
std::size_t largest_fitting_chunk(const PlanRequest& request, FitMode mode) {
  const std::size_t upper = std::min(kMaxChunkRows, std::max<std::size_t>(request.rows, 1));
  const std::size_t lower = std::min(kMinChunkRows, upper);
  auto fits = [&](std::size_t chunk) {
    return predict_peak_bytes(request, mode, chunk) <= request.memory_limit_bytes;
  };
  if (!fits(lower)) return 0;
  if (fits(upper)) return upper;
  std::size_t good = lower, bad = upper;
  while (bad - good > 1) {
    const std::size_t middle = good + (bad - good) / 2;
    (fits(middle) ? good : bad) = middle;
  }
  return good;
}

void check_request(const PlanRequest& request) {
  if (request.rows == 0) throw UsageError("no data rows to plan for");
  if (request.model_params == 0) throw UsageError("a model without parameters");
  if (request.memory_limit_bytes == 0) throw UsageError("a memory limit of 0 bytes");
}

// One mode's chunk size, predicted peak and verdict.
ModePlan plan_mode(const PlanRequest& request, FitMode mode) {
  ModePlan mode_plan;
  mode_plan.mode = mode;
  mode_plan.possible = request.location == DataLocation::converted_arrays
                          ? mode == FitMode::stream
                          : mode != FitMode::stream || request.location != DataLocation::in_memory;
  if (request.chunk_rows > 0) {
    mode_plan.chunk_rows = std::min(request.chunk_rows, request.rows);
  } else if (mode == FitMode::memory) {
    mode_plan.chunk_rows = std::min(kMaxChunkRows, request.rows);
  } else {
    const std::size_t chunk = largest_fitting_chunk(request, mode);
    mode_plan.chunk_rows = chunk > 0 ? chunk : std::min(kMinChunkRows, request.rows);
  }
  const PeakParts parts = peak_parts(request, mode, mode_plan.chunk_rows);
  mode_plan.predicted_peak_bytes = parts.total();
  mode_plan.csv_block_bytes = parts.csv_block;
  mode_plan.csv_text_mapped = parts.csv_text_mapped;
  mode_plan.fits = mode_plan.possible && parts.total() <= request.memory_limit_bytes;
  std::string verdict;
  if (!mode_plan.possible)
    verdict = request.location == DataLocation::converted_arrays
                  ? "not possible: the arrays are not contiguous doubles and are converted chunk by chunk, "
                    "never copied whole"
                  : "not possible: the data are not in a file that can be re-read";
  else
    verdict = std::string(mode_plan.fits ? "fits in " : "does not fit in ") +
              format_size(request.memory_limit_bytes);
  mode_plan.reason = std::string(to_string(mode)) + ": " + format_size(parts.total()) + " with " +
                     std::to_string(mode_plan.chunk_rows) + "-row chunks (" + describe(parts) + "); " +
                     verdict;
  return mode_plan;
}

// The forced mode, or the fastest that fits; throws when none can be had.
const ModePlan& choose_mode(const PlanRequest& request, Plan& plan) {
  if (request.mode != FitMode::automatic) {
    const ModePlan& forced = plan.modes[static_cast<std::size_t>(request.mode) - 1];
    if (!forced.possible)
      throw UsageError(request.location == DataLocation::converted_arrays
                           ? "--mode " + std::string(to_string(forced.mode)) +
                                 " would copy the arrays: pass contiguous float64 arrays, or use mode stream "
                                 "(other dtypes and strides are converted chunk by chunk)"
                           : "--mode stream needs the data in a file that can be re-read");
    if (!forced.fits)
      throw MemoryError(forced.predicted_peak_bytes, request.memory_limit_bytes,
                        request.limit_source + "; mode " + std::string(to_string(forced.mode)) + " needs at least " +
                            format_size(forced.predicted_peak_bytes) + " with " +
                            std::to_string(forced.chunk_rows) + "-row chunks");
    plan.reasons.push_back("mode " + std::string(to_string(forced.mode)) + " was asked for");
    return forced;
  }
  // Memory and chunked differ only in the chunk size; chunked is tried first for data larger
  // than one chunk so that the reasons show the chunk it chose.
  const bool single_chunk = request.rows <= kMaxChunkRows;
  const std::array<std::size_t, 3> order =
      single_chunk ? std::array<std::size_t, 3>{0, 1, 2} : std::array<std::size_t, 3>{1, 0, 2};
  for (std::size_t index : order)
    if (plan.modes[index].fits) {
      plan.reasons.push_back("mode " + std::string(to_string(plan.modes[index].mode)) +
                             ": the fastest mode that fits (" +
                             (single_chunk ? "memory > chunked > stream" : "chunked > memory > stream") + ")");
      return plan.modes[index];
    }
  const ModePlan& leanest = plan.modes[request.location == DataLocation::in_memory ? 1 : 2];
  throw MemoryError(leanest.predicted_peak_bytes, request.memory_limit_bytes,
                    request.limit_source + "; the leanest plan, mode " + std::string(to_string(leanest.mode)) + " with " +
                        std::to_string(leanest.chunk_rows) + "-row chunks, needs " +
                        format_size(leanest.predicted_peak_bytes));
}

void add_chunk_and_subsample_reasons(const PlanRequest& request, Plan& plan) {
  if (request.chunk_rows > 0)
    plan.reasons.push_back("chunk size " + std::to_string(plan.chunk_rows) + " rows was asked for");
  else if (plan.mode != FitMode::memory && plan.chunk_rows < std::min(kMaxChunkRows, request.rows))
    plan.reasons.push_back("chunk size " + std::to_string(plan.chunk_rows) + " rows: the largest that fits the limit");
  if (plan.subsample)
    plan.reasons.push_back("first a fit on a subsample of " + std::to_string(plan.subsample_rows) + " rows (1 in " +
                           std::to_string(plan.subsample_stride) +
                           ", evenly spaced blocks of 256 rows), so that only the last iterations pass "
                           "over all the data");
}

}  // namespace

std::size_t predict_peak_bytes(const PlanRequest& request, FitMode mode, std::size_t chunk_rows) {
  return peak_parts(request, mode, chunk_rows).total();
}

Plan make_plan(const PlanRequest& request) {
  check_request(request);
  Plan plan;
  plan.threads = resolved_threads(request);
  plan.memory_limit_bytes = request.memory_limit_bytes;
  const std::size_t stride = subsample_stride(request);
  plan.subsample = stride > 1;
  plan.subsample_stride = stride;
  plan.subsample_rows = plan.subsample ? (request.rows + stride - 1) / stride : 0;
  const FitMode order[3] = {FitMode::memory, FitMode::chunked, FitMode::stream};
  for (std::size_t i = 0; i < 3; ++i) plan.modes[i] = plan_mode(request, order[i]);

  const ModePlan& chosen = choose_mode(request, plan);
  plan.mode = chosen.mode;
  plan.chunk_rows = chosen.chunk_rows;
  plan.predicted_peak_bytes = chosen.predicted_peak_bytes;
  plan.csv_block_bytes = chosen.csv_block_bytes;
  plan.csv_text_mapped = chosen.csv_text_mapped;
  for (const ModePlan& mode_plan : plan.modes) plan.reasons.push_back(mode_plan.reason);
  add_chunk_and_subsample_reasons(request, plan);
  // Typical counts seen with TRF on smooth models, not a bound: a subsample start (read as blocks,
  // not a pass) leaves about three confirming passes (bench/RESULTS.md: 3 with trf, 4 with lm); a
  // cold start needs about an iteration (one pass with trial linearization) per order of
  // magnitude of progress.
  plan.expected_passes = plan.subsample ? 3 : 12;
  return plan;
}

}  // namespace curvefit

namespace curvefit {

std::size_t predict_member_bytes(std::size_t rows, std::size_t chunk_rows, std::size_t model_params,
                                 std::size_t free_params, std::size_t columns, int threads, Algorithm method) {
  const std::size_t chunk = std::max<std::size_t>(1, std::min(chunk_rows, std::max<std::size_t>(rows, 1)));
  const std::size_t workers = static_cast<std::size_t>(std::max(threads, 1));
  return slots_for(rows, chunk) * footprint::tsqr_factor_bytes(free_params) +
         solver_workspace_bytes(workspace_spec(method), free_params) +
         workers * ChunkedObjective::worker_workspace_bytes(chunk, model_params, columns) + kThreadBytes;
}

int concurrent_members(const Plan& plan, std::size_t member_bytes, int members) {
  if (members <= 1 || plan.memory_limit_bytes == 0) return std::max(members, 1);
  // The plan's peak holds one member already.
  const std::size_t room = plan.memory_limit_bytes > plan.predicted_peak_bytes
                               ? plan.memory_limit_bytes - plan.predicted_peak_bytes
                               : 0;
  const std::size_t more = member_bytes > 0 ? room / member_bytes : static_cast<std::size_t>(members);
  return static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(members), 1 + more));
}

}  // namespace curvefit
