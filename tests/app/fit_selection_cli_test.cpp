// Row selection from the command line (--x-range, --where). The data follow two curves: the rows
// meant to be selected y = 5 exp(-0.5 x) + 1, the others y = 2 exp(-2 x) - 3, so that a wrong
// selection gives visibly wrong parameters. The truth a fit with a selection must equal is the fit
// of a file that holds only the selected rows: bit for bit at the same chunk size, in memory,
// chunked and stream modes, from CSV, HDF5 and sharded files. Errors: an unknown column and bad
// ranges are exit 2 naming them, nothing (or too little) selected is exit 3; nan_policy judges only
// the selected rows.
#include <H5Cpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <fstream>
#include <string>
#include <vector>

#include "app/cli_util.h"

namespace curvefit::cli {
namespace {

using ::testing::HasSubstr;

// Columns x, y, temp, flag; row i is "meant" when meant(x, temp, flag).
struct Table {
  std::vector<double> x, y, temp, flag;
  std::size_t size() const { return x.size(); }
};

using Rule = std::function<bool(double x, double temp, double flag)>;

// n rows on x in [0, 10), temp in [200, 400) and flag in {0, 1} from an LCG (every platform agrees),
// y on the meant curve where rule holds and on the other curve elsewhere, plus noise of about 0.02.
Table make_table(std::size_t n, const Rule& rule) {
  Table t;
  std::uint64_t state = 2024;
  auto uniform = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  };
  for (std::size_t i = 0; i < n; ++i) {
    const double x = 10.0 * static_cast<double>(i) / static_cast<double>(n);
    const double temp = 200 + 200 * uniform();
    const double flag = uniform() < 0.3 ? 1 : 0;
    const double noise = 0.02 * std::sqrt(12.0) * (uniform() - 0.5);
    const double curve = rule(x, temp, flag) ? 5 * std::exp(-0.5 * x) + 1 : 2 * std::exp(-2 * x) - 3;
    t.x.push_back(x);
    t.y.push_back(curve + noise);
    t.temp.push_back(temp);
    t.flag.push_back(flag);
  }
  return t;
}

// The rows of t for which keep holds.
Table rows_where(const Table& t, const Rule& keep) {
  Table kept;
  for (std::size_t i = 0; i < t.size(); ++i)
    if (keep(t.x[i], t.temp[i], t.flag[i])) {
      kept.x.push_back(t.x[i]);
      kept.y.push_back(t.y[i]);
      kept.temp.push_back(t.temp[i]);
      kept.flag.push_back(t.flag[i]);
    }
  return kept;
}

// Rows [begin, end) as CSV with the header x,y,temp,flag, values exact (17 digits).
void write_csv(const std::string& path, const Table& t, std::size_t begin = 0, std::size_t end = SIZE_MAX) {
  std::ofstream out(path);
  out << "x,y,temp,flag\n";
  char line[120];
  for (std::size_t i = begin; i < std::min(end, t.size()); ++i) {
    std::snprintf(line, sizeof line, "%.17g,%.17g,%.17g,%.17g\n", t.x[i], t.y[i], t.temp[i], t.flag[i]);
    out << line;
  }
}

// Rows [begin, end) as HDF5 datasets /x, /y, /temp, /flag of float64.
void write_hdf5(const std::string& path, const Table& t, std::size_t begin = 0, std::size_t end = SIZE_MAX) {
  end = std::min(end, t.size());
  H5::H5File file(path, H5F_ACC_TRUNC);
  hsize_t dims[1] = {end - begin};
  H5::DataSpace space(1, dims);
  for (const auto& [name, column] : {std::pair{"/x", &t.x}, std::pair{"/y", &t.y}, std::pair{"/temp", &t.temp},
                                     std::pair{"/flag", &t.flag}}) {
    H5::DataSet dataset = file.createDataSet(name, H5::PredType::NATIVE_DOUBLE, space);
    dataset.write(column->data() + begin, H5::PredType::NATIVE_DOUBLE);
  }
}

const char* kModel = "a*exp(-b*x)+c";
const char* kWhere = "temp > 300 && flag == 0";

RunResult fit(const std::vector<std::string>& data, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"fit"};
  args.insert(args.end(), data.begin(), data.end());
  for (const char* a : {"--model", kModel, "--p0", "a=4,b=1,c=0", "--json", "-q", "--chunk-size", "300"})
    args.push_back(a);
  args.insert(args.end(), extra.begin(), extra.end());
  return run(args);
}

