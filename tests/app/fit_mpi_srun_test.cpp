// `srun --mpi=pmix -n K curvefit fit ...` on the one-node Slurm cluster of scripts/slurm_local.sh
// (scripts/test.sh starts it): the tasks join one MPI world through Slurm's PMIx server, rank 0
// alone reports, "ranks" is K, and the fit is the single process's bit for bit on HDF5 and on a CSV
// split by byte ranges; a bad row on one rank ends the job with exit 3 and its message. What
// Debian's Open MPI 4.1 cannot do is pinned too: without PMIx (--mpi=none) each task fits alone,
// which the check of the other tests rejects, and --mpi=pmi2 fails in MPI_Init (Open MPI is built
// without Slurm's PMI-1/PMI-2 clients). Skipped when srun is missing, no local cluster answers, or
// curvefit was built without MPI. The cluster is found through SLURM_CONF, or else the
// slurm.conf that scripts/slurm_local.sh writes by default. Each srun runs under `timeout 120`.
#include <H5Cpp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/app/cli_util.h"
#include "tests/app/mpi_test_util.h"

namespace curvefit::cli {
namespace {


// What a shell command prints on stdout (its first 4 kB), or "" when it fails.
std::string shell_output(const std::string& command) {
  std::string out;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[4096];
    out.assign(buffer, std::fread(buffer, 1, sizeof buffer, pipe));
    if (::pclose(pipe) != 0) out.clear();
  }
  return out;
}

// SLURM_CONF if set, else the configuration scripts/slurm_local.sh writes by default.
std::string slurm_conf() {
  if (const char* conf = std::getenv("SLURM_CONF")) return conf;
  const char* dir = std::getenv("CURVEFIT_SLURM_DIR");
  return dir ? std::string(dir) + "/slurm.conf"
             : (fs::temp_directory_path() / "curvefit-slurm" / "slurm.conf").string();
}

// Whether the controller may be up: the pid in the configuration's SlurmctldPidFile names a live
// process, or it names no such file. A quick check before sinfo, which retries for 9 s when no
// controller answers.
bool controller_may_be_up(const std::string& conf) {
  std::istringstream lines(read_text(conf));
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("SlurmctldPidFile=", 0) == 0) {
      const std::string pid = read_text(line.substr(line.find('=') + 1));
      return std::atoi(pid.c_str()) > 0 && ::kill(std::atoi(pid.c_str()), 0) == 0;
    }
  return true;
}

// Why the srun tests cannot run here, or "" when they can.
std::string why_not_runnable() {
  if (!CURVEFIT_MPI_BUILD) return "curvefit was built without MPI (CURVEFIT_MPI=OFF)";
  if (std::system("command -v srun > /dev/null 2>&1") != 0)
    return "srun not found (Debian: slurm-client; scripts/deps.sh)";
  const std::string conf = slurm_conf();
  if (!fs::exists(conf))
    return "no Slurm configuration at " + conf + " (start one: bash scripts/slurm_local.sh start)";
  if (!controller_may_be_up(conf))
    return "the local Slurm cluster of " + conf +
           " is not up (its slurmctld is not running; start it: bash scripts/slurm_local.sh start)";
  // The node takes jobs: idle, or running another test's (mix, alloc).
  const std::string state =
      shell_output("SLURM_CONF='" + conf +
                   "' timeout 10 sinfo --noheader --Node --format=%t 2>/dev/null | head -n 1");
  for (const char* usable : {"idle\n", "mix\n", "alloc\n"})
    if (state == usable) return "";
  return "the local Slurm cluster of " + conf + " is not up (sinfo says '" +
         state.substr(0, state.find('\n')) + "'; start it: bash scripts/slurm_local.sh start)";
}

// `srun` with `plugin` for the MPI wire-up and K tasks on the node's CPUs (--overcommit: 3 or more
// tasks on 2 CPUs; without it such a job waits for CPUs the node does not have).
std::vector<std::string> srun(int tasks, const std::string& plugin = "pmix") {
  return {"timeout",
          "120",
          "srun",
          "--mpi=" + plugin,
          "--overcommit",
          "--ntasks",
          std::to_string(tasks),
          "--job-name",
          "curvefit-test"};
}

