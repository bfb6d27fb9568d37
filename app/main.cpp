// curvefit: nonlinear least-squares curve fitting from a handful of points to billions.
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

#include "app/commands.h"
#include "app/suggest.h"
#include "core/errors.h"
#include "core/version.h"
#include "memory/memory_manager.h"

int main(int argc, char** argv) {
  using namespace curvefit;
  CLI::App app{"curvefit: nonlinear least-squares curve fitting, from a handful of points to billions.",
               "curvefit"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("curvefit ") + version());
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
    if (e.get_exit_code() != 0) {
      const std::string correction = app::suggest_correction(app, argc, argv);
      if (!correction.empty()) {
        std::cerr << "curvefit: " << correction << "\n";
        return kExitUsage;
      }
    }
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
  } catch (const std::exception& e) {
    std::cerr << "curvefit: " << e.what() << "\n";
    return kExitBadInput;
  }
  return context.exit_code;
}
