#include "core/engine/fit.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <stdexcept>

#include "core/engine/distributed.h"
#include "core/engine/subsample.h"
#include "core/errors.h"
#include "memory/system_probe.h"
#include "solvers/covariance.h"
#include "solvers/solve.h"

namespace curvefit {

namespace {

std::string format_number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", value);
  return buffer;
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// From this many rows on, evaluating the Jacobian at every trial point pays: a pass costs far
// more than the Jacobian work it adds, and an accepted step then needs no second pass.
constexpr std::size_t kTrialLinearizationRows = 100'000;

std::vector<int> free_indices(const std::vector<bool>& fixed, int n_model) {
  std::vector<int> free;
  for (int j = 0; j < n_model; ++j)
    if (fixed.empty() || !fixed[static_cast<std::size_t>(j)]) free.push_back(j);
  return free;
}

Eigen::VectorXd take(const Eigen::VectorXd& full, const std::vector<int>& indices) {
  if (full.size() == 0) return full;
  Eigen::VectorXd reduced(static_cast<Eigen::Index>(indices.size()));
  for (std::size_t j = 0; j < indices.size(); ++j) reduced[static_cast<Eigen::Index>(j)] = full[indices[j]];
  return reduced;
}

// Rows of the whole data (of every rank).
std::size_t total_rows(const FitRequest& request) {
  return request.total_rows > 0 ? request.total_rows : request.data->rows();
}

// Each rank's rows, and the files it reads whole or shares with other ranks (the files of a
// segment it shares count as shared; one file: shared by every rank that has rows).
std::vector<FitResult::RankRows> rank_rows(const ChunkLayout& layout) {
  std::vector<FitResult::RankRows> out;
  for (int r = 0; r < layout.ranks(); ++r) {
    FitResult::RankRows rows;
    rows.rows = layout.share(r).rows;
    for (const ChunkLayout::RankPart& part : layout.share(r).parts) {
      const ChunkLayout::Segment& segment = layout.segments()[part.segment];
      const bool whole = part.slot_begin == 0 && part.slot_end == segment.slots;
      (whole && layout.segments().size() > 1 ? rows.whole_files : rows.shared_files) += segment.files;
    }
    out.push_back(rows);
  }
  return out;
}

// The objective of the full data: over the ranks when the request is distributed.
ChunkedObjectiveOptions objective_options(const FitRequest& request, std::size_t rows) {
  ChunkedObjectiveOptions options;
  options.loss = request.loss;
  options.f_scale = request.f_scale;
  options.chunk_rows = request.plan.chunk_rows > 0 ? request.plan.chunk_rows : kMaxChunkRows;
  options.threads = request.plan.threads;
  options.fixed = request.fixed;
  if (!request.fixed.empty()) options.fixed_values = request.p0;
  options.linearize_at_trial_points =
      rows >= kTrialLinearizationRows || request.plan.mode == FitMode::stream;
  options.sigma_is_weight = request.sigma_is_weight;
  options.distributed = request.distributed;
  options.total_rows = request.distributed ? total_rows(request) : 0;
  options.file_rows = request.file_rows;
  options.shared = request.shared_passes;
  return options;
}

std::unique_ptr<ChunkedObjective> full_objective(const FitRequest& request,
                                                 ChunkedObjectiveOptions options) {
  const Model& model = *request.model;
  if (request.plan.mode == FitMode::stream)
    return std::make_unique<ChunkedObjective>(model, *request.data, options,
                                              ChunkedObjective::Streaming{});
  const auto* memory = dynamic_cast<const MemoryDataSource*>(request.data);
  if (!memory)
    throw UsageError("mode " + std::string(to_string(request.plan.mode)) +
                     " needs the data loaded into memory (load_data)");
  return std::make_unique<ChunkedObjective>(model, *memory, options);
}

SolverOptions solver_options(const FitRequest& request, const std::vector<int>& free,
                             bool subsample_stage) {
  SolverOptions options = request.solver;
  const Eigen::Index n_model = static_cast<Eigen::Index>(request.model->num_params());
  auto reduce = [&](const Eigen::VectorXd& v, const char* what) {
    if (v.size() == 0) return v;
    if (v.size() != n_model)
      throw UsageError(std::string(what) + ": expected one value per model parameter (" +
                       std::to_string(n_model) + "), got " + std::to_string(v.size()));
    return take(v, free);
  };
  options.lower = reduce(request.solver.lower, "lower bounds");
  options.upper = reduce(request.solver.upper, "upper bounds");
  options.x_scale = reduce(request.solver.x_scale, "x_scale");
  if (subsample_stage) options.keep_history = false;
  const std::function<bool(const IterationInfo&)> user = request.solver.callback;
  options.callback = [&request, user, subsample_stage](const IterationInfo& info) {
    if (user && !user(info)) return false;
    if (request.on_iteration) request.on_iteration(info, subsample_stage);
    return !(request.solver.interrupt && request.solver.interrupt->load());
  };
  return options;
}

// The first row where the model is not finite at `params` (model-sized), as "data row N (x = ...)
// gives ..."; else the first whose squared residual overflows (finite values beyond about 1e154),
// with `overflow` set; empty when neither (the derivatives are then what is not finite).
std::string first_bad_row(const FitRequest& request, const Eigen::VectorXd& params, bool& overflow) {
  std::string not_finite, overflowing;
  for_each_chunk_fitted(request, params, [&](const FittedChunk& chunk) {
    for (std::size_t i = 0; i < chunk.rows && not_finite.empty(); ++i) {
      const double fit = chunk.fit[i];
      const double residual = (fit - chunk.y[i]) / (chunk.sigma ? chunk.sigma[i] : 1.0);
      if (std::isfinite(fit) && (!overflowing.empty() || !std::isinf(residual * residual))) continue;
      std::string row = "data row " + std::to_string(chunk.begin + i + 1) + " (x = ";
      for (int q = 0; q < request.model->num_predictors(); ++q)
        row += (q ? ", " : "") + format_number(chunk.x[q][i]);
      if (!std::isfinite(fit))
        not_finite = row + ") gives " + format_number(fit);
      else
        overflowing = row + ", y = " + format_number(chunk.y[i]) + ") has the residual " + format_number(residual);
    }
  });
  overflow = not_finite.empty() && !overflowing.empty();
  return not_finite.empty() ? overflowing : not_finite;
}

// The solvers report a bad option and a start where the residuals or the Jacobian are not finite
// alike (std::invalid_argument, as scipy's ValueError): here the first is a usage error and the
// second bad data or model, named by its first row.
SolverResult solve_from(Objective& objective, const Eigen::VectorXd& x0, const SolverOptions& options,
                        const FitRequest& request, const std::vector<int>& free) {
  try {
    return solve(objective, x0, options);
  } catch (const ResumeError& error) {
    throw UsageError(request.resume_source + ": cannot resume from this checkpoint: " + error.what());
  } catch (const std::invalid_argument& error) {
    Eigen::VectorXd full = request.p0;
    for (std::size_t j = 0; j < free.size(); ++j) full[free[j]] = x0[static_cast<Eigen::Index>(j)];
    const Evaluation start = objective.evaluate(x0, true);
    if (start.finite && start.has_linearization) throw UsageError(error.what());
    // Sharing passes, the data are not read on the side: the start is only reported as failed.
    if (request.shared_passes) throw StartNotFinite(std::string("not finite at this start: ") + error.what());
    bool overflow = false;
    const std::string row = first_bad_row(request, full, overflow);
    if (overflow)
      throw DataError("the sum of squared residuals overflows at the starting point: " + row +
                      "; residuals beyond about 1e154 cannot be squared in double precision: rescale y (and sigma)");
    throw ModelError("the model is not finite at the starting point: " +
                     (row.empty() ? std::string("its derivatives are not (at some row)") : row) +
                     "; give --p0 values, --bounds or data where it is defined");
  }
}

void validate(const FitRequest& request) {
  if (!request.model) throw UsageError("no model to fit");
  if (!request.data) throw UsageError("no data to fit");
  if (request.plan.mode == FitMode::automatic)
    throw UsageError("the fit needs a plan with a mode (make_plan)");
  const Eigen::Index n_model = static_cast<Eigen::Index>(request.model->num_params());
  if (request.p0.size() != n_model)
    throw UsageError("p0: expected " + std::to_string(n_model) + " values, got " +
                     std::to_string(request.p0.size()));
  if (!request.p0.allFinite()) throw UsageError("p0 must be finite");
  if (!request.fixed.empty() && static_cast<Eigen::Index>(request.fixed.size()) != n_model)
    throw UsageError("fixed: expected one flag per model parameter");
  if (total_rows(request) == 0) throw DataError(request.data->description() + ": no data rows");
}

// The covariance's root (free rows) with a row per model parameter, zero for fixed ones.
Eigen::MatrixXd model_sized_root(const Eigen::MatrixXd& root, const std::vector<int>& free, int n_model) {
  if (root.size() == 0) return {};
  Eigen::MatrixXd out = Eigen::MatrixXd::Zero(n_model, root.cols());
  for (std::size_t a = 0; a < free.size(); ++a) out.row(free[a]) = root.row(static_cast<Eigen::Index>(a));
  return out;
}

// Statistics and covariance at the solution into `result` (params and n_points already set).
void fill_statistics(const FitRequest& request, ChunkedObjective& objective,
                     const SolverResult& solved, const std::vector<int>& free, FitResult& result) {
  const double m = static_cast<double>(result.n_points);
  const int n_model = static_cast<int>(request.model->num_params());
  result.chi2 = result.reduced_chi2 = result.r_squared = result.rmse = kNaN;
  result.aic = result.bic = kNaN;
  if (solved.x.size() == result.n_free && solved.x.allFinite()) {
    // At the point the solver last evaluated, as the cost and the covariance are (its last step,
    // when taken without a pass, moves them by less than their rounding).
    const Eigen::VectorXd& at = solved.evaluated_x;
    std::optional<ResidualSums> sums = objective.sums_at(at);
    if (!sums && solved.status == Status::interrupted && solved.linearization.R.size() > 0)
      result.used.notes.push_back("interrupted: chi2, R-squared, RMSE, AIC and BIC need one more pass at the best "
                                  "point and were not computed");
    if (!sums && solved.status != Status::failed && solved.status != Status::interrupted) {
      // The solution's pass is not among the remembered ones: one more pass.
      objective.evaluate(at, false);
      sums = objective.sums_at(at);
    }
    const std::optional<ResponseMoments> moments = objective.response_moments();
    if (sums) {
      result.chi2 = sums->chi2;
      result.reduced_chi2 = result.dof > 0 ? sums->chi2 / static_cast<double>(result.dof) : kNaN;
      result.rmse = std::sqrt(sums->ss_residual / m);
      if (moments && moments->m2 > 0) result.r_squared = 1.0 - sums->ss_residual / moments->m2;
      // Every built-in model can reach a constant (R^2 = 0); one with two or more free parameters
      // that ends at or below the mean of y has almost always started in the wrong place or been
      // given the wrong columns.
      if (result.r_squared <= 0 && result.n_free >= 2) {
        char r2[32];
        std::snprintf(r2, sizeof r2, "%.6g", result.r_squared);
        result.warnings.push_back(std::string("R-squared = ") + r2 +
                                  ": the fit is no better than a constant (the mean of y); check the model, "
                                  "the starting point (--p0) and the columns");
      }
      const double k = static_cast<double>(result.n_free);
      const double neg2_log_likelihood = m * std::log(sums->chi2 / m);
      result.aic = neg2_log_likelihood + 2.0 * k;
      result.bic = neg2_log_likelihood + std::log(m) * k;
    }
  }

  result.stderr_ = Eigen::VectorXd::Zero(n_model);
  const Eigen::MatrixXd& R = solved.linearization.R;
  if (R.rows() != result.n_free || R.cols() != result.n_free || !R.allFinite()) {
    result.stderr_.setConstant(kNaN);
    for (int j = 0; j < n_model; ++j)
      if (!result.fixed.empty() && result.fixed[static_cast<std::size_t>(j)]) result.stderr_[j] = 0;
    return;
  }
  const double scale = covariance_scale(solved.cost, result.dof, request.absolute_sigma);
  const Covariance covariance = covariance_from_r(R, scale, request.solver.covariance_rcond);
  result.rank = covariance.rank;
  result.covariance_root = model_sized_root(covariance.root, free, n_model);
  result.covariance = Eigen::MatrixXd::Zero(n_model, n_model);
  result.correlation = Eigen::MatrixXd::Identity(n_model, n_model);
  for (std::size_t a = 0; a < free.size(); ++a) {
    const Eigen::Index ia = static_cast<Eigen::Index>(a);
    result.stderr_[free[a]] = covariance.stderr_[ia];
    for (std::size_t b = 0; b < free.size(); ++b) {
      const Eigen::Index ib = static_cast<Eigen::Index>(b);
      const double c = covariance.matrix(ia, ib);
      result.covariance(free[a], free[b]) = c;
      const double denominator = std::sqrt(covariance.matrix(ia, ia) * covariance.matrix(ib, ib));
      result.correlation(free[a], free[b]) =
          a == b ? 1.0 : (std::isfinite(denominator) && denominator > 0 ? c / denominator : kNaN);
    }
    if (!covariance.determined[ia]) result.correlation(free[a], free[a]) = kNaN;
  }
}

// --cov hc0/hc1: one more pass at the solution folds the rows f_i J_i into the meat's factor; the
// sandwich replaces the standard covariance (and the standard errors and correlations with it).
void apply_sandwich_covariance(const FitRequest& request, const SolverResult& solved, const std::vector<int>& free,
                               std::atomic<long>& passes, FitResult& result) {
  const Eigen::MatrixXd& R = solved.linearization.R;
  if (R.rows() != result.n_free || R.cols() != result.n_free || !R.allFinite()) return;
  ChunkedObjectiveOptions options = objective_options(request, result.n_points);
  options.pass_counter = &passes;
  options.scale_rows_by_residual = true;
  const Evaluation meat = full_objective(request, options)->evaluate(solved.x, true);
  if (!meat.has_linearization || !meat.lin.R.allFinite()) return;
  const double m = static_cast<double>(result.n_points), n = static_cast<double>(result.n_free);
  const double scale = request.covariance == CovarianceKind::hc1 ? (m > n ? m / (m - n) : kNaN) : 1.0;
  const Covariance sandwich = sandwich_covariance_from_r(R, meat.lin.R, scale, request.solver.covariance_rcond);
  result.covariance_root = model_sized_root(sandwich.root, free, static_cast<int>(request.model->num_params()));
  for (std::size_t a = 0; a < free.size(); ++a) {
    const auto ia = static_cast<Eigen::Index>(a);
    result.stderr_[free[a]] = sandwich.stderr_[ia];
    for (std::size_t b = 0; b < free.size(); ++b) {
      const auto ib = static_cast<Eigen::Index>(b);
      result.covariance(free[a], free[b]) = sandwich.matrix(ia, ib);
      const double denominator = std::sqrt(sandwich.matrix(ia, ia) * sandwich.matrix(ib, ib));
      result.correlation(free[a], free[b]) =
          a == b ? (sandwich.determined[ia] ? 1.0 : kNaN)
                 : (std::isfinite(denominator) && denominator > 0 ? sandwich.matrix(ia, ib) / denominator : kNaN);
    }
  }
}

// An interrupted fit makes no pass for the sandwich: its standard errors, covariance and
// correlations are not given rather than the standard ones under the sandwich's name.
void withhold_sandwich_covariance(const FitRequest& request, const std::vector<int>& free, FitResult& result) {
  for (int j : free) result.stderr_[j] = kNaN;
  if (result.covariance.rows() == result.stderr_.size())
    for (int a : free)
      for (int b : free) result.covariance(a, b) = result.correlation(a, b) = kNaN;
  result.covariance_root = {};
  result.used.notes.push_back(std::string("interrupted: the --cov ") + to_string(request.covariance) +
                              " covariance needs one more pass and was not computed");
}

// The solver settings a fit ran with, for the result's summary.
void echo_settings(const FitRequest& request, FitSettings& used) {
  used = request.settings;
  const Eigen::Index n = static_cast<Eigen::Index>(request.model->num_params());
  const double inf = std::numeric_limits<double>::infinity();
  used.has_sigma = request.data->has_sigma();
  const std::vector<std::string> columns = request.data->column_names();
  const auto k = static_cast<std::size_t>(request.data->num_predictors());
  used.x_columns.assign(columns.begin(), columns.begin() + static_cast<std::ptrdiff_t>(k));
  used.y_column = columns.at(k);
  used.sigma_column = used.has_sigma ? columns.back() : std::string();
  used.formula = request.model->formula();
  used.init = request.p0;
  used.lower = request.solver.lower.size() ? request.solver.lower : Eigen::VectorXd::Constant(n, -inf);
  used.upper = request.solver.upper.size() ? request.solver.upper : Eigen::VectorXd::Constant(n, inf);
  used.loss = request.loss;
  used.f_scale = request.f_scale;
  used.absolute_sigma = request.absolute_sigma;
  used.sigma_is_weight = request.sigma_is_weight && used.has_sigma;
  used.covariance = request.covariance;
  used.x_scale = request.solver.x_scale;
  used.x_scale_jac = request.solver.x_scale.size() == 0 && request.solver.x_scale_jac.value_or(false);
  used.ftol = request.solver.ftol;
  used.xtol = request.solver.xtol;
  used.gtol = request.solver.gtol;
  used.max_nfev = request.solver.max_nfev;
  used.predicted_peak_bytes = request.plan.predicted_peak_bytes;
  used.memory_limit_bytes = request.plan.memory_limit_bytes;
  used.plan_reasons = request.plan.reasons;
}

// The starting point a solver actually used (x0 moved strictly inside its bounds) becomes the
// `init` the result reports.
void record_start(const SolverResult& solved, const std::vector<int>& free, FitResult& result) {
  if (solved.start.size() != static_cast<Eigen::Index>(free.size())) return;
  for (std::size_t j = 0; j < free.size(); ++j)
    result.used.init[free[j]] = solved.start[static_cast<Eigen::Index>(j)];
}

// Whether the solver evaluates the Jacobian at trial points of an objective with these options.
bool linearizes_trials(const FitRequest& request, const ChunkedObjectiveOptions& options) {
  using Trials = SolverOptions::TrialLinearization;
  const Trials trials = request.solver.trial_linearization;
  return trials == Trials::always || (trials == Trials::objective_default && options.linearize_at_trial_points);
}

// The checkpoints of one fit: what they all share (the problem, the plan's mode and chunk size,
// the subsample fit's outcome once known) and the state a resumed fit continues from.
struct Checkpoints {
  const FitRequest& request;
  FitCheckpoint shared;
  long passes_before = 0;  // passes over the full data of the run a resumed fit continues
  // An interrupted subsample fit hands the full fit a point the uninterrupted fit never starts
  // from: no checkpoint is written after it (the last one, of the subsample fit, stays).
  bool subsample_interrupted = false;

