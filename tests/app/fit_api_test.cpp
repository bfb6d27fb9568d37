// The C++ fit API (core/engine/fit_setup.h) and `curvefit fit` are one code path: the same fit
// through both gives the same parameters and standard errors, and the result echoes the settings
// it ran with. Known truth: data from `curvefit generate` (y = 5 exp(-0.5 x) + 1, noise 0.05).
#include <gtest/gtest.h>
#include <tbb/info.h>
#include <tbb/task_arena.h>

#include <cmath>
#include <string>
#include <vector>

#include "app/cli_util.h"
#include "core/curvefit.h"

namespace curvefit::cli {
namespace {

class FitApi : public ::testing::Test {
 protected:
  void SetUp() override {
    csv_ = dir_ / "exp.csv";
    const RunResult g = run({"generate", "--model", "exponential", "--points", "3000", "--noise",
                             "0.05", "--seed", "11", "--out", csv_});
    ASSERT_EQ(g.exit_code, 0) << g.err;
  }
  TempDir dir_;
  std::string csv_;
};

TEST_F(FitApi, GivesTheCommandLinesAnswerAndEchoesItsSettings) {
  const RunResult cli = run(
      {"fit", csv_, "--model", "exponential", "--loss", "soft_l1", "--f-scale", "0.1", "--json"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  const nlohmann::json j = cli.json();

  FitSpec spec;
  spec.data_path = csv_;
  spec.model = "exponential";
  spec.loss = Loss::soft_l1;
  spec.f_scale = 0.1;
  const FitResult api = fit(spec);
  ASSERT_TRUE(api.success) << api.message;
  for (std::size_t k = 0; k < api.names.size(); ++k) {
    const auto K = static_cast<Eigen::Index>(k);
    // One code path: the same numbers to the last digits JSON carries.
    EXPECT_NEAR(api.params[K], param(j, api.names[k]), 1e-12 * std::abs(api.params[K]))
        << api.names[k];
    EXPECT_NEAR(api.stderr_[K], param(j, api.names[k], "stderr"), 1e-9 * api.stderr_[K])
        << api.names[k];
    EXPECT_EQ(api.used.init[K], param(j, api.names[k], "init")) << api.names[k];
  }
  // And the answer is the truth, within a few standard errors.
  EXPECT_NEAR(api.params[0], 5.0, 5 * api.stderr_[0]);
  EXPECT_NEAR(api.params[1], 0.5, 5 * api.stderr_[1]);
  EXPECT_NEAR(api.params[2], 1.0, 5 * api.stderr_[2]);
  // The settings actually used travel with the result.
  EXPECT_EQ(api.used.loss, Loss::soft_l1);
  EXPECT_EQ(api.used.f_scale, 0.1);
  EXPECT_EQ(api.used.init_source, "guess from the data");
  EXPECT_EQ(api.used.data, csv_);
  EXPECT_GT(api.used.memory_limit_bytes, 0u);
  ASSERT_EQ(api.used.lower.size(), 3);
  for (std::size_t k = 0; k < 3; ++k) {  // the model's natural bounds
    EXPECT_EQ(api.used.lower[static_cast<Eigen::Index>(k)],
              find_model("exponential")->bounds[k].lower);
    EXPECT_EQ(api.used.upper[static_cast<Eigen::Index>(k)],
              find_model("exponential")->bounds[k].upper);
  }
  EXPECT_EQ(j.at("loss"), "soft_l1");
  EXPECT_EQ(j.at("settings").at("init_source"), "guess from the data");
  EXPECT_TRUE(j.at("params").at(0).at("bounds").at(0).is_null());  // no natural bound on a
}

TEST_F(FitApi, InMemoryArraysGiveTheFilesAnswer) {
  // The generated CSV read back: the same rows through the arrays path.
  FitSpec from_file;
  from_file.data_path = csv_;
  from_file.model = "exponential";
  PreparedFit prepared = prepare_fit(from_file);
  ASSERT_NE(prepared.in_memory, nullptr);
  const std::size_t m = prepared.in_memory->rows();
  FitSpec arrays;
  arrays.model = "exponential";
  arrays.x = {
      std::vector<double>(prepared.in_memory->x_column(0), prepared.in_memory->x_column(0) + m)};
  arrays.y.assign(prepared.in_memory->y_column(), prepared.in_memory->y_column() + m);
  const FitResult a = fit(arrays), f = fit(prepared);
  ASSERT_TRUE(a.success && f.success);
  for (Eigen::Index k = 0; k < a.params.size(); ++k) {
    EXPECT_NEAR(a.params[k], f.params[k], 1e-12 * std::abs(f.params[k]));
    EXPECT_NEAR(a.stderr_[k], f.stderr_[k], 1e-9 * f.stderr_[k]);
  }
  EXPECT_EQ(a.used.data, "<memory>");
}

TEST_F(FitApi, FixOverridesP0OfTheSameName) {
  const RunResult cli =
      run({"fit", csv_, "--model", "exponential", "--p0", "c=1", "--fix", "c=1.2", "--json"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  const nlohmann::json j = cli.json();
  EXPECT_EQ(param(j, "c"), 1.2);
  EXPECT_EQ(param(j, "c", "stderr"), 0.0);

  FitSpec spec;
  spec.data_path = csv_;
  spec.model = "exponential";
  spec.p0 = {{"c", 1.0}};
  spec.fix = {{"c", 1.2}};
  const FitResult api = fit(spec);
  EXPECT_EQ(api.params[2], 1.2);
  EXPECT_TRUE(api.fixed[2]);
  EXPECT_NEAR(api.params[0], param(j, "a"), 1e-12 * std::abs(api.params[0]));
}

// The API applies a built-in model's natural bounds as the command line does (a width > 0), and
// echoes them; lm takes none.
TEST(FitApiBounds, NaturalBoundsApplyAndAreEchoed) {
  FitSpec spec;
  spec.model = "gaussian";
  std::vector<double> x, y;
  for (int i = 0; i < 400; ++i) {
    x.push_back(i * 0.025);
    y.push_back(3.0 * std::exp(-std::pow(x.back() - 5.0, 2) / (2 * 1.2 * 1.2)) +
                0.001 * std::sin(i));
  }
  spec.x = {x};
  spec.y = y;
  const FitResult bounded = fit(spec);
  ASSERT_TRUE(bounded.success) << bounded.message;
  EXPECT_EQ(bounded.used.lower[2], find_model("gaussian")->bounds[2].lower);
  EXPECT_GE(bounded.used.lower[2], 0.0);
  EXPECT_NEAR(bounded.params[2], 1.2, 1e-3);
  spec.method = Algorithm::lm;
  const FitResult free = fit(spec);
  EXPECT_TRUE(std::isinf(free.used.lower[2]));
  EXPECT_NEAR(std::abs(free.params[2]), 1.2, 1e-3);
}

TEST(FitApiErrors, AModelNotFiniteAtTheStartIsBadModelNamingTheRow) {
  FitSpec spec;
  spec.model = "a*x^-2+b";
  spec.x = {{3, 2, 0, 1, 4}};
  spec.y = {1, 2, 3, 4, 5};
  try {
    fit(spec);
    FAIL() << "no error";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("data row 3 (x = 0)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace curvefit::cli

namespace curvefit::cli {
namespace {

// A start on a bound (gaussian's sigma > 0 given as 0, the amplitude on an upper --bounds) is moved
// strictly inside by every bounded method, the fit reaches the truth (a = 3, mu = 5, sigma = 1.2),
// and `init` reports the point actually used, not the one asked for.
TEST(FitApiBounds, AStartOnABoundIsMovedInsideAndReportedAsUsed) {
  TempDir dir;
  const std::string csv = dir / "peak.csv";
  std::string text = "x,y\n";
  for (int i = 0; i < 400; ++i) {
    const double x = i * 0.025;
    text += std::to_string(x) + "," + std::to_string(3.0 * std::exp(-std::pow(x - 5.0, 2) / (2 * 1.2 * 1.2))) + "\n";
  }
  write_text(csv, text);
  for (const char* method : {"trf", "dogbox"}) {
    const RunResult r = run({"fit", csv, "--model", "gaussian", "--method", method, "--p0", "a=4,mu=4.5,sigma=0",
                             "--bounds", "a=0:4", "--json"});
    ASSERT_EQ(r.exit_code, 0) << method << "\n" << r.err << r.out;
    const auto j = r.json();
    EXPECT_NEAR(param(j, "a"), 3.0, 1e-4) << method;
    EXPECT_NEAR(param(j, "mu"), 5.0, 1e-4) << method;
    EXPECT_NEAR(param(j, "sigma"), 1.2, 1e-4) << method;
    EXPECT_GT(param(j, "sigma", "init"), 0.0) << method << ": init is the start used, inside sigma > 0";
    EXPECT_LT(param(j, "a", "init"), 4.0) << method << ": init is the start used, inside a <= 4";
    EXPECT_NEAR(param(j, "mu", "init"), 4.5, 1e-12) << method << ": a start inside stays";
  }
}

// --threads bounds the whole command, reading the data included: the CSV parse runs inside an
// arena of that many threads. Its notices are sent from the thread running the parse, which sees
// the arena's concurrency; the rows read are the same with any thread count.
TEST_F(FitApi, ReadingTheDataRunsOnTheThreadsAskedFor) {
  const int cores = tbb::info::default_concurrency();
  if (cores < 2) GTEST_SKIP() << "one core: every thread count reads on one thread";
  write_text(csv_, read_text(csv_) + "not a number,1\n");
  for (int threads : {1, 2, 0}) {
    FitSpec spec;
    spec.data_path = csv_;
    spec.model = "exponential";
    spec.threads = threads;
    spec.data_options.skip_invalid = true;
    std::vector<int> concurrency;
    spec.data_options.on_notice = [&](const std::string&) {
      concurrency.push_back(tbb::this_task_arena::max_concurrency());
    };
    const PreparedFit prepared = prepare_fit(spec);
    ASSERT_NE(prepared.in_memory, nullptr);
    EXPECT_EQ(prepared.in_memory->rows(), 3000u) << threads << " threads";
    ASSERT_FALSE(concurrency.empty()) << "the skipped row is reported";
    for (int seen : concurrency) EXPECT_EQ(seen, threads > 0 ? threads : cores) << threads << " threads";
  }
}


}  // namespace
}  // namespace curvefit::cli
