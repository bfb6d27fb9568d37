// `mpirun -np K curvefit fit ...`: 1 to 4 ranks with 1 and 2 threads give the single-process fit
// bit for bit (parameters, standard errors, covariance, cost) on HDF5 and CSV data, in memory,
// chunked and streaming modes, and that fit recovers the parameters the data were generated with;
// --output is the same file; a bad row on one rank, and a rank killed by a signal, end every rank
// with exit code 3 (resp. the signal) instead of a hang. Skipped when mpirun is missing or
// curvefit was built without MPI. Small data with small chunks, so that all 64 slots exist and
// are shared unevenly between the ranks.
#include <H5Cpp.h>
#include <gmock/gmock.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "tests/app/cli_util.h"
#include "tests/app/mpi_test_util.h"

namespace curvefit::cli {
namespace {

constexpr double kTruth[3] = {5.0, 0.5, 1.0};  // the exponential model's example (generate's default)

bool mpirun_available() { return std::system("command -v mpirun > /dev/null 2>&1") == 0; }

std::vector<std::string> mpirun(int ranks) {
  // `timeout`: a hang fails the test instead of the suite.
  return {"timeout", "120", "mpirun", "--allow-run-as-root", "--oversubscribe", "-np", std::to_string(ranks)};
}

RunResult run_ranks(int ranks, const std::vector<std::string>& args) {
  Process p(args, {}, {}, false, mpirun(ranks));
  return p.wait();
}

class FitMpi : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    if (!CURVEFIT_MPI_BUILD || !mpirun_available()) return;
    dir_ = new TempDir();
    generate_mpi_example_data(*dir_);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!CURVEFIT_MPI_BUILD) GTEST_SKIP() << "curvefit was built without MPI (CURVEFIT_MPI=OFF)";
    if (!mpirun_available()) GTEST_SKIP() << "mpirun not found (Debian: openmpi-bin)";
  }
  static std::vector<std::string> fit_args(const std::string& file, const std::string& mode, int threads) {
    return {"fit", *dir_ / file, "--model", "exponential", "--chunk-size", kMpiChunk, "--mode", mode,
            "--threads", std::to_string(threads), "--json"};
  }
  static TempDir* dir_;
};
TempDir* FitMpi::dir_ = nullptr;

void expect_truth(const nlohmann::json& fit) {
  const char* names[3] = {"a", "b", "c"};
  for (int j = 0; j < 3; ++j)
    EXPECT_NEAR(param(fit, names[j]), kTruth[j], 5 * param(fit, names[j], "stderr")) << names[j];
}

void expect_ranks_match_one_process(const std::string& file, const std::string& mode, const std::vector<int>& ranks,
                                    const std::vector<int>& threads) {
  const RunResult single = run(FitMpi::fit_args(file, mode, 1));
  ASSERT_EQ(single.exit_code, 0) << single.err;
  const nlohmann::json reference = single.json();
  expect_truth(reference);
  for (int k : ranks)
    for (int t : threads) {
      const std::string label = file + " " + mode + ", " + std::to_string(k) + " ranks x " + std::to_string(t) + " threads";
      const RunResult r = run_ranks(k, FitMpi::fit_args(file, mode, t));
      ASSERT_EQ(r.exit_code, 0) << label << "\n" << r.err;
      const nlohmann::json fit = r.json();  // one report: rank 0's
      EXPECT_EQ(fit.at("ranks"), k) << label;
      expect_same_fit(reference, fit, label);
    }
}

TEST_F(FitMpi, Hdf5InMemoryIsBitIdenticalFor1To4RanksAnd1Or2Threads) {
  expect_ranks_match_one_process("data.h5", "memory", {1, 2, 3, 4}, {1, 2});
}

TEST_F(FitMpi, Hdf5StreamedAndChunkedAreBitIdenticalAcrossRanks) {
  expect_ranks_match_one_process("data.h5", "stream", {2, 3}, {2});
  expect_ranks_match_one_process("data.h5", "chunked", {4}, {1});
}

// The note a fit over ranks makes when each rank read only its byte ranges of a CSV, or "".
std::string byte_ranges_note(const nlohmann::json& fit) {
  for (const auto& note : fit.at("notes"))
    if (note.get<std::string>().rfind("CSV split by byte ranges", 0) == 0) return note.get<std::string>();
  return "";
}

// The single-process fit of a CSV, then K ranks x T threads, each rank reading only its byte
// ranges (the note says so): the same bits.
void expect_csv_split_matches_one_process(const std::vector<std::string>& args, const std::vector<int>& ranks,
                                          const std::vector<int>& threads) {
  const RunResult single = run(args);
  ASSERT_EQ(single.exit_code, 0) << single.err;
  expect_truth(single.json());
  for (int k : ranks)
    for (int t : threads) {
      std::vector<std::string> with_threads = args;
      with_threads.insert(with_threads.end(), {"--threads", std::to_string(t)});
      const std::string label = join(args) + ", " + std::to_string(k) + " ranks x " + std::to_string(t) + " threads";
      const RunResult r = run_ranks(k, with_threads);
      ASSERT_EQ(r.exit_code, 0) << label << "\n" << r.err;
      const nlohmann::json fit = r.json();
      expect_same_fit(single.json(), fit, label);
      EXPECT_EQ(byte_ranges_note(fit).empty(), k == 1) << label << "\n" << fit.at("notes");
    }
}

