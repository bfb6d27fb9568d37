// `curvefit plan --points N --params P [--method] [--memory-limit] [--json]`: what a fit of that
// size needs in memory, and how it would be chunked under the limit.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "app/commands.h"
#include "core/errors.h"
#include "memory/memory_manager.h"
#include "memory/size.h"

namespace curvefit::app {

namespace {

struct PlanOptions {
  std::string points;
  std::size_t params = 0;
  std::string method = "trf";
  std::string memory_limit;
  bool json = false;
};

// Turns the text options into a plan; bad values are usage errors naming the option.
MemoryPlan make_plan(const PlanOptions& options) {
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
    algorithm = parse_algorithm(options.method);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--method: ") + e.what());
  }
  std::optional<std::uint64_t> limit;
  if (!options.memory_limit.empty()) {
    try {
      limit = parse_size(options.memory_limit);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--memory-limit: ") + e.what());
    }
    if (*limit == 0) throw UsageError("--memory-limit: must be positive");
  }
  try {
    return plan_memory(points, options.params, algorithm, limit);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

void print_plan(const MemoryPlan& plan, bool json) {
  const ChunkingStrategy& s = plan.strategy;
  if (json) {
    nlohmann::json out{
        {"method", std::string(to_string(plan.algorithm))},
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
  std::cout << "method             " << to_string(plan.algorithm) << "\n"
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

}  // namespace

void register_plan_command(CLI::App& app, Context& context) {
  auto options = std::make_shared<PlanOptions>();
  CLI::App* command = app.add_subcommand(
      "plan",
      "Predict the memory a fit of N points and P parameters needs, and how it would be chunked.");
  command->add_option("--points", options->points, "Number of data points N (100000000 or 1e8)")
      ->required();
  command->add_option("--params", options->params, "Number of model parameters P")->required();
  command->add_option("--method", options->method, "Solver: trf, lm or dogbox")
      ->capture_default_str();
  command->add_option("--memory-limit", options->memory_limit,
                      "Limit to plan against, e.g. 512MB, 4GB, 1.5GiB (default: available memory)");
  command->add_flag("--json", options->json, "Print a JSON object instead of text");
  command->callback([options, &context] {
    print_plan(make_plan(*options), options->json);
    context.exit_code = 0;
  });
}

}  // namespace curvefit::app