// The fit of `data` with a selection equals the fit of `truth`, which holds only the selected rows.
void expect_same_fit(const RunResult& selected, const RunResult& truth, std::size_t rows_total, const std::string& what) {
  ASSERT_EQ(selected.exit_code, 0) << what << ": " << selected.err;
  ASSERT_EQ(truth.exit_code, 0) << what << ": " << truth.err;
  const nlohmann::json s = selected.json(), t = truth.json();
  EXPECT_EQ(s["params"], t["params"]) << what;
  EXPECT_EQ(s["covariance"], t["covariance"]) << what;
  EXPECT_EQ(s["dof"], t["dof"]) << what;
  EXPECT_EQ(s["rows_used"], t["n_points"]) << what;
  EXPECT_EQ(s["rows_total"], rows_total) << what;
  EXPECT_EQ(t["selection"], nullptr) << what;
  // The meant curve, not a blend with the other one.
  EXPECT_NEAR(param(s, "b"), 0.5, 5 * param(s, "b", "stderr")) << what;
  EXPECT_NEAR(param(s, "c"), 1.0, 5 * param(s, "c", "stderr")) << what;
}

class FitSelectionCli : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(FitSelectionCli, WhereAndXRangeEqualTheFileOfTheSelectedRowsInEveryModeAndFormat) {
  const Rule meant = [](double x, double temp, double flag) { return x >= 2 && x <= 8 && temp > 300 && flag == 0; };
  const Table all = make_table(6000, meant);
  const Table selected = rows_where(all, meant);
  write_csv(dir_ / "all.csv", all);
  write_hdf5(dir_ / "all.h5", all);
  write_csv(dir_ / "selected.csv", selected);
  for (const char* mode : {"memory", "chunked", "stream"}) {
    const RunResult truth = fit({dir_ / "selected.csv"}, {"--mode", mode});
    for (const char* file : {"all.csv", "all.h5"}) {
      const RunResult r = fit({dir_ / file}, {"--mode", mode, "--x-range", "2:8", "--where", kWhere});
      expect_same_fit(r, truth, all.size(), std::string(file) + " " + mode);
      ASSERT_EQ(r.exit_code, 0);
      EXPECT_THAT(r.json()["selection"].get<std::string>(), HasSubstr(kWhere));
    }
  }
  // Every row fitted: the blend of both curves is far from the meant one.
  const RunResult blend = fit({dir_ / "all.csv"}, {});
  ASSERT_EQ(blend.exit_code, 0) << blend.err;
  EXPECT_GT(std::abs(param(blend.json(), "c") - 1.0), 0.5);
}

TEST_F(FitSelectionCli, XRangeWithOpenSidesAndANamedPredictor) {
  const Rule meant = [](double x, double, double) { return x <= 6; };
  const Table all = make_table(4000, meant);
  write_csv(dir_ / "all.csv", all);
  write_csv(dir_ / "upto6.csv", rows_where(all, meant));
  write_csv(dir_ / "from3.csv", rows_where(all, [](double x, double, double) { return x >= 3 && x <= 6; }));
  for (const char* mode : {"memory", "stream"}) {
    expect_same_fit(fit({dir_ / "all.csv"}, {"--mode", mode, "--x-range", ":6"}),
                    fit({dir_ / "upto6.csv"}, {"--mode", mode}), all.size(), std::string(":6 ") + mode);
    expect_same_fit(fit({dir_ / "all.csv"}, {"--mode", mode, "--x-range", "-inf:6"}),
                    fit({dir_ / "upto6.csv"}, {"--mode", mode}), all.size(), std::string("-inf:6 ") + mode);
    expect_same_fit(fit({dir_ / "all.csv"}, {"--mode", mode, "--x-range", "x=3:6"}),
                    fit({dir_ / "from3.csv"}, {"--mode", mode}), all.size(), std::string("x=3:6 ") + mode);
  }
}