TEST_F(FitMpi, CsvByteRangesAreBitIdenticalFor1To4RanksAnd1Or2Threads) {
  for (const char* mode : {"memory", "stream"})
    expect_csv_split_matches_one_process({"fit", *dir_ / "data.csv", "--model", "exponential", "--chunk-size", kMpiChunk,
                                          "--mode", mode, "--json"},
                                         {1, 2, 3, 4}, {1, 2});
}

// A spreadsheet's export: byte order mark, comment and blank lines before the header, CRLF line
// ends, blank and comment lines among the rows, and a header naming the columns.
TEST_F(FitMpi, CsvWithCrlfHeaderAndCommentsIsSplitExactly) {
  const std::string file = *dir_ / "crlf.csv";
  std::string text = "\xEF\xBB\xBF# exported\r\n\r\ntime,signal\r\n";
  for (int i = 0; i < kMpiPoints; ++i) {
    const double x = 10.0 * i / (kMpiPoints - 1);
    const double noise = 0.05 * std::sin(12.9898 * i);  // deterministic, zero-mean enough
    char row[80];
    std::snprintf(row, sizeof row, "%.17g,%.17g\r\n", x, 5 * std::exp(-0.5 * x) + 1 + noise);
    text += row;
    if (i % 500 == 7) text += "  \r\n";
    if (i % 777 == 3) text += "# note\r\n";
  }
  write_text(file, text);
  for (const char* mode : {"memory", "stream"})
    expect_csv_split_matches_one_process({"fit", file, "--model", "exponential", "--x", "time", "--y", "signal",
                                          "--chunk-size", kMpiChunk, "--mode", mode, "--json"},
                                         {2, 3, 4}, {1});
}

