#include "core/engine/fit.h"

#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>

#include "core/errors.h"
#include "memory/huge_pages.h"
#include "solvers/covariance.h"
#include "solvers/solve.h"

namespace curvefit {

namespace {

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

// Rows taken for the subsample fit come in blocks of this many consecutive rows: a block is one
// short read of a file and a few pages of memory, where single rows every stride-th row would
// touch every page (and, from a file, read all of it).
constexpr std::size_t kSubsampleBlockRows = 256;

// A subsample of about m / stride rows copied into RAM: blocks of kSubsampleBlockRows consecutive
// rows at evenly spaced places from the first row to the last, so that it spans the whole data.
// Only those blocks are read (from RAM or from a file): not a full pass.
std::unique_ptr<MemoryDataSource> subsample(DataSource& data, std::size_t stride) {
  const std::size_t m = data.rows();
  const std::size_t rows = (m + stride - 1) / stride;
  const std::size_t block = std::min(kSubsampleBlockRows, rows);
  const std::size_t blocks = (rows + block - 1) / block;
  const std::size_t k = static_cast<std::size_t>(data.num_predictors());
  // One buffer for every column, in huge pages: the subsample is written once and read by every
  // iteration of its fit, and fresh 4 KiB pages are what copying it would mostly cost.
  const std::size_t columns = k + 1 + (data.has_sigma() ? 1 : 0);
  std::shared_ptr<double> storage = allocate_huge_page_doubles(columns * rows);
  std::vector<double*> x(k);
  for (std::size_t q = 0; q < k; ++q) x[q] = storage.get() + q * rows;
  double* y = storage.get() + k * rows;
  double* sigma = data.has_sigma() ? storage.get() + (k + 1) * rows : nullptr;
  std::vector<double*> xs(k);
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::size_t out = b * block;
    const std::size_t count = std::min(block, rows - out);
    // Evenly spaced starts, the first at row 0 and the last ending at row m (stride >= 2 keeps
    // the blocks apart).
    const std::size_t begin = blocks == 1 ? 0 : (m - count) * b / (blocks - 1);
    for (std::size_t q = 0; q < k; ++q) xs[q] = x[q] + out;
    data.read(begin, count, xs.data(), y + out, sigma ? sigma + out : nullptr);
  }
  return std::make_unique<MemoryDataSource>(std::vector<const double*>(x.begin(), x.end()), y, sigma, rows,
                                            std::move(storage), data.column_names(),
                                            data.description() + " (subsample)");
}

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
  options.lower = reduce(request.lower, "lower bounds");
  options.upper = reduce(request.upper, "upper bounds");
  options.x_scale = reduce(request.solver.x_scale, "x_scale");
  if (subsample_stage) options.keep_history = false;
  options.interrupt = request.interrupt;  // also between rejected steps, each a full pass
  const std::function<bool(const IterationInfo&)> user = request.solver.callback;
  options.callback = [&request, user, subsample_stage](const IterationInfo& info) {
    if (user && !user(info)) return false;
    if (request.on_iteration) request.on_iteration(info, subsample_stage);
    return !(request.interrupt && request.interrupt->load());
  };
  return options;
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
  if (request.data->rows() == 0) throw DataError(request.data->description() + ": no data rows");
}

