// The chunked objective against the dense reference objective (an independent computation: one
// dense Householder QR of the whole Jacobian), and its determinism across thread counts and modes.
#include "core/engine/chunked_objective.h"

#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "core/engine/engine_test_support.h"
#include "solvers/dense_objective.h"

namespace curvefit {
namespace {

using testing_support::CountingSource;
using testing_support::ExponentialDecay;
using testing_support::make_decay_data;

constexpr std::size_t kRows = 1000;

// The dense reference: residuals f = (model - y) / sigma and J = d model / dp / sigma, with the
// free parameters `free` (others held at `p_full`'s values).
DenseObjective make_dense(const Model& model, const MemoryDataSource& data, Loss loss,
                          double f_scale, std::vector<int> free = {0, 1, 2},
                          Eigen::VectorXd p_full = Eigen::VectorXd::Zero(3)) {
  const std::size_t m = data.rows();
  auto full = [free, p_full](const Eigen::VectorXd& x) {
    Eigen::VectorXd p = p_full;
    for (std::size_t j = 0; j < free.size(); ++j) p[free[j]] = x[static_cast<Eigen::Index>(j)];
    return p;
  };
  auto residuals = [&model, &data, m, full](const Eigen::VectorXd& x, Eigen::VectorXd& f) {
    const Eigen::VectorXd p = full(x);
    const double* xs[1] = {data.x_column(0)};
    model.evaluate(xs, m, p.data(), f.data());
    for (std::size_t i = 0; i < m; ++i) {
      f[static_cast<Eigen::Index>(i)] -= data.y_column()[i];
      if (data.sigma_column()) f[static_cast<Eigen::Index>(i)] /= data.sigma_column()[i];
    }
  };
  auto jacobian = [&model, &data, m, full, free](const Eigen::VectorXd& x, Eigen::MatrixXd& J) {
    const Eigen::VectorXd p = full(x);
    const double* xs[1] = {data.x_column(0)};
    std::vector<double> values(m), jac(m * 3);
    model.evaluate_with_jacobian(xs, m, p.data(), values.data(), jac.data());
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < free.size(); ++j) {
        double d = jac[static_cast<std::size_t>(free[j]) * m + i];
        if (data.sigma_column()) d /= data.sigma_column()[i];
        J(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = d;
      }
  };
  return DenseObjective(static_cast<int>(free.size()), m, residuals, jacobian, loss, f_scale);
}

double relative_difference(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  return (a - b).norm() / b.norm();
}

void expect_same_linearization(const Evaluation& chunked, const Evaluation& dense, double tol) {
  ASSERT_TRUE(chunked.finite);
  ASSERT_TRUE(chunked.has_linearization);
  ASSERT_TRUE(dense.has_linearization);
  EXPECT_NEAR(chunked.cost, dense.cost, tol * dense.cost);
  const Linearization& c = chunked.lin;
  const Linearization& d = dense.lin;
  // R is unique up to the signs of its rows: compare R^T R (Gauss-Newton Hessian) and R^T qtf
  // (the gradient J^T f).
  EXPECT_LT(relative_difference(c.R.transpose() * c.R, d.R.transpose() * d.R), tol);
  // The gradient J^T f is a sum of cancelling terms (robust losses clip the Jacobian scale of
  // outliers to sqrt(eps) and blow their residuals up by 1/sqrt(eps)), so QR computes it to
  // eps ||J|| ||f|| (its backward error bound), not to eps ||J^T f||.
  EXPECT_LT((c.R.transpose() * c.qtf - d.R.transpose() * d.qtf).norm(),
            tol * d.R.norm() * std::sqrt(d.f_norm2));
  EXPECT_NEAR(c.f_norm2, d.f_norm2, tol * d.f_norm2);
  EXPECT_LT(relative_difference(c.col_norms, d.col_norms), tol);
  EXPECT_LT(relative_difference(c.R.cwiseAbs(), d.R.cwiseAbs()), 1e-10);
  // Strictly upper triangular storage.
  EXPECT_EQ(c.R.triangularView<Eigen::StrictlyLower>().toDenseMatrix().norm(), 0.0);
}

struct Case {
  std::size_t chunk;
  bool sigma;
  Loss loss;
};

class ChunkedVsDense : public ::testing::TestWithParam<Case> {};

TEST_P(ChunkedVsDense, LinearizationMatchesDenseQr) {
  const Case c = GetParam();
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, c.sigma);
  ChunkedObjectiveOptions options;
  options.loss = c.loss;
  options.f_scale = 0.2;
  options.chunk_rows = c.chunk;
  options.threads = 2;
  ChunkedObjective chunked(model, data, options);
  DenseObjective dense = make_dense(model, data, c.loss, 0.2);
  // Away from the solution (large residuals, robust losses active) and near it.
  for (const Eigen::Vector3d& x : {Eigen::Vector3d(2.0, 0.4, 0.0), Eigen::Vector3d(3.01, 0.69, 0.5)}) {
    const Evaluation a = chunked.evaluate(x, true);
    const Evaluation b = dense.evaluate(x, true);
    expect_same_linearization(a, b, 1e-12);
    const Evaluation cost_only = chunked.evaluate(x, false);
    EXPECT_FALSE(cost_only.has_linearization);
    EXPECT_EQ(cost_only.cost, a.cost);  // same sums in the same order
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  // Chunks of 1 and 2 rows are shorter than n = 3: folds of fewer rows than columns.
  for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{100}, kRows})
    for (bool sigma : {false, true})
      for (Loss loss : {Loss::linear, Loss::soft_l1, Loss::huber, Loss::cauchy, Loss::arctan})
        cases.push_back({chunk, sigma, loss});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(ChunkSizesSigmaLosses, ChunkedVsDense, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return "chunk" + std::to_string(info.param.chunk) +
                                  (info.param.sigma ? "_sigma_" : "_") +
                                  std::string(to_string(info.param.loss));
                         });

