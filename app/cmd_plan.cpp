// `curvefit plan --points N --params P [--method] [--memory-limit] [--json]`: what a fit of that
// size needs in memory, and how it would be chunked under the limit.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "app/commands.h"
#include "app/fit_setup.h"
#include "core/engine/planner.h"
#include "memory/footprint.h"
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

// Turns the text options into a plan; bad values are usage errors naming the option.
MemoryPlan make_size_plan(const PlanOptions& options) {
  std::uint64_t points = 0;
  try {
    points = parse_count(options.points);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--points: ") + e.what());
  }
  if (points == 0) throw UsageError("--points: must be at least 1");
  if (options.params == 0) throw UsageError("--params: must be at least 1");
  Algorithm algorithm{};
  try {
    algorithm = parse_algorithm(options.problem.method);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--method: ") + e.what());
  }
  std::optional<std::uint64_t> limit;
  if (!options.problem.memory_limit.empty()) {
    try {
      limit = parse_size(options.problem.memory_limit);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--memory-limit: ") + e.what());
    }
    if (*limit == 0) throw UsageError("--memory-limit: must be positive");
  }
  try {
    return plan_memory(points, options.params, workspace_spec(algorithm), limit);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

void print_plan(const MemoryPlan& plan, bool json) {
  const ChunkingStrategy& s = plan.strategy;
  if (json) {
    nlohmann::json out{
        {"method", std::string(plan.solver.solver)},
        {"points", plan.n_points},
        {"params", plan.n_params},
        {"predicted_bytes", plan.predicted_bytes},
        {"memory_limit_bytes", plan.memory_limit_bytes},
        {"limit_source", plan.limit_source},
        {"needs_chunking", s.needs_chunking},
        {"chunk_size", s.chunk_size},
        {"n_chunks", s.n_chunks},
        {"memory_per_chunk_bytes", s.memory_per_chunk},
        {"data_in_memory", s.data_in_memory},
        {"peak_bytes", s.peak_bytes},
    };
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << "method             " << plan.solver.solver << "\n"
            << "problem            " << plan.n_points << " points x " << plan.n_params
            << " parameters\n"
            << "in-memory fit      " << format_size(plan.predicted_bytes)
            << " (data, whole Jacobian, solver)\n"
            << "memory limit       " << format_size(plan.memory_limit_bytes) << " (from "
            << plan.limit_source << ")\n";
  if (!s.needs_chunking) {
    std::cout << "plan               in memory: fits under the limit\n";
    return;
  }
  std::cout << "plan               chunked, "
            << (s.data_in_memory ? "data in memory" : "data streamed from its file") << "\n"
            << "chunk size         " << s.chunk_size << " rows\n"
            << "chunks             " << s.n_chunks << "\n"
            << "memory per chunk   " << format_size(s.memory_per_chunk) << "\n"
            << "predicted peak     " << format_size(s.peak_bytes) << "\n";
}

void print_data_plan(const FitPlan& problem, bool json) {
  const Plan& plan = problem.plan;
  const PlanRequest& request = problem.plan_request;
  const std::size_t chunk = plan.chunk_rows ? plan.chunk_rows : request.rows;
  const std::size_t n_chunks = chunk ? (request.rows + chunk - 1) / chunk : 0;
  const std::size_t per_chunk = footprint::chunk_workspace_bytes(chunk, request.model_params, request.columns);
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
        {"data", problem.info.column_names.empty() ? "" : problem.info.column_names.front()},
        {"rows", request.rows},
        {"rows_exact", problem.info.rows_exact},
        {"params", request.model_params},
        {"free_params", request.free_params},
        {"method", std::string(to_string(request.method))},
        {"mode", std::string(to_string(plan.mode))},
        {"predicted_bytes", plan.modes[0].predicted_peak_bytes},
        {"predicted_peak_bytes", peaks},
        {"memory_limit_bytes", plan.memory_limit_bytes},
        {"limit_source", problem.limit_source},
        {"needs_chunking", plan.mode != FitMode::memory},
        {"chunk_size", chunk},
        {"n_chunks", n_chunks},
        {"memory_per_chunk_bytes", per_chunk},
        {"threads", plan.threads},
        {"subsample_rows", plan.subsample ? plan.subsample_rows : 0},
        {"expected_passes", plan.expected_passes},
        {"modes", modes},
        {"reasons", plan.reasons},
    };
    out.erase("data");
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << "data               " << request.rows << (problem.info.rows_exact ? "" : " (estimated)")
            << " rows x " << request.columns << " columns, " << request.model_params << " parameters ("
            << request.free_params << " free), method " << to_string(request.method) << "\n"
            << "memory limit       " << format_bytes(plan.memory_limit_bytes) << " (" << problem.limit_source << ")\n";
  for (const ModePlan& m : plan.modes)
    std::cout << "  " << (m.mode == plan.mode ? "* " : "  ") << std::string(to_string(m.mode)) << std::string(9 - to_string(m.mode).size(), ' ')
              << (m.possible ? format_bytes(m.predicted_peak_bytes) : std::string("-")) << "  " << m.reason << "\n";
  std::cout << "plan               " << to_string(plan.mode) << ", chunks of " << chunk << " rows (" << n_chunks
            << " chunks), " << plan.threads << " threads\n";
  if (plan.subsample)
    std::cout << "subsample          first a fit on " << plan.subsample_rows << " rows (1 in "
              << plan.subsample_stride << ", in evenly spaced blocks)\n";
  std::cout << "expected passes    about " << plan.expected_passes << " over the full data\n";
  if (!plan.reasons.empty()) std::cout << "why                " << plan.reasons.front() << "\n";
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
      "passes. Without DATA: the memory a fit of --points N and --params P needs, and its chunking.\n\n"
      "Examples:\n"
      "  curvefit plan data.h5 --model gaussian --memory-limit 1GB\n"
      "  curvefit plan --points 1e9 --params 5 --memory-limit 4GB --json");
  command->callback([options, &context] {
    if (!options->problem.data.empty()) {
      if (options->problem.model.empty()) throw UsageError("plan DATA needs --model");
      print_data_plan(plan_fit(problem_spec(options->problem)), options->problem.json);
    } else {
      if (options->points.empty() || options->params == 0)
        throw UsageError("plan needs DATA and --model, or --points and --params");
      print_plan(make_size_plan(*options), options->problem.json);
    }
    context.exit_code = 0;
  });
}

}  // namespace curvefit::app
