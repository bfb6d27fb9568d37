#pragma once
// Each subcommand lives in its own file and registers itself on the top-level app. A callback
// stores the process exit code in `exit_code` (see core/errors.h for the codes).
#include <CLI/CLI.hpp>

namespace curvefit::app {

struct Context {
  int exit_code = 0;
};

void register_memory_command(CLI::App& app, Context& context);   // cmd_memory.cpp
void register_plan_command(CLI::App& app, Context& context);     // cmd_plan.cpp
void register_models_command(CLI::App& app, Context& context);   // cmd_models.cpp
void register_generate_command(CLI::App& app, Context& context); // cmd_generate.cpp
void register_inspect_command(CLI::App& app, Context& context);  // cmd_inspect.cpp
void register_fit_command(CLI::App& app, Context& context);      // cmd_fit.cpp

}  // namespace curvefit::app