RunResult run_tasks(int tasks, const std::vector<std::string>& args,
                    const std::string& plugin = "pmix") {
  Process p(args, {}, {"SLURM_CONF=" + slurm_conf()}, false, srun(tasks, plugin));
  return p.wait();
}

std::size_t occurrences(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// The count of JSON reports on stdout (each has one "status": a fit's, or an error's).
std::size_t reports(const std::string& out) { return occurrences(out, "\"status\":"); }

// One report, rank 0's, saying K ranks when it is a fit's (an error's has no "ranks"): the tasks
// joined one MPI world. K tasks that each ran a one-process fit print K reports ("ranks": 1).
::testing::AssertionResult one_world_report(const RunResult& r, int tasks, nlohmann::json& report) {
  if (reports(r.out) != 1)
    return ::testing::AssertionFailure() << reports(r.out) << " reports on stdout:\n" << r.out;
  report = nlohmann::json::parse(r.out, nullptr, false);
  if (report.is_discarded())
    return ::testing::AssertionFailure() << "stdout is not one JSON report:\n" << r.out;
  if (report.at("status") != "error" && report.value("ranks", 0) != tasks)
    return ::testing::AssertionFailure() << "\"ranks\": " << report.value("ranks", nlohmann::json())
                                         << " for " << tasks << " tasks";
  return ::testing::AssertionSuccess();
}

class FitMpiSrun : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    why_not_ = why_not_runnable();
    if (!why_not_.empty()) return;
    dir_ = new TempDir();
    generate_mpi_example_data(*dir_);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!why_not_.empty()) GTEST_SKIP() << why_not_;
  }
  static std::vector<std::string> fit_args(const std::string& file) {
    return {"fit", *dir_ / file, "--model", "exponential", "--chunk-size", kMpiChunk, "--json"};
  }
  static std::string why_not_;
  static TempDir* dir_;
};
std::string FitMpiSrun::why_not_;
TempDir* FitMpiSrun::dir_ = nullptr;

// Whether rank 0's notes say each rank read only its byte ranges of the CSV.
bool split_by_byte_ranges(const nlohmann::json& fit) {
  for (const auto& note : fit.at("notes"))
    if (note.get<std::string>().rfind("CSV split by byte ranges", 0) == 0) return true;
  return false;
}

void expect_tasks_match_one_process(const std::string& file) {
  const RunResult single = run(FitMpiSrun::fit_args(file));
  ASSERT_EQ(single.exit_code, 0) << single.err;
  EXPECT_EQ(single.json().at("ranks"), 1);
  for (int k : {2, 3}) {
    const std::string label = "srun -n " + std::to_string(k) + " " + file;
    const RunResult r = run_tasks(k, FitMpiSrun::fit_args(file));
    ASSERT_EQ(r.exit_code, 0) << label << "\n" << r.err;
    nlohmann::json fit;
    ASSERT_TRUE(one_world_report(r, k, fit)) << label << "\n" << r.err;
    EXPECT_EQ(r.err.find("do not share an MPI world"), std::string::npos) << label << "\n" << r.err;
    expect_same_fit(single.json(), fit, label);
    if (file.ends_with(".csv")) {
      EXPECT_TRUE(split_by_byte_ranges(fit)) << label << "\n" << fit.at("notes");
    }
  }
}

TEST_F(FitMpiSrun, Hdf5IsBitIdenticalFor2And3Tasks) { expect_tasks_match_one_process("data.h5"); }

TEST_F(FitMpiSrun, CsvSplitByByteRangesIsBitIdenticalFor2And3Tasks) {
  expect_tasks_match_one_process("data.csv");
}

