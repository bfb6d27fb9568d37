#pragma once
// What `curvefit fit` and `curvefit plan DATA` share: their options, mapped to core's FitSpec
// (core/engine/fit_setup.h, which plans and fits). The fit command adds the solver options and
// the outputs.
#include <cstddef>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/engine/fit_setup.h"

namespace curvefit::app {

struct ProblemOptions {
  std::vector<std::string> data;    // paths or glob patterns (one dataset), or "-" for CSV on stdin
  std::vector<std::string> models;  // library names or formulas (fit compares several)
  std::vector<std::string> x;       // --x (comma-separated)
  std::string y, sigma;
  std::string weights;              // --weights: a column of w = 1 / sigma^2
  std::string delimiter;
  std::string decimal;
  bool header = false, no_header = false;
  bool skip_invalid = false;
  std::string nan_policy = "raise";
  std::string x_range;              // --x-range [NAME=]LO:HI
  std::string where;                // --where "EXPR" over the columns by name
  std::string fix;                  // --fix a=1 (reduces the free parameters)
  std::vector<std::string> ties;    // --tie "NAME = EXPR", repeatable
  std::string method = "trf";
  std::string memory_limit;
  std::string mode = "auto";
  std::size_t chunk_size = 0;
  int threads = 0;
  std::string temp_dir;             // --temp-dir: where a streamed CSV is spilled (default $TMPDIR)
  bool json = false;
  bool writes_fitted_csv = false;   // fit --output: the planner counts the CSV text of a chunk
};

// Adds the shared options to a subcommand. `required`: DATA and --model must be given (fit);
// otherwise they are optional (plan, which also plans from --points/--params alone).
void add_problem_options(CLI::App& command, ProblemOptions& options, bool required = true);

// The request the shared options describe (data, columns, model, --fix, method, memory limit,
// mode, chunk size, threads). Throws UsageError naming a bad option.
FitSpec problem_spec(const ProblemOptions& options);

}  // namespace curvefit::app
