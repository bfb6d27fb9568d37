// `curvefit fit DATA --model M [options]`: fit a model to data of any size and report the
// parameters with their uncertainties.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>

#include "app/commands.h"
#include "app/fit_setup.h"
#include "core/engine/curve_bands.h"
#include "core/engine/distributed.h"
#include "core/engine/fit_setup.h"
#include "core/output/atomic_file.h"
#include "core/output/checkpoint_file.h"
#include "core/errors.h"
#include "core/engine/fit.h"
#include "core/engine/param_spec.h"
#include "core/engine/profile.h"
#include "core/output/plot.h"
#include "core/output/report.h"
#include "core/data/sharded_source.h"
#include "core/data/temp_files.h"
#include "core/owned_files.h"
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
  std::string cov = "standard";
  std::string ci;                  // "" or "profile"
  std::string ci_levels;
  std::string ci_rule = "f-test";
  std::string output;
  double band_level = 0.95;
  bool band_level_given = false;  // --band-level on the command line: it needs --output or --plot
  std::string plot;
  std::string plot_log;  // "", "x", "y" or "xy"
  std::string checkpoint;
  std::string resume;
  bool verbose = false;
  bool quiet = false;
  bool progress = false;
  bool no_progress = false;
  int starts = 1;
  std::uint64_t seed = 1;
};

