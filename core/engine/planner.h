#pragma once
// The planner: from the size of the problem and the memory limit, predict the peak RSS of each
// fitting mode with the same arithmetic the engine allocates with (memory/footprint.h,
// solver_workspace_bytes, ReadAhead::ring_bytes), pick the fastest mode that fits and its chunk
// size, and say why.
//
//   memory   data loaded once; every chunk's Jacobian block materialised in one m x (n+1) buffer
//   chunked  data loaded once; one chunk workspace per worker thread
//   stream   data re-read from the file on every pass through a read-ahead ring
//
// The prediction is of what the engine allocates on top of `baseline_rss_bytes` (the process as
// it is before the fit: code, libraries, the parsed model; and, for data already in RAM, the
// data). It does not know what a CSV loader or the HDF5 library allocate transiently beyond the
// allowance below.
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "memory/solver_workspace.h"

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
};

struct PlanRequest {
  std::size_t rows = 0;              // m
  std::size_t columns = 2;           // data columns: predictors + y (+ sigma)
  std::size_t model_params = 1;      // parameters of the model (Jacobian columns evaluated)
  std::size_t free_params = 0;       // parameters the solver fits (model minus fixed); 0 = all
  Algorithm method = Algorithm::trf;
  std::size_t memory_limit_bytes = 0;   // cap on the process's peak RSS
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
};

// One mode's prediction.
struct ModePlan {
  FitMode mode = FitMode::memory;
  bool possible = false;                // false when the mode does not apply (no file to stream)
  bool fits = false;                    // predicted peak within the limit
  std::size_t chunk_rows = 0;           // the chunk size the prediction is for
  std::size_t predicted_peak_bytes = 0; // at that chunk size (at the smallest chunk if it does not fit)
  std::string reason;                   // one line: what the peak is made of, and the verdict
};

struct Plan {
  FitMode mode = FitMode::memory;       // the chosen mode (never automatic)
  std::size_t chunk_rows = 0;
  int threads = 1;                      // resolved thread count
  std::size_t predicted_peak_bytes = 0; // of the chosen mode
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
// What the HDF5 library keeps per open dataset while streaming (its default chunk cache).
inline constexpr std::size_t kHdf5CacheBytesPerColumn = 1 << 20;

// The predicted peak RSS of `mode` at `chunk_rows` (the arithmetic the plan uses, exposed so that
// tests and `curvefit plan` can show it).
std::size_t predict_peak_bytes(const PlanRequest& request, FitMode mode, std::size_t chunk_rows);

// Chooses the mode and chunk size. Throws MemoryError (stating the minimum needed) when even the
// leanest possible mode cannot fit, or when a forced mode cannot fit; UsageError when a forced
// mode is impossible (streaming without a file) or the request is malformed.
Plan make_plan(const PlanRequest& request);

}  // namespace curvefit
