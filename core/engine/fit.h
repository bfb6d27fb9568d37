#pragma once
// The fit driver: a model, data, options and a plan in; parameters, their uncertainties and the
// statistics of the fit out. It does no I/O of its own beyond reading the data source. Front ends
// call it through fit(const FitSpec&) (core/engine/fit_setup.h), which builds the request.
//
//   1. For large data (plan.subsample), fit a subsample of about m / k rows first, from p0, in
//      RAM: evenly spaced blocks of consecutive rows, read on their own (no pass over the data).
//   2. Fit all the data from there with the chunked objective in the planned mode (evaluating the
//      Jacobian together with the residuals at trial points when the data are large).
//   3. Statistics at the solution from sums the objective kept from its passes (no extra pass),
//      covariance from R (never J^T J).
#include <atomic>
#include <cstdint>
#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "core/engine/checkpoint.h"
#include "core/engine/chunked_objective.h"
#include "core/data/data_source.h"
#include "core/data/memory_source.h"
#include "core/errors.h"
#include "core/model.h"
#include "core/engine/planner.h"
#include "solvers/loss.h"
#include "solvers/options.h"

namespace curvefit {

class SharedPasses;  // core/engine/shared_passes.h

// The low-level request: a model and a data source already built, a starting point and a plan.
// Most callers want `fit(const FitSpec&)` (core/engine/fit_setup.h), which builds this request the
// way `curvefit fit` does (open the data, plan, guess, natural bounds, --fix).
// Which covariance the fit reports: from the Jacobian alone (scaled by reduced chi-square unless
// absolute_sigma), or heteroscedasticity-consistent (White's sandwich; HC1 = HC0 * m / (m - n)),
// which does not assume that sigma, or a constant variance, describes the residuals.
enum class CovarianceKind { standard, hc0, hc1 };
const char* to_string(CovarianceKind kind);
// "standard", "hc0", "hc1", or "robust" (= hc1, as statsmodels' and Stata's robust). Throws UsageError.
CovarianceKind parse_covariance_kind(const std::string& text);

// What a fit actually used, echoed in the result (as Ceres's Solver::Summary does) so that a
// report can be printed from the result alone. fit(FitRequest) fills the solver settings;
// fit(FitSpec) adds where the data, model, starting point and memory limit came from.
struct FitSettings {
  std::string data;                     // where the data came from (path, "<stdin>", ...)
  std::string selection;                // the rows used (--x-range, --where); empty: every row
  std::size_t rows_total = 0;           // rows of the data before the selection and nan_policy omit
  std::vector<std::string> x_columns;   // the columns used as predictors, as the data name them
  std::string y_column;
  std::string sigma_column;             // empty: no weights
  bool sigma_is_weight = false;         // sigma_column holds weights w = 1 / sigma^2 (--weights)
  bool has_sigma = false;               // residuals weighted by 1/sigma
  std::string model;                    // as given: library name or formula
  std::string formula;                  // the model's formula
  Eigen::VectorXd init;                 // starting point actually used (model-sized)
  std::string init_source;              // "given", "guess from the data", "1 for every ..."
  Eigen::VectorXd lower;                // bounds used (model-sized; -inf/+inf when unbounded)
  Eigen::VectorXd upper;
  Loss loss = Loss::linear;
  double f_scale = 1.0;
  bool absolute_sigma = false;
  CovarianceKind covariance = CovarianceKind::standard;
  Eigen::VectorXd x_scale;              // model-sized; empty: 1 for every parameter, or jac
  bool x_scale_jac = false;
  double ftol = 0, xtol = 0, gtol = 0;
  int max_nfev = 0;                     // 0: the solver's default (1000 per parameter)
  std::size_t memory_limit_bytes = 0;
  std::string memory_limit_source;      // "given", or the probe that found available memory
  std::size_t predicted_peak_bytes = 0; // the plan's prediction for its mode
  double read_s = 0;                    // reading the data into RAM (0 when streamed)
  double fit_s = 0;                     // the fit: subsample stage, full fit, statistics
  std::size_t peak_rss_bytes = 0;       // measured at the end of the fit (0 if unknown)
  std::vector<std::string> notes;       // why this plan (first reason), and other remarks
  std::vector<std::string> plan_reasons;  // every reason of the plan
};

struct FitRequest {
  // What the front end decided before the fit (data, columns, model, where the start and the
  // memory limit came from, notes, reading time); fit() adds the settings it runs with and echoes
  // the whole as FitResult::used.
  FitSettings settings;
  const Model* model = nullptr;
  // The data. Modes memory and chunked need a MemoryDataSource (read in place); mode stream
  // re-reads any DataSource (a file-backed one from open_streaming) on every pass.
  DataSource* data = nullptr;
  // sigma is taken from the data when it has a sigma column. absolute_sigma: the covariance is
  // (R^T R)^-1 as is (sigma are true standard deviations) instead of scaled by reduced chi^2.
  bool absolute_sigma = false;
  // The data's sigma column holds weights w = 1 / sigma^2 (--weights).
  bool sigma_is_weight = false;
  // hc0/hc1: the sandwich covariance, from one more pass at the solution.
  CovarianceKind covariance = CovarianceKind::standard;
  // Starting point, one value per model parameter (fixed parameters: their fixed value).
  Eigen::VectorXd p0;
  // Parameters held at their p0 value (--fix); empty = none. They are removed from the solver's
  // vector and reinserted in the result.
  std::vector<bool> fixed;
  // Method, tolerances, max_nfev, keep_history, and per MODEL parameter (reduced to the free ones
  // by the driver): solver.lower / solver.upper (empty = unbounded; entries of fixed parameters
  // are ignored) and solver.x_scale. solver.callback is chained after on_iteration's caller.
  // solver.interrupt: set (e.g. by a SIGINT handler) to stop; the pass in progress stops at its
  // next chunk and is discarded, and the fit ends with Status::interrupted at the last accepted
  // point, with its statistics and covariance; no further pass is made (--cov hc0/hc1 are then
  // not given). Interrupted in the first pass, the fit has no point: `params` are the start, the
  // cost +inf and the message says so; interrupted in the subsample fit, `params` are its last
  // accepted point and a note says so.
  SolverOptions solver;
  Loss loss = Loss::linear;
  double f_scale = 1.0;
  // Mode, chunk size, threads and subsample from make_plan (mode must not be automatic).
  Plan plan;
  // Called after each iteration of the full fit (for progress); `subsample` true during the
  // subsample fit.
  std::function<void(const IterationInfo& info, bool subsample)> on_iteration;
  // Called at the start of every pass of the full fit (evaluations, a statistics pass), with its
  // number (for progress bars). Not for the subsample fit, nor the streamed subsample extraction.
  std::function<void(long pass)> on_pass;
  // A fit over MPI ranks (core/engine/distributed.h), or null for one process. Then `data` holds
  // this rank's rows only (ChunkLayout's share for plan.chunk_rows and file_rows), `sample_data` every
  // row (read only where the subsample fit takes its rows, so that it is the one a single process
  // draws) and total_rows counts them. fit() and for_each_chunk_fitted are then collective.
  Distributed* distributed = nullptr;
  DataSource* sample_data = nullptr;
  std::size_t total_rows = 0;
  // Rows of each file of a dataset of several files (of every rank): each file's chunks (or a run
  // of small files') fold into slots of their own (ChunkLayout), so that ranks can read whole
  // files. Empty: one file.
  std::vector<std::size_t> file_rows;
  // If not null: rows done in the current full-data pass (reset at each pass start, advanced
  // after every chunk by the workers), for a progress display polling from its own thread.
  std::atomic<std::size_t>* progress_rows = nullptr;
  // Checkpoints (core/engine/checkpoint.h): called with the state to resume from at the start and
  // after every accepted step of the subsample fit and of the full fit.
  std::function<void(const FitCheckpoint&)> on_checkpoint;
  // Continue from this checkpoint instead of starting from p0; it must be of the same problem
  // (UsageError naming what differs, prefixed by resume_source). The counts, history, parameters
  // and covariance are then the uninterrupted fit's; `passes` adds the passes of this run (one of
  // them linearizes the saved point again).
  const FitCheckpoint* resume = nullptr;
  std::string resume_source;
  // One of several fits sharing passes over the data (core/engine/multistart.h sets these): every
  // full-data evaluation is posted to this coordinator, and the subsample fit takes its rows from
  // `subsample` (drawn once for all) instead of drawing them.
  SharedPasses* shared_passes = nullptr;
  const MemoryDataSource* subsample = nullptr;
};

// A fit that shares passes stopped at its start: the model or its derivatives are not finite
// there (the other fits go on; a single fit names the row instead).
class StartNotFinite : public ModelError {
 public:
  using ModelError::ModelError;
};

// Profile-likelihood confidence intervals (core/engine/profile.h), when asked for.
enum class ProfileRule {
  f_test,  // lmfit's conf_interval: chi2 rises by chi2_best * F(level; 1, dof) / dof
  chi2,    // the plain rule: chi2 rises by chi2(level; 1 dof), times reduced chi2 unless absolute_sigma
};
struct ProfileBound {
  double value = 0;
  // How the end was found: "crossed" (the profile crosses the level there), "bound" (the
  // parameter's bound is reached first: the interval is cut there) or "not reached" (the profile
  // stays below the level as far as it was followed: +-inf).
  std::string found = "crossed";
};
struct ProfileInterval {
  double level = 0;                     // probability in (0, 1), e.g. 0.6827
  ProfileBound lower, upper;
};
struct ProfileResult {
  bool computed = false;
  ProfileRule rule = ProfileRule::f_test;
  std::vector<double> levels;
  // Per model parameter (empty for fixed ones), one interval per level.
  std::vector<std::vector<ProfileInterval>> intervals;
  int refits = 0;                       // fits with one parameter held
  long passes = 0;                      // their passes over the data
  double seconds = 0;
};

// A parameter tied to the others by --tie NAME = EXPR: not one of the model's parameters, its value
// is EXPR at the fitted parameters and its standard error sqrt(g^T C g), g the gradient of EXPR
// with respect to the model's parameters and C their covariance (the delta method).
struct TiedParameter {
  std::string name;
  std::string expression;
  double value = std::numeric_limits<double>::quiet_NaN();
  double stderr_ = std::numeric_limits<double>::quiet_NaN();
};

// --starts N (core/engine/multistart.h): what each start reached, and the distinct minima.
struct StartRun {
  int start = 0;                        // 0 is the given/guessed p0
  Eigen::VectorXd init;                 // model-sized starting point
  Eigen::VectorXd params;               // where it ended
  double cost = 0;                      // +inf when it failed
  Status status = Status::failed;
  std::string message;
  int nfev = 0;
  long passes = 0;                      // what this start alone would have cost
  int minimum = -1;                     // index into StartsSummary::minima (-1: failed)
};
struct Minimum {
  double cost = 0;
  Eigen::VectorXd params;               // of the lowest-cost start that reached it
  std::vector<int> starts;              // the starts that reached it, increasing
  Status status = Status::failed;       // of that start
};
struct StartsSummary {
  int count = 1;
  std::uint64_t seed = 0;
  std::string design;                   // how the starts were placed (one line)
  int concurrency = 1;                  // starts run at once (fewer when memory is short)
  int best = 0;                         // the start whose fit is reported
  long passes = 0;                      // passes over the data of all starts together
  long separate_passes = 0;             // the sum of what each start alone would cost
  std::vector<Minimum> minima;          // by increasing cost
  std::vector<StartRun> runs;           // by start
};
// Several --model: one row of the comparison table.
struct ModelComparison {
  std::string model;
  std::string formula;
  int n_free = 0;
  double cost = 0, chi2 = 0, reduced_chi2 = 0, r_squared = 0, aic = 0, bic = 0;
  Status status = Status::failed;
  long passes = 0;                      // what this model's fit alone would cost
};

struct FitResult {
  // Per model parameter, fixed ones included (fixed[j] tells which).
  std::vector<std::string> names;
  Eigen::VectorXd params;
  Eigen::VectorXd stderr_;              // 0 for fixed parameters; +inf when undetermined
  std::vector<bool> fixed;
  // Model-sized matrices. Rows/columns of fixed parameters: covariance 0; correlation 0 off the
  // diagonal and 1 on it. Undetermined parameters (rank-deficient R): covariance +inf,
  // correlation NaN. Empty when the fit failed before any linearization.
  Eigen::MatrixXd covariance;
  Eigen::MatrixXd correlation;
  // Model-sized rows (zero for fixed parameters): covariance = root root^T where determined, for
  // the delta method as a sum of squares (CurveBands). Empty when the covariance is not finite.
  Eigen::MatrixXd covariance_root;
  int rank = 0;                         // numerical rank of R (free parameters)

