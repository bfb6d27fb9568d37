// `curvefit fit --starts N` and `--model M1 --model M2`: a held-back multi-modal case (a sine
// whose frequency the start from p0 misses) and a Gaussian peak, both generated here with known
// parameters. Each start of a shared run must be the very fit `--p0 <that start>` gives (the JSON
// holds every double's shortest round-trip text, so equal text is equal bits), and N starts must
// cost the passes of the longest start, not the sum.
#include <charconv>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "app/cli_util.h"

namespace curvefit::cli {
namespace {

constexpr double kTrueA = 2.0, kTrueW = 3.7;

std::string text(double v) {
  char buffer[32];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, v).ptr;
  return std::string(buffer, end);
}

// y = 2 sin(3.7 x) + N(0, 0.1) on [0, 4], 20000 rows.
std::string write_wave(const TempDir& dir) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(0.0, 0.1);
  std::string csv = "x,y\n";
  for (int i = 0; i < 20000; ++i) {
    const double x = 4.0 * i / 20000;
    csv += text(x) + "," + text(kTrueA * std::sin(kTrueW * x) + noise(rng)) + "\n";
  }
  write_text(dir / "wave.csv", csv);
  return dir / "wave.csv";
}

// y = 3 exp(-(x - 5)^2 / (2 1.2^2)) + N(0, 0.02) on [0, 10], 5000 rows.
std::string write_peak(const TempDir& dir) {
  std::mt19937_64 rng(12);
  std::normal_distribution<double> noise(0.0, 0.02);
  std::string csv = "x,y\n";
  for (int i = 0; i < 5000; ++i) {
    const double x = 10.0 * i / 5000;
    csv += text(x) + "," + text(3.0 * std::exp(-(x - 5) * (x - 5) / (2 * 1.44)) + noise(rng)) + "\n";
  }
  write_text(dir / "peak.csv", csv);
  return dir / "peak.csv";
}

std::vector<std::string> wave_fit(const std::string& data, const std::string& p0) {
  return {"fit", data, "--model", "a*sin(w*x)", "--p0", p0, "--bounds", "a=-5:5,w=0.5:6", "--mode", "stream",
          "--chunk-size", "700", "--threads", "2", "--json"};
}

bool found_truth(const nlohmann::json& fit) {
  return std::abs(param(fit, "a") - kTrueA) < 0.01 && std::abs(param(fit, "w") - kTrueW) < 0.002;
}

TEST(FitStarts, OneStartMissesTheFrequencyEightStartsFindIt) {
  TempDir dir;
  const std::string data = write_wave(dir);
  const RunResult one = run(wave_fit(data, "a=1,w=1"));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_FALSE(found_truth(one.json())) << one.out;
  std::vector<std::string> args = wave_fit(data, "a=1,w=1");
  args.insert(args.end(), {"--starts", "8", "--seed", "3"});
  const RunResult many = run(args);
  ASSERT_EQ(many.exit_code, 0) << many.err;
  const nlohmann::json fit = many.json();
  EXPECT_TRUE(found_truth(fit)) << many.out;
  EXPECT_NEAR(param(fit, "w"), kTrueW, 5 * param(fit, "w", "stderr"));
  const nlohmann::json& starts = fit.at("starts");
  EXPECT_EQ(starts.at("count"), 8);
  EXPECT_EQ(starts.at("seed"), 3);
  EXPECT_GE(starts.at("minima").size(), 2u);
  EXPECT_EQ(starts.at("minima")[0].at("cost").get<double>(), fit.at("cost").get<double>());
  EXPECT_EQ(starts.at("runs")[0].at("cost").get<double>(), one.json().at("cost").get<double>());
  // The text report lists the minima too.
  args.pop_back(), args.pop_back();
  std::erase(args, std::string("--json"));
  const RunResult report = run(args);
  EXPECT_NE(report.out.find("[[Starts]]"), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("distinct minima"), std::string::npos) << report.out;
}

