#include "app/fit_setup.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "core/data/csv_reader.h"
#include "core/errors.h"
#include "core/formula/expression.h"
#include "core/model/model_library.h"
#include "core/engine/param_spec.h"
#include "memory/memory_manager.h"
#include "memory/size.h"
#include "memory/system_probe.h"

namespace curvefit::app {

void add_problem_options(CLI::App& command, ProblemOptions& o, bool required) {
  command.add_option("DATA", o.data, "CSV/TSV file, HDF5 file, or - for CSV on stdin")->required(required);
  command.add_option("-m,--model", o.model,
                     "Built-in model name (see `curvefit models`) or a formula such as \"a*exp(-b*x)+c\"")
      ->required(required);
  command.add_option("--x", o.x,
                     "Predictor column(s): CSV header name or 1-based index; HDF5 dataset path "
                     "(/group/t, or /table:1 for a column of a 2-D dataset)")
      ->delimiter(',');
  command.add_option("--y", o.y, "Response column (CSV name or index; HDF5 dataset path)");
  command.add_option("--sigma", o.sigma, "Column of measurement uncertainties (weights 1/sigma)");
  command.add_option("--delimiter", o.delimiter, "CSV delimiter: , ; tab space (default: detected)");
  command.add_flag("--header", o.header, "The first CSV row is a header");
  command.add_flag("--no-header", o.no_header, "The CSV has no header row");
  command.add_flag("--skip-invalid", o.skip_invalid, "Skip CSV rows that do not parse (and say how many)");
  command.add_option("--nan-policy", o.nan_policy,
                     "raise: non-finite x/y or sigma <= 0 is an error; omit: drop those rows")
      ->check(CLI::IsMember({"raise", "omit"}))
      ->capture_default_str();
  command.add_option("--fix", o.fix, "Hold parameters at a value, e.g. c=0,d=1");
  command.add_option("--method", o.method, "Solver: trf (bounds), lm, dogbox (bounds)")
      ->check(CLI::IsMember({"trf", "lm", "dogbox"}))
      ->capture_default_str();
  command.add_option("--memory-limit", o.memory_limit,
                     "Cap on the peak RSS of the whole process, e.g. 512MB, 4GB, 1.5GiB; MB = 10^6 "
                     "bytes, MiB = 2^20 (default: available memory / 1.2 plus this process's RSS, "
                     "as `curvefit memory` shows)");
  command.add_option("--mode", o.mode,
                     "auto, memory (data loaded once, largest chunks), chunked (data loaded once, the "
                     "largest chunks that fit) or stream (data re-read from the file on every pass)")
      ->check(CLI::IsMember({"auto", "memory", "chunked", "stream"}))
      ->capture_default_str();
  command.add_option("--chunk-size", o.chunk_size, "Rows per chunk (default: chosen by the planner)");
  command.add_option("--threads", o.threads, "Worker threads (default: all cores)");
  command.add_flag("--json", o.json, "Print one JSON object on stdout instead of the report");
}

std::vector<std::string> formula_predictor_names(const std::string& model,
                                                 const std::vector<std::string>& x_options) {
  if (x_options.empty() || find_model(model)) return {};
  auto identifier = [](const std::string& s) {
    return !s.empty() && (std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_') &&
           std::all_of(s.begin(), s.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
  };
  if (!std::all_of(x_options.begin(), x_options.end(), identifier)) return {};
  std::vector<std::string> names;
  try {
    names = formula_parameters(model);
  } catch (const ModelError&) {
    return {};  // the real compile reports the error
  }
  for (const auto& x : x_options)
    if (std::find(names.begin(), names.end(), x) == names.end()) return {};
  return x_options;
}

Problem prepare_problem(const ProblemOptions& o) {
  Problem problem;
  problem.builtin = find_model(o.model);
  problem.model = make_model(o.model, formula_predictor_names(o.model, o.x));
  const Model& model = *problem.model;

  DataOptions& d = problem.data_options;
  d.x = o.x;
  d.y = o.y;
  d.sigma = o.sigma;
  d.num_predictors = model.num_predictors();
  if (!o.delimiter.empty()) {
    try {
      d.delimiter = parse_delimiter_option(o.delimiter);
    } catch (const std::exception& e) {
      throw UsageError(std::string("--delimiter: ") + e.what());
    }
  }
  if (o.header && o.no_header) throw UsageError("--header and --no-header contradict each other");
  if (o.header) d.header = true;
  if (o.no_header) d.header = false;
  d.skip_invalid = o.skip_invalid;
  d.nan_policy = o.nan_policy == "omit" ? NanPolicy::omit : NanPolicy::raise;
  if (!d.x.empty() && static_cast<int>(d.x.size()) != model.num_predictors())
    throw UsageError("--x names " + std::to_string(d.x.size()) + " column(s) but the model has " +
                     std::to_string(model.num_predictors()) + " predictor(s)");

  problem.method = parse_algorithm(o.method);
  problem.info = probe_data(o.data, d);
  if (problem.info.rows == 0) throw DataError(o.data + ": no data rows");

  std::size_t fixed = 0;
  if (!o.fix.empty()) {
    for (const auto& f : parse_named_values(o.fix, "--fix")) {
      param_index(model.param_names(), f.name, "--fix");
      ++fixed;
    }
  }
  if (fixed >= model.num_params()) throw UsageError("--fix: every parameter is fixed; nothing to fit");
  problem.free_params = model.num_params() - fixed;

  std::optional<std::uint64_t> requested;
  if (!o.memory_limit.empty()) {
    try {
      requested = parse_size(o.memory_limit);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--memory-limit: ") + e.what());
    }
    if (*requested == 0) throw UsageError("--memory-limit: must be positive");
  }
  const MemoryManager::FitLimit limit = get_memory_manager().fit_limit(requested);
  problem.memory_limit_bytes = limit.bytes;
  problem.limit_source = limit.source;
  if (o.threads < 0) throw UsageError("--threads: must be >= 0");

  PlanRequest& r = problem.plan_request;
  r.rows = problem.info.rows;
  r.rows_exact = problem.info.rows_exact;
  r.columns = static_cast<std::size_t>(model.num_predictors()) + 1 + (problem.info.has_sigma ? 1 : 0);
  r.model_params = model.num_params();
  r.free_params = problem.free_params;
  r.method = problem.method;
  r.memory_limit_bytes = problem.memory_limit_bytes;
  r.limit_source = problem.limit_source;
  r.baseline_rss_bytes = current_rss_bytes();
  r.threads = o.threads;
  r.location = problem.info.format == FileFormat::hdf5 ? DataLocation::hdf5_file : DataLocation::csv_file;
  r.mode = parse_fit_mode(o.mode);
  r.chunk_rows = o.chunk_size;
  r.file_bytes = problem.info.format == FileFormat::csv ? problem.info.file_bytes : 0;
  r.writes_fitted_csv = o.writes_fitted_csv;
  problem.plan = make_plan(r);
  problem.data_options.csv_block_bytes = problem.plan.csv_block_bytes;
  return problem;
}

}  // namespace curvefit::app
