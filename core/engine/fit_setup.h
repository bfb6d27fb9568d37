#pragma once
// The whole fit in one call, as `curvefit fit` does it: open the data and pick its columns, plan
// the mode under the memory limit, guess a starting point from one sample of the data (the
// subsample machinery), apply the model's natural bounds, --bounds and --fix, then fit (a
// subsample fit first for large data) and compute the statistics. Front ends (the CLI, the
// Python module, an MPI driver) only fill a FitSpec and print the FitResult, whose `used` member
// echoes every setting the fit ran with.
//
// No output on stdout or stderr, no signal handlers, no exit(): errors are thrown, typed where
// they arise (core/errors.h; MemoryError from memory/).
//
//   FitResult r = curvefit::fit(spec);                 // everything
//   PreparedFit p = prepare_fit(spec);                 // or in steps: data open, request built,
//   FitResult r = fit(p);                              // then fitted, and p.request still serves
//   for_each_chunk_fitted(p.request, r.params, ...);   // a pass for fitted values (--output)
#include <atomic>
#include <cstdint>
#include <cstddef>
#include <functional>
#include <utility>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/data/csv_byte_ranges.h"
#include "core/data/data_open.h"
#include "core/engine/fit.h"
#include "core/engine/multistart.h"
#include "core/engine/param_spec.h"
#include "core/engine/planner.h"
#include "core/engine/profile.h"
#include "core/model.h"
#include "core/model/composite_model.h"
#include "core/model/model_library.h"