TEST(FitStarts, EachStartIsItsOwnSingleFitAndTheRunCostsTheLongestStartsPasses) {
  TempDir dir;
  const std::string data = write_wave(dir);
  std::vector<std::string> args = wave_fit(data, "a=1,w=1");
  args.insert(args.end(), {"--starts", "8"});
  const RunResult many = run(args);
  ASSERT_EQ(many.exit_code, 0) << many.err;
  const nlohmann::json fit = many.json();
  long sum = 0, longest = 0;
  for (const nlohmann::json& start : fit.at("starts").at("runs")) {
    const nlohmann::json& init = start.at("init");
    const RunResult alone =
        run(wave_fit(data, "a=" + text(init.at("a").get<double>()) + ",w=" + text(init.at("w").get<double>())));
    ASSERT_EQ(alone.exit_code, 0) << alone.err;
    const nlohmann::json single = alone.json();
    EXPECT_EQ(single.at("cost").get<double>(), start.at("cost").get<double>()) << start;
    EXPECT_EQ(param(single, "a"), start.at("params").at("a").get<double>()) << start;
    EXPECT_EQ(param(single, "w"), start.at("params").at("w").get<double>()) << start;
    EXPECT_EQ(single.at("passes").get<long>(), start.at("passes").get<long>()) << start;
    sum += single.at("passes").get<long>();
    longest = std::max(longest, single.at("passes").get<long>());
  }
  EXPECT_EQ(fit.at("passes").get<long>(), longest);
  EXPECT_LT(fit.at("passes").get<long>(), sum / 2);
  EXPECT_EQ(fit.at("starts").at("separate_passes").get<long>(), sum);
}

TEST(FitModels, GaussianDataRankGaussianFirstWithItsSingleFitAic) {
  TempDir dir;
  const std::string data = write_peak(dir);
  for (const char* mode : {"memory", "chunked", "stream"}) {
    const RunResult both = run({"fit", data, "--model", "lorentzian", "--model", "gaussian", "--mode", mode,
                                "--chunk-size", "1000", "--json"});
    ASSERT_EQ(both.exit_code, 0) << both.err;
    const nlohmann::json fit = both.json();
    ASSERT_EQ(fit.at("models").size(), 2u) << mode;
    EXPECT_EQ(fit.at("models")[0].at("model"), "gaussian") << mode;
    EXPECT_EQ(fit.at("model"), "gaussian") << mode;  // the report is the best model's
    EXPECT_NEAR(param(fit, "mu"), 5.0, 5 * param(fit, "mu", "stderr")) << mode;
    EXPECT_NEAR(param(fit, "sigma"), 1.2, 5 * param(fit, "sigma", "stderr")) << mode;
    for (const nlohmann::json& row : fit.at("models")) {
      const RunResult alone = run({"fit", data, "--model", row.at("model").get<std::string>(), "--mode", mode,
                                   "--chunk-size", "1000", "--json"});
      ASSERT_EQ(alone.exit_code, 0) << alone.err;
      EXPECT_EQ(alone.json().at("aic").get<double>(), row.at("aic").get<double>()) << mode << " " << row;
    }
    EXPECT_LT(fit.at("models")[0].at("aic").get<double>(), fit.at("models")[1].at("aic").get<double>());
  }
}

TEST(FitModels, NamesApplyToTheModelsThatHaveThemAndOutputsAreTheBestModels) {
  TempDir dir;
  const std::string data = write_peak(dir);
  // c is the offset model's only: applies to it, not to gaussian.
  const RunResult r = run({"fit", data, "--model", "gaussian", "--model", "gaussian_offset", "--fix", "c=0",
                           "--p0", "mu=4.8", "--output", dir / "fit.csv", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json fit = r.json();
  ASSERT_EQ(fit.at("models").size(), 2u);
  const std::string best = fit.at("models")[0].at("model");
  EXPECT_EQ(fit.at("model"), best);
  // --fix c=0 makes gaussian_offset the same curve as gaussian: the same chi-square to rounding.
  EXPECT_NEAR(fit.at("models")[0].at("chi2").get<double>(), fit.at("models")[1].at("chi2").get<double>(),
              1e-8 * fit.at("models")[0].at("chi2").get<double>());
  const std::string csv = read_text(dir / "fit.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5001);
}

TEST(FitStarts, BadInputsAreUsageErrors) {
  TempDir dir;
  const std::string data = write_peak(dir);
  for (const char* n : {"0", "-2"}) {
    const RunResult r = run({"fit", data, "--model", "gaussian", "--starts", n});
    EXPECT_EQ(r.exit_code, 2) << n << r.err;
    EXPECT_NE(r.err.find("--starts"), std::string::npos) << r.err;
  }
  const RunResult unknown = run({"fit", data, "--model", "gaussian", "--model", "lorentzian", "--p0", "zz=1"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.err;
  EXPECT_NE(unknown.err.find("zz"), std::string::npos) << unknown.err;
}

}  // namespace
}  // namespace curvefit::cli