  double cost = 0;                      // 0.5 sum rho(f^2) at params (the solver's objective)
  double chi2 = 0;                      // sum ((fit - y) / sigma)^2 (no robust loss)
  double reduced_chi2 = 0;              // chi2 / dof (NaN when dof <= 0)
  double r_squared = 0;                 // 1 - sum (fit - y)^2 / sum (y - mean y)^2, unweighted
  double rmse = 0;                      // sqrt(sum (fit - y)^2 / n_points), unweighted
  double aic = 0;                       // n log(chi2 / n) + 2 k     (k = free parameters, as lmfit)
  double bic = 0;                       // n log(chi2 / n) + log(n) k
  long dof = 0;                         // n_points - free parameters
  std::size_t n_points = 0;
  int n_free = 0;

  int nfev = 0;                         // of the full fit
  int njev = 0;
  int iterations = 0;
  long passes = 0;                      // passes over the full data (every evaluation, the
                                        // subsample extraction when streaming, and any
                                        // statistics pass); not the subsample fit's passes
  int subsample_nfev = 0;               // the subsample fit's evaluations (0 if none)
  std::size_t subsample_rows = 0;

  Status status = Status::failed;
  std::string message;
  bool success = false;
  double optimality = 0;
  Eigen::VectorXi active_mask;          // model-sized; 0 for fixed parameters