Evaluation evaluate_with(const MemoryDataSource& data, std::size_t chunk, int threads,
                         Loss loss = Loss::soft_l1) {
  ExponentialDecay model;
  ChunkedObjectiveOptions options;
  options.loss = loss;
  options.chunk_rows = chunk;
  options.threads = threads;
  ChunkedObjective objective(model, data, options);
  return objective.evaluate(Eigen::Vector3d(2.5, 0.6, 0.4), true);
}

void expect_bit_identical(const Evaluation& a, const Evaluation& b) {
  EXPECT_EQ(a.cost, b.cost);
  EXPECT_EQ(a.lin.f_norm2, b.lin.f_norm2);
  EXPECT_TRUE(a.lin.R == b.lin.R) << a.lin.R << "\n---\n" << b.lin.R;
  EXPECT_TRUE(a.lin.qtf == b.lin.qtf);
}

TEST(ChunkedObjective, BitIdenticalFor1_2_8Threads) {
  // 7-row chunks over 5000 rows: 715 chunks in 64 slots, so slots fold many chunks and the tree
  // has 6 levels.
  MemoryDataSource data = make_decay_data(5000, true);
  const Evaluation one = evaluate_with(data, 7, 1);
  for (int threads : {2, 8}) expect_bit_identical(evaluate_with(data, 7, threads), one);
}

TEST(ChunkedObjective, StreamingGivesTheSameBitsAsInMemory) {
  MemoryDataSource data = make_decay_data(5000, true);
  ExponentialDecay model;
  // 100-row chunks: 50 slots of one chunk each; 7-row chunks: 715 chunks in 64 slots, so the
  // workers sharing a pass's batches must keep each slot's chunks in order; 2500-row chunks: two
  // slots, batches of one chunk.
  for (std::size_t chunk : {std::size_t{100}, std::size_t{7}, std::size_t{2500}}) {
    const Evaluation in_memory = evaluate_with(data, chunk, 2);
    for (bool by_position : {false, true})
      for (int threads : {1, 2, 3, 8}) {
        CountingSource source(data);
        source.read_by_position = by_position;
        ChunkedObjectiveOptions options;
        options.loss = Loss::soft_l1;
        options.chunk_rows = chunk;
        options.threads = threads;
        ChunkedObjective streaming(model, source, options, ChunkedObjective::Streaming{});
        for (int pass = 1; pass <= 2; ++pass) {
          SCOPED_TRACE("chunk " + std::to_string(chunk) + (by_position ? ", by position, " : ", by a reader thread, ") +
                       std::to_string(threads) + " threads, pass " + std::to_string(pass));
          expect_bit_identical(streaming.evaluate(Eigen::Vector3d(2.5, 0.6, 0.4), true), in_memory);
          EXPECT_EQ(source.rows_read, pass * data.rows());  // each pass reads every row once
          EXPECT_EQ(streaming.passes(), pass);
        }
      }
  }
}