// Each rank reads about 2 B / K bytes of a B-byte CSV (a scan of its range, then its rows), not
// the file: the counts every rank reports, gathered in rank 0's note.
TEST_F(FitMpi, EachRankReadsAboutItsShareOfTheCsvBytes) {
  const std::string file = *dir_ / "larger.csv";
  const RunResult g = run({"generate", "--model", "exponential", "--points", "60000", "--noise", "0.05", "--out", file, "-q"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  const double bytes = static_cast<double>(fs::file_size(file));
  for (int k : {3, 4})
    for (const char* mode : {"memory", "stream"}) {
      const RunResult r = run_ranks(k, {"fit", file, "--model", "exponential", "--p0", "a=4,b=0.4,c=2", "--chunk-size",
                                        "100", "--mode", mode, "--json"});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      const std::string note = byte_ranges_note(r.json());
      ASSERT_FALSE(note.empty()) << r.json().at("notes");
      std::istringstream list(note.substr(note.find("per rank ") + 9));
      double total = 0;
      for (int rank = 0; rank < k; ++rank) {
        double read = 0;
        ASSERT_TRUE(list >> read) << note;
        EXPECT_LT(read, 1.1 * 2 * bytes / k + 65536) << "rank " << rank << " of " << k << ", " << mode << ": " << note;
        total += read;
      }
      EXPECT_GE(total, bytes - 65536) << "the ranges cover the data: " << note;
    }
}

// A CSV large enough for the subsample start (over 1e6 rows): one process plans from an estimate of
// the rows and plans again for the exact count once the file is loaded; the ranks, which count the
// rows with their line scan, plan again the same way, so the subsample and the fit are the same.
TEST_F(FitMpi, LargeCsvTakesTheSingleProcessSubsampleAcrossRanks) {
  const std::string file = *dir_ / "subsampled.csv";
  const RunResult g = run({"generate", "--model", "exponential", "--points", "1.2e6", "--noise", "0.05", "--out", file, "-q"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  for (const char* mode : {"memory", "stream"}) {
    const std::vector<std::string> args = {"fit", file, "--model", "exponential", "--mode", mode, "--json"};
    const RunResult single = run(args);
    ASSERT_EQ(single.exit_code, 0) << single.err;
    ASSERT_GT(single.json().at("subsample_rows").get<int>(), 0);
    const RunResult r = run_ranks(2, args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.json().at("subsample_rows"), single.json().at("subsample_rows")) << mode;
    expect_same_fit(single.json(), r.json(), std::string("1.2e6 rows, 2 ranks, ") + mode);
  }
}

// The reader cannot tell from the middle of a file whether a line break is inside quotes: with a
// '"' in the data every rank reads the file whole, says why, and the fit is the same.
TEST_F(FitMpi, CsvWithQuotesIsReadWholeByEveryRankAndSaysWhy) {
  const std::string file = *dir_ / "quoted.csv";
  std::string text = read_text(*dir_ / "data.csv");
  text += "\"10.5\",1.03\n";
  write_text(file, text);
  const std::vector<std::string> args = {"fit", file, "--model", "exponential", "--chunk-size", kMpiChunk, "--json"};
  const RunResult single = run(args);
  ASSERT_EQ(single.exit_code, 0) << single.err;
  const RunResult r = run_ranks(3, args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_fit(single.json(), r.json(), "quoted, 3 ranks");
  EXPECT_NE(r.json().at("notes").dump().find("every rank reads the whole CSV"), std::string::npos) << r.json().at("notes");
}

// A bad field in the rows of the last rank: that rank alone parses it, and every rank ends with
// its message, which names the file's true line (header and all), and exit code 3.
TEST_F(FitMpi, BadCsvRowOfTheLastRankEndsEveryRankWithItsLine) {
  const std::string file = *dir_ / "bad.csv";
  std::string text = read_text(*dir_ / "data.csv");
  // Row 2420 (chunk 60, slot 60: the last of 4 ranks owns slots 45..63) is line 2423 after the
  // generator's comment and header lines.
  std::size_t at = 0;
  for (int line = 1; line < 2423; ++line) at = text.find('\n', at) + 1;
  text.replace(text.find(',', at) + 1, text.find('\n', at) - text.find(',', at) - 1, "oops");
  write_text(file, text);
  const RunResult single = run({"fit", file, "--model", "exponential", "--json"});
  ASSERT_EQ(single.exit_code, 3);
  ASSERT_NE(single.err.find("bad.csv:2423:"), std::string::npos) << single.err;
  for (const char* mode : {"memory", "stream"}) {
    const RunResult r = run_ranks(4, {"fit", file, "--model", "exponential", "--chunk-size", kMpiChunk, "--mode", mode, "--json"});
    EXPECT_EQ(r.exit_code, 3) << mode << "\n" << r.err;
    EXPECT_NE(r.err.find("bad.csv:2423:"), std::string::npos) << mode << "\n" << r.err;
    EXPECT_NE(r.err.find("'oops' is not a number"), std::string::npos) << mode << "\n" << r.err;
    EXPECT_EQ(r.json().at("exit_code"), 3) << mode;
  }
}

// Several files fitted as one (a pattern; HDF5 and CSV shards mixed): each rank reads its rows
// through the shards, and the fit is the single process's bit for bit.
TEST_F(FitMpi, ShardedInputsAreBitIdenticalAcrossRanks) {
  const char* ranges[3] = {"0:3", "3.002:7", "7.003:10"};
  const char* names[3] = {"shard-0.h5", "shard-1.csv", "shard-2.h5"};
  for (int i = 0; i < 3; ++i) {
    const RunResult g = run({"generate", "--model", "exponential", "--points", i == 1 ? "1400" : "900", "--noise",
                             "0.05", "--seed", std::to_string(11 + i), "--x-range", ranges[i], "--out",
                             *dir_ / names[i], "-q"});
    ASSERT_EQ(g.exit_code, 0) << g.err;
  }
  expect_ranks_match_one_process("shard-*", "memory", {2, 3}, {1});
  expect_ranks_match_one_process("shard-*", "stream", {2, 4}, {2});
}

// What pandas writes (DataFrame.to_csv: an unnamed index column first, repr floats, SI units in the
// column names), sharded in three files and fitted with a formula that names its columns: every
// rank count gives the single process's fit bit for bit, and that fit recovers the generating
// parameters (volts around 1e-3, so a fit that lost the scale would show).
TEST_F(FitMpi, PandasCsvShardsWithAFormulaNamingColumnsAreBitIdenticalAcrossRanks) {
  const double a = 4e-3, b = 0.4, c = 5e-4, noise = 2e-6;
  std::uint64_t state = 12345;  // a fixed linear congruential stream: the same data on every machine
  auto uniform = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (static_cast<double>(state >> 11) + 0.5) / 9007199254740992.0;
  };
  std::size_t index = 0;
  for (int f = 0; f < 3; ++f) {
    std::ostringstream text;
    text.precision(17);
    text << ",time_s,signal_V\n";
    for (int i = 0; i < 1700 + 300 * f; ++i, ++index) {
      const double t = 0.004 * static_cast<double>(index);
      // Box-Muller: Gaussian noise of sd `noise`.
      const double g = std::sqrt(-2 * std::log(uniform())) * std::cos(6.283185307179586 * uniform());
      text << index << ',' << t << ',' << a * std::exp(-b * t) + c + noise * g << '\n';
    }
    write_text(*dir_ / ("pandas-" + std::to_string(f) + ".csv"), text.str());
  }
  auto args = [](const std::string& mode, int threads) {
    return std::vector<std::string>{"fit", *dir_ / "pandas-*.csv", "--model", "a*exp(-b*time_s)+c", "--y",
                                    "signal_V", "--p0", "a=1e-3,b=1,c=0", "--chunk-size", kMpiChunk, "--mode", mode,
                                    "--threads", std::to_string(threads), "--json"};
  };
  for (const std::string mode : {"memory", "stream"}) {
    const RunResult single = run(args(mode, 1));
    ASSERT_EQ(single.exit_code, 0) << single.err;
    const nlohmann::json reference = single.json();
    EXPECT_EQ(reference.at("n_points"), 6000);  // 1700 + 2000 + 2300 rows
    const double truth[3] = {a, b, c};
    const char* names[3] = {"a", "b", "c"};
    for (int j = 0; j < 3; ++j)
      EXPECT_NEAR(param(reference, names[j]), truth[j], 5 * param(reference, names[j], "stderr")) << names[j];
    for (int k : {2, 3}) {
      const std::string label = "pandas shards " + mode + ", " + std::to_string(k) + " ranks";
      const RunResult r = run_ranks(k, args(mode, 2));
      ASSERT_EQ(r.exit_code, 0) << label << "\n" << r.err;
      expect_same_fit(reference, r.json(), label);
    }
  }
}

// A dataset of several CSV files (and an HDF5 file among them): each CSV file is split by byte
// ranges as one file is, from the rows every rank wants of the whole dataset, so that each rank
// scans and parses about the text of its own rows (whole files where they balance) instead of
// every file; the fit is the single process's bit for bit. With a '"' in one of the files, every rank parses every CSV file whole and says which
// file and why.
TEST_F(FitMpi, ShardedCsvFilesAreSplitByByteRangesAmongTheRanks) {
  const char* ranges[4] = {"0:2.5", "2.5001:5", "5.0001:7.5", "7.5001:10"};
  const char* names[4] = {"part-0.csv", "part-1.h5", "part-2.csv", "part-3.csv"};
  double csv_bytes = 0;
  for (int i = 0; i < 4; ++i) {
    const RunResult g = run({"generate", "--model", "exponential", "--points", "15000", "--noise", "0.05", "--seed",
                             std::to_string(21 + i), "--x-range", ranges[i], "--out", *dir_ / names[i], "-q"});
    ASSERT_EQ(g.exit_code, 0) << g.err;
    if (i != 1) csv_bytes += static_cast<double>(fs::file_size(*dir_ / names[i]));
  }
  const double slack = 3 * 65536;  // a scan's window per file
  for (const char* mode : {"memory", "stream"}) {
    const std::vector<std::string> args = {"fit", *dir_ / "part-*", "--model", "exponential", "--p0", "a=4,b=0.4,c=2",
                                           "--chunk-size", "100", "--mode", mode, "--json"};
    const RunResult single = run(args);
    ASSERT_EQ(single.exit_code, 0) << single.err;
    expect_truth(single.json());
    for (int k : {3, 4}) {
      const std::string label = std::string(mode) + ", " + std::to_string(k) + " ranks";
      const RunResult r = run_ranks(k, args);
      ASSERT_EQ(r.exit_code, 0) << label << "\n" << r.err;
      expect_same_fit(single.json(), r.json(), label);
      const std::string note = byte_ranges_note(r.json());
      ASSERT_FALSE(note.empty()) << label << "\n" << r.json().at("notes");
      EXPECT_NE(note.find("of the 3 CSV files'"), std::string::npos) << note;
      // A rank scans, then parses, the text of its own rows (whole files where they balance): about
      // twice their bytes, and nothing of the others' files. With 4 ranks rank 1 owns the HDF5 file.
      std::istringstream list(note.substr(note.find("per rank ") + 9));
      const nlohmann::json ranks = r.json().at("rank_rows");
      const double csv_bytes_per_row = csv_bytes / 45000;
      double total = 0;
      for (int rank = 0; rank < k; ++rank) {
        double read = 0;
        ASSERT_TRUE(list >> read) << note;
        const double rows = ranks.at(static_cast<std::size_t>(rank)).at("rows").get<double>();
        EXPECT_LT(read, 1.1 * 2 * rows * csv_bytes_per_row + slack) << "rank " << rank << ", " << label << ": " << note;
        if (k == 4 && rank == 1) {
          EXPECT_LT(read, slack) << label << ": " << note;
        }
        total += read;
      }
      EXPECT_GE(total, csv_bytes - slack) << "the ranges cover the data: " << note;
      EXPECT_LT(total, 1.1 * 2 * csv_bytes + k * slack) << note;
    }
  }
  std::string text = read_text(*dir_ / "part-2.csv");
  write_text(*dir_ / "part-2.csv", text + "\"10.5\",1.03\n");
  const std::vector<std::string> args = {"fit", *dir_ / "part-*", "--model", "exponential", "--chunk-size", "100",
                                         "--json"};
  const RunResult single = run(args);
  ASSERT_EQ(single.exit_code, 0) << single.err;
  const RunResult r = run_ranks(3, args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_fit(single.json(), r.json(), "a quoted file, 3 ranks");
  const std::string notes = r.json().at("notes").dump();
  EXPECT_NE(notes.find("every rank parses every CSV file"), std::string::npos) << notes;
  EXPECT_NE(notes.find("part-2.csv: the data hold"), std::string::npos) << notes;
}

// Each file's chunks fold into slots of its own, so that ranks take whole files where the files
// balance: 4 files of equal rows on 2 or 4 ranks are read whole, each by one rank; on 3 ranks two
// files are shared. The fit and the --output file are the single process's bit for bit in every
// case.
TEST_F(FitMpi, ShardedFilesAreReadWholeByOneRankWhereTheyBalance) {
  const char* ranges[4] = {"0:2.5", "2.5001:5", "5.0001:7.5", "7.5001:10"};
  const char* names[4] = {"file-0.csv", "file-1.h5", "file-2.h5", "file-3.csv"};
  for (int i = 0; i < 4; ++i) {
    const RunResult g = run({"generate", "--model", "exponential", "--points", "6010", "--noise", "0.05", "--seed",
                             std::to_string(31 + i), "--x-range", ranges[i], "--out", *dir_ / names[i], "-q"});
    ASSERT_EQ(g.exit_code, 0) << g.err;
  }
  for (const char* mode : {"memory", "stream"}) {
    // 121 chunks per file, the last of 10 rows: each file a segment of its own (ChunkLayout groups
    // smaller ones), whose chunks are not those of the rows taken as one.
    std::vector<std::string> args = {"fit", *dir_ / "file-*", "--model", "exponential", "--chunk-size", "50",
                                     "--mode", mode, "--json", "-o", *dir_ / "one.csv"};
    const RunResult single = run(args);
    ASSERT_EQ(single.exit_code, 0) << single.err;
    const std::string fitted = read_text(*dir_ / "one.csv");
    EXPECT_EQ(std::count(fitted.begin(), fitted.end(), '\n'), 24041);
    args.back() = *dir_ / "ranks.csv";
    expect_truth(single.json());
    EXPECT_TRUE(single.json().at("rank_rows").is_null());
    for (int k : {2, 3, 4}) {
      const std::string label = std::string(mode) + ", " + std::to_string(k) + " ranks";
      const RunResult r = run_ranks(k, args);
      ASSERT_EQ(r.exit_code, 0) << label << "\n" << r.err;
      expect_same_fit(single.json(), r.json(), label);
      // The fitted curve and its bands in the same blocks as one process: the same bytes.
      EXPECT_EQ(read_text(*dir_ / "ranks.csv"), fitted) << label;
      const nlohmann::json ranks = r.json().at("rank_rows");
      ASSERT_EQ(ranks.size(), static_cast<std::size_t>(k)) << label;
      std::size_t rows = 0, whole = 0, shared = 0;
      for (const nlohmann::json& rank : ranks) {
        rows += rank.at("rows").get<std::size_t>();
        whole += rank.at("whole_files").get<std::size_t>();
        shared += rank.at("shared_files").get<std::size_t>();
        if (k != 3) {
          EXPECT_EQ(rank.at("whole_files"), 4 / k) << label << ": " << ranks;
          EXPECT_EQ(rank.at("shared_files"), 0) << label << ": " << ranks;
        }
      }
      EXPECT_EQ(rows, 24040u) << label;
      if (k == 3) {
        EXPECT_EQ(whole, 2u) << label << ": " << ranks;  // the first and the last file
        EXPECT_EQ(shared, 4u) << label << ": " << ranks;  // the middle two, each by two ranks
      }
    }
  }
}

// Twelve small files (5 to 10 chunks each, so that they share segments, whose chunks are not those
// of the rows taken as one): the --output file of 2 and 3 ranks is the single process's byte for
// byte, its bands included, in memory and stream modes. One process used to compute the fitted
// values in chunks of the rows taken as one, and the bands then differed in the last digit.
TEST_F(FitMpi, FittedCurveOfManySmallFilesIsTheSingleProcessOne) {
  for (int i = 1; i <= 12; ++i) {
    const std::string name = "small-" + std::string(i < 10 ? "0" : "") + std::to_string(i) + (i % 3 == 0 ? ".h5" : ".csv");
    const std::string range = std::to_string(i - 1) + ".0:" + std::to_string(i - 1) + ".9";
    const RunResult g = run({"generate", "--model", "exponential", "--points", std::to_string(500 + 37 * i), "--noise",
                             "0.05", "--seed", std::to_string(i), "--x-range", range, "--out", *dir_ / name, "-q"});
    ASSERT_EQ(g.exit_code, 0) << g.err;
  }
  for (const char* mode : {"memory", "stream"}) {
    std::vector<std::string> args = {"fit", *dir_ / "small-*", "--model", "a*exp(-b*x)+c", "--p0", "a=4,b=0.4,c=1",
                                     "--chunk-size", "100", "--mode", mode, "-q", "-o", *dir_ / "one.csv"};
    ASSERT_EQ(run(args).exit_code, 0);
    const std::string fitted = read_text(*dir_ / "one.csv");
    args.back() = *dir_ / "ranks.csv";
    for (int k : {2, 3}) {
      const RunResult r = run_ranks(k, args);
      ASSERT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(read_text(*dir_ / "ranks.csv"), fitted) << mode << ", " << k << " ranks";
    }
  }
}

// A row selection (--x-range, --where) is applied by the reader every rank shares: the ranks split
// the selected rows, and the fit is the single process's bit for bit.
TEST_F(FitMpi, RowSelectionIsBitIdenticalAcrossRanks) {
  for (const char* file : {"data.h5", "data.csv"})
    for (const char* mode : {"memory", "stream"}) {
      std::vector<std::string> args = fit_args(file, mode, 1);
      args.insert(args.end(), {"--x-range", "1:8", "--where", "y > 1.2"});
      const RunResult single = run(args);
      ASSERT_EQ(single.exit_code, 0) << single.err;
      ASSERT_NE(single.json().at("selection"), nullptr);
      for (int k : {2, 3}) {
        const RunResult r = run_ranks(k, args);
        ASSERT_EQ(r.exit_code, 0) << file << " " << mode << " " << k << " ranks\n" << r.err;
        expect_same_fit(single.json(), r.json(), std::string(file) + " " + mode + ", " + std::to_string(k) + " ranks");
        EXPECT_EQ(r.json().at("rows_total"), single.json().at("rows_total"));
      }
    }
}

// Profile intervals (refits with one parameter held) and the sandwich covariance (one more pass)
// run on every rank in step, through the same combined passes: the same bits as one process.
TEST_F(FitMpi, ProfileIntervalsAndRobustCovarianceAreBitIdenticalAcrossRanks) {
  std::vector<std::string> args = fit_args("data.h5", "memory", 1);
  args.insert(args.end(), {"--ci", "profile", "--cov", "robust"});
  const RunResult single = run(args);
  ASSERT_EQ(single.exit_code, 0) << single.err;
  const nlohmann::json reference = single.json();
  ASSERT_FALSE(reference.at("profile").is_null());
  for (int k : {2, 3}) {
    const RunResult r = run_ranks(k, args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json fit = r.json();
    expect_same_fit(reference, fit, std::to_string(k) + " ranks");
    EXPECT_EQ(reference.at("profile").at("params"), fit.at("profile").at("params")) << k << " ranks";
    EXPECT_EQ(fit.at("covariance_kind"), "hc1");
  }
}

// 2 chunks of 1600 rows: 2 slots for 3 ranks, so one rank owns none and only takes part.
// --starts and several --model share passes between threads of one process: across ranks they
// are refused with a usage error (exit 2) on every rank, not run with a wrong collective.
TEST_F(FitMpi, StartsAndSeveralModelsAreRefusedAcrossRanks) {
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"--starts", "4"}, std::vector<std::string>{"--model", "linear"}}) {
    std::vector<std::string> args = fit_args("data.h5", "memory", 1);
    args.insert(args.end(), extra.begin(), extra.end());
    const RunResult r = run_ranks(2, args);
    EXPECT_EQ(r.exit_code, 2) << join(args) << "\n" << r.err << r.out;
    EXPECT_NE((r.err + r.out).find("not across MPI ranks"), std::string::npos) << r.err << r.out;
  }
}

TEST_F(FitMpi, MoreRanksThanSlotsGiveTheSameFit) {
  std::vector<std::string> args = fit_args("data.h5", "stream", 1);
  args.at(5) = "1600";  // the value of --chunk-size
  const RunResult single = run(args);
  ASSERT_EQ(single.exit_code, 0) << single.err;
  const RunResult r = run_ranks(3, args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.json().at("chunk_rows"), 1600);
  expect_same_fit(single.json(), r.json(), "3 ranks, 2 slots");
}

TEST_F(FitMpi, OutputFileIsTheSingleProcessOne) {
  const std::string one = *dir_ / "one.csv", three = *dir_ / "three.csv";
  std::vector<std::string> args = fit_args("data.h5", "stream", 1);
  args.insert(args.end(), {"-o", one});
  ASSERT_EQ(run(args).exit_code, 0);
  args.back() = three;
  const RunResult r = run_ranks(3, args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = read_text(one);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), kMpiPoints + 1);
  EXPECT_EQ(read_text(three), text);
}

// Ctrl-C to rank 0 while it writes --output and --plot (held there after the first chunk by
// CURVEFIT_TEST_HOLD_IN_OUTPUT): rank 0 tells rank 1, both end the pass early and agree on the
// interrupt, neither file nor a temporary file is left, rank 0 reports the complete fit with a
// note, and every rank exits 130 (which mpirun passes on). Before, the pass ran to its end on
// every rank, and Open MPI's kill after a Ctrl-C to mpirun took the report and left the
// temporary files.
TEST_F(FitMpi, SigintWhileRankZeroWritesTheOutputKeepsTheReportAndNoFile) {
  TempDir out;
  for (const char* mode : {"memory", "stream"}) {
    SCOPED_TRACE(mode);
    const std::vector<std::string> args = fit_args("data.h5", mode, 1);
    const RunResult whole = run_ranks(2, args);
    ASSERT_EQ(whole.exit_code, 0) << whole.err;
    std::vector<std::string> with_outputs = args;
    with_outputs.insert(with_outputs.end(), {"--output", out / "curve.csv", "--plot", out / "fit.svg"});
    Process fit(with_outputs, {}, {"CURVEFIT_TEST_HOLD_IN_OUTPUT=1"}, false, mpirun(2));
    // The curve's temporary file appears before the pass that writes it, where rank 0 holds.
    ASSERT_TRUE(wait_for(fit, [&] { return !out.files().empty(); }, std::chrono::seconds(120))) << fit.err_so_far();
    // Rank 0 among mpirun's children (the launcher `timeout` is the Process).
    const std::string rank_zero = "for p in $(pgrep -P $(pgrep -P " + std::to_string(fit.pid()) +
                                  " | head -n 1)); do tr '\\0' '\\n' < /proc/$p/environ | "
                                  "grep -qx OMPI_COMM_WORLD_RANK=0 && kill -INT $p; done; true";
    ASSERT_EQ(std::system(rank_zero.c_str()), 0);
    const RunResult r = fit.wait();
    EXPECT_EQ(r.exit_code, 130) << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r.out << r.err;
    expect_same_fit(whole.json(), j, mode);
    EXPECT_EQ(j.at("ranks"), 2);
    EXPECT_THAT(j.at("notes").dump(), testing::HasSubstr("interrupted while --output and --plot were written"));
    EXPECT_EQ(out.files(), std::vector<std::string>{}) << "a file or temporary file was left";
  }
}

// A non-finite y in the rows of the last rank: that rank meets it (reading its rows, or in a pass
// when streaming); every rank stops with its message and exit code 3.
TEST_F(FitMpi, BadRowOnOneRankEndsEveryRankWithItsMessage) {
  const std::string file = *dir_ / "bad.h5";
  {
    std::vector<double> x(kMpiPoints), y(kMpiPoints);
    for (int i = 0; i < kMpiPoints; ++i) x[i] = 10.0 * i / (kMpiPoints - 1), y[i] = 5 * std::exp(-0.5 * x[i]) + 1;
    // Row 2420 is in chunk 60, slot 60: of the 4 ranks, the last owns slots 45..63.
    y[2420] = std::numeric_limits<double>::quiet_NaN();
    H5::H5File h5(file, H5F_ACC_TRUNC);
    const hsize_t dims[1] = {static_cast<hsize_t>(kMpiPoints)};
    H5::DataSpace space(1, dims);
    h5.createDataSet("/x", H5::PredType::NATIVE_DOUBLE, space).write(x.data(), H5::PredType::NATIVE_DOUBLE);
    h5.createDataSet("/y", H5::PredType::NATIVE_DOUBLE, space).write(y.data(), H5::PredType::NATIVE_DOUBLE);
  }
  for (const char* mode : {"memory", "stream"}) {
    const RunResult r = run_ranks(4, {"fit", file, "--model", "exponential", "--chunk-size", kMpiChunk, "--mode", mode, "--json"});
    EXPECT_EQ(r.exit_code, 3) << mode << "\n" << r.err;
    EXPECT_NE(r.err.find("row 2421: non-finite value"), std::string::npos) << mode << "\n" << r.err;
    EXPECT_EQ(r.json().at("exit_code"), 3) << mode;
  }
}

// A rank that dies by a signal (here rank 1, before it starts) makes mpirun end the others: no
// hang (`timeout` would end it with 124).
TEST_F(FitMpi, RankKilledBySignalEndsTheJob) {
  std::vector<std::string> launcher = mpirun(2);
  launcher.insert(launcher.end(),
                  {"sh", "-c", "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then kill -9 $$; else exec \"$@\"; fi", "sh"});
  Process p(fit_args("data.h5", "memory", 1), {}, {}, false, launcher);
  const RunResult r = p.wait();
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 124) << "timed out: a rank waited for the killed one\n" << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;  // no report from rank 0
}

// `mpirun curvefit generate`: rank 0 alone writes the file. The ranks run in two folders (rank 0
// in one, the others in another) and write to a relative path: the others' folder stays empty, the
// file is the one a single process writes, and only one rank says it wrote it.
TEST_F(FitMpi, GenerateUnderMpirunWritesFromRankZeroOnly) {
  const std::string root_dir = *dir_ / "rank0", other_dir = *dir_ / "others";
  fs::create_directories(root_dir);
  fs::create_directories(other_dir);
  const std::vector<std::string> args = {"generate", "--model", "gaussian", "--points", "5000", "--noise", "0.1", "--out"};
  std::vector<std::string> single = args;
  single.push_back(*dir_ / "generated-one.csv");
  ASSERT_EQ(run(single).exit_code, 0);
  std::vector<std::string> launcher = mpirun(3);
  launcher.insert(launcher.end(), {"sh", "-c",
                                   "if [ \"$OMPI_COMM_WORLD_RANK\" = 0 ]; then cd \"$0\"; else cd \"$1\"; fi; shift; exec \"$@\"",
                                   root_dir, other_dir});
  std::vector<std::string> parallel = args;
  parallel.push_back("generated.csv");
  Process p(parallel, {}, {}, false, launcher);
  const RunResult r = p.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_text(root_dir + "/generated.csv"), read_text(*dir_ / "generated-one.csv"));
  EXPECT_TRUE(fs::is_empty(other_dir)) << "another rank wrote the file too";
  std::size_t said = 0;
  for (std::size_t at = r.err.find("curvefit: wrote"); at != std::string::npos; at = r.err.find("curvefit: wrote", at + 1))
    ++said;
  EXPECT_EQ(said, 1u) << r.err;
}