  Algorithm method = Algorithm::trf;
  FitMode mode = FitMode::memory;
  std::size_t chunk_rows = 0;
  int threads = 1;
  int ranks = 1;                        // MPI ranks the fit ran on (1: one process)
  // Across ranks, the full fit's exchanges of partial factors (one per pass): their number, the
  // total and the shortest time one took (rank 0's), and the most bytes rank 0 sent in one.
  long exchanges = 0;
  double exchange_s = 0;
  double fastest_exchange_s = 0;
  std::size_t exchange_bytes = 0;
  // Across ranks, by rank: the rows it folded and, of a dataset of several files, how many files it
  // read whole and how many it shared with other ranks (ChunkLayout). Empty for one process.
  struct RankRows {
    std::size_t rows = 0;
    std::size_t whole_files = 0, shared_files = 0;
  };
  std::vector<RankRows> rank_rows;
  std::size_t files = 1;  // files of the dataset whose chunks fold into slots of their own
  std::vector<IterationInfo> history;   // of the full fit
  // Doubts about the answer for the reader (e.g. no better than a constant); empty when none.
  std::vector<std::string> warnings;
  FitSettings used;                     // the configuration this fit ran with
  ProfileResult profile;                // --ci profile (computed: false otherwise)
  std::vector<TiedParameter> tied;      // --tie, in the order given
  StartsSummary starts;                 // --starts N (count 1 and nothing else otherwise)
  // Several --model: every model's fit, ranked by AIC (this result is the first's); empty otherwise.
  std::vector<ModelComparison> models;
};

// Runs the fit. Throws UsageError for an inconsistent request (sizes, a mode without the data it
// needs, p0 outside bounds), ModelError when the model is not finite at the starting point (the
// message names the first such row and its x), DataError from the data.
FitResult fit(const FitRequest& request);

// The rows the subsample fit takes (plan.subsample_stride): evenly spaced blocks, the same for
// every fit of the same data and plan.
std::unique_ptr<MemoryDataSource> draw_subsample(const FitRequest& request);

// One more pass over the data computing the fitted values at `params` (model-sized) and handing
// x, y, fit of each chunk, in row order, to `consume` (for --output). Uses the request's data,
// plan and model. Across ranks, every rank calls it and rank 0 alone sees every chunk.
void for_each_chunk_fitted(const FitRequest& request, const Eigen::VectorXd& params,
                           const std::function<void(const FittedChunk&)>& consume);

// The objective 0.5 sum rho(f^2) at `params` (model-sized): one pass over the data.
double cost_at(const FitRequest& request, const Eigen::VectorXd& params);

}  // namespace curvefit
