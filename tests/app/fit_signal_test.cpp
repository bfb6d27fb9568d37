// Ctrl-C during a fit: SIGINT to a running `curvefit fit --json` makes it finish the current
// iteration, print the best point so far with status "interrupted", remove its temporary spill
// file and exit 130. Ctrl-C after the fit, while --output and --plot are written, keeps the
// complete fit's report and writes neither file.
//
// The fit is kept running by tolerances it cannot meet (ftol = xtol = 0, gtol = 1e-15 on noisy
// data) and a huge --max-nfev, so the signal always arrives mid-fit; the test waits for observable
// events (an iteration line on stderr with --progress, the spill file in TMPDIR), never for a
// fixed time. A generous deadline only guards against a hang.
//
// The files have 1e6 rows, at the planner's subsample threshold, so the first iteration line is
// already the full fit: a subsample fit with these tolerances would, once converged, spend every
// remaining evaluation on rejected steps.
//
// The interrupt cuts the pass in progress short: with passes of seconds (a model of 143 parameters
// on one thread), SIGINT a second into a pass ends the process long before that pass would end,
// with the report of the last accepted iteration.
#include <signal.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "app/cli_util.h"

namespace curvefit::cli {
namespace {


// The exponential model's example data (5, 0.5, 1 with noise 0.05), `points` rows, written to `path`.
void generate_exponential(const std::string& path, const char* points, int seed) {
  const RunResult g = run({"generate", "--model", "exponential", "--points", points, "--noise", "0.05", "--seed",
                           std::to_string(seed), "--out", path});
  ASSERT_EQ(g.exit_code, 0) << g.err;
}

// Whether the progress output holds a full-data iteration line yet.
bool has_full_iteration(const std::string& err) { return last_full_iteration(err).first >= 0; }

void interrupt_and_check(const std::vector<std::string>& args, const std::vector<std::string>& env,
                         const std::function<bool()>& extra_ready) {
  Process fit(args, {}, env);
  const bool started = wait_for(fit, [&] { return has_full_iteration(fit.err_so_far()) && extra_ready(); },
                                std::chrono::seconds(120));
  ASSERT_TRUE(started) << "the fit did not start iterating (or ended first):\n" << fit.err_so_far() << fit.out_so_far();
  ASSERT_EQ(::kill(fit.pid(), SIGINT), 0);
  const RunResult r = fit.wait();
  EXPECT_EQ(r.exit_code, 130) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("status"), "interrupted");
  EXPECT_EQ(j.at("success"), false);
  EXPECT_GE(j.at("nfev").get<int>(), 1);
  // The best point so far is a real point: finite parameters of the model.
  for (const auto& p : j.at("params")) EXPECT_TRUE(p.at("value").is_number()) << p;
}

TEST(FitSignal, SigintDuringAStreamedCsvFitReportsAndRemovesTheSpillFile) {
  TempDir dir;
  const std::string data = dir / "big.csv";
  ASSERT_NO_FATAL_FAILURE(generate_exponential(data, "1e6", 2));
  const std::string spill_dir = dir / "tmp";
  fs::create_directories(spill_dir);
  auto spill_files = [&] { return std::distance(fs::directory_iterator(spill_dir), fs::directory_iterator{}); };
  interrupt_and_check({"fit", data, "--model", "a*exp(-b*x) + c", "--p0", "a=100,b=5,c=-3", "--mode", "stream",
                       "--ftol", "0", "--xtol", "0", "--gtol", "1e-15", "--max-nfev", "1000000", "--json",
                       "--progress", "--threads", "2"},
                      {"TMPDIR=" + spill_dir}, [&] { return spill_files() > 0; });
  EXPECT_EQ(spill_files(), 0) << "temporary spill files left in " << spill_dir;
}

TEST(FitSignal, SigintDuringALargeHdf5FitReportsInterrupted) {
  TempDir dir;
  const std::string data = dir / "big.h5";
  ASSERT_NO_FATAL_FAILURE(generate_exponential(data, "1e6", 4));
  interrupt_and_check({"fit", data, "--model", "a*exp(-b*x) + c", "--p0", "a=100,b=5,c=-3", "--ftol", "0", "--xtol",
                       "0", "--gtol", "1e-15", "--max-nfev", "1000000", "--json", "--progress", "--mode", "stream"},
                      {}, [] { return true; });
  EXPECT_EQ(dir.files(), std::vector<std::string>{"big.h5"});
}


TEST(FitSignal, SigintMidPassEndsWithinThePassWithTheLastAcceptedIteration) {
  TempDir dir;
  const std::string data = dir / "m.h5";
  ASSERT_NO_FATAL_FAILURE(generate_exponential(data, "1e6", 5));
  std::string model = "a*exp(-b*x) + c";
  for (int k = 1; k <= 140; ++k) model += " + d" + std::to_string(k) + "*sin(" + std::to_string(k) + "*x)";
  Process fit({"fit", data, "--model", model, "--p0", "a=100,b=5,c=-3", "--mode", "stream", "--threads", "1", "--ftol",
               "0", "--xtol", "0", "--gtol", "1e-15", "--max-nfev", "1000000", "--json", "--progress", "-v"});
  // A pass's progress line appears a second into it (and is redrawn every 250 ms): from the first
  // line of pass 2 to the first of pass 3 is one pass.
  using Clock = std::chrono::steady_clock;
  auto shows = [&](int pass) { return fit.err_so_far().find("pass " + std::to_string(pass) + " [") != std::string::npos; };
  ASSERT_TRUE(wait_for(fit, [&] { return shows(2); }, std::chrono::seconds(300))) << fit.err_so_far();
  const auto pass_2 = Clock::now();
  ASSERT_TRUE(wait_for(fit, [&] { return shows(3); }, std::chrono::seconds(300))) << fit.err_so_far();
  const auto signalled = Clock::now();
  const double pass_seconds = std::chrono::duration<double>(signalled - pass_2).count();
  ASSERT_EQ(::kill(fit.pid(), SIGINT), 0);
  // Timed until the report has arrived whole, not until the exit (under ASan, LeakSanitizer's
  // scan at exit takes time that says nothing about the fit).
  while (!nlohmann::json::accept(fit.out_so_far()) && fit.pump(5)) {
  }
  const double report_seconds = std::chrono::duration<double>(Clock::now() - signalled).count();
  const RunResult r = fit.wait();
  EXPECT_EQ(r.exit_code, 130) << r.err;
  // The signal came a second into pass 3; the rest of that pass is most of a pass again.
  EXPECT_GT(pass_seconds, 1.5) << "passes too short to tell";
  EXPECT_LT(report_seconds, pass_seconds / 4)
      << "reported " << report_seconds << " s after the signal, a pass takes " << pass_seconds << " s";
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("status"), "interrupted");
  // The report is that of the last accepted iteration, as its iteration line printed it.
  const auto [iteration, cost] = last_full_iteration(r.err);
  ASSERT_GE(iteration, 0) << r.err;
  EXPECT_EQ(j.at("iterations").get<int>(), iteration);
  EXPECT_NEAR(j.at("cost").get<double>(), cost, 1e-8 * std::abs(cost));
  for (const auto& p : j.at("params")) EXPECT_TRUE(std::isfinite(p.at("value").get<double>())) << p;
  for (const auto& p : j.at("params")) EXPECT_TRUE(p.at("stderr").is_number()) << p;
}


