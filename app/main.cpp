// curvefit: nonlinear least-squares curve fitting from a handful of points to billions.
#include <cstdio>
#include <exception>
#include <iostream>
#include <new>

#include "app/commands.h"
#include "core/errors.h"
#include "memory/memory_manager.h"

int main(int argc, char** argv) {
  using namespace curvefit;
  map_large_allocations();  // so that --memory-limit bounds the RSS the planner predicts
  CLI::App app{"curvefit: nonlinear least-squares curve fitting, from a handful of points to billions.",
               "curvefit"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "curvefit 0.1.0");
  app.footer(
      "Exit codes: 0 converged; 1 stopped without converging (max evaluations); 2 usage error;\n"
      "            3 bad data or model; 4 memory limit cannot be met; 130 interrupted.");
  app::Context context;
  app::register_fit_command(app, context);
  app::register_plan_command(app, context);
  app::register_models_command(app, context);
  app::register_generate_command(app, context);
  app::register_inspect_command(app, context);
  app::register_memory_command(app, context);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  } catch (const UsageError& e) {
    std::cerr << "curvefit: " << e.what() << "\n";
    return kExitUsage;
  } catch (const DataError& e) {
    std::cerr << "curvefit: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const ModelError& e) {
    std::cerr << "curvefit: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const MemoryError& e) {
    std::cerr << "curvefit: " << e.what() << "\n";
    return kExitMemory;
  } catch (const std::bad_alloc&) {
    // An allocation the prediction did not foresee failed: a memory limit, not bad data.
    std::cerr << "curvefit: memory limit: an allocation failed (out of memory or address space); "
                 "lower --memory-limit or raise the limit\n";
    return kExitMemory;
  } catch (const std::exception& e) {
    std::cerr << "curvefit: " << e.what() << "\n";
    return kExitBadInput;
  }
  return context.exit_code;
}