TEST_F(FitSelectionCli, ShardedFilesSelectLikeOneFile) {
  const Rule meant = [](double, double temp, double flag) { return temp > 300 && flag == 0; };
  const Table all = make_table(3000, meant);
  write_csv(dir_ / "part-1.csv", all, 0, 1000);
  write_hdf5(dir_ / "part-2.h5", all, 1000, 2200);
  write_csv(dir_ / "part-3.csv", all, 2200, 3000);
  write_csv(dir_ / "selected.csv", rows_where(all, meant));
  // The selected rows of each file fold into slots of that file's own: the one file's fit to
  // rounding, and the same bits for 1 or 2 threads.
  for (const char* mode : {"memory", "chunked", "stream"}) {
    const RunResult reference = fit({dir_ / "part-*"}, {"--mode", mode, "--where", kWhere, "--threads", "1"});
    ASSERT_EQ(reference.exit_code, 0) << reference.err;
    const RunResult sharded = fit({dir_ / "part-*"}, {"--mode", mode, "--where", kWhere});
    const RunResult one = fit({dir_ / "selected.csv"}, {"--mode", mode});
    ASSERT_EQ(sharded.exit_code, 0) << sharded.err;
    ASSERT_EQ(one.exit_code, 0) << one.err;
    EXPECT_EQ(sharded.json()["params"], reference.json()["params"]) << mode;
    EXPECT_EQ(sharded.json()["covariance"], reference.json()["covariance"]) << mode;
    EXPECT_EQ(sharded.json()["rows_used"], one.json()["n_points"]) << mode;
    EXPECT_EQ(sharded.json()["rows_total"], all.size()) << mode;
    expect_same_fit_to_rounding(sharded.json(), one.json(), mode);
  }
}

// A file of a dataset of several in which the selection keeps no row is left out (runs that never
// reach the condition); only a selection that keeps no row of any file is an error, naming it.
TEST_F(FitSelectionCli, ShardedFileWithoutSelectedRowsIsLeftOut) {
  const Rule meant = [](double x, double, double) { return x < 4 || x >= 7; };
  const Table all = make_table(3000, meant);
  write_csv(dir_ / "part-1.csv", all, 0, 1000);      // x in [0, 3.33)
  write_hdf5(dir_ / "part-2.h5", all, 1200, 2100);   // x in [4, 7): no row selected
  write_csv(dir_ / "part-3.csv", all, 2100, 3000);   // x in [7, 10)
  write_csv(dir_ / "part-4.csv", all, 1000, 1200);   // x in [3.33, 4)
  const Table selected = rows_where(all, meant);
  const char* where = "x < 4 || x >= 7";
  for (const char* mode : {"memory", "stream"}) {
    const RunResult sharded = fit({dir_ / "part-*"}, {"--mode", mode, "--where", where});
    ASSERT_EQ(sharded.exit_code, 0) << mode << ": " << sharded.err;
    // The other three files hold only selected rows: without part-2 they are the same files with
    // the same rows, so the same chunks and slots, and the same bits.
    const RunResult others = fit({dir_ / "part-1.csv", dir_ / "part-3.csv", dir_ / "part-4.csv"}, {"--mode", mode});
    ASSERT_EQ(others.exit_code, 0) << others.err;
    EXPECT_EQ(sharded.json()["params"], others.json()["params"]) << mode;
    EXPECT_EQ(sharded.json()["covariance"], others.json()["covariance"]) << mode;
    EXPECT_EQ(sharded.json()["rows_used"], selected.size()) << mode;
    EXPECT_EQ(sharded.json()["rows_total"], all.size()) << mode;
    EXPECT_NEAR(param(sharded.json(), "b"), 0.5, 5 * param(sharded.json(), "b", "stderr")) << mode;
    EXPECT_NEAR(param(sharded.json(), "c"), 1.0, 5 * param(sharded.json(), "c", "stderr")) << mode;
  }
  // One notice for the dataset, naming the file without selected rows, instead of one per file.
  std::vector<std::string> loud = {"fit", dir_ / "part-*", "--model", kModel, "--p0", "a=4,b=1,c=0", "--where", where};
  const RunResult report = run(loud);
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_THAT(report.err, HasSubstr("(4 files): selected " + std::to_string(selected.size()) + " of 3000 rows (" +
                                    where + "); none from " + (dir_ / "part-2.h5")));
  EXPECT_THAT(report.err, ::testing::Not(HasSubstr("part-1.csv: selected")));
  const RunResult none = fit({dir_ / "part-*"}, {"--where", "x > 100"});
  EXPECT_EQ(none.exit_code, 3);
  EXPECT_THAT(none.err, HasSubstr("(4 files): no row of any file is selected (x > 100); nothing to fit"));
}