// Ctrl-C. The fit is kept running by tolerances it cannot meet (as in fit_signal_test.cpp); the
// test waits for rank 0's first iteration line, never for a fixed time.
// Sends SIGINT to a descendant of the launcher (`timeout`): at `depth` 1 its child (mpirun), at 2
// mpirun's first child (one rank).
void interrupt_descendant(const Process& launcher, int depth) {
  std::string pids = std::to_string(launcher.pid());
  for (int d = 0; d < depth; ++d) pids = "$(pgrep -P " + pids + " | head -n 1)";
  ASSERT_EQ(std::system(("kill -INT " + pids).c_str()), 0);
}

class FitMpiInterrupt : public FitMpi {
 public:
  // Starts a 2-rank fit and returns once it iterates; `pid_of_mpirun` is the launcher's child.
  void start() {
    const std::string file = *dir_ / "long.h5";
    if (!fs::exists(file)) {
      const RunResult g = run({"generate", "--model", "exponential", "--points", "200000", "--noise", "0.05",
                               "--out", file, "-q"});
      ASSERT_EQ(g.exit_code, 0) << g.err;
    }
    fit_ = std::make_unique<Process>(
        std::vector<std::string>{"fit", file, "--model", "exponential", "--mode", "stream", "--ftol", "0", "--xtol",
                                 "0", "--gtol", "1e-15", "--max-nfev", "1000000", "--json", "--progress", "-v"},
        "", std::vector<std::string>{}, false, mpirun(2));
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (fit_->err_so_far().find("\n        1 ") == std::string::npos) {
      ASSERT_LT(std::chrono::steady_clock::now(), end) << fit_->err_so_far();
      ASSERT_TRUE(fit_->pump(50)) << "the fit ended before it was interrupted:\n" << fit_->err_so_far();
    }
  }
  // `depth` 1 signals mpirun, 2 one rank.
  void interrupt(int depth) { interrupt_descendant(*fit_, depth); }
  // Rank 0's report of the best point so far.
  RunResult finish() {
    const RunResult r = fit_->wait();
    EXPECT_NE(r.exit_code, 124) << "timed out\n" << r.err;
    const nlohmann::json j = r.json();
    EXPECT_EQ(j.at("status"), "interrupted") << r.err;
    EXPECT_EQ(j.at("ranks"), 2);
    EXPECT_GE(j.at("nfev").get<int>(), 2);
    for (const auto& p : j.at("params")) EXPECT_TRUE(std::isfinite(p.at("value").get<double>())) << p;
    return r;
  }