  explicit Checkpoints(const FitRequest& r) : request(r) {
    if (!request.on_checkpoint && !request.resume) return;
    const ChunkedObjectiveOptions full = objective_options(request, request.data->rows());
    const bool subsample = linearizes_trials(request, objective_options(request, 0));
    shared.problem = problem_fingerprint(request, full.chunk_rows,
                                         std::string("full fit ") + (linearizes_trials(request, full) ? "yes" : "no") +
                                             ", subsample fit " + (subsample ? "yes" : "no"));
    shared.mode = request.plan.mode;
    shared.chunk_rows = full.chunk_rows;
    if (!request.resume) return;
    check_same_problem(request.resume->problem, shared.problem, request.resume_source);
    passes_before = request.resume->passes;
  }

  bool resumes(FitStage stage) const { return request.resume && request.resume->stage == stage; }

  // A solver of `stage` resumes from the checkpoint when it is of that stage, and hands its state
  // to on_checkpoint after every accepted step.
  void attach(SolverOptions& options, FitStage stage, const std::atomic<long>* passes) {
    if (resumes(stage)) options.resume = &request.resume->solver;
    if (!request.on_checkpoint) return;
    options.on_state = [this, stage, passes](const SolverState& state) {
      if (subsample_interrupted) return;
      FitCheckpoint checkpoint = shared;
      checkpoint.stage = stage;
      checkpoint.passes = passes ? passes_before + passes->load() : 0;
      checkpoint.solver = state;
      request.on_checkpoint(checkpoint);
    };
  }
};

// The subsample fit's outcome, from a checkpoint of the full fit that came after it.
Eigen::VectorXd subsample_from_checkpoint(const FitCheckpoint& saved, const std::vector<int>& free,
                                          FitResult& result) {
  result.subsample_nfev = saved.subsample_nfev;
  result.subsample_rows = saved.subsample_rows;
  if (saved.subsample_start.size() == static_cast<Eigen::Index>(free.size()))
    for (std::size_t j = 0; j < free.size(); ++j)
      result.used.init[free[j]] = saved.subsample_start[static_cast<Eigen::Index>(j)];
  return saved.solver.x;
}

// 1. The subsample fit, in RAM, from x0; returns its solution (or x0 when it fails).
Eigen::VectorXd fit_subsample(const FitRequest& request, const std::vector<int>& free,
                              const Eigen::VectorXd& x0, FitResult& result, Checkpoints& checkpoints) {
  if (checkpoints.resumes(FitStage::full)) return subsample_from_checkpoint(*request.resume, free, result);
  const bool interrupted_early = request.solver.interrupt && request.solver.interrupt->load();
  if (!request.plan.subsample || request.plan.subsample_stride <= 1 || interrupted_early) return x0;
  // Every rank fits the same subsample on its own (the same rows a single process takes).
  ChunkedObjectiveOptions options = objective_options(request, 0);
  options.distributed = nullptr;
  options.total_rows = 0;
  options.file_rows.clear();  // the subsample is one block of rows
  options.shared = nullptr;
  // Across ranks the agreed flag, which no rank's own signal changes during this fit: every rank
  // fits the subsample alike.
  options.interrupt = request.solver.interrupt;
  std::unique_ptr<MemoryDataSource> drawn;
  if (!request.subsample) drawn = draw_subsample(request);
  const MemoryDataSource& sample = request.subsample ? *request.subsample : *drawn;
  result.subsample_rows = sample.rows();
  if (sample.rows() <= free.size()) return x0;
  std::atomic<long> sample_passes{0};
  options.pass_counter = &sample_passes;
  ChunkedObjective objective(*request.model, sample, options);
  SolverOptions solver = solver_options(request, free, true);
  checkpoints.attach(solver, FitStage::subsample, nullptr);
  const SolverResult solved = solve_from(objective, x0, solver, request, free);
  result.subsample_nfev = solved.nfev;
  checkpoints.subsample_interrupted = solved.status == Status::interrupted;
  checkpoints.shared.subsample_nfev = solved.nfev;
  checkpoints.shared.subsample_rows = result.subsample_rows;
  checkpoints.shared.subsample_start = solved.start;
  record_start(solved, free, result);
  if (checkpoints.subsample_interrupted && solved.linearization.R.size() > 0)
    result.used.notes.push_back("interrupted in the subsample fit (" + std::to_string(sample.rows()) +
                                " rows): the parameters are its best point; no pass over the full data followed");
  return solved.status != Status::failed && solved.x.allFinite() ? solved.x : x0;
}

// The solver's answer, mapped back to model-sized parameters.
void take_solution(const SolverResult& solved, const ChunkedObjective& objective, const Eigen::VectorXd& x0,
                   const std::vector<int>& free, FitResult& result) {
  result.params = objective.full_params(solved.x.size() == x0.size() ? solved.x : x0);
  result.cost = solved.cost;
  result.nfev = solved.nfev;
  result.njev = solved.njev;
  result.iterations = solved.iterations;
  result.status = solved.status;
  result.message = solved.message.empty() ? std::string(status_message(solved.status)) : solved.message;
  result.success = solved.success;
  result.optimality = solved.optimality;
  result.history = solved.history;
  result.active_mask = Eigen::VectorXi::Zero(static_cast<Eigen::Index>(result.names.size()));
  if (solved.active_mask.size() == result.n_free)
    for (std::size_t j = 0; j < free.size(); ++j)
      result.active_mask[free[j]] = solved.active_mask[static_cast<Eigen::Index>(j)];
}

}  // namespace

std::unique_ptr<MemoryDataSource> draw_subsample(const FitRequest& request) {
  const std::size_t m = total_rows(request), stride = request.plan.subsample_stride;
  DataSource& all_rows = request.sample_data ? *request.sample_data : *request.data;
  return sample_rows(all_rows, (m + stride - 1) / stride);
}

FitResult fit(const FitRequest& request) {
  validate(request);
  const Model& model = *request.model;
  const int n_model = static_cast<int>(model.num_params());
  const std::vector<int> free = free_indices(request.fixed, n_model);
  if (free.empty()) throw UsageError("every parameter is fixed: nothing to fit");
  const std::size_t m = total_rows(request);

  FitResult result;
  result.names = model.param_names();
  result.fixed = request.fixed.empty() ? std::vector<bool>(static_cast<std::size_t>(n_model), false)
                                       : request.fixed;
  result.n_points = m;
  result.n_free = static_cast<int>(free.size());
  result.dof = static_cast<long>(m) - result.n_free;
  result.method = request.solver.method;
  result.mode = request.plan.mode;
  result.threads = request.plan.threads > 0 ? request.plan.threads : 0;
  result.ranks = request.distributed ? request.distributed->size() : 1;
  echo_settings(request, result.used);

  Checkpoints checkpoints(request);
  const Eigen::VectorXd x0 = fit_subsample(request, free, take(request.p0, free), result, checkpoints);

  // 2. The full fit.
  std::atomic<long> passes{0};
  ChunkedObjectiveOptions options = objective_options(request, m);
  options.pass_counter = &passes;
  options.rows_done = request.progress_rows;
  options.on_pass = request.on_pass;
  // Across ranks each rank's own flag cuts its pass short; the solver stops on the agreed one.
  options.interrupt = request.distributed ? request.distributed->local_interrupt() : request.solver.interrupt;
  std::unique_ptr<ChunkedObjective> objective = full_objective(request, options);
  result.chunk_rows = objective->chunk_rows();
  result.threads = objective->threads();
  if (request.distributed) result.rank_rows = rank_rows(objective->layout());
  result.files = std::max<std::size_t>(1, request.file_rows.size());
  SolverOptions solver = solver_options(request, free, false);
  checkpoints.attach(solver, FitStage::full, &passes);
  const SolverResult solved = solve_from(*objective, x0, solver, request, free);
  // Values checked in the first full pass (a mapped file) are checked here if no pass completed.
  const auto* memory = dynamic_cast<const MemoryDataSource*>(request.data);
  if (memory && solved.status != Status::interrupted) memory->check_values();
  if (result.subsample_nfev == 0) record_start(solved, free, result);  // else the subsample's start
  take_solution(solved, *objective, x0, free, result);

  // 3. Statistics and covariance at the solution.
  fill_statistics(request, *objective, solved, free, result);
  if (request.covariance != CovarianceKind::standard && solved.status == Status::interrupted)
    withhold_sandwich_covariance(request, free, result);
  else if (request.covariance != CovarianceKind::standard && solved.status != Status::failed)
    apply_sandwich_covariance(request, solved, free, passes, result);
  result.passes = checkpoints.passes_before + passes.load();
  if (request.resume)
    result.used.notes.push_back("resumed from " + request.resume_source + " at iteration " +
                                std::to_string(request.resume->solver.iteration) + " of the " +
                                (request.resume->stage == FitStage::full ? "full fit" : "subsample fit"));
  result.exchanges = objective->exchanges();
  result.exchange_s = objective->exchange_seconds();
  result.fastest_exchange_s = objective->fastest_exchange_seconds();
  result.exchange_bytes = objective->most_doubles_sent() * sizeof(double);
  result.used.peak_rss_bytes = peak_rss_bytes();
  return result;
}

void for_each_chunk_fitted(const FitRequest& request, const Eigen::VectorXd& params,
                           const std::function<void(const FittedChunk&)>& consume) {
  if (!request.model || !request.data) throw UsageError("no model or data");
  if (params.size() != static_cast<Eigen::Index>(request.model->num_params()))
    throw UsageError("fitted values: expected one value per model parameter");
  FitRequest all_free = request;
  all_free.fixed.clear();
  ChunkedObjectiveOptions options = objective_options(all_free, total_rows(request));
  std::unique_ptr<ChunkedObjective> objective = full_objective(all_free, options);
  objective->for_each_chunk_fitted(params, consume);
}

const char* to_string(CovarianceKind kind) {
  switch (kind) {
    case CovarianceKind::hc0: return "hc0";
    case CovarianceKind::hc1: return "hc1";
    default: return "standard";
  }
}

CovarianceKind parse_covariance_kind(const std::string& text) {
  if (text == "standard") return CovarianceKind::standard;
  if (text == "hc0") return CovarianceKind::hc0;
  if (text == "hc1" || text == "robust") return CovarianceKind::hc1;
  throw UsageError("--cov: '" + text + "' is not standard, robust, hc0 or hc1");
}

double cost_at(const FitRequest& request, const Eigen::VectorXd& params) {
  FitRequest all_free = request;
  all_free.fixed.clear();
  std::unique_ptr<ChunkedObjective> objective =
      full_objective(all_free, objective_options(all_free, request.data->rows()));
  return objective->evaluate(params, false).cost;
}

}  // namespace curvefit