namespace curvefit {

// --x-scale: 'jac', one number for every parameter, or values per parameter name (others 1).
struct XScaleSpec {
  bool jac = false;
  double all = 0;  // > 0: this scale for every parameter
  std::vector<NamedValue> by_name;
};

struct FitSpec {
  // The data: a file (CSV/TSV or HDF5; "-" for CSV on stdin; a glob(3) pattern is expanded as in
  // data_paths) read with data_options (columns, delimiter, header, skip_invalid, nan_policy,
  // temp_dir; num_predictors comes from the model), or, when data_path and data_paths are empty,
  // the arrays x (one vector per predictor), y and sigma (optional).
  std::string data_path;
  // Or several files, or glob(3) patterns ("runs/*.h5"), fitted as one dataset: the rows of every
  // file in the order of the sorted file names (core/data/sharded_source.h). Used instead of
  // data_path when not empty. Every file must select the same columns.
  std::vector<std::string> data_paths;
  DataOptions data_options;
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  std::vector<double> sigma;
  // The rows used: those in x_range and where `where` (a formula over the data's columns by name:
  // comparisons, && || !, arithmetic, functions) is neither 0 nor NaN. The readers drop the other
  // rows as they read them, in every mode; nan_policy judges the selected rows only. On arrays, the
  // names are x (x1, x2, ...), y, sigma and those of where_columns.
  std::optional<XRange> x_range;
  std::string where;
  // Arrays only: more columns the condition may name, `rows` values each (e.g. a DataFrame's).
  std::vector<std::pair<std::string, const double*>> where_columns;
  // Or, when there is no path and external.y is set, arrays owned by the caller, used in place
  // (not copied; e.g. numpy arrays): one pointer per predictor, y and sigma (null: none), `rows`
  // values each. They must stay valid and unchanged until the fit returns.
  struct ExternalArrays {
    std::vector<const double*> x;
    const double* y = nullptr;
    const double* sigma = nullptr;
    std::size_t rows = 0;
    std::vector<std::string> names;     // column names for reports (default x, y, sigma)
  } external;
  // Or, when data_path is empty and `source` is set, rows served by the caller's reader (e.g.
  // numpy arrays of another dtype or with strides, converted chunk by chunk): the fit streams from
  // it on every pass and never holds a copy of the data. Not owned; it must outlive the fit, and
  // its read() must throw DataError for a row that is not finite (as a file's reader does).
  DataSource* source = nullptr;
  // A built-in model name (`curvefit models`), a formula such as "a*exp(-b*x)+c", or a composite
  // of built-ins and formulas such as "gaussian[p1] + gaussian[p2] + linear"
  // (core/model/composite_model.h).
  std::string model;
  // A model of the front end's own (e.g. a Python function), used instead of building one from
  // `model` (which then only names it in reports). Not owned; it must outlive the fit.
  const Model* custom_model = nullptr;
  // Starting values by name; parameters not given start from the built-in model's guess from the
  // data, or at 1 for a formula.
  std::vector<NamedValue> p0;
  // Parameters held at a value (they override p0 of the same name).
  std::vector<NamedValue> fix;
  // Parameters given by expressions of the others (--tie "p2_sigma = p1_sigma"): substituted into
  // the model's formula, so they are not free; FitResult::tied reports them.
  std::vector<Tie> ties;
  // Bounds by name (trf and dogbox); they replace a built-in model's natural bounds (widths > 0,
  // ...), which apply unless natural_bounds is false or the method is lm.
  std::vector<NamedRange> bounds;
  bool natural_bounds = true;
  Algorithm method = Algorithm::trf;
  Loss loss = Loss::linear;
  double f_scale = 1.0;  // soft margin between inlier and outlier residuals
  double ftol = SolverOptions{}.ftol;
  double xtol = SolverOptions{}.xtol;
  double gtol = SolverOptions{}.gtol;
  int max_nfev = 0;    // 0: 1000 per parameter
  XScaleSpec x_scale;  // default: 1 for every parameter
  // sigma are true standard deviations: the covariance is not scaled by reduced chi-square.
  bool absolute_sigma = false;
  CovarianceKind covariance = CovarianceKind::standard;  // --cov: hc0/hc1 sandwich (one more pass)
  // The sigma column (data_options.sigma, or the sigma array) holds weights w = 1 / sigma^2.
  bool sigma_is_weight = false;
  // --ci profile: profile-likelihood intervals after the fit (core/engine/profile.h); none when empty.
  std::optional<ProfileOptions> profile;
  std::size_t memory_limit_bytes = 0;  // cap on the process's peak RSS; 0: available / safety
  bool writes_fitted_csv = false;      // --output follows: the planner counts a chunk's CSV text
  FitMode mode = FitMode::automatic;   // a forced mode, or the planner's choice
  std::size_t chunk_rows = 0;          // 0: the planner chooses
  int threads = 0;                     // 0: all cores
  // Progress and stopping (see FitRequest): after each iteration, at each full pass, rows done in
  // the current pass, and a flag that stops the fit with the best point so far.
  std::function<void(const IterationInfo& info, bool subsample)> on_iteration;
  std::function<void(long pass)> on_pass;
  std::atomic<std::size_t>* progress_rows = nullptr;
  const std::atomic<bool>* interrupt = nullptr;
  // Checkpoints and resuming (see FitRequest; core/engine/checkpoint.h). A resumed fit takes the
  // checkpoint's mode and chunk size where mode is automatic and chunk_rows 0.
  std::function<void(const FitCheckpoint&)> on_checkpoint;
  const FitCheckpoint* resume = nullptr;
  std::string resume_source;  // names the checkpoint in messages
  // --starts N: N starting points fitted together in shared passes; the best minimum wins
  // (core/engine/multistart.h places them, deterministic for `seed`).
  int starts = 1;
  std::uint64_t seed = 1;
  // Several --model: these models are fitted to the same data in the same passes as `model` and
  // ranked by AIC; the result is the best model's (FitResult::models holds the table). Names in
  // p0, fix, bounds and x_scale apply to the models that have them (a name none has is an error);
  // the models share the predictor columns; no ties.
  std::vector<std::string> more_models;
};

// What is decided before the data are read: the model, a look at the data, the memory limit and
// the plan. `curvefit plan DATA` prints this.
struct FitPlan {
  std::unique_ptr<Model> model;
  const ModelInfo* builtin = nullptr;  // the library entry, when the model is built in (untied)
  // The components, when the model is a composite of built-ins (or a built-in with ties): their
  // guesses and natural bounds.
  std::optional<CompositeModel> composite;
  std::vector<Tie> ties;
  DataOptions data_options;            // as used to open the file (num_predictors set)
  DataInfo info;                       // rows and columns of the file (or of the arrays); several
                                       // files: info.shards, exact once the data are open
  std::vector<std::string> data_files; // the files read, patterns expanded and sorted (none: arrays)
  std::string data_name;               // the path, "<stdin>", "<memory>" or "runs/*.h5 (12 files)"
  std::size_t free_params = 0;
  std::string limit_source;  // where memory_limit_bytes came from
  PlanRequest plan_request;
  Plan plan;
};

// A fit ready to run: the data open (or loaded), the request built. Keep it alive while the
// request is used (for_each_chunk_fitted after the fit).
struct PreparedFit {
  FitPlan setup;
  // Across MPI ranks: every row of the file, read only where the guess and the subsample take
  // them (null for one process); `data` then holds this rank's rows.
  std::unique_ptr<DataSource> all_rows;
  // The CSV files within all_rows that are split among the ranks by byte ranges
  // (core/engine/csv_rank_rows.h); empty when none is.
  std::vector<const CsvRowsSource*> csv_shares;
  std::unique_ptr<DataSource> data;
  const MemoryDataSource* in_memory = nullptr;  // the data when they are in RAM
  FitRequest request;
  FitSettings used;  // what fit(PreparedFit&) echoes besides the solver's own
  std::optional<ProfileOptions> profile;  // FitSpec::profile
  StartsOptions starts;                   // FitSpec::starts and seed
  // Several --model: the others, on the same data and plan. fit() swaps the best model into
  // `setup` and `request` (so that fitted values and profiles are the best model's).
  struct OtherModel {
    FitPlan setup;
    FitRequest request;
    FitSettings used;
  };
  std::vector<OtherModel> more;
};

// Throws UsageError (naming the option), ModelError, DataError, MemoryError.
// Under mpirun (distributed().size() > 1, a data file) these are collective: every rank plans its
// own share of the rows under its own memory limit (the chunk size is the smallest any rank's plan
// allows), reads only its rows, and an error on any rank is raised on every rank (RankError on
// the others).
FitPlan plan_fit(const FitSpec& spec);
PreparedFit prepare_fit(const FitSpec& spec);
FitResult fit(PreparedFit& prepared);
FitResult fit(const FitSpec& spec);

// The files a spec reads: data_paths with patterns expanded and sorted, or data_path; none for
// arrays. Throws UsageError for a pattern that matches nothing.
std::vector<std::string> data_files(const FitSpec& spec);

// The predictor names a formula uses on the spec's data: on a file, the rule of
// formula_predictors in core/data/columns.h (the --x names, or its names that are columns); on
// arrays, the x names when the formula uses them all. Empty for a library model, or when the
// formula writes x or x1, x2, ...
std::vector<std::string> formula_predictor_names(const FitSpec& spec);
std::vector<std::string> formula_predictor_names(const std::string& model,
                                                 const std::vector<std::string>& x_names);

}  // namespace curvefit