// Statistics and covariance at the solution into `result` (params and n_points already set).
void fill_statistics(const FitRequest& request, ChunkedObjective& objective,
                     const SolverResult& solved, const std::vector<int>& free, FitResult& result) {
  const double m = static_cast<double>(result.n_points);
  const int n_model = static_cast<int>(request.model->num_params());
  result.chi2 = result.reduced_chi2 = result.r_squared = result.rmse = kNaN;
  result.aic = result.bic = kNaN;
  if (solved.x.size() == result.n_free && solved.x.allFinite()) {
    std::optional<ResidualSums> sums = objective.sums_at(solved.x);
    if (!sums && solved.status != Status::failed) {
      // The solution's pass is not among the remembered ones: one more pass.
      objective.evaluate(solved.x, false);
      sums = objective.sums_at(solved.x);
    }
    const std::optional<ResponseMoments> moments = objective.response_moments();
    if (sums) {
      result.chi2 = sums->chi2;
      result.reduced_chi2 = result.dof > 0 ? sums->chi2 / static_cast<double>(result.dof) : kNaN;
      result.rmse = std::sqrt(sums->ss_residual / m);
      if (moments && moments->m2 > 0) result.r_squared = 1.0 - sums->ss_residual / moments->m2;
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

}  // namespace

FitResult fit(const FitRequest& request) {
  validate(request);
  const Model& model = *request.model;
  const int n_model = static_cast<int>(model.num_params());
  const std::vector<int> free = free_indices(request.fixed, n_model);
  if (free.empty()) throw UsageError("every parameter is fixed: nothing to fit");
  DataSource& data = *request.data;
  const std::size_t m = data.rows();

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

  std::atomic<long> passes{0};
  Eigen::VectorXd x0 = take(request.p0, free);
  try {
    // 1. The subsample fit, in RAM, from p0.
    const bool interrupted_early = request.interrupt && request.interrupt->load();
    if (request.plan.subsample && request.plan.subsample_stride > 1 && !interrupted_early) {
      ChunkedObjectiveOptions options = objective_options(request, 0);
      std::unique_ptr<MemoryDataSource> sample = subsample(data, request.plan.subsample_stride);
      result.subsample_rows = sample->rows();
      if (sample->rows() > free.size()) {
        std::atomic<long> sample_passes{0};
        options.pass_counter = &sample_passes;
        ChunkedObjective objective(model, *sample, options);
        const SolverResult solved = solve(objective, x0, solver_options(request, free, true));
        result.subsample_nfev = solved.nfev;
        if (solved.status != Status::failed && solved.x.allFinite()) x0 = solved.x;
      }
    }

    // 2. The full fit.
    ChunkedObjectiveOptions options = objective_options(request, m);
    options.pass_counter = &passes;
    options.rows_done = request.progress_rows;
    options.on_pass = request.on_pass;
    std::unique_ptr<ChunkedObjective> objective = full_objective(request, options);
    result.chunk_rows = objective->chunk_rows();
    result.threads = objective->threads();
    const SolverResult solved = solve(*objective, x0, solver_options(request, free, false));

    result.params = objective->full_params(solved.x.size() == x0.size() ? solved.x : x0);
    result.cost = solved.cost;
    result.nfev = solved.nfev;
    result.njev = solved.njev;
    result.iterations = solved.iterations;
    result.status = solved.status;
    result.message = solved.message.empty() ? std::string(status_message(solved.status)) : solved.message;
    result.success = solved.success;
    result.optimality = solved.optimality;
    result.history = solved.history;
    result.active_mask = Eigen::VectorXi::Zero(n_model);
    if (solved.active_mask.size() == result.n_free)
      for (std::size_t j = 0; j < free.size(); ++j)
        result.active_mask[free[j]] = solved.active_mask[static_cast<Eigen::Index>(j)];

    // 3. Statistics and covariance at the solution.
    fill_statistics(request, *objective, solved, free, result);
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
  result.passes = passes.load();
  return result;
}

void for_each_chunk_fitted(const FitRequest& request, const Eigen::VectorXd& params,
                           const std::function<void(const FittedChunk&)>& consume) {
  if (!request.model || !request.data) throw UsageError("no model or data");
  if (params.size() != static_cast<Eigen::Index>(request.model->num_params()))
    throw UsageError("fitted values: expected one value per model parameter");
  FitRequest all_free = request;
  all_free.fixed.clear();
  ChunkedObjectiveOptions options = objective_options(all_free, request.data->rows());
  std::unique_ptr<ChunkedObjective> objective = full_objective(all_free, options);
  objective->for_each_chunk_fitted(params, consume);
}

}  // namespace curvefit
