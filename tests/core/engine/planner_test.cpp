// The planner: the mode it chooses as the memory limit shrinks, the chunk size it picks, and its
// errors for limits that cannot be met.
#include "core/engine/planner.h"

#include <gtest/gtest.h>

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
  // 10M rows: data 160 MB, whole Jacobian (3 columns + f) 320 MB. Chunked is preferred to the
  // whole-Jacobian memory mode for data larger than one chunk (faster and leaner, measured).
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
  // Peaks are ordered as the modes' allocations are.
  EXPECT_GT(roomy.modes[0].predicted_peak_bytes, roomy.modes[1].predicted_peak_bytes);
  EXPECT_GT(roomy.modes[1].predicted_peak_bytes, roomy.modes[2].predicted_peak_bytes);
}

TEST(Planner, MemoryModePredictionIsTheAllocationArithmetic) {
  PlanRequest request = big_hdf5_request(4096 * MB);
  request.subsample_threshold = 0;  // no subsample: only the full fit's allocations
  const std::size_t chunk = kMaxChunkRows;
  const std::size_t slots = 64;  // 611 chunks of 16384 rows, capped at 64 slots
  const std::size_t expected = request.baseline_rss_bytes + 8 * request.rows * 2 /* x, y */ +
                               8 * request.rows * 4 /* J and f */ + slots * 8 * 4 * 4 /* [R|qtf] */ +
                               solver_workspace_bytes(Algorithm::trf, 3) + 8 * chunk;
  EXPECT_EQ(predict_peak_bytes(request, FitMode::memory, chunk), expected);
  request.mode = FitMode::memory;
  EXPECT_EQ(make_plan(request).predicted_peak_bytes, expected);
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
  PlanRequest request = big_hdf5_request(300 * MB);
  request.mode = FitMode::memory;
  EXPECT_THROW(make_plan(request), MemoryError);
  request.mode = FitMode::stream;  // leaner than needed: allowed
  EXPECT_EQ(make_plan(request).mode, FitMode::stream);
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
  EXPECT_FALSE(make_plan(request).modes[0].fits);
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
