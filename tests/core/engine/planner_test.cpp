// The planner: the mode it chooses as the memory limit shrinks, the chunk size it picks, and its
// errors for limits that cannot be met.
#include "core/engine/planner.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/data/csv_reader.h"
#include "core/errors.h"
#include "memory/footprint.h"
#include "memory/memory_manager.h"

namespace curvefit {
namespace {

constexpr std::size_t MB = 1024 * 1024;

PlanRequest big_hdf5_request(std::size_t limit) {
  PlanRequest request;
  request.rows = 10'000'000;
  request.columns = 2;
  request.model_params = 3;
  request.method = Algorithm::trf;
  request.memory_limit_bytes = limit;
  request.baseline_rss_bytes = 20 * MB;
  request.threads = 2;
  request.location = DataLocation::hdf5_file;
  return request;
}

TEST(Planner, ModeFollowsTheLimitFromChunkedToStream) {
  // 10M rows: data 160 MB. Memory and chunked both fold chunks through small workspaces; chunked
  // is listed first for data larger than one chunk.
  const Plan roomy = make_plan(big_hdf5_request(4096 * MB));
  EXPECT_EQ(roomy.mode, FitMode::chunked);
  EXPECT_EQ(roomy.chunk_rows, kMaxChunkRows);
  EXPECT_TRUE(roomy.modes[0].fits);  // memory would fit too: it is not chosen
  const Plan medium = make_plan(big_hdf5_request(300 * MB));
  EXPECT_EQ(medium.mode, FitMode::chunked);
  EXPECT_EQ(medium.chunk_rows, kMaxChunkRows);
  const Plan tight = make_plan(big_hdf5_request(40 * MB));
  EXPECT_EQ(tight.mode, FitMode::stream);
  for (const Plan* plan : {&roomy, &medium, &tight}) {
    EXPECT_LE(plan->predicted_peak_bytes, plan->memory_limit_bytes);
    EXPECT_EQ(plan->threads, 2);
    EXPECT_TRUE(plan->subsample);                     // 10M rows > the 1M threshold
    EXPECT_EQ(plan->subsample_stride, 100u);
    EXPECT_EQ(plan->subsample_rows, 100'000u);
    EXPECT_FALSE(plan->reasons.empty());
  }
  // Memory and chunked at the same chunk size allocate the same; streaming holds no data (160 MB),
  // only its read-ahead ring (3 windows of 2.6 MB per column of the mapped file).
  EXPECT_EQ(roomy.modes[0].predicted_peak_bytes, roomy.modes[1].predicted_peak_bytes);
  EXPECT_GT(roomy.modes[1].predicted_peak_bytes, roomy.modes[2].predicted_peak_bytes + 130 * MB);
}

TEST(Planner, MemoryModePredictionIsTheAllocationArithmetic) {
  PlanRequest request = big_hdf5_request(4096 * MB);
  request.subsample_threshold = 0;  // no subsample: only the full fit's allocations
  const std::size_t chunk = kMaxChunkRows;
  const std::size_t slots = 64;  // 611 chunks of 16384 rows, capped at 64 slots
  // Loading HDF5: a slab of 2^18 rows per column, the chunk cache per column, the metadata cache.
  const std::size_t loading = 2 * (8 * (std::size_t{1} << 18) + kHdf5CacheBytesPerColumn) + kHdf5MetadataCacheBytes;
  // Fitting: per thread a 256-row sub-block of x, y, values, f and 3 Jacobian columns, and the
  // thread itself; the slots' [R|qtf]; the solver; the fitted values of one chunk.
  const std::size_t fitting = 2 * 8 * 256 * (2 + 2 + 3) + 2 * kThreadBytes + slots * 8 * 4 * 4 +
                              solver_workspace_bytes(Algorithm::trf, 3) + 8 * chunk;
  const std::size_t expected =
      request.baseline_rss_bytes + 8 * request.rows * 2 /* x, y */ + std::max(loading, fitting);
  EXPECT_EQ(predict_peak_bytes(request, FitMode::memory, chunk), expected);
  request.mode = FitMode::memory;
  EXPECT_EQ(make_plan(request).predicted_peak_bytes, expected);
}

// A CSV is parsed in blocks; under a tight limit the planner halves the block until the parse fits
// beside the data, and the prediction counts the parse (not only the fit).
TEST(Planner, CsvParseBlocksShrinkToFitTheLimit) {
  PlanRequest request = big_hdf5_request(4096 * MB);
  request.location = DataLocation::csv_file;
  request.rows = 1'000'000;
  request.file_bytes = 37'000'000;  // 37 bytes a line
  const Plan roomy = make_plan(request);
  EXPECT_EQ(roomy.csv_block_bytes, CsvParseTuning{}.block_bytes);
  const std::size_t data = 8 * 2 * request.rows;
  EXPECT_GE(roomy.predicted_peak_bytes,
            request.baseline_rss_bytes + data + CsvParseTuning{}.parse_buffer_bytes(2, 37.0));
  request.memory_limit_bytes = request.baseline_rss_bytes + data + 12 * MB;
  const Plan tight = make_plan(request);
  EXPECT_LT(tight.csv_block_bytes, roomy.csv_block_bytes);
  EXPECT_GE(tight.csv_block_bytes, kMinCsvBlockBytes);
  CsvParseTuning chosen;
  chosen.block_bytes = tight.csv_block_bytes;
  EXPECT_LE(request.baseline_rss_bytes + data + chosen.parse_buffer_bytes(2, 37.0), request.memory_limit_bytes);
  EXPECT_LE(tight.predicted_peak_bytes, request.memory_limit_bytes);
  EXPECT_NE(tight.mode, FitMode::stream);
  // The text is mapped only where all of it fits beside the parse's blocks (the pages the kernel
  // maps around each fault are beyond the plan's arithmetic): not in 12 MB of room for 37 MB.
  EXPECT_TRUE(roomy.csv_text_mapped);
  EXPECT_FALSE(tight.csv_text_mapped);
}

// Re-planned for the rows a selection kept, a CSV's parse is still that of every row of the file:
// its blocks hold as many rows of text as before (a load that parsed 2e6 rows and kept 1.08e6,
// planned as if the file had 68-byte lines, peaked above its prediction).
TEST(Planner, ASelectionsReplanKeepsTheParseOfTheWholeFile) {
  PlanRequest whole = big_hdf5_request(4096 * MB);
  whole.location = DataLocation::csv_file;
  whole.rows = 2'000'000;
  whole.file_bytes = 74'000'000;  // 37 bytes a line
  whole.selection_columns = 0;
  PlanRequest kept = whole;
  kept.rows = 1'000'000;
  kept.file_rows = 2'000'000;
  const std::size_t chunk = kMaxChunkRows;
  // Streamed, the peak is the load's (the parse blocks outweigh the fit's read-ahead here).
  const std::size_t all = predict_peak_bytes(whole, FitMode::stream, chunk);
  EXPECT_GE(all, whole.baseline_rss_bytes + CsvParseTuning{}.parse_buffer_bytes(2, 37.0));
  EXPECT_EQ(predict_peak_bytes(kept, FitMode::stream, chunk), all);
  // Without the file's row count the text would seem to have 74-byte lines, half as many per block.
  kept.file_rows = 0;
  EXPECT_LT(predict_peak_bytes(kept, FitMode::stream, chunk), all);
}

// A row selection's columns are parsed or read while loading beside the fit's own, and a streamed
// source's index of the rows kept is held through the fit: each prediction counts them.
TEST(Planner, RowSelectionColumnsAndIndexAreCounted) {
  PlanRequest request = big_hdf5_request(4096 * MB);
  request.subsample_threshold = 0;
  const std::size_t chunk = kMaxChunkRows;
  PlanRequest selecting = request;
  selecting.selection_columns = 2;
  // Loading HDF5: two more columns of slabs and chunk cache (the load outweighs the fit here).
  EXPECT_EQ(predict_peak_bytes(selecting, FitMode::memory, chunk) - predict_peak_bytes(request, FitMode::memory, chunk),
            2 * (8 * (std::size_t{1} << 18) + kHdf5CacheBytesPerColumn));
  selecting.location = request.location = DataLocation::csv_file;
  request.file_bytes = selecting.file_bytes = 370'000'000;
  CsvParseTuning tuning;
  EXPECT_EQ(predict_peak_bytes(selecting, FitMode::memory, chunk) - predict_peak_bytes(request, FitMode::memory, chunk),
            tuning.parse_buffer_bytes(4, 37.0) - tuning.parse_buffer_bytes(2, 37.0));
  request.location = DataLocation::hdf5_file;
  PlanRequest indexed = request;
  indexed.row_index_bytes = 24 * MB;
  EXPECT_EQ(predict_peak_bytes(indexed, FitMode::stream, chunk) - predict_peak_bytes(request, FitMode::stream, chunk),
            24 * MB);
}

// A limit that can be met stays met when it grows: the choice is monotone in the limit.
TEST(Planner, SuccessAtALimitMeansSuccessAtEveryLargerLimit) {
  for (DataLocation location : {DataLocation::csv_file, DataLocation::hdf5_file}) {
    PlanRequest request = big_hdf5_request(0);
    request.location = location;
    request.rows = 1'000'000;
    request.file_bytes = location == DataLocation::csv_file ? 37'000'000 : 0;
    bool met = false;
    for (std::size_t limit = 16 * MB; limit <= 128 * MB; limit += MB / 4) {
      request.memory_limit_bytes = limit;
      try {
        const Plan plan = make_plan(request);
        EXPECT_LE(plan.predicted_peak_bytes, limit);
        met = true;
      } catch (const MemoryError&) {
        EXPECT_FALSE(met) << "fits below " << limit << " bytes but not at it";
      }
    }
    EXPECT_TRUE(met);
  }
}

TEST(Planner, ChunkIsTheLargestThatFits) {
  // A limit between the stream peaks at the smallest and the largest chunk.
  PlanRequest request = big_hdf5_request(0);
  const std::size_t at_min = predict_peak_bytes(request, FitMode::stream, kMinChunkRows);
  const std::size_t at_max = predict_peak_bytes(request, FitMode::stream, kMaxChunkRows);
  ASSERT_LT(at_min, at_max);
  request.memory_limit_bytes = (at_min + at_max) / 2;
  const Plan plan = make_plan(request);
  EXPECT_EQ(plan.mode, FitMode::stream);
  EXPECT_GT(plan.chunk_rows, kMinChunkRows);
  EXPECT_LT(plan.chunk_rows, kMaxChunkRows);
  EXPECT_LE(predict_peak_bytes(request, FitMode::stream, plan.chunk_rows), request.memory_limit_bytes);
  EXPECT_GT(predict_peak_bytes(request, FitMode::stream, plan.chunk_rows + 1), request.memory_limit_bytes);
}

TEST(Planner, LimitBelowTheLeanestPlanIsAMemoryErrorStatingTheMinimum) {
  PlanRequest request = big_hdf5_request(21 * MB);  // hardly above the 20 MB baseline
  const std::size_t minimum = predict_peak_bytes(request, FitMode::stream, kMinChunkRows);
  ASSERT_GT(minimum, request.memory_limit_bytes);
  try {
    make_plan(request);
    FAIL() << "no MemoryError";
  } catch (const MemoryError& error) {
    EXPECT_EQ(error.needed_bytes(), minimum);
    EXPECT_EQ(error.available_bytes(), request.memory_limit_bytes);
    EXPECT_NE(std::string(error.what()).find("stream"), std::string::npos);
  }
  request.memory_limit_bytes = minimum;  // exactly the minimum is enough
  EXPECT_EQ(make_plan(request).mode, FitMode::stream);
  EXPECT_EQ(make_plan(request).chunk_rows, kMinChunkRows);
}

TEST(Planner, ForcedModeThatCannotFitIsAMemoryError) {
  PlanRequest request = big_hdf5_request(100 * MB);  // below the 160 MB of data
  request.mode = FitMode::memory;
  EXPECT_THROW(make_plan(request), MemoryError);
  request.mode = FitMode::stream;  // leaner than needed: allowed
  EXPECT_EQ(make_plan(request).mode, FitMode::stream);
  request.memory_limit_bytes = 300 * MB;
  request.mode = FitMode::chunked;
  request.chunk_rows = 1000;
  const Plan forced = make_plan(request);
  EXPECT_EQ(forced.mode, FitMode::chunked);
  EXPECT_EQ(forced.chunk_rows, 1000u);
}

TEST(Planner, DataAlreadyInMemoryCannotStream) {
  PlanRequest request = big_hdf5_request(4096 * MB);
  request.location = DataLocation::in_memory;
  request.mode = FitMode::stream;
  EXPECT_THROW(make_plan(request), UsageError);
  request.mode = FitMode::automatic;
  const Plan plan = make_plan(request);
  EXPECT_FALSE(plan.modes[2].possible);
  // The data are in the baseline, so the modes predict only the Jacobian on top of it.
  EXPECT_EQ(plan.mode, FitMode::chunked);
  request.memory_limit_bytes = 30 * MB;
  EXPECT_EQ(make_plan(request).mode, FitMode::chunked);
  EXPECT_EQ(make_plan(request).modes[0].predicted_peak_bytes, make_plan(request).modes[1].predicted_peak_bytes);
  request.memory_limit_bytes = 21 * MB;
  EXPECT_THROW(make_plan(request), MemoryError);
}

TEST(Planner, SmallDataUseOneChunkAndNoSubsample) {
  PlanRequest request = big_hdf5_request(1024 * MB);
  request.rows = 50;
  const Plan plan = make_plan(request);
  EXPECT_EQ(plan.mode, FitMode::memory);
  EXPECT_EQ(plan.chunk_rows, 50u);
  EXPECT_FALSE(plan.subsample);
}

TEST(Planner, ParsesModes) {
  EXPECT_EQ(parse_fit_mode("auto"), FitMode::automatic);
  EXPECT_EQ(parse_fit_mode("stream"), FitMode::stream);
  EXPECT_THROW(parse_fit_mode("disk"), UsageError);
}

}  // namespace
}  // namespace curvefit
