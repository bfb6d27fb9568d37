// The fit driver end to end (needs the solvers: this binary links only once solve() and
// covariance_from_r are merged). Truth: data generated from known parameters; the dense reference
// objective solved by the same solver; direct sums for the statistics; the source's own count of
// rows read for the passes.
#include "core/engine/fit.h"

#include <atomic>
#include <cmath>

#include <gtest/gtest.h>

#include "core/engine/engine_test_support.h"
#include "solvers/covariance.h"
#include "solvers/dense_objective.h"
#include "solvers/solve.h"

namespace curvefit {
namespace {

using testing_support::CountingSource;
using testing_support::ExponentialDecay;
using testing_support::make_decay_data;

constexpr std::size_t kRows = 20000;

FitRequest make_request(const Model& model, DataSource& data, FitMode mode, std::size_t chunk,
                        int threads = 2) {
  return testing_support::decay_fit_request(model, data, mode, chunk, threads);
}

double max_relative_difference(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return ((a - b).array().abs() / b.array().abs()).maxCoeff();
}

TEST(Fit, AllModesAndChunkSizesAgreeTo1e10) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, true);
  const FitResult reference = fit(make_request(model, data, FitMode::memory, kMaxChunkRows));
  ASSERT_TRUE(reference.success) << reference.message;
  EXPECT_EQ(reference.mode, FitMode::memory);
  for (std::size_t chunk : {std::size_t{7}, std::size_t{100}, kRows}) {
    const FitResult chunked = fit(make_request(model, data, FitMode::chunked, chunk));
    ASSERT_TRUE(chunked.success) << chunked.message;
    EXPECT_LT(max_relative_difference(chunked.params, reference.params), 1e-10) << "chunk " << chunk;
    EXPECT_LT(max_relative_difference(chunked.stderr_, reference.stderr_), 1e-8) << "chunk " << chunk;
  }
  CountingSource source(data);
  FitRequest stream_request = make_request(model, source, FitMode::stream, 100);
  std::atomic<std::size_t> progress_rows{0};
  long announced = 0;
  stream_request.progress_rows = &progress_rows;
  stream_request.on_pass = [&](long pass) { announced = pass; };
  const FitResult streamed = fit(stream_request);
  EXPECT_EQ(progress_rows.load(), kRows);  // the last pass went through every row
  EXPECT_EQ(announced, streamed.passes);
  ASSERT_TRUE(streamed.success) << streamed.message;
  EXPECT_LT(max_relative_difference(streamed.params, reference.params), 1e-10);
  // Every full pass re-read every row exactly once.
  EXPECT_EQ(source.rows_read, static_cast<std::size_t>(streamed.passes) * kRows);
  EXPECT_GE(streamed.passes, streamed.nfev);
  EXPECT_LE(streamed.passes, streamed.nfev + 1);  // at most one statistics pass on top
}

TEST(Fit, EveryMethodGivesTheSameParametersInEveryMode) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, true);
  for (Algorithm method : {Algorithm::trf, Algorithm::lm, Algorithm::dogbox}) {
    FitRequest memory_request = make_request(model, data, FitMode::memory, kMaxChunkRows);
    memory_request.solver.method = method;
    const FitResult in_memory = fit(memory_request);
    ASSERT_TRUE(in_memory.success) << to_string(method) << ": " << in_memory.message;
    CountingSource source(data);
    FitRequest stream_request = make_request(model, source, FitMode::stream, 7, 3);
    stream_request.solver.method = method;
    const FitResult streamed = fit(stream_request);
    ASSERT_TRUE(streamed.success) << to_string(method) << ": " << streamed.message;
    // LM stops on its cost-reduction (ftol) test in one of the two runs, which certifies x only to
    // about the square root of the cost's precision: measured 5.2e-10 apart (even with ftol = 0,
    // LM reports ftol). TRF and dogbox stop on xtol and agree to 1e-10.
    const double tolerance = method == Algorithm::lm ? 1e-9 : 1e-10;
    EXPECT_LT(max_relative_difference(streamed.params, in_memory.params), tolerance)
        << to_string(method) << ": " << in_memory.message << " / " << streamed.message;
    EXPECT_EQ(streamed.method, method);
  }
}

