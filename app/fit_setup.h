#pragma once
// What `curvefit fit` and `curvefit plan DATA` share: their options, the model and data they name,
// and the plan. The fit command adds the solver options and the outputs.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/data/data_open.h"
#include "core/model.h"
#include "core/model/model_library.h"
#include "core/engine/planner.h"

namespace curvefit::app {

struct ProblemOptions {
  std::string data;                 // path, or "-" for CSV on stdin
  std::string model;                // library name or formula
  std::vector<std::string> x;       // --x (comma-separated)
  std::string y, sigma;
  std::string delimiter;
  bool header = false, no_header = false;
  bool skip_invalid = false;
  std::string nan_policy = "raise";
  std::string fix;                  // --fix a=1 (reduces the free parameters)
  std::string method = "trf";
  std::string memory_limit;
  std::string mode = "auto";
  std::size_t chunk_size = 0;
  int threads = 0;
  bool json = false;
  bool writes_fitted_csv = false;   // fit --output: the planner counts the CSV text of a chunk
};

// Adds the shared options to a subcommand. `required`: DATA and --model must be given (fit);
// otherwise they are optional (plan, which also plans from --points/--params alone).
void add_problem_options(CLI::App& command, ProblemOptions& options, bool required = true);

struct Problem {
  std::unique_ptr<Model> model;
  const ModelInfo* builtin = nullptr;  // the library entry, when the model is built in
  DataOptions data_options;
  DataInfo info;
  Algorithm method = Algorithm::trf;
  std::size_t memory_limit_bytes = 0;
  std::string limit_source;
  std::size_t free_params = 0;
  PlanRequest plan_request;
  Plan plan;
};

// Builds the model, probes the data and plans the fit. Throws UsageError, ModelError, DataError,
// MemoryError with messages that name the option or the file.
Problem prepare_problem(const ProblemOptions& options);

// The predictor names a formula should use: the --x names when they are identifiers that all
// appear in the formula (a CSV column "t" used as t), else none (x or x1, x2, ...).
std::vector<std::string> formula_predictor_names(const std::string& model,
                                                 const std::vector<std::string>& x_options);

}  // namespace curvefit::app