// SIGINT/SIGTERM: the first asks the fit to stop at the next chunk of the pass in progress and
// report the last accepted point; a second one gives up at once (temporary files are still removed).
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
  explicit ProgressDisplay(bool enabled) : enabled_(enabled) {
    if (enabled_) worker_ = std::thread([this] { run(); });
  }
  // Rows of a full pass (known once the data are open; passes start after that), and the rows this
  // process counts of them: across MPI ranks rank 0 counts its own share, and the others keep pace.
  void set_total(std::size_t rows, std::size_t counted_rows) {
    std::lock_guard lock(mutex_);
    total_ = rows;
    scale_ = counted_rows > 0 ? static_cast<double>(rows) / static_cast<double>(counted_rows) : 1.0;
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
      const auto counted = static_cast<double>(rows_.load(std::memory_order_relaxed));
      const std::size_t done = std::min(static_cast<std::size_t>(counted * scale_), total_);
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
  std::size_t total_ = 0;
  double scale_ = 1.0;
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

// Ctrl-C while --output and --plot are written: the pass stops at the next chunk and neither file
// is kept (each is written to a temporary file first), but the fit, which is complete, is still
// reported. Across MPI ranks the pass itself stops every rank early (its consumer is not told) and
// the ranks agree at its end, after which every rank stops here.
struct OutputInterrupted {};
void stop_writing_if_interrupted(const FitRequest& request) {
  const bool interrupted =
      request.distributed ? request.distributed->agreed_interrupt()->load() : g_interrupted.load();
  if (interrupted) throw OutputInterrupted{};
}

// Test hook: CURVEFIT_TEST_HOLD_IN_OUTPUT=1 makes the process wait after the first chunk of the
// pass that writes --output and --plot until it is interrupted, so that a test can signal it there.
void hold_in_output_for_test() {
  static bool held = false;
  if (held || !std::getenv("CURVEFIT_TEST_HOLD_IN_OUTPUT")) return;
  held = true;
  while (!g_interrupted) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// The plot's horizontal range: the first predictor's (its positive values on a log axis), or the
// fitted values' when there are several predictors; from RAM, or one pass over the data.
std::pair<double, double> plot_range(const FitRequest& request, const Eigen::VectorXd& params,
                                     const MemoryDataSource* in_memory, bool versus_fitted, bool log_x) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  auto scan = [&](const double* x, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      if (std::isfinite(x[i]) && !(log_x && x[i] <= 0)) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
  };
  if (in_memory && !versus_fitted) {
    scan(in_memory->x_column(0), in_memory->rows());
  } else {
    for_each_chunk_fitted(request, params, [&](const FittedChunk& c) {
      stop_writing_if_interrupted(request);
      scan(versus_fitted ? c.fit : c.x[0], c.rows);
    });
    stop_writing_if_interrupted(request);
  }
  return {lo, hi};
}

// The text --output writes: CSV, or tab-separated for a .tsv name.
char output_delimiter(const std::string& path) {
  return path.size() >= 4 && path.compare(path.size() - 4, 4, ".tsv") == 0 ? '\t' : ',';
}

bool has_suffix(const std::string& path, std::initializer_list<const char*> suffixes) {
  for (const char* suffix : suffixes) {
    const std::string s(suffix);
    if (path.size() > s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0) return true;
  }
  return false;
}

// Before any work: outputs have the format their name says and never overwrite an input.
void check_outputs(const FitOptions& o) {
  std::vector<std::string> inputs;
  const bool writes = !o.output.empty() || !o.plot.empty() || !o.checkpoint.empty() || !o.resume.empty();
  if (writes && o.data != std::vector<std::string>{"-"}) inputs = expand_data_paths(o.data);
  if (!o.output.empty()) {
    struct stat info {};
    const bool special = ::stat(o.output.c_str(), &info) == 0 && !S_ISREG(info.st_mode);
    if (!special && !has_suffix(o.output, {".csv", ".tsv", ".txt"}))
      throw UsageError("--output " + o.output + ": writes delimited text; name it .csv, .tsv or .txt");
    check_output_path(o.output, "--output", inputs);
  }
  if (o.band_level_given && o.output.empty() && o.plot.empty())
    throw UsageError("--band-level: sets the bands of --output and --plot; give one of them");
  if (!(o.band_level > 0 && o.band_level < 1))
    throw UsageError("--band-level: must be between 0 and 1 (e.g. 0.95), got " + std::to_string(o.band_level));
  if (!o.plot.empty()) {
    if (!has_suffix(o.plot, {".svg"})) throw UsageError("--plot " + o.plot + ": writes SVG; name it .svg");
    check_output_path(o.plot, "--plot", inputs);
  }
  if (!o.output.empty() && !o.plot.empty() && (o.output == o.plot || same_file(o.output, o.plot)))
    throw UsageError("--output and --plot name the same file");
  if ((!o.checkpoint.empty() || !o.resume.empty()) && o.data.size() == 1 && o.data.front() == "-")
    throw UsageError("--checkpoint and --resume need DATA in a file (standard input cannot be read again)");
  if ((!o.checkpoint.empty() || !o.resume.empty()) && o.data.size() != 1)
    throw UsageError("--checkpoint and --resume take one data file (the checkpoint records its identity)");
  if (!o.checkpoint.empty()) check_output_path(o.checkpoint, "--checkpoint", inputs);
  if (o.checkpoint.empty() && !o.resume.empty()) check_output_path(o.resume, "--resume", inputs);
}

// Test hook: CURVEFIT_TEST_HOLD_AT_CHECKPOINT=full:N (or subsample:N) makes the process wait,
// once it has written a checkpoint at iteration N or later of that stage, until it is killed or
// interrupted (SIGINT/SIGTERM, after which the fit stops as usual), so that a test can signal it
// at a known point.
void hold_for_test(const FitCheckpoint& checkpoint) {
  const char* hold = std::getenv("CURVEFIT_TEST_HOLD_AT_CHECKPOINT");
  if (!hold) return;
  const std::string text = hold, stage = checkpoint.stage == FitStage::full ? "full:" : "subsample:";
  if (text.rfind(stage, 0) != 0 || checkpoint.solver.iteration < std::atoi(text.c_str() + stage.size())) return;
  while (!g_interrupted) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// --checkpoint FILE (or the --resume file when no other is named) is rewritten after every
// accepted step; --resume FILE continues the fit it holds.
void attach_checkpoints(const FitOptions& o, FitSpec& spec, FitCheckpoint& resume_from) {
  if (!o.resume.empty()) {
    resume_from = read_checkpoint(o.resume);
    spec.resume = &resume_from;
    spec.resume_source = "--resume " + o.resume;
  }
  const std::string path = o.checkpoint.empty() ? o.resume : o.checkpoint;
  if (path.empty()) return;
  spec.on_checkpoint = [path](const FitCheckpoint& checkpoint) {
    write_checkpoint(path, checkpoint);
    hold_for_test(checkpoint);
  };
}

// One chunk's rows as delimited text: x..., y, fit, residual, then the confidence and prediction
// bands (fit -+ half-widths).
void append_rows(std::string& buffer, const FittedChunk& c, int k, char delimiter, const double* confidence,
                 const double* prediction) {
  char number[32];
  auto put = [&](double v, char end) {
    auto [p, ec] = std::to_chars(number, number + sizeof number, v);
    (void)ec;
    buffer.append(number, p);
    buffer += end;
  };
  for (std::size_t i = 0; i < c.rows; ++i) {
    for (int j = 0; j < k; ++j) put(c.x[j][i], delimiter);
    put(c.y[i], delimiter);
    put(c.fit[i], delimiter);
    put(c.y[i] - c.fit[i], delimiter);
    put(c.fit[i] - confidence[i], delimiter);
    put(c.fit[i] + confidence[i], delimiter);
    put(c.fit[i] - prediction[i], delimiter);
    put(c.fit[i] + prediction[i], '\n');
  }
}

std::string plot_svg(const PlotBuilder& plot, const Model& model, const FitResult& result, const CurveBands& bands,
                     const std::vector<std::string>& columns) {
  const int k = model.num_predictors();
  PlotBuilder::CurveFn curve;
  PlotBuilder::Band band;
  if (k == 1) {
    const Eigen::VectorXd params = result.params;
    curve = [&model, params](const double* x, std::size_t n, double* out) {
      const double* xs[1] = {x};
      model.evaluate(xs, n, params.data(), out);
    };
    band.half_width = [&bands](const double* x, std::size_t n, double* out) {
      const double* xs[1] = {x};
      bands.half_widths(xs, n, nullptr, out, nullptr);
    };
    band.label = bands.percent_label() + "% confidence band";
  }
  return plot.svg(curve, "curvefit: " + result.used.model, columns.at(0), columns.at(static_cast<std::size_t>(k)),
                  band);
}

// --output and --plot from one more pass over the data (two when a streamed plot needs x's range).
void write_outputs(const FitOptions& o, const PreparedFit& prepared, const FitResult& result, RunInfo& run) {
  const FitRequest& request = prepared.request;
  const int k = request.model->num_predictors();
  const std::vector<std::string> columns = request.data->column_names();
  const char delimiter = output_delimiter(o.output);
  // Across MPI ranks every rank takes part in the passes below and rank 0 alone writes the files.
  const bool writes = distributed().is_root();
  std::unique_ptr<AtomicOutputFile> csv;
  const CurveBands bands(*request.model, result, o.band_level);
  if (!o.output.empty() && writes) {
    csv = std::make_unique<AtomicOutputFile>(o.output);
    std::string header;
    for (int j = 0; j <= k; ++j) header += columns.at(static_cast<std::size_t>(j)) + delimiter;
    const std::string level = bands.percent_label();
    header += std::string("fit") + delimiter + "residual" + delimiter + "fit_lower" + level + delimiter + "fit_upper" +
              level + delimiter + "pred_lower" + level + delimiter + "pred_upper" + level + "\n";
    csv->write(header);
  }
  std::unique_ptr<PlotBuilder> plot;
  if (!o.plot.empty()) {
    const PlotScale scale{o.plot_log.find('x') != std::string::npos, o.plot_log.find('y') != std::string::npos};
    const MemoryDataSource* all_in_memory = request.distributed ? nullptr : prepared.in_memory;
    const auto [lo, hi] = plot_range(request, result.params, all_in_memory, k > 1, scale.log_x);
    const std::size_t rows = result.n_points;
    if (writes)
      plot = std::make_unique<PlotBuilder>(k > 1 ? PlotBuilder::observed_vs_fitted(lo, hi, rows, scale)
                                                 : PlotBuilder(lo, hi, scale));
  }
  std::string buffer;
  std::vector<double> confidence, prediction;
  for_each_chunk_fitted(request, result.params, [&](const FittedChunk& c) {
    stop_writing_if_interrupted(request);
    if (csv) {
      confidence.resize(c.rows);
      prediction.resize(c.rows);
      bands.half_widths(c.x, c.rows, c.sigma, confidence.data(), prediction.data());
      buffer.clear();
      append_rows(buffer, c, k, delimiter, confidence.data(), prediction.data());
      csv->write(buffer);
    }
    if (plot) plot->add(c.x[0], c.y, c.fit, c.rows, c.sigma);
    hold_in_output_for_test();
  });
  stop_writing_if_interrupted(request);
  if (csv) csv->commit();
  if (plot) {
    AtomicOutputFile svg(o.plot);
    svg.write(plot_svg(*plot, *request.model, result, bands, columns));
    svg.commit();
    if (plot->dropped() > 0)
      run.notes.push_back("--plot-log: " + std::to_string(plot->dropped()) +
                          " points with non-positive values are not drawn");
  }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The command line's request: the shared options, then the solver's.
FitSpec fit_spec(const FitOptions& o) {
  FitSpec spec = problem_spec(o);
  if (!o.p0.empty()) spec.p0 = parse_named_values(o.p0, "--p0");
  if (!o.bounds.empty()) spec.bounds = parse_named_ranges(o.bounds, "--bounds");
  spec.natural_bounds = o.natural_bounds;
  try {
    spec.loss = parse_loss(o.loss);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--loss: ") + e.what());
  }
  spec.f_scale = o.f_scale;
  if (o.x_scale == "jac")
    spec.x_scale.jac = true;
  else if (!o.x_scale.empty() && o.x_scale.find('=') == std::string::npos)
    spec.x_scale.all = parse_number(o.x_scale, "--x-scale");
  else if (!o.x_scale.empty())
    spec.x_scale.by_name = parse_named_values(o.x_scale, "--x-scale");
  spec.ftol = o.ftol;
  spec.xtol = o.xtol;
  spec.gtol = o.gtol;
  spec.max_nfev = o.max_nfev;
  spec.absolute_sigma = o.absolute_sigma;
  spec.covariance = parse_covariance_kind(o.cov);
  if (!o.ci.empty()) {
    ProfileOptions profile;
    if (!o.ci_levels.empty()) profile.levels = parse_profile_levels(o.ci_levels);
    profile.rule = parse_profile_rule(o.ci_rule);
    spec.profile = profile;
  } else if (!o.ci_levels.empty() || o.ci_rule != "f-test") {
    throw UsageError("--ci-levels and --ci-rule need --ci profile");
  }
  spec.starts = o.starts;
  spec.seed = o.seed;
  spec.interrupt = &g_interrupted;
  spec.writes_fitted_csv = !o.output.empty();
  if (o.quiet) spec.data_options.on_notice = nullptr;  // -q: the readers' notes are not printed
  return spec;
}

// Progress on stderr: the iteration table with --verbose, a progress bar on a terminal.
void attach_progress(const FitOptions& o, FitSpec& spec, ProgressDisplay& progress, bool show_progress) {
  spec.progress_rows = progress.rows();
  spec.on_pass = [&progress](long pass) { progress.pass_started(pass); };
  const bool root = distributed().is_root();
  if (o.verbose && !o.quiet && root)
    progress.line("     iter           cost  cost change   step norm  optimality      radius  nfev");
  spec.on_iteration = [&o, &progress, show_progress, root](const IterationInfo& info, bool subsample) {
    if (o.quiet || !root) return;
    if (o.verbose || show_progress) progress.line(iteration_line(info, subsample));
  };
}

// The report in one write() once it is complete: stdout redirected to a file holds nothing or the
// whole report if the process is killed, never a part of it.
void print_whole(const std::string& text) {
  std::cout.flush();
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t written = ::write(STDOUT_FILENO, text.data() + done, text.size() - done);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) throw IoError(std::string("standard output: write failed: ") + std::strerror(errno));
    done += static_cast<std::size_t>(written);
  }
}

int run_fit(const FitOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  g_interrupted = false;
  std::signal(SIGINT, on_interrupt_signal);
  std::signal(SIGTERM, on_interrupt_signal);
  FitSpec spec;
  FitCheckpoint resume_from;
  Distributed& world = distributed();
  world.run_agreed([&] {
    check_outputs(o);
    if (world.size() > 1 && (!o.checkpoint.empty() || !o.resume.empty()))
      throw UsageError("--checkpoint and --resume run in one process, not across MPI ranks");
    remove_stale_files(temporary_directory(o.temp_dir));  // spill files of killed runs
    spec = fit_spec(o);
    attach_checkpoints(o, spec, resume_from);
  });
  // Across MPI ranks rank 0 alone speaks: progress, iterations and the readers' notes.
  const bool root = world.is_root();
  if (!root) spec.data_options.on_notice = nullptr;
  const bool show_progress = root && !o.quiet && !o.no_progress && (o.progress || ::isatty(STDERR_FILENO));
  ProgressDisplay progress(show_progress);
  attach_progress(o, spec, progress, show_progress);

  PreparedFit prepared = prepare_fit(spec);
  progress.set_total(prepared.all_rows ? prepared.all_rows->rows() : prepared.data->rows(), prepared.data->rows());
  FitResult result = fit(prepared);
  progress.stop();

  RunInfo run;
  if (o.verbose || o.json)  // the first reason is among the fit's notes already
    for (std::size_t i = 1; i < result.used.plan_reasons.size(); ++i) run.notes.push_back(result.used.plan_reasons[i]);
  const bool interrupted = result.status == Status::interrupted;
  const bool outputs = !o.output.empty() || !o.plot.empty();
  if (interrupted && outputs) run.notes.push_back("interrupted: --output and --plot were not written");
  bool interrupted_in_output = false;
  if (!interrupted && outputs) {
    const auto output_start = std::chrono::steady_clock::now();
    try {
      write_outputs(o, prepared, result, run);
    } catch (const OutputInterrupted&) {
      interrupted_in_output = true;
      run.notes.push_back("interrupted while --output and --plot were written: neither was written; the fit is complete");
    }
    run.output_s = seconds_since(output_start);
  }
  result.used.peak_rss_bytes = peak_rss_bytes();
  if (o.verbose) {
    const MemoryStats pool = get_memory_manager().statistics();
    run.notes.push_back("buffer pool: " + std::to_string(pool.allocations) + " requests, " +
                        std::to_string(pool.pool_hits) + " served by idle blocks, " +
                        std::to_string(pool.evictions) + " evictions");
  }
  run.time_s = seconds_since(start);

  if (o.json) {
    print_whole(report_json(result, run).dump(2) + "\n");
  } else {
    if (o.quiet) result.used.notes.clear(), run.notes.clear();
    print_whole(format_report(result, run));
  }
  remove_temporary_files();
  if (interrupted || interrupted_in_output) return kExitInterrupted;
  if (result.status == Status::max_evaluations || result.status == Status::failed) return kExitNotConverged;
  return kExitConverged;
}

// What a fit writes besides the report (curve, bands, plot, checkpoints) and how it searches
// (several starts).
void add_output_and_search_options(CLI::App* command, FitOptions* o) {
  command->add_option(
      "-o,--output", o->output,
      "Write x, y, fit, residual and the fit's 95% confidence and prediction bands (fit_lower95, fit_upper95, "
      "pred_lower95, pred_upper95; delta method, Student t) to this .csv/.txt file (tab-separated for .tsv); "
      "never an input file");
  command
      ->add_option("--band-level", o->band_level,
                   "Level of the --output bands and of the --plot confidence band, between 0 and 1; the prediction "
                   "band adds the residual variance (reduced chi2 * sigma^2, or sigma^2 with --absolute-sigma; "
                   "sigma = 1 without a sigma column)")
      ->capture_default_str()
      ->each([o](const std::string&) { o->band_level_given = true; });
  CLI::Option* plot = command->add_option(
      "--plot", o->plot,
      "Write an SVG plot of data (+-sigma), fit with its 95% confidence band (--band-level) and residuals, "
      "observed vs fitted for several predictors (the name must end in .svg)");
  command->add_option("--plot-log", o->plot_log, "Log axes in the plot: x, y or xy (non-positive points are left out)")
      ->check(CLI::IsMember({"x", "y", "xy"}))
      ->needs(plot);
  command->add_option("--checkpoint", o->checkpoint,
                      "Rewrite this file (atomically) with the solver's state after every iteration, for --resume");
  command->add_option("--resume", o->resume,
                      "Continue the fit saved in this checkpoint file (same data and options; refused otherwise) "
                      "to the uninterrupted fit's result; keeps checkpointing to it unless --checkpoint names another");
  command->add_option("--starts", o->starts,
                      "Fit from N starting points in shared passes over the data (one read of each chunk serves "
                      "every start): p0 and N-1 in a Latin hypercube within the bounds, or at p0*10^[-1,1] for a "
                      "parameter without both bounds. The lowest cost wins; the report lists the distinct minima")
      ->capture_default_str();
  command->add_option("--seed", o->seed, "Seed of the --starts design; the same seed places the same starts")
      ->capture_default_str();
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
  command->add_option("--cov", o->cov,
                      "standard, or robust (= hc1) / hc0: heteroscedasticity-consistent sandwich covariance "
                      "(White), from one more pass; it does not trust sigma's scale nor a constant variance")
      ->check(CLI::IsMember({"standard", "robust", "hc0", "hc1"}))
      ->capture_default_str();
  command->add_option("--ci", o->ci,
                      "profile: also profile-likelihood confidence intervals, asymmetric, from refits with each "
                      "parameter held (lmfit's conf_interval); in every mode, streamed data included")
      ->check(CLI::IsMember({"profile"}));
  command->add_option("--ci-levels", o->ci_levels,
                      "Levels of --ci profile, as fractions or percentages (default: 68.27,95.45: 1 and 2 sigma)");
  command->add_option("--ci-rule", o->ci_rule,
                      "f-test: chi2 rises by chi2 * F(level; 1, dof) / dof, as lmfit (default); chi2: by the "
                      "chi-square quantile (times reduced chi2 unless --absolute-sigma)")
      ->check(CLI::IsMember({"f-test", "chi2"}))
      ->capture_default_str();
  add_output_and_search_options(command, o.get());
  command->add_flag("-v,--verbose", o->verbose, "Print the iteration table on stderr");
  command->add_flag("-q,--quiet", o->quiet, "Print nothing but the report (without notes) and errors");
  command->add_flag("--progress", o->progress, "Show progress on stderr even when it is not a terminal");
  command->add_flag("--no-progress", o->no_progress, "Never show progress");
  command->footer(
      "Examples:\n"
      "  curvefit fit data/decay.csv --model exponential --x t --y y --sigma sigma\n"
      "  curvefit fit data.h5 --x /t --y /signal --model \"a*exp(-b*x)+c\" --p0 a=1,b=0.1,c=0 --memory-limit 512MB\n"
      "  curvefit fit peaks.csv --model gaussian --loss soft_l1 --json --output fit.csv --plot fit.svg\n"
      "  cat data.csv | curvefit fit - --model linear\n"
      "  curvefit fit 'runs/*.h5' --model gaussian        # every file, rows in sorted-name order\n"
      "  mpirun -np 4 curvefit fit big.h5 --model exponential   # over 4 MPI ranks (or srun); same result\n"
      "  curvefit fit wave.csv --model \"a*sin(w*x)\" --bounds w=0.1:10 --starts 16   # don't miss the minimum\n"
      "  curvefit fit peak.csv --model gaussian --model lorentzian   # both in the same passes, ranked by AIC\n"
      "  (several --model: --output and --plot are the best model's; --starts and several --model run in one\n"
      "  process, not under MPI)\n"
      "\n"
      "Exit codes: 0 converged; 1 stopped without converging; 2 usage error; 3 bad data or model;\n"
      "            4 memory limit cannot be met (or out of memory); 5 an output or temporary file cannot\n"
      "            be written; 130 interrupted (the last accepted point is reported, --output and --plot are\n"
      "            not written). With --json a failure prints {\"status\": \"error\", \"exit_code\": N,\n"
      "            \"message\": ...} on stdout.");
  command->callback([o, &context] { context.exit_code = run_fit(*o); });
}

}  // namespace curvefit::app