// Ctrl-C while --output and --plot are written (held there by CURVEFIT_TEST_HOLD_IN_OUTPUT after
// the first chunk): the fit, already complete, is reported with exit 130 and a note; neither file
// nor any temporary file is left.
TEST(FitSignal, SigintWhileTheOutputIsWrittenKeepsTheReportAndNoFile) {
  TempDir dir;
  const std::string data = dir / "d.h5";
  ASSERT_NO_FATAL_FAILURE(generate_exponential(data, "1e5", 6));
  for (const char* mode : {"memory", "stream"}) {
    SCOPED_TRACE(mode);
    const std::vector<std::string> args = {"fit", data, "--model", "exponential", "--mode", mode, "--json"};
    const RunResult whole = run(args);
    ASSERT_EQ(whole.exit_code, 0) << whole.err;
    std::vector<std::string> with_outputs = args;
    with_outputs.insert(with_outputs.end(), {"--output", dir / "curve.csv", "--plot", dir / "fit.svg"});
    Process fit(with_outputs, {}, {"CURVEFIT_TEST_HOLD_IN_OUTPUT=1"});
    // The curve's temporary file appears before the pass that writes it, where the process holds.
    auto writing = [&] {
      for (const std::string& name : dir.files())
        if (name.rfind("curve.csv.tmp-curvefit-", 0) == 0) return true;
      return false;
    };
    ASSERT_TRUE(wait_for(fit, writing, std::chrono::seconds(120))) << fit.err_so_far();
    ASSERT_EQ(::kill(fit.pid(), SIGINT), 0);
    const RunResult r = fit.wait();
    EXPECT_EQ(r.exit_code, 130) << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    const nlohmann::json expected = nlohmann::json::parse(whole.out);
    EXPECT_EQ(j.at("status"), expected.at("status"));  // the fit itself ended as without the outputs
    EXPECT_EQ(j.at("params"), expected.at("params"));
    EXPECT_EQ(j.at("covariance"), expected.at("covariance"));
    EXPECT_THAT(j.at("notes").dump(), testing::HasSubstr("interrupted while --output and --plot were written"));
    EXPECT_EQ(dir.files(), std::vector<std::string>{"d.h5"});
  }
}

}  // namespace
}  // namespace curvefit::cli
