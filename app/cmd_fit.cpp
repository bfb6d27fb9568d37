// `curvefit fit DATA --model M [options]`: fit a model to data of any size and report the
// parameters with their uncertainties.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>

#include "app/commands.h"
#include "app/fit_setup.h"
#include "core/output/atomic_file.h"
#include "core/errors.h"
#include "core/engine/fit.h"
#include "core/model/model_library.h"
#include "core/engine/param_spec.h"
#include "core/output/plot.h"
#include "core/output/report.h"
#include "core/data/temp_files.h"
#include "memory/memory_manager.h"
#include "memory/system_probe.h"

namespace curvefit::app {

namespace {

struct FitOptions : ProblemOptions {
  std::string p0;
  std::string bounds;
  bool natural_bounds = true;
  std::string loss = "linear";
  double f_scale = 1.0;
  std::string x_scale;
  double ftol = SolverOptions{}.ftol;
  double xtol = SolverOptions{}.xtol;
  double gtol = SolverOptions{}.gtol;
  int max_nfev = 0;
  bool absolute_sigma = false;
  std::string output;
  std::string plot;
  bool verbose = false;
  bool quiet = false;
  bool progress = false;
  bool no_progress = false;
};

// SIGINT/SIGTERM: the first asks the fit to stop after the current iteration and report the best
// point; a second one gives up at once (temporary files are still removed).
std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt_signal(int) {
  if (g_interrupted.exchange(true)) {
    remove_temporary_files();
    _exit(kExitInterrupted);
  }
}

// A progress line on stderr for each full pass that lasts more than a second: rows, rate, ETA.
class ProgressDisplay {
 public:
  ProgressDisplay(bool enabled, std::size_t total_rows) : enabled_(enabled), total_(total_rows) {
    if (enabled_) worker_ = std::thread([this] { run(); });
  }
  ~ProgressDisplay() { stop(); }
  std::atomic<std::size_t>* rows() { return enabled_ ? &rows_ : nullptr; }
  void pass_started(long pass) {
    std::lock_guard lock(mutex_);
    finish_line_locked();
    pass_ = pass;
    pass_start_ = std::chrono::steady_clock::now();
  }
  void stop() {
    if (!enabled_) return;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
      finish_line_locked();
    }
    wake_.notify_all();
    worker_.join();
  }
  // Prints a line of its own (an iteration) without breaking the bar.
  void line(const std::string& text) {
    std::lock_guard lock(mutex_);
    finish_line_locked();
    std::cerr << text << "\n";
  }

 private:
  void finish_line_locked() {
    if (drawn_) std::cerr << "\r\033[K";
    drawn_ = false;
  }
  void run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      wake_.wait_for(lock, std::chrono::milliseconds(250));
      if (stopping_ || pass_ == 0) continue;
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - pass_start_).count();
      if (elapsed < 1.0) continue;
      const std::size_t done = std::min(rows_.load(std::memory_order_relaxed), total_);
      const double rate = static_cast<double>(done) / elapsed;
      const double fraction = total_ ? static_cast<double>(done) / static_cast<double>(total_) : 0.0;
      const int width = 30;
      const int filled = static_cast<int>(fraction * width);
      char buffer[200];
      std::snprintf(buffer, sizeof buffer, "\rpass %ld [%.*s%*s] %5.1f%% %.3g/%.3g rows %.3g rows/s ETA %.0fs",
                    pass_, filled, "##############################", width - filled, "", 100.0 * fraction,
                    static_cast<double>(done), static_cast<double>(total_), rate,
                    rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0);
      std::cerr << buffer << std::flush;
      drawn_ = true;
    }
  }

  bool enabled_;
  std::size_t total_;
  std::atomic<std::size_t> rows_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread worker_;
  long pass_ = 0;
  std::chrono::steady_clock::time_point pass_start_{};
  bool stopping_ = false;
  bool drawn_ = false;
};

std::string iteration_line(const IterationInfo& info, bool subsample) {
  char buffer[240];
  std::snprintf(buffer, sizeof buffer, "%s%5d %14.8e %11.3e %11.3e %11.3e %11.3e %5d",
                subsample ? "sub " : "    ", info.iteration, info.cost, info.cost_change, info.step_norm,
                info.optimality, info.radius, info.nfev);
  return buffer;
}