TEST(Fit, MatchesTheDenseReferenceAndTheTruth) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, true, /*outliers=*/false);
  const FitResult result = fit(make_request(model, data, FitMode::chunked, 1000));
  ASSERT_TRUE(result.success);
  // The same solver on the dense objective (one Householder QR of the whole Jacobian).
  auto residuals = [&](const Eigen::VectorXd& p, Eigen::VectorXd& f) {
    for (std::size_t i = 0; i < kRows; ++i)
      f[static_cast<Eigen::Index>(i)] = (p[0] * std::exp(-p[1] * data.x_column(0)[i]) + p[2] -
                                         data.y_column()[i]) / data.sigma_column()[i];
  };
  auto jacobian = [&](const Eigen::VectorXd& p, Eigen::MatrixXd& J) {
    for (std::size_t i = 0; i < kRows; ++i) {
      const double x = data.x_column(0)[i], s = data.sigma_column()[i], e = std::exp(-p[1] * x);
      const Eigen::Index r = static_cast<Eigen::Index>(i);
      J(r, 0) = e / s;
      J(r, 1) = -p[0] * x * e / s;
      J(r, 2) = 1.0 / s;
    }
  };
  DenseObjective dense(3, kRows, residuals, jacobian);
  const SolverResult reference = solve(dense, Eigen::Vector3d(1.0, 0.3, 0.0), SolverOptions{});
  EXPECT_LT(max_relative_difference(result.params, reference.x), 1e-10);
  // Generated with a = 3, b = 0.7, c = 0.5: within 5 standard errors.
  const auto& truth = testing_support::true_params();
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(result.params[j], truth[static_cast<std::size_t>(j)], 5 * result.stderr_[j]);

  // Statistics from direct sums at the reported parameters.
  double chi2 = 0, ss = 0, mean = 0, m2 = 0;
  for (std::size_t i = 0; i < kRows; ++i) {
    const double d = result.params[0] * std::exp(-result.params[1] * data.x_column(0)[i]) +
                     result.params[2] - data.y_column()[i];
    chi2 += d * d / (data.sigma_column()[i] * data.sigma_column()[i]);
    ss += d * d;
    mean += data.y_column()[i] / kRows;
  }
  for (std::size_t i = 0; i < kRows; ++i) m2 += std::pow(data.y_column()[i] - mean, 2);
  EXPECT_EQ(result.n_points, kRows);
  EXPECT_EQ(result.dof, static_cast<long>(kRows) - 3);
  EXPECT_NEAR(result.chi2, chi2, 1e-10 * chi2);
  EXPECT_NEAR(result.cost, 0.5 * chi2, 1e-10 * chi2);
  EXPECT_NEAR(result.reduced_chi2, chi2 / (kRows - 3), 1e-10 * chi2);
  EXPECT_NEAR(result.r_squared, 1 - ss / m2, 1e-12);
  EXPECT_NEAR(result.rmse, std::sqrt(ss / kRows), 1e-12);
  EXPECT_NEAR(result.aic, kRows * std::log(chi2 / kRows) + 6, 1e-8);
  // Covariance: the solver's own R through covariance_from_r, scaled by reduced chi^2.
  const Covariance expected = covariance_from_r(reference.linearization.R,
                                                covariance_scale(reference.cost, kRows - 3, false));
  EXPECT_LT((result.covariance - expected.matrix).norm(), 1e-8 * expected.matrix.norm());
  for (int j = 0; j < 3; ++j) {
    EXPECT_DOUBLE_EQ(result.correlation(j, j), 1.0);
    EXPECT_NEAR(result.stderr_[j], std::sqrt(result.covariance(j, j)), 1e-15 * result.stderr_[j]);
  }
}

TEST(Fit, BitIdenticalParametersAndCovarianceFor1_2_8Threads) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, true);
  FitRequest request = make_request(model, data, FitMode::chunked, 100, 1);
  request.loss = Loss::soft_l1;
  request.f_scale = 0.1;
  const FitResult one = fit(request);
  ASSERT_TRUE(one.success) << one.message;
  for (int threads : {2, 8}) {
    request.plan.threads = threads;
    const FitResult many = fit(request);
    EXPECT_TRUE(many.params == one.params) << threads << " threads";
    EXPECT_TRUE(many.covariance == one.covariance) << threads << " threads";
    EXPECT_EQ(many.nfev, one.nfev);
    EXPECT_EQ(many.threads, threads);
  }
}

TEST(Fit, SubsampleStartSavesFullPasses) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, false);
  CountingSource cold_source(data), warm_source(data);
  const FitResult cold = fit(make_request(model, cold_source, FitMode::stream, 500));
  FitRequest warm_request = make_request(model, warm_source, FitMode::stream, 500);
  warm_request.plan.subsample = true;
  warm_request.plan.subsample_stride = 10;
  const FitResult warm = fit(warm_request);
  ASSERT_TRUE(cold.success && warm.success);
  EXPECT_EQ(warm.subsample_rows, kRows / 10);
  EXPECT_GT(warm.subsample_nfev, 0);
  EXPECT_LT(warm.passes, cold.passes);
  // The subsample is read as blocks of its own rows, not as a pass over the data.
  EXPECT_EQ(warm_source.rows_read, static_cast<std::size_t>(warm.passes) * kRows + kRows / 10);
  // Different starting points: the same minimum to the solver's termination precision.
  EXPECT_LT(max_relative_difference(warm.params, cold.params), 1e-8);
}