// A non-finite y in the rows of the last rank: it meets the row (reading its rows, or in a pass
// when streaming); every rank stops with its message, and srun passes their exit code 3 on.
TEST_F(FitMpiSrun, BadRowOnOneRankEndsTheJobWithExit3AndItsMessage) {
  const std::string file = *dir_ / "bad.h5";
  {
    std::vector<double> x(kMpiPoints), y(kMpiPoints);
    for (int i = 0; i < kMpiPoints; ++i)
      x[i] = 10.0 * i / (kMpiPoints - 1), y[i] = 5 * std::exp(-0.5 * x[i]) + 1;
    // Row 2420 is in chunk 60, slot 60: of 3 ranks, the last owns slots 38..63.
    y[2420] = std::numeric_limits<double>::quiet_NaN();
    H5::H5File h5(file, H5F_ACC_TRUNC);
    const hsize_t dims[1] = {static_cast<hsize_t>(kMpiPoints)};
    H5::DataSpace space(1, dims);
    h5.createDataSet("/x", H5::PredType::NATIVE_DOUBLE, space)
        .write(x.data(), H5::PredType::NATIVE_DOUBLE);
    h5.createDataSet("/y", H5::PredType::NATIVE_DOUBLE, space)
        .write(y.data(), H5::PredType::NATIVE_DOUBLE);
  }
  for (const char* mode : {"memory", "stream"}) {
    const RunResult r = run_tasks(3, {"fit", file, "--model", "exponential", "--chunk-size", kMpiChunk,
                                      "--mode", mode, "--json"});
    EXPECT_EQ(r.exit_code, 3) << mode << (r.exit_code == 124 ? " (timed out)" : "") << "\n"
                              << r.err;
    EXPECT_NE(r.err.find("bad.h5: dataset /y: row 2421: non-finite value"), std::string::npos)
        << mode << "\n"
        << r.err;
    nlohmann::json report;
    EXPECT_TRUE(one_world_report(r, 3, report)) << mode << "\n" << r.err;
    if (report.is_object()) {
      EXPECT_EQ(report.at("exit_code"), 3) << mode;
    }
  }
}

// Without an MPI wire-up (--mpi=none, the MpiDefault of many clusters) srun starts K processes that
// know nothing of each other: each runs the one-process fit and prints its report. The check the
// tests above make rejects that, and the first task says so once on stderr (a task farm of
// separate fits is legitimate, so it is a note and not an error).
TEST_F(FitMpiSrun, WithoutPmixEachTaskFitsAloneAndTheFirstSaysSo) {
  const RunResult r = run_tasks(2, fit_args("data.h5"), "none");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(reports(r.out), 2u) << r.out;
  EXPECT_EQ(occurrences(r.out, "\"ranks\": 1,"), 2u) << r.out;
  nlohmann::json report;
  EXPECT_FALSE(one_world_report(r, 2, report));
  EXPECT_EQ(occurrences(r.err, "one of 2 tasks that do not share an MPI world"), 1u) << r.err;
  EXPECT_NE(r.err.find("srun --mpi=pmix"), std::string::npos) << r.err;
}

// Signals under Slurm. A fit kept running by tolerances it cannot meet, in a job of its own name;
// the test waits for rank 0's first iteration line, never for a fixed time.
class FitMpiSrunInterrupt : public FitMpiSrun {
 public:
  void start(const std::string& job) {
    const std::string file = *dir_ / "long.h5";
    if (!fs::exists(file)) {
      const RunResult g = run({"generate", "--model", "exponential", "--points", "200000", "--noise", "0.05",
                               "--out", file, "-q"});
      ASSERT_EQ(g.exit_code, 0) << g.err;
    }
    job_ = job + "-" + std::to_string(::getpid());
    std::vector<std::string> launcher = srun(2);
    launcher.back() = job_;  // the job's name, for scancel
    fit_ = std::make_unique<Process>(
        std::vector<std::string>{"fit", file, "--model", "exponential", "--mode", "stream", "--ftol", "0", "--xtol",
                                 "0", "--gtol", "1e-15", "--max-nfev", "1000000", "--json", "--progress", "-v"},
        "", std::vector<std::string>{"SLURM_CONF=" + slurm_conf()}, false, launcher);
    ASSERT_TRUE(wait_for(*fit_, [&] { return fit_->err_so_far().find("\n        1 ") != std::string::npos; },
                         std::chrono::seconds(120)))
        << fit_->err_so_far();
  }
  std::string job_;
  std::unique_ptr<Process> fit_;
};

