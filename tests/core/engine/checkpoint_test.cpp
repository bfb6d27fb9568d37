// Checkpoints (core/engine/checkpoint.h): doubles survive the text form bit for bit (every class of
// double, and a million random bit patterns), a whole checkpoint survives JSON, and a fit resumed
// through the library API from each of its checkpoints gives the uninterrupted fit's bits.
#include "core/engine/checkpoint.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/engine/engine_test_support.h"
#include "core/engine/fit.h"
#include "core/errors.h"

namespace curvefit {
namespace {

std::uint64_t bits(double v) {
  std::uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

TEST(CheckpointText, EveryKindOfDoubleReadsBackToTheSameBits) {
  using limits = std::numeric_limits<double>;
  for (double v : {0.0, -0.0, 1.0, 0.1, -1.0 / 3, limits::max(), -limits::max(), limits::min(),
                   limits::denorm_min(), limits::epsilon(), limits::infinity(), -limits::infinity(), M_PI * 1e300})
    EXPECT_EQ(bits(exact_value(exact_text(v))), bits(v)) << exact_text(v);
  EXPECT_TRUE(std::isnan(exact_value(exact_text(limits::quiet_NaN()))));
  std::mt19937_64 random(15);
  for (int i = 0; i < 1'000'000; ++i) {
    const std::uint64_t pattern = random();
    double v;
    std::memcpy(&v, &pattern, sizeof v);
    if (std::isnan(v)) continue;
    ASSERT_EQ(bits(exact_value(exact_text(v))), pattern) << exact_text(v);
  }
  EXPECT_THROW(exact_value("1.5x"), std::runtime_error);
}

TEST(CheckpointJson, AWholeCheckpointSurvives) {
  FitCheckpoint c;
  c.problem = {{"method", "trf"}, {"p0", "0.1,3"}};
  c.mode = FitMode::stream;
  c.chunk_rows = 4096;
  c.stage = FitStage::full;
  c.subsample_nfev = 9;
  c.subsample_rows = 1234;
  c.subsample_start = Eigen::Vector2d(0.1, -0.0);
  c.passes = 17;
  c.solver.start = Eigen::Vector2d(1.0 / 3, 2);
  c.solver.x = Eigen::Vector2d(std::nextafter(1.0, 2.0), 1e-310);
  c.solver.cost = 0.1 + 0.2;
  c.solver.iteration = 4;
  c.solver.nfev = 6;
  c.solver.njev = 5;
  c.solver.status = Status::ftol;
  c.solver.history = {{0, 1.5, 0, 0, 2.25, 1e-3, 1, 1}, {1, 0.75, 0.75, 0.5, 0.125, 2e-3, 2, 2}};
  c.solver.scalars = {{"trf.Delta", 1.0 / 7}, {"trf.alpha", 0}};
  c.solver.vectors = {{"trf.scale", Eigen::Vector2d(3, std::numeric_limits<double>::infinity())}};
  const FitCheckpoint back = checkpoint_from_json(nlohmann::json::parse(checkpoint_to_json(c).dump()));
  EXPECT_EQ(back.problem.size(), 2u);
  EXPECT_EQ(back.problem[1].value, "0.1,3");
  EXPECT_EQ(back.mode, FitMode::stream);
  EXPECT_EQ(back.chunk_rows, 4096u);
  EXPECT_EQ(back.stage, FitStage::full);
  EXPECT_EQ(back.subsample_nfev, 9);
  EXPECT_EQ(back.subsample_rows, 1234u);
  EXPECT_EQ(bits(back.subsample_start[1]), bits(-0.0));
  EXPECT_EQ(back.passes, 17);
  EXPECT_TRUE(back.solver.start == c.solver.start);
  EXPECT_TRUE(back.solver.x == c.solver.x);
  EXPECT_EQ(back.solver.cost, c.solver.cost);
  EXPECT_EQ(back.solver.iteration, 4);
  EXPECT_EQ(back.solver.status, Status::ftol);
  ASSERT_EQ(back.solver.history.size(), 2u);
  EXPECT_EQ(back.solver.history[1].step_norm, 0.5);
  EXPECT_EQ(back.solver.history[1].njev, 2);
  EXPECT_EQ(back.solver.scalars.at("trf.Delta"), 1.0 / 7);
  EXPECT_TRUE(back.solver.vectors.at("trf.scale") == c.solver.vectors.at("trf.scale"));
  EXPECT_THROW(checkpoint_from_json(nlohmann::json::parse("{\"format\": \"other\"}")), std::runtime_error);
}

FitRequest decay_request(const Model& model, DataSource& data, Algorithm method) {
  FitRequest request;
  request.model = &model;
  request.data = &data;
  request.p0 = Eigen::Vector3d(1.0, 0.3, 0.0);
  request.plan.mode = FitMode::chunked;
  request.plan.chunk_rows = 700;
  request.plan.threads = 2;
  request.solver.method = method;
  request.resume_source = "test";
  return request;
}

TEST(CheckpointFit, ResumingFromEveryCheckpointGivesTheUninterruptedFit) {
  testing_support::ExponentialDecay model;
  MemoryDataSource data = testing_support::make_decay_data(5000, true);
  for (Algorithm method : {Algorithm::trf, Algorithm::dogbox, Algorithm::lm}) {
    std::vector<FitCheckpoint> saved;
    FitRequest request = decay_request(model, data, method);
    request.on_checkpoint = [&saved](const FitCheckpoint& c) { saved.push_back(c); };
    const FitResult whole = fit(request);
    ASSERT_GE(saved.size(), 3u);
    request.on_checkpoint = nullptr;
    for (const FitCheckpoint& checkpoint : saved) {
      request.resume = &checkpoint;
      request.plan.threads = 1;  // threads do not change the bits
      const FitResult resumed = fit(request);
      SCOPED_TRACE(std::string(to_string(method)) + " from iteration " + std::to_string(checkpoint.solver.iteration));
      EXPECT_TRUE(resumed.params == whole.params);
      EXPECT_TRUE(resumed.covariance == whole.covariance);
      EXPECT_EQ(resumed.nfev, whole.nfev);
      EXPECT_EQ(resumed.njev, whole.njev);
      EXPECT_EQ(resumed.iterations, whole.iterations);
    }
  }
}

TEST(CheckpointFit, AnotherStartingPointIsRefused) {
  testing_support::ExponentialDecay model;
  MemoryDataSource data = testing_support::make_decay_data(5000, true);
  std::vector<FitCheckpoint> saved;
  FitRequest request = decay_request(model, data, Algorithm::trf);
  request.on_checkpoint = [&saved](const FitCheckpoint& c) { saved.push_back(c); };
  fit(request);
  request.on_checkpoint = nullptr;
  request.resume = &saved.at(1);
  request.p0[0] = 2.0;
  try {
    fit(request);
    FAIL() << "resumed with another p0";
  } catch (const UsageError& error) {
    EXPECT_NE(std::string(error.what()).find("test: the checkpoint is of another problem: p0 is"), std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace curvefit