 private:
  std::unique_ptr<Process> fit_;
};

// SIGINT reaching one rank (here rank 0 or 1, whichever pgrep names first) stops every rank at the
// same iteration (the ranks agree on the flag at each pass); all exit 130 and mpirun passes it on.
TEST_F(FitMpiInterrupt, SigintToOneRankStopsEveryRankWithTheBestPoint) {
  start();
  interrupt(2);
  EXPECT_EQ(finish().exit_code, 130);
}

// Ctrl-C to mpirun: Open MPI sends SIGTERM to every rank (which curvefit treats as SIGINT) and
// kills them a second later (odls_base_sigkill_timeout); rank 0 reports within that second, as
// its passes here are short. mpirun then exits with its own code, 1, not the ranks' 130.
TEST_F(FitMpiInterrupt, SigintToMpirunReportsTheBestPoint) {
  start();
  interrupt(1);
  EXPECT_EQ(finish().exit_code, 1);
}


// Ctrl-C in the middle of a long pass (an expensive model on one thread per rank: passes of about
// 5 s). The test waits for rank 0's progress line of a pass, which appears a second into it.
// Open MPI's mpirun sends the ranks SIGTERM about a second after its own SIGINT, and SIGKILL
// odls_base_sigkill_timeout (1 s) later: a rank that finished its pass first would be killed.
class FitMpiMidPass : public FitMpi {
 public:
  void start(int pass) {
    const std::string file = *dir_ / "slow.h5";
    if (!fs::exists(file)) {
      const RunResult g = run({"generate", "--model", "exponential", "--points", "1e6", "--noise", "0.05", "--seed",
                               "9", "--out", file, "-q"});
      ASSERT_EQ(g.exit_code, 0) << g.err;
    }
    // Three parameters and a short formula (the report must get through mpirun's output
    // forwarding, which takes only a few kB once the job is being killed) with a hundred Voigt
    // profiles per row that add nothing to the fit.
    std::string model = "a*exp(-b*x) + c + 1e-12*(0";
    for (int k = 1; k <= 100; ++k) model += "+voigt(x," + std::to_string(k) + ",1)";
    model += ")";
    std::vector<std::string> launcher = mpirun(2);
    launcher.insert(launcher.end() - 2, {"--mca", "odls_base_sigkill_timeout", "1"});
    fit_ = std::make_unique<Process>(
        std::vector<std::string>{"fit", file, "--model", model, "--p0", "a=100,b=5,c=-3", "--mode", "stream",
                                 "--threads", "1", "--ftol", "0", "--xtol", "0", "--gtol", "1e-15", "--max-nfev",
                                 "1000000", "--json", "--progress", "-v"},
        "", std::vector<std::string>{}, false, launcher);
    wait_for_pass(pass);
  }
  void wait_for_pass(int pass) {
    const std::string line = "pass " + std::to_string(pass) + " [";
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(300);
    while (fit_->err_so_far().find(line) == std::string::npos) {
      ASSERT_LT(std::chrono::steady_clock::now(), end) << fit_->err_so_far();
      ASSERT_TRUE(fit_->pump(20)) << "the fit ended before it was interrupted:\n" << fit_->err_so_far();
    }
  }
  // `depth` 1 signals mpirun (which SIGTERMs every rank), 2 one rank.
  void interrupt(int depth) { interrupt_descendant(*fit_, depth); }
  // Seconds from `since` until rank 0's JSON report has arrived whole on stdout (a parse of
  // what arrived succeeds), or until the output ends.
  double seconds_to_report(std::chrono::steady_clock::time_point since) {
    while (!nlohmann::json::accept(fit_->out_so_far()) && fit_->pump(5)) {
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
  }
  // Rank 0's report, which must be that of the last iteration its -v lines printed.
  RunResult finish() {
    const RunResult r = fit_->wait();
    EXPECT_NE(r.exit_code, 124) << "timed out\n" << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "no report from rank 0 (killed?)\n" << r.err;
    if (j.is_discarded()) return r;
    EXPECT_EQ(j.at("status"), "interrupted") << r.err;
    EXPECT_EQ(j.at("ranks"), 2);
    EXPECT_EQ(j.at("iterations").get<int>(), last_full_iteration(r.err).first) << r.err;
    for (const auto& p : j.at("params")) EXPECT_TRUE(std::isfinite(p.at("value").get<double>())) << p;
    return r;
  }

 private:
  std::unique_ptr<Process> fit_;
};

// SIGTERM to every rank a second into a pass of several seconds: each rank skips the rest of its
// share, and rank 0 reports before Open MPI's SIGKILL one second later.
TEST_F(FitMpiMidPass, SigtermToEveryRankReportsBeforeTheKill) {
  start(2);
  interrupt(1);
  finish();
}

// SIGINT to one rank mid-pass: that rank tells the other at once, both cut the pass short, agree
// at its end to discard it and stop at the same iteration (no hang; every rank exits 130). Rank 0
// reports long before the rest of the pass would have ended: a rank that learned of the interrupt
// only at the end of the pass would first finish its share of it. What is timed is the report on
// stdout, not the job's end: after the report, the ranks' exit (LeakSanitizer's scan under ASan,
// ~2 s) and mpirun's own wait (~1 s) take seconds that say nothing about the fit.
TEST_F(FitMpiMidPass, SigintToOneRankStopsEveryRankAtTheSameIteration) {
  using Clock = std::chrono::steady_clock;
  start(2);
  const auto pass_2 = Clock::now();
  wait_for_pass(3);
  const auto signalled = Clock::now();
  const double pass_seconds = std::chrono::duration<double>(signalled - pass_2).count();
  interrupt(2);
  const double report_seconds = seconds_to_report(signalled);
  EXPECT_EQ(finish().exit_code, 130);
  // The signal comes a second into pass 3 (when its progress line appears): the rest of that pass
  // is pass_seconds - 1.
  std::cout << "reported " << report_seconds << " s after the signal, a pass takes " << pass_seconds << " s\n";
  EXPECT_GT(pass_seconds, 2.5) << "passes too short to tell";
  EXPECT_LT(report_seconds, 0.5 * (pass_seconds - 1.0))
      << "reported " << report_seconds << " s after the signal, a pass takes " << pass_seconds << " s";
}

}  // namespace
}  // namespace curvefit::cli
