// `curvefit fit --checkpoint FILE` / `--resume FILE` (docs/checkpoint.md): a fit killed with
// SIGKILL after its checkpoint shows iteration 2 and resumed ends with the uninterrupted fit's
// parameters, covariance and counts bit for bit, for trf, dogbox and lm, in memory and streamed,
// in the full fit and in the subsample fit of a large file; a checkpoint is refused (exit 2, one
// line naming what differs) for changed data, another model or another method.
//
// The killed run waits after the checkpoint of iteration 2 (CURVEFIT_TEST_HOLD_AT_CHECKPOINT, a
// test hook in app/cmd_fit.cpp) so that the test's SIGKILL lands while it is alive; the test finds
// that moment by polling the checkpoint file, not by timing. One run is killed at a moment nobody
// chooses (mid-pass or mid-write), with the hold only as a backstop further on.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "app/cli_util.h"

namespace curvefit::cli {
namespace {

// gaussian's example parameters, which `generate` uses.
constexpr double kTrueA = 3.0, kTrueMu = 5.0, kTrueSigma = 1.2;

class FitCheckpoint : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const RunResult g = run({"generate", "--model", "gaussian", "--points", "20000", "--noise", "0.05", "--seed", "7",
                             "--out", *dir_ / "g.h5", "-q"});
    ASSERT_EQ(g.exit_code, 0) << g.err;
    // More than a million rows: a subsample fit comes first.
    const RunResult large = run({"generate", "--model", "gaussian", "--points", "1200000", "--noise", "0.05",
                                 "--out", *dir_ / "large.h5", "-q"});
    ASSERT_EQ(large.exit_code, 0) << large.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static std::vector<std::string> fit_args(const std::string& data, const std::string& method,
                                           const std::string& mode) {
    // A start far from the truth: a dozen iterations.
    return {"fit", data, "--model", "gaussian", "--p0", "a=0.5,mu=3,sigma=2", "--method", method, "--mode", mode,
            "--json", "-q"};
  }

  // Runs args with --checkpoint, held after the checkpoint of `hold` (e.g. "full:2"); kills it with
  // Whether a checkpoint is at or past iteration `at` of `stage` (the full fit follows the subsample fit).
  static bool reached(const nlohmann::json& saved, const std::string& stage, int at) {
    const std::string now = saved.at("stage");
    if (now != stage) return now == "full";
    return saved.at("solver").at("iteration").get<int>() >= at;
  }

  // SIGKILL once the checkpoint file shows that iteration (or `kill_at`, when given, e.g.
  // "subsample:2", earlier than the hold). Returns the checkpoint's iteration.
  static int run_and_kill(std::vector<std::string> args, const std::string& checkpoint, const std::string& hold,
                          const std::string& kill_at = {}, int signal = SIGKILL) {
    args.insert(args.end(), {"--checkpoint", checkpoint});
    const std::string when = kill_at.empty() ? hold : kill_at;
    const std::string stage = when.substr(0, when.find(':'));
    const int at = std::stoi(when.substr(when.find(':') + 1));
    Process p(args, {}, {"CURVEFIT_TEST_HOLD_AT_CHECKPOINT=" + hold});
    int iteration = -1;
    while (p.pump(kill_at.empty() ? 20 : 1)) {
      if (!fs::exists(checkpoint)) continue;
      const nlohmann::json saved = nlohmann::json::parse(read_text(checkpoint));  // whole: renamed into place
      if (reached(saved, stage, at)) {
        iteration = saved.at("solver").at("iteration").get<int>();
        break;
      }
    }
    ::kill(p.pid(), signal);
    const RunResult killed = p.wait();
    // SIGTERM: the fit stops after the current step and reports (exit 130), as under a time limit.
    EXPECT_EQ(killed.exit_code, signal == SIGKILL ? 128 + SIGKILL : 130) << "the fit ended before the signal:\n"
                                                                         << killed.err;
    return iteration;
  }

