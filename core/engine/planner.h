#pragma once
// The planner: from the size of the problem and the memory limit, predict the peak RSS of each
// fitting mode with the same arithmetic the engine and the data loaders allocate with
// (memory/footprint.h, solver_workspace_bytes, ReadAhead::ring_bytes,
// CsvParseTuning::parse_buffer_bytes), pick the fastest mode that fits and its chunk size, and say
// why.
//
//   memory   data loaded once; chunks of the largest size (kMaxChunkRows)
//   chunked  data loaded once; the largest chunk that fits the limit
//   stream   data re-read from the file on every pass through a read-ahead ring
//
// In every mode each worker thread folds its chunks through one small workspace; the Jacobian is
// never whole. The peak is the process as it is before the fit (`baseline_rss_bytes`: code,
// libraries, the parsed model and, for data already in RAM, the data), plus the data loaded, plus
// the larger of two phases that do not overlap: loading (the CSV parser's blocks in flight, or the
// HDF5 slabs and chunk cache) and fitting (workspaces, factors, read-ahead, the subsample).
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "solvers/algorithm.h"

namespace curvefit {

enum class FitMode { automatic, memory, chunked, stream };
std::string_view to_string(FitMode mode);  // "auto", "memory", "chunked", "stream"
// Parses "auto", "memory", "chunked", "stream"; throws UsageError naming the bad text.
FitMode parse_fit_mode(std::string_view text);

// Where the data are before the fit.
enum class DataLocation {
  in_memory,  // already in RAM (counted in the baseline); streaming is not possible
  csv_file,   // loaded by the CSV parser, or streamed from its binary spill file
  hdf5_file,  // loaded or streamed by hyperslabs
  // The caller's arrays in another form than contiguous doubles (another dtype, strides): they
  // are converted chunk by chunk on every pass (stream), never copied whole.
  converted_arrays,
};

struct PlanRequest {
  std::size_t rows = 0;              // m
  // false: `rows` is a CSV parser's estimate; the data are planned for csv_reserved_rows(rows),
  // what the loader reserves, so that the exact count rarely exceeds the plan.
  bool rows_exact = true;
  std::size_t columns = 2;           // data columns: predictors + y (+ sigma)
  std::size_t model_params = 1;      // parameters of the model (Jacobian columns evaluated)
  std::size_t free_params = 0;       // parameters the solver fits (model minus fixed); 0 = all
  Algorithm method = Algorithm::trf;
  std::size_t memory_limit_bytes = 0;   // cap on the process's peak RSS
  std::string limit_source = "--memory-limit";  // where the limit comes from, for messages
  std::size_t baseline_rss_bytes = 0;   // the process's RSS before the fit
  int threads = 0;                      // worker threads; 0 = all cores (TBB's default)
  DataLocation location = DataLocation::in_memory;
  FitMode mode = FitMode::automatic;    // a forced mode, or automatic
  std::size_t chunk_rows = 0;           // a forced chunk size; 0 = the planner chooses
  // Fits of more than subsample_threshold rows first fit a subsample of about subsample_rows rows
  // (one in k, taken as evenly spaced blocks) and start the full fit from that solution.
  // subsample_threshold = 0 disables it.
  std::size_t subsample_threshold = 1'000'000;
  std::size_t subsample_rows = 100'000;
  // CSV: the file's size in bytes (0 when unknown, e.g. stdin), for the parser's rows per block.
  std::size_t file_bytes = 0;
  // CSV: the rows the parse reads, all of the file's whatever a selection or nan_policy omit keeps
  // of them (the text's bytes per row are file_bytes / file_rows); 0 = rows.
  std::size_t file_rows = 0;
  // Files of a dataset of several files: each file's chunks fold into up to kMaxSlots slots of
  // its own (ChunkLayout), so the factors are planned for up to kMaxSlots per file.
  std::size_t files = 1;
  // CSV: a parse block size already chosen (the data are loaded; the plan is checked again for
  // the exact row count); 0 = the planner chooses.
  std::size_t csv_block_bytes = 0;
  // The fitted curve is written as CSV (--output): one chunk's rows as text at a time.
  bool writes_fitted_csv = false;
  // A row selection (--where) reads these columns besides `columns` while the data are loaded or
  // spilled: the parse blocks and load slabs hold them too.
  std::size_t selection_columns = 0;
  // nan_policy omit or a row selection: a streamed HDF5 file is scanned once when it is opened, in
  // slabs of kHdf5ScanRows rows of every column read.
  bool drops_rows = false;
  // Bytes a streamed source holds for the whole fit to find its rows (the runs of rows a selection
  // or nan_policy omit keeps), once the source is open and they are known.
  std::size_t row_index_bytes = 0;
};

// The process's RSS before the fit as the prediction counts it: baseline_rss_bytes rounded up to a
// whole MiB.
std::size_t planned_baseline_bytes(const PlanRequest& request);

// One mode's prediction.
struct ModePlan {
  FitMode mode = FitMode::memory;
  bool possible = false;                // false when the mode does not apply (no file to stream)
  bool fits = false;                    // predicted peak within the limit
  std::size_t chunk_rows = 0;           // the chunk size the prediction is for
  std::size_t predicted_peak_bytes = 0; // at that chunk size (at the smallest chunk if it does not fit)
  std::size_t csv_block_bytes = 0;      // CSV: the parse block size the prediction is for; else 0
  bool csv_text_mapped = true;          // CSV: whether the prediction lets the load map the text
  std::string reason;                   // one line: what the peak is made of, and the verdict
};

struct Plan {
  FitMode mode = FitMode::memory;       // the chosen mode (never automatic)
  std::size_t chunk_rows = 0;
  int threads = 1;                      // resolved thread count
  std::size_t predicted_peak_bytes = 0; // of the chosen mode
  std::size_t csv_block_bytes = 0;      // CSV: the parse block size to load with (DataOptions)
  bool csv_text_mapped = true;          // CSV: whether the load may map the text (DataOptions)
  std::size_t memory_limit_bytes = 0;
  bool subsample = false;               // a subsample fit comes first
  std::size_t subsample_rows = 0;       // rows of that subsample (one in subsample_stride)
  std::size_t subsample_stride = 1;
  int expected_passes = 0;              // typical full passes of such a fit (an estimate, not a bound)
  std::array<ModePlan, 3> modes;        // memory, chunked, stream, in that order
  std::vector<std::string> reasons;     // why this mode and this chunk size, readable lines
};

// Chunk sizes the planner chooses between: the largest that fits, at most kMaxChunkRows (a block
// of 16384 x (n + 1) doubles stays in the L2/L3 cache while it is folded) and at least
// kMinChunkRows (below that, per-chunk overhead dominates). Smaller data use one chunk of m rows.
inline constexpr std::size_t kMaxChunkRows = 16384;
inline constexpr std::size_t kMinChunkRows = 256;
// What the HDF5 library keeps per open dataset (its default chunk cache), and per open file (its
// metadata cache, 2 MiB at most by default; about 0.6 MB measured on a 1e6-row file).
inline constexpr std::size_t kHdf5CacheBytesPerColumn = 1 << 20;
inline constexpr std::size_t kHdf5MetadataCacheBytes = 2 << 20;
// What each thread costs in RSS beyond the buffers above: the touched part of its stack and of
// its malloc arena (measured: 0.4 to 0.5 MB a thread, streaming 1e6 rows with 1 to 8 threads).
inline constexpr std::size_t kThreadBytes = 512 << 10;
// The fitted-curve CSV holds one chunk as text: each field a shortest round-trip double (at most
// 24 characters) and its separator.
inline constexpr std::size_t kFittedCsvBytesPerField = 25;
// CSV parse blocks the planner chooses between: the largest that fits, halving from the parser's
// default down to this.
inline constexpr std::size_t kMinCsvBlockBytes = 64 << 10;

// The predicted peak RSS of `mode` at `chunk_rows` (the arithmetic the plan uses, exposed so that
// tests and `curvefit plan` can show it).
std::size_t predict_peak_bytes(const PlanRequest& request, FitMode mode, std::size_t chunk_rows);

// Chooses the mode and chunk size. Throws MemoryError (stating the minimum needed) when even the
// leanest possible mode cannot fit, or when a forced mode cannot fit; UsageError when a forced
// mode is impossible (streaming without a file) or the request is malformed.
Plan make_plan(const PlanRequest& request);

// Fits that share passes over the data (--starts N, several --model; core/engine/shared_passes.h)
// each add their own slots' factors, solver workspace, a worker workspace per thread and the thread
// they run on: the bytes one such member adds to the plan's peak.
std::size_t predict_member_bytes(std::size_t rows, std::size_t chunk_rows, std::size_t model_params,
                                 std::size_t free_params, std::size_t columns, int threads, Algorithm method);
// How many of `members` fits can share passes at once within the plan's memory limit, given the
// plan's predicted peak (which holds one of them): at least 1, at most `members`. The others run
// in later waves.
int concurrent_members(const Plan& plan, std::size_t member_bytes, int members);

}  // namespace curvefit