// A missing y in an unselected row is no error under nan_policy raise; in a selected row it is,
// naming its line; omit drops it. A NaN in a column the condition reads leaves the row out.
TEST_F(FitSelectionCli, NanPolicyJudgesOnlyTheSelectedRows) {
  const Rule meant = [](double x, double, double) { return x >= 2; };
  Table all = make_table(1000, meant);
  all.y[50] = NAN;  // x = 0.5: not selected by 2:
  write_csv(dir_ / "unselected_nan.csv", all);
  write_hdf5(dir_ / "unselected_nan.h5", all);
  write_csv(dir_ / "truth.csv", rows_where(all, meant));
  for (const char* file : {"unselected_nan.csv", "unselected_nan.h5"})
    for (const char* mode : {"memory", "stream"})
      expect_same_fit(fit({dir_ / file}, {"--mode", mode, "--x-range", "2:"}), fit({dir_ / "truth.csv"}, {"--mode", mode}),
                      all.size(), std::string(file) + " " + mode);

  all.y[500] = NAN;  // x = 5: selected
  write_csv(dir_ / "selected_nan.csv", all);
  write_hdf5(dir_ / "selected_nan.h5", all);
  for (const char* mode : {"memory", "stream"}) {
    const RunResult csv = fit({dir_ / "selected_nan.csv"}, {"--mode", mode, "--x-range", "2:"});
    EXPECT_EQ(csv.exit_code, 3) << mode;
    EXPECT_THAT(csv.err, HasSubstr("selected_nan.csv:502:")) << mode;  // header, then row 500 on line 502
    const RunResult h5 = fit({dir_ / "selected_nan.h5"}, {"--mode", mode, "--x-range", "2:"});
    EXPECT_EQ(h5.exit_code, 3) << mode;
    EXPECT_THAT(h5.err, HasSubstr("row 501")) << mode;
  }
  Table dropped = rows_where(all, meant);
  dropped = rows_where(dropped, [](double x, double, double) { return x != 5.0; });
  write_csv(dir_ / "dropped.csv", dropped);
  for (const char* file : {"selected_nan.csv", "selected_nan.h5"})
    for (const char* mode : {"memory", "stream"})
      expect_same_fit(fit({dir_ / file}, {"--mode", mode, "--x-range", "2:", "--nan-policy", "omit"}),
                      fit({dir_ / "dropped.csv"}, {"--mode", mode}), all.size(), std::string(file) + " omit " + mode);

  // temp NaN on a row the condition would select otherwise: not selected, not an error.
  Table where_nan = make_table(1000, [](double, double temp, double) { return temp > 250; });
  where_nan.temp[10] = NAN;
  write_csv(dir_ / "where_nan.csv", where_nan);
  write_csv(dir_ / "where_truth.csv", rows_where(where_nan, [](double, double temp, double) { return temp > 250; }));
  expect_same_fit(fit({dir_ / "where_nan.csv"}, {"--where", "temp > 250"}), fit({dir_ / "where_truth.csv"}, {}),
                  where_nan.size(), "NaN in a condition's column");
}