  static void expect_same_bits(const nlohmann::json& resumed, const nlohmann::json& whole) {
    ASSERT_EQ(resumed.at("params").size(), whole.at("params").size());
    for (std::size_t i = 0; i < whole.at("params").size(); ++i) {
      // The report writes doubles as the shortest text that reads back to the same bits.
      EXPECT_EQ(resumed["params"][i]["value"].get<double>(), whole["params"][i]["value"].get<double>()) << i;
      EXPECT_EQ(resumed["params"][i]["stderr"].get<double>(), whole["params"][i]["stderr"].get<double>()) << i;
    }
    EXPECT_EQ(resumed.at("covariance"), whole.at("covariance"));
    EXPECT_EQ(resumed.at("cost").get<double>(), whole.at("cost").get<double>());
    EXPECT_EQ(resumed.at("nfev"), whole.at("nfev"));
    EXPECT_EQ(resumed.at("njev"), whole.at("njev"));
    EXPECT_EQ(resumed.at("iterations"), whole.at("iterations"));
    EXPECT_EQ(resumed.at("status"), whole.at("status"));
    EXPECT_EQ(resumed.at("history").size(), whole.at("history").size());
  }

  static TempDir* dir_;
};
TempDir* FitCheckpoint::dir_ = nullptr;

struct Case {
  const char* method;
  const char* mode;
};

class KillAndResume : public FitCheckpoint, public ::testing::WithParamInterface<Case> {};

TEST_P(KillAndResume, GivesTheUninterruptedFitBitForBit) {
  const Case c = GetParam();
  const std::vector<std::string> args = fit_args(*dir_ / "g.h5", c.method, c.mode);
  const RunResult whole = run(args);
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  const nlohmann::json expected = whole.json();
  // The uninterrupted fit finds the generating parameters (so the comparison is of a right answer).
  EXPECT_NEAR(param(expected, "a"), kTrueA, 5e-3);
  EXPECT_NEAR(param(expected, "mu"), kTrueMu, 5e-3);
  EXPECT_NEAR(std::abs(param(expected, "sigma")), kTrueSigma, 5e-3);  // lm, unbounded, may end at -sigma

  const std::string checkpoint = *dir_ / (std::string(c.method) + "_" + c.mode + ".ckpt");
  const int killed_at = run_and_kill(args, checkpoint, "full:2");
  ASSERT_GE(killed_at, 2);
  ASSERT_LT(killed_at, expected.at("iterations").get<int>()) << "the resumed fit has steps left to take";

  std::vector<std::string> resume = args;
  resume.insert(resume.end(), {"--resume", checkpoint});
  const RunResult resumed = run(resume);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  expect_same_bits(resumed.json(), expected);
  // The resumed fit goes on checkpointing into the file it resumed from, up to its last step.
  const nlohmann::json last = nlohmann::json::parse(read_text(checkpoint));
  EXPECT_EQ(last.at("solver").at("iteration"), expected.at("iterations"));
}

INSTANTIATE_TEST_SUITE_P(MethodsAndModes, KillAndResume,
                         ::testing::Values(Case{"trf", "memory"}, Case{"trf", "stream"}, Case{"dogbox", "memory"},
                                           Case{"dogbox", "stream"}, Case{"lm", "memory"}, Case{"lm", "stream"}),
                         [](const auto& info) { return std::string(info.param.method) + "_" + info.param.mode; });

TEST_F(FitCheckpoint, AFitKilledInItsSubsampleStageResumesBitForBit) {
  const std::string data = *dir_ / "large.h5";
  const std::vector<std::string> args = fit_args(data, "trf", "stream");
  const RunResult whole = run(args);
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  ASSERT_GT(whole.json().at("subsample_rows").get<int>(), 0);
  const std::string checkpoint = *dir_ / "large.ckpt";
  ASSERT_GE(run_and_kill(args, checkpoint, "subsample:2"), 2);
  std::vector<std::string> resume = args;
  resume.insert(resume.end(), {"--resume", checkpoint});
  const RunResult resumed = run(resume);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  expect_same_bits(resumed.json(), whole.json());
  EXPECT_EQ(resumed.json().at("params"), whole.json().at("params"));  // init from the subsample's start too
}

TEST_F(FitCheckpoint, AKillAtAnUnchosenMomentLosesNothing) {
  const std::vector<std::string> args = fit_args(*dir_ / "large.h5", "lm", "stream");
  const RunResult whole = run(args);
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  const std::string checkpoint = *dir_ / "unchosen.ckpt";
  // Killed as soon as the subsample fit's iteration 2 is seen, wherever the fit is by then (the
  // hold at the full fit's first step only keeps it from finishing first).
  ASSERT_GE(run_and_kill(args, checkpoint, "full:1", "subsample:2"), 0);
  std::vector<std::string> resume = args;
  resume.insert(resume.end(), {"--resume", checkpoint});
  const RunResult resumed = run(resume);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  expect_same_bits(resumed.json(), whole.json());
}

// What a cluster job under a time limit does (docs/checkpoint.md): SIGTERM, exit 130, resume.
TEST_F(FitCheckpoint, AFitStoppedBySigtermInEitherStageResumesBitForBit) {
  const std::vector<std::string> args = fit_args(*dir_ / "large.h5", "dogbox", "stream");
  const RunResult whole = run(args);
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  for (const char* stage : {"subsample:2", "full:1"}) {
    SCOPED_TRACE(stage);
    const std::string checkpoint = *dir_ / "sigterm.ckpt";
    fs::remove(checkpoint);
    const int at = run_and_kill(args, checkpoint, stage, {}, SIGTERM);
    ASSERT_GE(at, 1);
    // The stop does not move the checkpoint past the state it was signalled at.
    const nlohmann::json saved = nlohmann::json::parse(read_text(checkpoint));
    EXPECT_EQ(std::string(stage).rfind(saved.at("stage").get<std::string>(), 0), 0u);
    EXPECT_EQ(saved.at("solver").at("iteration").get<int>(), at);
    std::vector<std::string> resume = args;
    resume.insert(resume.end(), {"--resume", checkpoint});
    const RunResult resumed = run(resume);
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    expect_same_bits(resumed.json(), whole.json());
  }
}

TEST_F(FitCheckpoint, AFinishedCheckpointResumesToTheSameReport) {
  const std::vector<std::string> args = fit_args(*dir_ / "g.h5", "trf", "memory");
  std::vector<std::string> with_checkpoint = args;
  const std::string checkpoint = *dir_ / "finished.ckpt";
  with_checkpoint.insert(with_checkpoint.end(), {"--checkpoint", checkpoint});
  const RunResult whole = run(with_checkpoint);
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  std::vector<std::string> resume = args;
  resume.insert(resume.end(), {"--resume", checkpoint});
  const RunResult again = run(resume);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  expect_same_bits(again.json(), whole.json());
}

class Refusal : public FitCheckpoint {
 protected:
  // A checkpoint of a trf fit of a copy of the data, killed at iteration 2.
  void SetUp() override {
    data_ = *dir_ / (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".h5");
    fs::copy_file(*dir_ / "g.h5", data_, fs::copy_options::overwrite_existing);
    checkpoint_ = data_ + ".ckpt";
    ASSERT_GE(run_and_kill(fit_args(data_, "trf", "memory"), checkpoint_, "full:2"), 2);
  }
  RunResult resume_with(std::vector<std::string> args) {
    args.insert(args.end(), {"--resume", checkpoint_});
    return run(args);
  }
  static void expect_refused(const RunResult& r, const std::string& what) {
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("the checkpoint is of another problem: " + what), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line:\n" << r.err;
  }
  std::string data_, checkpoint_;
};

TEST_F(Refusal, TouchedDataFile) {
  const std::string saved = read_text(checkpoint_);
  ASSERT_EQ(::utimensat(AT_FDCWD, data_.c_str(), nullptr, 0), 0);  // now
  expect_refused(resume_with(fit_args(data_, "trf", "memory")), "data modification time");
  EXPECT_EQ(read_text(checkpoint_), saved) << "a refused resume leaves the checkpoint alone";
}

TEST_F(Refusal, RewrittenDataWithTheSameSizeAndTime) {
  struct stat before {};
  ASSERT_EQ(::stat(data_.c_str(), &before), 0);
  ASSERT_EQ(run({"generate", "--model", "gaussian", "--points", "20000", "--noise", "0.05", "--seed", "8", "--out",
                 data_, "-q"})
                .exit_code,
            0);
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, data_.c_str(), times, 0), 0);
  expect_refused(resume_with(fit_args(data_, "trf", "memory")), "hash of the data's first and last 64 KiB");
}