// `scancel --signal=INT` (Slurm's way to signal every task of a job): every rank stops at the same
// iteration, rank 0 reports the best point, every task exits 130 and srun passes it on.
TEST_F(FitMpiSrunInterrupt, ScancelSigintStopsEveryTaskWithTheBestPointAndExit130) {
  start("curvefit-test-scancel");
  ASSERT_EQ(std::system(("SLURM_CONF='" + slurm_conf() + "' scancel --signal=INT --name=" + job_).c_str()), 0);
  const RunResult r = fit_->wait();
  EXPECT_EQ(r.exit_code, 130) << r.err;
  nlohmann::json report;
  ASSERT_TRUE(one_world_report(r, 2, report)) << r.err;
  EXPECT_EQ(report.at("status"), "interrupted");
  EXPECT_GE(report.at("nfev").get<int>(), 2);
  for (const auto& p : report.at("params")) EXPECT_TRUE(std::isfinite(p.at("value").get<double>())) << p;
}

// A task killed by a signal (SIGKILL to task 1, found by its job name and SLURM_PROCID): Slurm's
// PMIx server tells the step, which ends every task at once (no hang); srun exits non-zero.
TEST_F(FitMpiSrunInterrupt, TaskKilledBySignalEndsTheJob) {
  start("curvefit-test-kill");
  const std::string kill_task_1 =
      "for p in $(pgrep -x curvefit); do e=$(tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null); "
      "echo \"$e\" | grep -qx 'SLURM_JOB_NAME=" + job_ + "' && echo \"$e\" | grep -qx SLURM_PROCID=1 && "
      "kill -9 $p && exit 0; done; exit 1";
  ASSERT_EQ(std::system(kill_task_1.c_str()), 0) << "task 1 of " << job_ << " not found";
  const RunResult r = fit_->wait();
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_NE(r.exit_code, 124) << "timed out: the other task hung\n" << r.err;
}

// Ctrl-C twice within a second to srun (its first only prints the tasks' state) aborts the step:
// srun sends the tasks SIGINT and ends the job at once, so rank 0's report arrives only sometimes
// (seen: 1 run in 6); the graceful stop under Slurm is scancel --signal=INT (above). What must
// hold: the job ends (no hang) with a failure, and any report is that of an interrupted fit.
TEST_F(FitMpiSrunInterrupt, CtrlCTwiceToSrunEndsTheJobWithoutAHang) {
  start("curvefit-test-ctrl-c");
  const std::string kill_srun = "kill -INT $(pgrep -P " + std::to_string(fit_->pid()) + " -x srun)";
  ASSERT_EQ(std::system(kill_srun.c_str()), 0);
  // The second once srun has taken the first (two signals sent at once may arrive as one).
  ASSERT_TRUE(wait_for(*fit_, [&] { return fit_->err_so_far().find("one more within 1 sec") != std::string::npos; },
                       std::chrono::seconds(30)))
      << fit_->err_so_far();
  ASSERT_EQ(std::system(kill_srun.c_str()), 0);
  const RunResult r = fit_->wait();
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 124) << "timed out\n" << r.err;
  EXPECT_LE(reports(r.out), 1u) << r.out;
  if (reports(r.out) == 1) {
    EXPECT_EQ(r.json().at("status"), "interrupted") << r.out;
  }
}

// Debian's Open MPI 4.1 has no client for Slurm's PMI-2 (nor PMI-1): a task started with
// --mpi=pmi2 stops in MPI_Init with Open MPI's message, and the job ends (no hang, no report).
TEST_F(FitMpiSrun, Pmi2IsRefusedByDebiansOpenMpi) {
  const RunResult r = run_tasks(2, fit_args("data.h5"), "pmi2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 124) << "timed out\n" << r.err;
  EXPECT_NE(r.err.find("OMPI was not built with SLURM's PMI support"), std::string::npos) << r.err;
  EXPECT_EQ(reports(r.out), 0u) << r.out;
}

}  // namespace
}  // namespace curvefit::cli