TEST(ChunkedObjective, FixedParametersMatchTheReducedDenseProblem) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, true);
  ChunkedObjectiveOptions options;
  options.chunk_rows = 64;
  options.fixed = {false, true, false};
  options.fixed_values = Eigen::Vector3d(0.0, 0.65, 0.0);
  ChunkedObjective chunked(model, data, options);
  ASSERT_EQ(chunked.num_params(), 2);
  DenseObjective dense = make_dense(model, data, Loss::linear, 1.0, {0, 2}, Eigen::Vector3d(0, 0.65, 0));
  const Eigen::Vector2d x(2.7, 0.45);
  expect_same_linearization(chunked.evaluate(x, true), dense.evaluate(x, true), 1e-12);
  EXPECT_EQ(chunked.full_params(x), Eigen::Vector3d(2.7, 0.65, 0.45));
}

TEST(ChunkedObjective, NonFiniteResidualGivesInfiniteCost) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, false);
  ChunkedObjectiveOptions options;
  options.chunk_rows = 50;
  ChunkedObjective objective(model, data, options);
  // exp(800 * 10) overflows at the far end of x: those residuals are +inf.
  for (bool linearize : {false, true}) {
    const Evaluation e = objective.evaluate(Eigen::Vector3d(1.0, -800.0, 0.0), linearize);
    EXPECT_FALSE(e.finite);
    EXPECT_EQ(e.cost, std::numeric_limits<double>::infinity());
    EXPECT_FALSE(e.has_linearization);
  }
  // NaN residuals (0 * inf) as well.
  const Evaluation nan = objective.evaluate(Eigen::Vector3d(0.0, -800.0, 0.0), false);
  EXPECT_FALSE(nan.finite);
}

TEST(ChunkedObjective, StatisticsSumsMatchDirectComputation) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, true);
  ChunkedObjectiveOptions options;
  options.chunk_rows = 33;
  options.loss = Loss::cauchy;
  ChunkedObjective objective(model, data, options);
  const Eigen::Vector3d x(2.9, 0.71, 0.52);
  EXPECT_FALSE(objective.sums_at(x).has_value());
  EXPECT_FALSE(objective.response_moments().has_value());
  const Evaluation e = objective.evaluate(x, false);
  const auto sums = objective.sums_at(x);
  ASSERT_TRUE(sums.has_value());
  double chi2 = 0, ss = 0, rho = 0, mean = 0, m2 = 0;
  for (std::size_t i = 0; i < kRows; ++i) {
    const double xi = data.x_column(0)[i];
    const double d = x[0] * std::exp(-x[1] * xi) + x[2] - data.y_column()[i];
    const double r = d / data.sigma_column()[i];
    chi2 += r * r;
    ss += d * d;
    rho += evaluate_loss(Loss::cauchy, r * r, 1.0).rho;
    mean += data.y_column()[i];
  }
  mean /= kRows;
  for (std::size_t i = 0; i < kRows; ++i) m2 += (data.y_column()[i] - mean) * (data.y_column()[i] - mean);
  EXPECT_NEAR(sums->chi2, chi2, 1e-12 * chi2);
  EXPECT_NEAR(sums->ss_residual, ss, 1e-12 * ss);
  EXPECT_NEAR(sums->rho, rho, 1e-12 * rho);
  EXPECT_EQ(e.cost, 0.5 * sums->rho);
  const auto moments = objective.response_moments();
  ASSERT_TRUE(moments.has_value());
  EXPECT_EQ(moments->count, static_cast<double>(kRows));
  EXPECT_NEAR(moments->mean, mean, 1e-14 * std::abs(mean));
  EXPECT_NEAR(moments->m2, m2, 1e-12 * m2);
}