TEST_F(FitSelectionCli, BadSelectionsAreUsageErrorsAndEmptyOnesDataErrors) {
  const Table all = make_table(500, [](double, double, double) { return true; });
  write_csv(dir_ / "all.csv", all);
  write_hdf5(dir_ / "all.h5", all);
  for (const char* file : {"all.csv", "all.h5"}) {
    const RunResult unknown = fit({dir_ / file}, {"--where", "pressure > 1"});
    EXPECT_EQ(unknown.exit_code, 2) << file;
    EXPECT_THAT(unknown.err, HasSubstr("no column named 'pressure'"));
    EXPECT_THAT(unknown.err, HasSubstr("temp"));  // the columns are listed
  }
  for (const char* range : {"2", "a:3", "5:2", "1:2:3", "=1:2"}) {
    const RunResult r = fit({dir_ / "all.csv"}, {"--x-range", range});
    EXPECT_EQ(r.exit_code, 2) << range;
    EXPECT_THAT(r.err, HasSubstr("--x-range")) << range;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  const RunResult predictor = fit({dir_ / "all.csv"}, {"--x-range", "t=1:2"});
  EXPECT_EQ(predictor.exit_code, 2);
  EXPECT_THAT(predictor.err, HasSubstr("'t' is not a predictor"));
  const RunResult syntax = fit({dir_ / "all.csv"}, {"--where", "temp >"});
  EXPECT_EQ(syntax.exit_code, 2);
  for (const char* mode : {"memory", "stream"})
    for (const char* file : {"all.csv", "all.h5"}) {
      const RunResult none = fit({dir_ / file}, {"--mode", mode, "--where", "temp > 1000"});
      EXPECT_EQ(none.exit_code, 3) << file << " " << mode;
      EXPECT_THAT(none.err, HasSubstr("no row of the 500 is selected")) << file << " " << mode;
      const RunResult few = fit({dir_ / file}, {"--mode", mode, "--x-range", "0:0.03"});  // rows at 0, 0.02
      EXPECT_EQ(few.exit_code, 3) << file << " " << mode;
      EXPECT_THAT(few.err, HasSubstr("only 2 rows selected")) << file << " " << mode;
    }
}

// The planner counts what a selection needs (the scan of a streamed file when it opens, the
// selection's columns while loading, the index of rows kept): the measured peak (VmHWM) stays
// within the prediction.
TEST_F(FitSelectionCli, SelectedRowsStayWithinThePredictedPeak) {
  for (const char* file : {"big.h5", "big.csv"}) {
    const RunResult made = run({"generate", "--model", "exponential", "--points", "2e6", "--noise", "0.01",
                                "--x-range", "0:10", "--out", dir_ / file, "-q"});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    for (const char* mode : {"memory", "stream"}) {
      const RunResult r = run({"fit", dir_ / file, "--model", "exponential", "--where", "x > 3 && y < 1.5", "--mode",
                               mode, "--json", "-q"});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      const nlohmann::json memory = r.json()["memory"];
      EXPECT_LE(memory["peak_rss_bytes"].get<std::uint64_t>(), memory["predicted_peak_bytes"].get<std::uint64_t>())
          << file << " " << mode;
      EXPECT_EQ(r.json()["rows_total"], 2'000'000) << file << " " << mode;
      EXPECT_LT(r.json()["rows_used"].get<std::size_t>(), 2'000'000u);
    }
  }
}

}  // namespace
}  // namespace curvefit::cli