// A deterministic sample of the data for the initial guess: the whole data in RAM, or for a file
// that is streamed, 64 evenly spaced blocks of rows (a few reads, not one per row).
GuessSample guess_sample(DataSource& data, const MemoryDataSource* in_memory) {
  GuessSample sample;
  const std::size_t m = data.rows();
  const int k = data.num_predictors();
  auto take = [&](std::size_t count, const double* x1, const double* x2, const double* y) {
    sample.x.insert(sample.x.end(), x1, x1 + count);
    if (k > 1) sample.x2.insert(sample.x2.end(), x2, x2 + count);
    sample.y.insert(sample.y.end(), y, y + count);
  };
  if (in_memory) {
    const std::size_t stride = std::max<std::size_t>(1, m / kGuessSamplePoints);
    std::vector<double> x1, x2, y;
    for (std::size_t i = 0; i < m; i += stride) {
      x1.push_back(in_memory->x_column(0)[i]);
      if (k > 1) x2.push_back(in_memory->x_column(1)[i]);
      y.push_back(in_memory->y_column()[i]);
    }
    take(y.size(), x1.data(), x2.data(), y.data());
    return sample;
  }
  const std::size_t blocks = 64, block_rows = std::max<std::size_t>(1, kGuessSamplePoints / blocks);
  std::vector<std::vector<double>> x(static_cast<std::size_t>(k), std::vector<double>(block_rows));
  std::vector<double> y(block_rows), sigma(block_rows);
  std::vector<double*> xp;
  for (auto& column : x) xp.push_back(column.data());
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::size_t begin = m <= block_rows ? 0 : (m - block_rows) * b / (blocks - 1);
    const std::size_t count = std::min(block_rows, m - begin);
    data.read(begin, count, xp.data(), y.data(), data.has_sigma() ? sigma.data() : nullptr);
    take(count, x[0].data(), k > 1 ? x[1].data() : nullptr, y.data());
    if (m <= block_rows) break;
  }
  return sample;
}

// The first predictor's range, for the plot: from RAM, or one pass over the file.
std::pair<double, double> predictor_range(const FitRequest& request, const Eigen::VectorXd& params,
                                          const MemoryDataSource* in_memory) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  auto scan = [&](const double* x, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      if (std::isfinite(x[i])) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
  };
  if (in_memory) {
    scan(in_memory->x_column(0), in_memory->rows());
  } else {
    for_each_chunk_fitted(request, params, [&](const FittedChunk& c) { scan(c.x[0], c.rows); });
  }
  return {lo, hi};
}

