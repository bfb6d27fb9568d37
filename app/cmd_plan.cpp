// `curvefit plan DATA --model M` or `curvefit plan --points N --params P`: the planner's modes,
// predicted peaks, chosen mode and chunk size for a fit under the memory limit, and why.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "app/commands.h"
#include "app/fit_setup.h"
#include "core/engine/fit_setup.h"
#include "core/engine/planner.h"
#include "memory/footprint.h"
#include "memory/system_probe.h"
#include "core/engine/distributed.h"
#include "core/errors.h"
#include "memory/memory_manager.h"
#include "memory/size.h"

namespace curvefit::app {

namespace {

struct PlanOptions {
  ProblemOptions problem;  // DATA, --model, data and planner options, --method, --memory-limit, --json
  std::string points;
  std::size_t params = 0;
};

// A problem of --points rows and --params parameters, planned by the same planner as `plan DATA`
// for data of that many rows of x and y in an HDF5 file (the format of large data).
FitPlan size_problem(const PlanOptions& options) {
  std::uint64_t points = 0;
  try {
    points = parse_count(options.points);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--points: ") + e.what());
  }
  if (points == 0) throw UsageError("--points: must be at least 1");
  if (options.params == 0) throw UsageError("--params: must be at least 1");
  const ProblemOptions& o = options.problem;
  std::optional<std::uint64_t> requested;
  if (!o.memory_limit.empty()) {
    try {
      requested = parse_size(o.memory_limit);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--memory-limit: ") + e.what());
    }
    if (*requested == 0) throw UsageError("--memory-limit: must be positive");
  }
  if (o.threads < 0) throw UsageError("--threads: must be >= 0");
  FitPlan problem;
  const MemoryManager::FitLimit limit = get_memory_manager().fit_limit(requested);
  problem.limit_source = limit.source;
  problem.free_params = options.params;
  problem.info.format = FileFormat::hdf5;
  problem.info.rows = points;
  problem.info.rows_exact = true;
  PlanRequest& r = problem.plan_request;
  r.rows = points;
  r.columns = 2;
  r.model_params = r.free_params = options.params;
  r.method = parse_algorithm(o.method);
  r.memory_limit_bytes = limit.bytes;
  r.limit_source = limit.source;
  r.baseline_rss_bytes = current_rss_bytes();
  r.threads = o.threads;
  r.location = DataLocation::hdf5_file;
  r.mode = parse_fit_mode(o.mode);
  r.chunk_rows = o.chunk_size;
  problem.plan = make_plan(r);
  return problem;
}

void print_data_plan(const FitPlan& problem, bool json) {
  const Plan& plan = problem.plan;
  const PlanRequest& request = problem.plan_request;
  const std::size_t chunk = plan.chunk_rows ? plan.chunk_rows : request.rows;
  const std::size_t n_chunks = chunk ? (request.rows + chunk - 1) / chunk : 0;
  const std::size_t per_chunk = footprint::chunk_workspace_bytes(chunk, request.model_params, request.columns);
  const RowSelection* selection = problem.data_options.selection.get();
  if (json) {
    nlohmann::ordered_json modes = nlohmann::ordered_json::object();
    nlohmann::ordered_json peaks = nlohmann::ordered_json::object();
    for (const ModePlan& m : plan.modes) {
      const std::string name(to_string(m.mode));
      peaks[name] = m.predicted_peak_bytes;
      modes[name] = {{"possible", m.possible}, {"fits", m.fits}, {"chunk_rows", m.chunk_rows},
                     {"predicted_peak_bytes", m.predicted_peak_bytes}, {"reason", m.reason}};
    }
    nlohmann::ordered_json out{
        {"rows", request.rows},
        {"rows_exact", problem.info.rows_exact},
        {"selection", selection ? nlohmann::ordered_json(selection->text) : nlohmann::ordered_json(nullptr)},
        {"files", problem.data_files.size()},
        {"params", request.model_params},
        {"free_params", request.free_params},
        {"method", std::string(to_string(request.method))},
        {"mode", std::string(to_string(plan.mode))},
        {"predicted_bytes", plan.modes[0].predicted_peak_bytes},
        {"predicted_peak_bytes", peaks},
        {"memory_limit_bytes", plan.memory_limit_bytes},
        {"limit_source", problem.limit_source},
        {"baseline_rss_bytes", planned_baseline_bytes(request)},
        {"chosen_predicted_peak_bytes", plan.predicted_peak_bytes},
        {"needs_chunking", plan.mode != FitMode::memory},
        {"chunk_size", chunk},
        {"n_chunks", n_chunks},
        {"memory_per_chunk_bytes", per_chunk},
        {"threads", plan.threads},
        {"subsample_rows", plan.subsample ? plan.subsample_rows : 0},
        {"expected_passes", plan.expected_passes},
        {"modes", modes},
        {"reasons", plan.reasons},
        {"ranks", distributed().size()},
    };
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << "data               " << request.rows << (problem.info.rows_exact ? "" : " (estimated)")
            << " rows x " << request.columns << " columns"
            << (problem.data_files.size() > 1 ? " in " + std::to_string(problem.data_files.size()) + " files" : "")
            << ", " << request.model_params << " parameters ("
            << request.free_params << " free), method " << to_string(request.method) << "\n"
            << "memory limit       " << format_size(plan.memory_limit_bytes) << " (" << problem.limit_source << ")\n";
  if (selection)
    std::cout << "rows used          those selected by " << selection->text << ", counted as they are read "
              << "(planned for all " << request.rows << ")\n";
  for (const ModePlan& m : plan.modes)
    std::cout << "  " << (m.mode == plan.mode ? "* " : "  ") << std::string(to_string(m.mode)) << std::string(9 - to_string(m.mode).size(), ' ')
              << (m.possible ? format_size(m.predicted_peak_bytes) : std::string("-")) << "  " << m.reason << "\n";
  std::cout << "plan               " << to_string(plan.mode) << ", chunks of " << chunk << " rows (" << n_chunks
            << " chunks), " << plan.threads << " threads\n";
  if (plan.subsample)
    std::cout << "subsample          first a fit on " << plan.subsample_rows << " rows (1 in "
              << plan.subsample_stride << ", in evenly spaced blocks)\n";
  std::cout << "expected passes    about " << plan.expected_passes << " over the full data\n";
  if (!plan.reasons.empty()) std::cout << "why                " << plan.reasons.front() << "\n";
  // Under mpirun the plan above is one rank's (plan_fit): say so.
  for (const std::string& reason : plan.reasons)
    if (distributed().size() > 1 && reason.rfind("per rank:", 0) == 0)
      std::cout << "per rank           " << reason.substr(10) << "\n";
}

}  // namespace

void register_plan_command(CLI::App& app, Context& context) {
  auto options = std::make_shared<PlanOptions>();
  CLI::App* command = app.add_subcommand(
      "plan",
      "Say what `fit` would do under the memory limit, and why (modes, peaks, chunk size, passes)");
  add_problem_options(*command, options->problem, false);
  command->add_option("--points", options->points, "Number of data points N (100000000 or 1e8), without DATA");
  command->add_option("--params", options->params, "Number of model parameters P, without DATA");
  command->footer(
      "With DATA and --model: each mode's predicted peak, the chosen mode, chunk size and expected\n"
      "passes (several files, or a quoted pattern, are one dataset of their total rows). Without DATA:\n"
      "the same plan for --points N rows of x and y in an HDF5 file and a model of --params P parameters.\n"
      "Sizes: MB = 10^6 bytes, MiB = 2^20.\n\n"
      "Examples:\n"
      "  curvefit plan data.h5 --model gaussian --memory-limit 1GB\n"
      "  curvefit plan --points 1e9 --params 5 --memory-limit 4GB --json");
  command->callback([options, &context] {
    if (!options->problem.data.empty()) {
      if (options->problem.models.empty()) throw UsageError("plan DATA needs --model");
      if (options->problem.models.size() > 1) throw UsageError("plan takes one --model");
      print_data_plan(plan_fit(problem_spec(options->problem)), options->problem.json);
    } else {
      if (options->points.empty() || options->params == 0)
        throw UsageError("plan needs DATA and --model, or --points and --params");
      print_data_plan(size_problem(*options), options->problem.json);
    }
    context.exit_code = 0;
  });
}

}  // namespace curvefit::app