// The subsample spans the data: blocks of consecutive rows from the first row to the last, the
// same rows whether the data are in RAM or read from a source (by a reader thread, or by position
// in the workers' own threads).
TEST(Fit, SubsampleBlocksSpanTheDataAndAreTheSameFromRamAndFromASource) {
  ExponentialDecay model;
  constexpr std::size_t kMany = 100'003;
  MemoryDataSource data = make_decay_data(kMany, false);
  FitRequest in_ram = make_request(model, data, FitMode::chunked, 4096);
  in_ram.plan.subsample = true;
  in_ram.plan.subsample_stride = 37;
  const FitResult a = fit(in_ram);
  ASSERT_TRUE(a.success);
  EXPECT_EQ(a.subsample_rows, (kMany + 36) / 37);
  for (bool by_position : {false, true}) {
    CountingSource source(data);
    source.read_by_position = by_position;
    FitRequest streamed = make_request(model, source, FitMode::stream, 4096);
    streamed.plan.subsample = true;
    streamed.plan.subsample_stride = 37;
    const FitResult b = fit(streamed);
    ASSERT_TRUE(b.success) << by_position;
    EXPECT_EQ(a.subsample_rows, b.subsample_rows) << by_position;
    EXPECT_EQ(a.subsample_nfev, b.subsample_nfev) << by_position;  // the same rows, so the same subsample fit
    EXPECT_LT(max_relative_difference(a.params, b.params), 1e-12) << by_position;
    // Reads beyond the full passes: the blocks, the last of which ends at the last row.
    EXPECT_EQ(source.rows_read - static_cast<std::size_t>(b.passes) * kMany, b.subsample_rows) << by_position;
    EXPECT_EQ(source.last_end, kMany) << by_position;
  }
}

TEST(Fit, InterruptStopsWithTheBestPointSoFar) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, false);
  std::atomic<bool> stop{false};
  FitRequest request = make_request(model, data, FitMode::chunked, 1000);
  request.solver.interrupt = &stop;
  double start_cost = 0;
  request.on_iteration = [&](const IterationInfo& info, bool) {
    if (info.iteration == 0) start_cost = info.cost;
    if (info.iteration == 2) stop = true;
  };
  const FitResult result = fit(request);
  EXPECT_EQ(result.status, Status::interrupted);
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.iterations, 2);
  EXPECT_LT(result.cost, start_cost);
  EXPECT_TRUE(result.params.allFinite());
  // Already set before the fit: stops at the starting point after one pass.
  const FitResult at_once = fit(request);
  EXPECT_EQ(at_once.status, Status::interrupted);
  EXPECT_EQ(at_once.params, request.p0);
  EXPECT_EQ(at_once.passes, 1);
}

TEST(Fit, FixedParameterIsHeldAndReinserted) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, true);
  FitRequest request = make_request(model, data, FitMode::chunked, 1000);
  request.p0 = Eigen::Vector3d(1.0, 0.3, 0.5);
  request.fixed = {false, false, true};
  const FitResult result = fit(request);
  ASSERT_TRUE(result.success);
  EXPECT_EQ(result.params[2], 0.5);
  EXPECT_EQ(result.stderr_[2], 0.0);
  EXPECT_EQ(result.covariance.row(2).norm(), 0.0);
  EXPECT_EQ(result.n_free, 2);
  EXPECT_EQ(result.dof, static_cast<long>(kRows) - 2);
  EXPECT_NEAR(result.params[0], 3.0, 0.05);
  EXPECT_NEAR(result.params[1], 0.7, 0.02);
}

TEST(Fit, FittedValuesPassStreamsEveryRow) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, false);
  const FitRequest request = make_request(model, data, FitMode::memory, 3000);
  const Eigen::Vector3d p(3.0, 0.7, 0.5);
  std::size_t rows = 0;
  for_each_chunk_fitted(request, p, [&](const FittedChunk& chunk) {
    ASSERT_EQ(chunk.begin, rows);
    for (std::size_t i = 0; i < chunk.rows; ++i)
      ASSERT_DOUBLE_EQ(chunk.fit[i], 3.0 * std::exp(-0.7 * chunk.x[0][i]) + 0.5);
    rows += chunk.rows;
  });
  EXPECT_EQ(rows, kRows);
}

TEST(Fit, RejectsInconsistentRequests) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(100, false);
  CountingSource source(data);
  FitRequest request = make_request(model, source, FitMode::chunked, 10);
  EXPECT_THROW(fit(request), UsageError);  // chunked needs the data in RAM
  request = make_request(model, data, FitMode::automatic, 10);
  EXPECT_THROW(fit(request), UsageError);
  request = make_request(model, data, FitMode::memory, 10);
  request.p0 = Eigen::Vector2d(1, 1);
  EXPECT_THROW(fit(request), UsageError);
}

}  // namespace
}  // namespace curvefit