void write_outputs(const FitOptions& o, const FitRequest& request, const FitResult& result,
                   const Model& model, const MemoryDataSource* in_memory, const std::vector<std::string>& columns) {
  const int k = model.num_predictors();
  std::unique_ptr<AtomicOutputFile> csv;
  if (!o.output.empty()) {
    csv = std::make_unique<AtomicOutputFile>(o.output);
    std::string header;
    for (int j = 0; j < k; ++j) header += columns.at(static_cast<std::size_t>(j)) + ",";
    csv->write(header + columns.at(static_cast<std::size_t>(k)) + ",fit,residual\n");
  }
  std::unique_ptr<PlotBuilder> plot;
  if (!o.plot.empty()) {
    const auto [lo, hi] = predictor_range(request, result.params, in_memory);
    plot = std::make_unique<PlotBuilder>(lo, hi);
  }
  if (!csv && !plot) return;
  std::string buffer;
  for_each_chunk_fitted(request, result.params, [&](const FittedChunk& c) {
    if (csv) {
      buffer.clear();
      char number[32];
      auto put = [&](double v, char end) {
        auto [p, ec] = std::to_chars(number, number + sizeof number, v);
        (void)ec;
        buffer.append(number, p);
        buffer += end;
      };
      for (std::size_t i = 0; i < c.rows; ++i) {
        for (int j = 0; j < k; ++j) put(c.x[j][i], ',');
        put(c.y[i], ',');
        put(c.fit[i], ',');
        put(c.y[i] - c.fit[i], '\n');
      }
      csv->write(buffer);
    }
    if (plot) plot->add(c.x[0], c.y, c.fit, c.rows);
  });
  if (csv) csv->commit();
  if (plot) {
    PlotBuilder::CurveFn curve;
    if (k == 1) {
      const Eigen::VectorXd params = result.params;
      curve = [&model, params](const double* x, std::size_t n, double* out) {
        const double* xs[1] = {x};
        model.evaluate(xs, n, params.data(), out);
      };
    }
    AtomicOutputFile svg(o.plot);
    svg.write(plot->svg(curve, "curvefit: " + o.model, columns.at(0), columns.at(static_cast<std::size_t>(k))));
    svg.commit();
  }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int run_fit(const FitOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  g_interrupted = false;
  std::signal(SIGINT, on_interrupt_signal);
  std::signal(SIGTERM, on_interrupt_signal);
  if (o.output == "-" || o.plot == "-") throw UsageError("--output and --plot need a file name");

  ProblemOptions problem_options = o;
  problem_options.writes_fitted_csv = !o.output.empty();
  Problem problem = prepare_problem(problem_options);
  const Model& model = *problem.model;
  const std::size_t n = model.num_params();
  RunInfo run;
  run.data = o.data == "-" ? "<stdin>" : o.data;
  run.model = o.model;
  run.formula = model.formula();
  run.memory_limit_bytes = problem.memory_limit_bytes;
  run.notes.push_back("memory limit from " + problem.limit_source);
  const bool quiet = o.quiet;
  const bool show_progress = !quiet && !o.no_progress && (o.progress || ::isatty(STDERR_FILENO));

  // The data: loaded once, or opened for re-reading on every pass.
  std::unique_ptr<DataSource> data;
  MemoryDataSource* in_memory = nullptr;
  Plan plan = problem.plan;
  if (plan.mode == FitMode::stream) {
    data = open_streaming(o.data, problem.data_options);
  } else {
    auto loaded = load_data(o.data, problem.data_options);
    in_memory = loaded.get();
    if (in_memory->external_columns())
      run.notes.push_back("data used in place: the file's datasets are contiguous doubles, mapped read-only, not copied");
    data = std::move(loaded);
    if (data->rows() != problem.plan_request.rows) {
      // The CSV's row count was an estimate: the chosen mode is checked again for the exact count
      // with the same arithmetic (a MemoryError if it no longer fits).
      PlanRequest again = problem.plan_request;
      again.rows = data->rows();
      again.rows_exact = true;
      again.mode = plan.mode;
      again.csv_block_bytes = plan.csv_block_bytes;
      plan = make_plan(again);
      plan.reasons.front() = "mode " + std::string(to_string(plan.mode)) + " as planned for about " +
                             std::to_string(problem.plan_request.rows) + " rows, checked again for the exact " +
                             std::to_string(again.rows);
    }
    run.read_s = seconds_since(start);
  }
  // The parser's freed blocks go back to the system before the fit allocates: the plan counts
  // loading and fitting as phases that do not overlap.
  get_memory_manager().clear_pool();
  if (data->rows() == 0) throw DataError(run.data + ": no data rows left to fit");
  if (data->rows() < n) {
    // Fewer points than parameters: allowed by the solvers (rank deficient), but say so.
    run.notes.push_back("fewer data points than parameters: some parameters are undetermined");
  }
  run.has_sigma = data->has_sigma();
  // Why this mode: the first reason in the report, all of them with --verbose (and in JSON).
  for (std::size_t i = 0; i < plan.reasons.size(); ++i)
    if (i == 0 || o.verbose || o.json) run.notes.push_back(plan.reasons[i]);

  // Starting point: --p0, else the built-in model's guess, else 1 for every parameter.
  Eigen::VectorXd p0 = Eigen::VectorXd::Ones(static_cast<Eigen::Index>(n));
  std::vector<bool> given(n, false);
  if (!o.p0.empty())
    for (const auto& v : parse_named_values(o.p0, "--p0")) {
      const std::size_t j = param_index(model.param_names(), v.name, "--p0");
      p0[static_cast<Eigen::Index>(j)] = v.value;
      given[j] = true;
    }
  std::vector<bool> fixed(n, false);
  if (!o.fix.empty())
    for (const auto& v : parse_named_values(o.fix, "--fix")) {
      const std::size_t j = param_index(model.param_names(), v.name, "--fix");
      if (given[j] && p0[static_cast<Eigen::Index>(j)] != v.value)
        throw UsageError("--fix " + v.name + " contradicts --p0 " + v.name);
      p0[static_cast<Eigen::Index>(j)] = v.value;
      given[j] = fixed[j] = true;
    }
  const bool all_given = std::all_of(given.begin(), given.end(), [](bool g) { return g; });
  if (all_given) {
    run.p0_source = "given";
  } else if (problem.builtin) {
    const GuessSample sample = guess_sample(*data, in_memory);
    const double* xs[2] = {sample.x.data(), sample.x2.empty() ? nullptr : sample.x2.data()};
    const std::vector<double> guess = guess_parameters(*problem.builtin, xs, sample.y.data(), sample.y.size());
    for (std::size_t j = 0; j < n; ++j)
      if (!given[j]) p0[static_cast<Eigen::Index>(j)] = guess[j];
    run.p0_source = "guess from the data";
  } else {
    std::string names;
    for (std::size_t j = 0; j < n; ++j)
      if (!given[j]) names += (names.empty() ? "" : ", ") + model.param_names()[j];
    run.p0_source = "1 for every parameter not given";
    run.notes.push_back("no --p0 for " + names + ": starting at 1 (a formula has no initial guess)");
  }
  run.p0 = p0;

  // Bounds: the built-in model's natural ones (widths > 0, ...) unless turned off, then --bounds.
  const double inf = std::numeric_limits<double>::infinity();
  Eigen::VectorXd lower = Eigen::VectorXd::Constant(static_cast<Eigen::Index>(n), -inf);
  Eigen::VectorXd upper = Eigen::VectorXd::Constant(static_cast<Eigen::Index>(n), inf);
  if (problem.builtin && o.natural_bounds && problem.method != Algorithm::lm) {
    for (std::size_t j = 0; j < n; ++j) {
      lower[static_cast<Eigen::Index>(j)] = problem.builtin->bounds[j].lower;
      upper[static_cast<Eigen::Index>(j)] = problem.builtin->bounds[j].upper;
    }
  }
  if (!o.bounds.empty())
    for (const auto& b : parse_named_ranges(o.bounds, "--bounds")) {
      const std::size_t j = param_index(model.param_names(), b.name, "--bounds");
      lower[static_cast<Eigen::Index>(j)] = b.lower;
      upper[static_cast<Eigen::Index>(j)] = b.upper;
    }
  const bool bounded = (lower.array() > -inf).any() || (upper.array() < inf).any();
  if (bounded && problem.method == Algorithm::lm)
    throw UsageError("--method lm does not support bounds; use trf or dogbox");
  for (std::size_t j = 0; j < n; ++j) {
    const auto J = static_cast<Eigen::Index>(j);
    if (fixed[j]) continue;
    if (p0[J] < lower[J] || p0[J] > upper[J]) {
      if (given[j])
        throw UsageError("--p0 " + model.param_names()[j] + " = " + std::to_string(p0[J]) +
                         " lies outside its bounds [" + std::to_string(lower[J]) + ", " + std::to_string(upper[J]) + "]");
      p0[J] = std::clamp(p0[J], lower[J], upper[J]);
    }
  }

  FitRequest request;
  request.model = &model;
  request.data = data.get();
  request.absolute_sigma = o.absolute_sigma;
  request.p0 = p0;
  if (bounded) {
    request.lower = lower;
    request.upper = upper;
  }
  request.fixed = fixed;
  request.solver.method = problem.method;
  request.solver.ftol = o.ftol;
  request.solver.xtol = o.xtol;
  request.solver.gtol = o.gtol;
  request.solver.max_nfev = o.max_nfev;
  if (o.max_nfev < 0) throw UsageError("--max-nfev: must be >= 0");
  if (!o.x_scale.empty()) {
    if (o.x_scale == "jac") {
      request.solver.x_scale_jac = true;
    } else {
      Eigen::VectorXd scale = Eigen::VectorXd::Ones(static_cast<Eigen::Index>(n));
      if (o.x_scale.find('=') == std::string::npos) {
        scale.setConstant(parse_number(o.x_scale, "--x-scale"));
      } else {
        for (const auto& v : parse_named_values(o.x_scale, "--x-scale"))
          scale[static_cast<Eigen::Index>(param_index(model.param_names(), v.name, "--x-scale"))] = v.value;
      }
      if (!(scale.array() > 0).all() || !scale.allFinite())
        throw UsageError("--x-scale: scales must be positive and finite");
      request.solver.x_scale = scale;
      request.solver.x_scale_jac = false;
    }
  }
  try {
    request.loss = parse_loss(o.loss);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--loss: ") + e.what());
  }
  if (!(o.f_scale > 0) || !std::isfinite(o.f_scale)) throw UsageError("--f-scale: must be positive");
  request.f_scale = o.f_scale;
  run.loss = request.loss;
  run.f_scale = o.f_scale;
  run.absolute_sigma = o.absolute_sigma;
  request.plan = plan;
  run.predicted_peak_bytes = plan.predicted_peak_bytes;
  request.interrupt = &g_interrupted;

  ProgressDisplay progress(show_progress, data->rows());
  request.progress_rows = progress.rows();
  request.on_pass = [&](long pass) { progress.pass_started(pass); };
  if (o.verbose && !quiet)
    progress.line("     iter           cost  cost change   step norm  optimality      radius  nfev");
  request.on_iteration = [&](const IterationInfo& info, bool subsample) {
    if (quiet) return;
    if (o.verbose || show_progress) progress.line(iteration_line(info, subsample));
  };

  const auto fit_start = std::chrono::steady_clock::now();
  FitResult result = fit(request);
  progress.stop();
  run.fit_s = seconds_since(fit_start);

  const bool interrupted = result.status == Status::interrupted;
  if (!interrupted && (!o.output.empty() || !o.plot.empty())) {
    const auto output_start = std::chrono::steady_clock::now();
    write_outputs(o, request, result, model, in_memory, data->column_names());
    run.output_s = seconds_since(output_start);
  }
  if (interrupted && (!o.output.empty() || !o.plot.empty()))
    run.notes.push_back("interrupted: --output and --plot were not written");
  run.peak_rss_bytes = peak_rss_bytes();
  if (o.verbose) {
    const MemoryStats pool = get_memory_manager().statistics();
    run.notes.push_back("buffer pool: " + std::to_string(pool.allocations) + " requests, " +
                        std::to_string(pool.pool_hits) + " served by idle blocks, " +
                        std::to_string(pool.evictions) + " evictions");
  }
  run.time_s = seconds_since(start);

  if (o.json)
    std::cout << report_json(result, run).dump(2) << std::endl;
  else
    std::cout << format_report(result, run) << std::flush;
  remove_temporary_files();
  if (interrupted) return kExitInterrupted;
  if (result.status == Status::max_evaluations || result.status == Status::failed) return kExitNotConverged;
  return kExitConverged;
}

}  // namespace