TEST_F(Refusal, AnotherModel) {
  std::vector<std::string> args = fit_args(data_, "trf", "memory");
  args.at(3) = "a*exp(-((x - mu)^2)/(2*sigma^2)) + 0*x";
  expect_refused(resume_with(args), "model");
}

TEST_F(Refusal, AnotherMethod) {
  expect_refused(resume_with(fit_args(data_, "dogbox", "memory")), "method is trf there, dogbox here");
}

TEST_F(Refusal, AnotherChunkSize) {
  std::vector<std::string> args = fit_args(data_, "trf", "memory");
  args.insert(args.end(), {"--mode", "chunked", "--chunk-size", "5000"});
  args.erase(args.begin() + 8, args.begin() + 10);  // the first --mode memory
  expect_refused(resume_with(args), "chunk rows");
}

// A row selection that keeps every row leaves the rows, columns and data alone: only the recorded
// selection tells the problems apart (a narrower one could also keep the row count by chance).
TEST_F(Refusal, ARowSelection) {
  std::vector<std::string> args = fit_args(data_, "trf", "memory");
  args.insert(args.end(), {"--x-range", ":1e300"});
  expect_refused(resume_with(args), "rows selected by is every row there");
}

TEST_F(FitCheckpoint, ACheckpointThatCannotBeWrittenOrThatIsTheDataIsRefusedBeforeTheFit) {
  std::vector<std::string> args = fit_args(*dir_ / "g.h5", "trf", "memory");
  args.insert(args.end(), {"--checkpoint", *dir_ / "no such folder/fit.ckpt"});
  const RunResult r = run(args);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("no such folder/fit.ckpt: cannot write"), std::string::npos) << r.err;
  EXPECT_EQ(r.json().at("status"), "error") << "no report of a fit that did not run";
  std::vector<std::string> onto_data = fit_args(*dir_ / "g.h5", "trf", "memory");
  onto_data.insert(onto_data.end(), {"--checkpoint", *dir_ / "g.h5"});
  const RunResult d = run(onto_data);
  EXPECT_EQ(d.exit_code, 2) << d.err;
  EXPECT_NE(d.err.find("is the input file"), std::string::npos) << d.err;
}

TEST_F(FitCheckpoint, AMissingOrBrokenCheckpointIsAUsageError) {
  const std::vector<std::string> args = fit_args(*dir_ / "g.h5", "trf", "memory");
  std::vector<std::string> missing = args;
  missing.insert(missing.end(), {"--resume", *dir_ / "none.ckpt"});
  const RunResult r = run(missing);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("none.ckpt: cannot read the checkpoint"), std::string::npos) << r.err;
  write_text(*dir_ / "broken.ckpt", "{\"format\": \"curvefit checkpoint 1\", \"problem\": []");
  std::vector<std::string> broken = args;
  broken.insert(broken.end(), {"--resume", *dir_ / "broken.ckpt"});
  const RunResult b = run(broken);
  EXPECT_EQ(b.exit_code, 2);
  EXPECT_NE(b.err.find("broken.ckpt: not a usable curvefit checkpoint"), std::string::npos) << b.err;
}

}  // namespace
}  // namespace curvefit::cli