TEST(ChunkedObjective, FittedValuesPassCoversEveryRowInOrder) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, false);
  const Eigen::Vector3d x(3.0, 0.7, 0.5);
  for (bool streaming : {false, true}) {
    CountingSource source(data);
    ChunkedObjectiveOptions options;
    options.chunk_rows = 128;
    options.threads = 2;
    std::atomic<long> counter{0};
    options.pass_counter = &counter;
    std::unique_ptr<ChunkedObjective> objective =
        streaming ? std::make_unique<ChunkedObjective>(model, source, options, ChunkedObjective::Streaming{})
                  : std::make_unique<ChunkedObjective>(model, data, options);
    std::size_t next_row = 0;
    objective->for_each_chunk_fitted(x, [&](const FittedChunk& chunk) {
      ASSERT_EQ(chunk.begin, next_row);
      for (std::size_t i = 0; i < chunk.rows; ++i) {
        const std::size_t row = chunk.begin + i;
        ASSERT_EQ(chunk.x[0][i], data.x_column(0)[row]);
        ASSERT_EQ(chunk.y[i], data.y_column()[row]);
        ASSERT_DOUBLE_EQ(chunk.fit[i], 3.0 * std::exp(-0.7 * data.x_column(0)[row]) + 0.5);
      }
      next_row += chunk.rows;
    });
    EXPECT_EQ(next_row, kRows);
    EXPECT_EQ(counter.load(), 1);
  }
}

TEST(ChunkedObjective, FewerRowsThanParametersAndAZeroColumn) {
  ExponentialDecay model;
  // Two rows at x = 0: the b column (-a x e^{-bx}) is zero and R has rank 2.
  MemoryDataSource data({{0.0, 0.0}}, {1.0, 2.0});
  ChunkedObjectiveOptions options;
  options.chunk_rows = 1;
  ChunkedObjective chunked(model, data, options);
  DenseObjective dense = make_dense(model, data, Loss::linear, 1.0);
  const Eigen::Vector3d x(1.5, 0.3, 0.2);
  const Evaluation a = chunked.evaluate(x, true);
  const Evaluation b = dense.evaluate(x, true);
  ASSERT_TRUE(a.has_linearization);
  EXPECT_LT((a.lin.R.transpose() * a.lin.R - b.lin.R.transpose() * b.lin.R).norm(), 1e-14);
  EXPECT_LT((a.lin.R.transpose() * a.lin.qtf - b.lin.R.transpose() * b.lin.qtf).norm(), 1e-14);
  EXPECT_EQ(a.lin.R.col(1).norm(), 0.0);
  EXPECT_EQ(a.lin.R.row(2).norm(), 0.0);
  EXPECT_DOUBLE_EQ(a.lin.f_norm2, b.lin.f_norm2);
}

TEST(ChunkedObjective, StreamingReadErrorReachesTheCaller) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(kRows, false);
  CountingSource source(data);
  ChunkedObjectiveOptions options;
  options.chunk_rows = 50;
  options.threads = 2;
  for (bool by_position : {false, true}) {
    source.read_by_position = by_position;
    source.fail_at_row = 700;
    ChunkedObjective streaming(model, source, options, ChunkedObjective::Streaming{});
    EXPECT_THROW(streaming.evaluate(Eigen::Vector3d(3, 0.7, 0.5), true), DataError) << by_position;
    source.fail_at_row = CountingSource::kNever;  // the objective is still usable afterwards
    EXPECT_TRUE(streaming.evaluate(Eigen::Vector3d(3, 0.7, 0.5), true).has_linearization) << by_position;
  }
}

TEST(ChunkedObjective, RejectsMismatchedInputs) {
  ExponentialDecay model;
  MemoryDataSource data = make_decay_data(10, false);
  ChunkedObjectiveOptions options;
  options.fixed = {true, true, true};
  options.fixed_values = Eigen::Vector3d(1, 1, 1);
  EXPECT_THROW(ChunkedObjective(model, data, options), std::invalid_argument);
  options = {};
  options.chunk_rows = 0;
  EXPECT_THROW(ChunkedObjective(model, data, options), std::invalid_argument);
  MemoryDataSource two_predictors({{1.0}, {2.0}}, {3.0});
  EXPECT_THROW(ChunkedObjective(model, two_predictors, ChunkedObjectiveOptions{}), std::invalid_argument);
}

}  // namespace
}  // namespace curvefit