void register_fit_command(CLI::App& app, Context& context) {
  auto o = std::make_shared<FitOptions>();
  CLI::App* command = app.add_subcommand("fit", "Fit a model to data and report parameters with uncertainties.");
  add_problem_options(*command, *o);
  command->add_option("--p0", o->p0, "Starting values, e.g. a=1,b=0.1 (default: the model's guess from the data)");
  command->add_option("--bounds", o->bounds, "Bounds, e.g. a=0:inf,b=-1:1 (trf and dogbox)");
  command->add_flag("!--no-natural-bounds", o->natural_bounds,
                    "Do not apply a built-in model's natural bounds (widths > 0, ...)");
  command->add_option("--loss", o->loss, "linear, soft_l1, huber, cauchy or arctan")->capture_default_str();
  command->add_option("--f-scale", o->f_scale, "Soft margin between inlier and outlier residuals")
      ->capture_default_str();
  command->add_option("--x-scale", o->x_scale, "Variable scales: jac, one number, or a=1,b=1e-3");
  command->add_option("--ftol", o->ftol, "Tolerance on the relative reduction of the cost")->capture_default_str();
  command->add_option("--xtol", o->xtol, "Tolerance on the relative step size")->capture_default_str();
  command->add_option("--gtol", o->gtol, "Tolerance on the gradient optimality")->capture_default_str();
  command->add_option("--max-nfev", o->max_nfev, "Maximum evaluations (passes over the data); 0: 1000 per parameter")
      ->capture_default_str();
  command->add_flag("--absolute-sigma", o->absolute_sigma,
                    "sigma are true standard deviations: do not scale the covariance by reduced chi-square");
  command->add_option("-o,--output", o->output, "Write x, y, fit, residual to this CSV file");
  command->add_option("--plot", o->plot, "Write an SVG plot of data, fit and residuals");
  command->add_flag("-v,--verbose", o->verbose, "Print the iteration table on stderr");
  command->add_flag("-q,--quiet", o->quiet, "Print nothing on stderr but errors");
  command->add_flag("--progress", o->progress, "Show progress on stderr even when it is not a terminal");
  command->add_flag("--no-progress", o->no_progress, "Never show progress");
  command->footer(
      "Examples:\n"
      "  curvefit fit data/decay.csv --model exponential --x t --y y --sigma sigma\n"
      "  curvefit fit data.h5 --x /t --y /signal --model \"a*exp(-b*x)+c\" --p0 a=1,b=0.1,c=0 --memory-limit 512MB\n"
      "  curvefit fit peaks.csv --model gaussian --loss soft_l1 --json --output fit.csv --plot fit.svg\n"
      "  cat data.csv | curvefit fit - --model linear\n"
      "\n"
      "Exit codes: 0 converged; 1 stopped without converging; 2 usage error; 3 bad data or model;\n"
      "            4 memory limit cannot be met; 130 interrupted (the best point so far is reported).");
  command->callback([o, &context] { context.exit_code = run_fit(*o); });
}

}  // namespace curvefit::app
