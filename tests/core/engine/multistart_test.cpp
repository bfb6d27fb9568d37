// --starts N and several models in shared passes. Truth: data generated from known parameters
// (a sine whose frequency a poor start misses; a Gaussian peak), each start's own single fit for
// the bits, and the data source's own count of rows read for the passes.
#include "core/engine/multistart.h"

#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "core/engine/engine_test_support.h"
#include "core/model/model_library.h"
#include "memory/footprint.h"

namespace curvefit {
namespace {

using testing_support::CountingSource;

constexpr std::size_t kRows = 20000;
constexpr double kTrueA = 2.0, kTrueW = 3.7;

// y = 2 sin(3.7 x) on [0, 4] with noise 0.1: from w = 1 the fit climbs into a wrong valley.
MemoryDataSource sine_data() {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0.0, 0.1);
  std::vector<double> x(kRows), y(kRows);
  for (std::size_t i = 0; i < kRows; ++i) {
    x[i] = 4.0 * static_cast<double>(i) / kRows;
    y[i] = kTrueA * std::sin(kTrueW * x[i]) + noise(rng);
  }
  return MemoryDataSource({x}, y, {});
}

FitRequest sine_request(const Model& model, DataSource& data, FitMode mode, std::size_t chunk) {
  FitRequest request;
  request.model = &model;
  request.data = &data;
  request.p0 = Eigen::Vector2d(1.0, 1.0);  // a, w: a poor start for w
  request.solver.lower = Eigen::Vector2d(-5.0, 0.5);
  request.solver.upper = Eigen::Vector2d(5.0, 6.0);
  request.plan.mode = mode;
  request.plan.chunk_rows = chunk;
  request.plan.threads = 2;
  return request;
}

bool found_truth(const FitResult& r) {
  return std::abs(r.params[0] - kTrueA) < 0.01 && std::abs(r.params[1] - kTrueW) < 0.001;
}

TEST(MultiStart, OneStartMissesTheFrequencyEightFindIt) {
  const std::unique_ptr<Model> model = make_model("a*sin(w*x)");
  MemoryDataSource data = sine_data();
  const FitRequest request = sine_request(*model, data, FitMode::chunked, 1000);
  const FitResult one = fit(request);
  EXPECT_FALSE(found_truth(one)) << one.params.transpose();
  const FitResult many = fit_starts(request, {8, 1, 0});
  ASSERT_TRUE(many.success) << many.message;
  EXPECT_TRUE(found_truth(many)) << many.params.transpose();
  EXPECT_LT(many.cost, one.cost);
  ASSERT_EQ(many.starts.count, 8);
  ASSERT_EQ(many.starts.runs.size(), 8u);
  // The report's minima: the best first, every reached start counted once, the start from p0 in
  // the poor valley that the single fit found.
  ASSERT_GE(many.starts.minima.size(), 2u);
  EXPECT_EQ(many.starts.minima.front().cost, many.cost);
  std::size_t counted = 0;
  for (const Minimum& minimum : many.starts.minima) counted += minimum.starts.size();
  EXPECT_EQ(counted, 8u);
  EXPECT_EQ(many.starts.runs[0].cost, one.cost);
  EXPECT_NE(many.starts.runs[0].minimum, 0);
  // Every start other than p0 lies within the bounds.
  for (const StartRun& run : many.starts.runs) {
    EXPECT_TRUE((run.init.array() >= request.solver.lower.array()).all());
    EXPECT_TRUE((run.init.array() <= request.solver.upper.array()).all());
  }
}

// Each start of a shared run gives the bits of a single fit from that start, in every mode; the
// run costs as many passes as its longest start, each pass reading the data once.
void expect_each_start_is_its_single_fit(FitMode mode, std::size_t chunk, int concurrency) {
  const std::unique_ptr<Model> model = make_model("a*sin(w*x)");
  MemoryDataSource data = sine_data();
  CountingSource source(data);
  DataSource& shared_data = mode == FitMode::stream ? static_cast<DataSource&>(source) : data;
  const FitRequest request = sine_request(*model, shared_data, mode, chunk);
  const FitResult many = fit_starts(request, {6, 3, concurrency});
  ASSERT_EQ(many.starts.runs.size(), 6u);
  long longest = 0, sum = 0;
  for (const StartRun& run : many.starts.runs) {
    FitRequest single = request;
    single.p0 = run.init;
    MemoryDataSource own_copy = sine_data();
    CountingSource own_source(own_copy);
    if (mode == FitMode::stream) single.data = &own_source;
    const FitResult alone = fit(single);
    ASSERT_EQ(alone.params.size(), run.params.size());
    for (Eigen::Index j = 0; j < alone.params.size(); ++j)
      EXPECT_EQ(alone.params[j], run.params[j]) << "start " << run.start << " parameter " << j;
    EXPECT_EQ(alone.cost, run.cost) << "start " << run.start;
    EXPECT_EQ(alone.passes, run.passes) << "start " << run.start;
    EXPECT_EQ(alone.nfev, run.nfev) << "start " << run.start;
    longest = std::max(longest, alone.passes);
    sum += alone.passes;
  }
  EXPECT_EQ(many.starts.separate_passes, sum);
  if (concurrency == 0) {
    EXPECT_EQ(many.passes, longest);  // all at once: the longest start
  }
  EXPECT_GE(many.passes, longest);
  EXPECT_LT(many.passes, sum);
  if (mode == FitMode::stream) {
    EXPECT_EQ(source.rows_read, static_cast<std::size_t>(many.passes) * kRows);
  }
}

TEST(MultiStart, EachStartIsBitIdenticalToItsSingleFitInMemory) {
  expect_each_start_is_its_single_fit(FitMode::memory, kRows, 0);
}
TEST(MultiStart, EachStartIsBitIdenticalToItsSingleFitChunked) {
  expect_each_start_is_its_single_fit(FitMode::chunked, 700, 0);
}
TEST(MultiStart, EachStartIsBitIdenticalToItsSingleFitStreamed) {
  expect_each_start_is_its_single_fit(FitMode::stream, 700, 0);
}
TEST(MultiStart, InWavesEachStartIsStillItsSingleFit) {
  expect_each_start_is_its_single_fit(FitMode::stream, 700, 2);
}

// --cov robust's extra pass at each start's solution joins the shared passes too.
TEST(MultiStart, RobustCovarianceOfEachStartIsItsSingleFits) {
  const std::unique_ptr<Model> model = make_model("a*sin(w*x)");
  MemoryDataSource data = sine_data();
  FitRequest request = sine_request(*model, data, FitMode::chunked, 700);
  request.covariance = CovarianceKind::hc1;
  const FitResult many = fit_starts(request, {4, 6, 0});
  FitRequest single = request;
  single.p0 = many.starts.runs[static_cast<std::size_t>(many.starts.best)].init;
  const FitResult alone = fit(single);
  EXPECT_EQ(alone.params, many.params);
  EXPECT_EQ(alone.stderr_, many.stderr_);
  EXPECT_EQ(alone.covariance, many.covariance);
}

TEST(MultiStart, SubsampleStageRunsPerStartFromOneSample) {
  const std::unique_ptr<Model> model = make_model("a*sin(w*x)");
  MemoryDataSource data = sine_data();
  CountingSource source(data);
  FitRequest request = sine_request(*model, source, FitMode::stream, 1000);
  request.plan.subsample = true;
  request.plan.subsample_stride = 4;
  const FitResult many = fit_starts(request, {4, 5, 0});
  // One sample drawn for all starts, then the shared passes.
  EXPECT_EQ(source.rows_read, static_cast<std::size_t>(many.passes) * kRows + kRows / 4);
  for (const StartRun& run : many.starts.runs) {
    FitRequest single = request;
    single.p0 = run.init;
    MemoryDataSource own_copy = sine_data();
    CountingSource own_source(own_copy);
    single.data = &own_source;
    const FitResult alone = fit(single);
    EXPECT_EQ(alone.params[0], run.params[0]);
    EXPECT_EQ(alone.params[1], run.params[1]);
  }
}

TEST(MultiStart, StartsAreDeterministicForASeedAndAroundP0WhenUnbounded) {
  const std::unique_ptr<Model> model = make_model("a*sin(w*x)");
  MemoryDataSource data = sine_data();
  FitRequest request = sine_request(*model, data, FitMode::chunked, 1000);
  EXPECT_EQ(start_points(request, 5, 9)[3], start_points(request, 5, 9)[3]);
  EXPECT_NE(start_points(request, 5, 9)[3], start_points(request, 5, 10)[3]);
  request.solver.lower.resize(0);
  request.solver.upper.resize(0);
  request.p0 = Eigen::Vector2d(-2.0, 1.0);
  const std::vector<Eigen::VectorXd> points = start_points(request, 9, 1);
  ASSERT_EQ(points.size(), 9u);
  EXPECT_EQ(points[0], request.p0);
  // p0 * 10^u, u in [-1, 1], one point in each of 8 strata of u: the sign kept, the spread full.
  std::vector<int> strata(8, 0);
  for (std::size_t i = 1; i < points.size(); ++i) {
    EXPECT_LT(points[i][0], 0);
    const double u = std::log10(points[i][1]);
    ASSERT_GE(u, -1);
    ASSERT_LE(u, 1);
    ++strata[static_cast<std::size_t>(std::min(7.0, std::floor((u + 1) / 2 * 8)))];
  }
  for (int count : strata) EXPECT_EQ(count, 1);
}

// Each live start adds its own factors, workspaces and thread: under a limit that holds the plan's
// peak and two more starts' bytes, three run at a time, and the answers do not change.
TEST(MultiStart, MemoryLimitRunsStartsInWaves) {
  const std::unique_ptr<Model> model = make_model("a*sin(w*x)");
  MemoryDataSource data = sine_data();
  FitRequest request = sine_request(*model, data, FitMode::chunked, 1000);
  const std::size_t member = predict_member_bytes(kRows, 1000, 2, 2, 2, 2, Algorithm::trf);
  EXPECT_GT(member, 64 * footprint::tsqr_factor_bytes(2));
  Plan plan;
  plan.predicted_peak_bytes = 50'000'000;
  plan.memory_limit_bytes = plan.predicted_peak_bytes + 2 * member + member / 2;
  EXPECT_EQ(concurrent_members(plan, member, 8), 3);
  EXPECT_EQ(concurrent_members(plan, member, 2), 2);
  plan.memory_limit_bytes = plan.predicted_peak_bytes - 1;
  EXPECT_EQ(concurrent_members(plan, member, 8), 1);
  const FitResult all_at_once = fit_starts(request, {6, 2, 0});
  request.plan.predicted_peak_bytes = 50'000'000;
  request.plan.memory_limit_bytes = request.plan.predicted_peak_bytes + 2 * member + member / 2;
  const FitResult in_waves = fit_starts(request, {6, 2, 0});
  EXPECT_EQ(all_at_once.starts.concurrency, 6);
  EXPECT_EQ(in_waves.starts.concurrency, 3);
  ASSERT_FALSE(in_waves.used.notes.empty());
  EXPECT_NE(in_waves.used.notes.back().find("3 of the 6 fits at once"), std::string::npos);
  for (std::size_t s = 0; s < 6; ++s) EXPECT_EQ(in_waves.starts.runs[s].params, all_at_once.starts.runs[s].params);
  EXPECT_GE(in_waves.passes, all_at_once.passes);
}

TEST(MultiStart, RejectsFewerThanOneStart) {
  const std::unique_ptr<Model> model = make_model("a*sin(w*x)");
  MemoryDataSource data = sine_data();
  const FitRequest request = sine_request(*model, data, FitMode::chunked, 1000);
  EXPECT_THROW(fit_starts(request, {0, 1, 0}), UsageError);
  EXPECT_THROW(fit_starts(request, {-3, 1, 0}), UsageError);
}

TEST(ModelComparison, RanksTheGeneratingModelFirstWithItsSingleFitAic) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0.0, 0.02);
  std::vector<double> x(kRows), y(kRows);
  for (std::size_t i = 0; i < kRows; ++i) {
    x[i] = 10.0 * static_cast<double>(i) / kRows;
    y[i] = 3.0 * std::exp(-std::pow(x[i] - 5.0, 2) / (2 * 1.2 * 1.2)) + noise(rng);
  }
  MemoryDataSource data({x}, y, {});
  CountingSource source(data);
  MemoryDataSource own({x}, y, {});
  CountingSource own_source(own);
  const std::unique_ptr<Model> gaussian = make_model("gaussian"), lorentzian = make_model("lorentzian");
  std::vector<FitRequest> requests;
  for (const Model* model : {lorentzian.get(), gaussian.get()}) {
    FitRequest request;
    request.model = model;
    request.data = &source;
    request.p0 = Eigen::Vector3d(2.0, 4.5, 1.0);
    request.plan.mode = FitMode::stream;
    request.plan.chunk_rows = 1000;
    request.plan.threads = 2;
    request.settings.model = model == gaussian.get() ? "gaussian" : "lorentzian";
    requests.push_back(request);
  }
  const std::vector<FitResult> results = fit_models(requests, {1, 1, 0});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(best_model(results), 1u);
  ASSERT_EQ(results[1].models.size(), 2u);
  EXPECT_EQ(results[1].models[0].model, "gaussian");
  EXPECT_LT(results[1].models[0].aic, results[1].models[1].aic);
  EXPECT_NEAR(results[1].params[1], 5.0, 1e-3);
  EXPECT_NEAR(results[1].params[2], 1.2, 1e-3);
  EXPECT_EQ(source.rows_read, static_cast<std::size_t>(results[1].passes) * kRows);
  for (std::size_t k = 0; k < 2; ++k) {
    FitRequest single = requests[k];
    single.data = &own_source;
    const FitResult alone = fit(single);
    EXPECT_EQ(alone.aic, results[k].aic) << k;
    EXPECT_EQ(alone.params, results[k].params) << k;
  }
}

}  // namespace
}  // namespace curvefit
