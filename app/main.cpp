// curvefit: nonlinear least-squares curve fitting from a handful of points to billions.
//
// Process policy lives here: the SIGBUS handler for mapped input files, and the one place where
// errors become exit codes (app/error_exit.h: one line on stderr and, with --json, one JSON
// object on stdout).
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <iostream>
#include <string_view>

#include "app/commands.h"
#include "app/error_exit.h"
#include "core/data/data_open.h"
#include "core/data/temp_files.h"
#include "core/errors.h"

namespace {

using namespace curvefit;

// A mapped input file that shrinks under us turns reads of the lost pages into SIGBUS: say so in
// one line and exit with the bad-input code rather than crash. Async-signal-safe calls only.
extern "C" void on_mapped_file_lost(int) {
  static const char prefix[] = "curvefit: ";
  static const char suffix[] = ": the file changed or became unreadable while it was being read\n";
  const char* path = mapped_file_path();
  [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, prefix, sizeof prefix - 1);
  ignored = ::write(STDERR_FILENO, path, ::strlen(path));
  ignored = ::write(STDERR_FILENO, suffix, sizeof suffix - 1);
  remove_temporary_files();
  ::_exit(kExitBadInput);
}

// SIGINT/SIGTERM outside a fit (which installs its own handler to report the best point): remove
// the temporary files, then die of the signal as the default action would.
extern "C" void remove_temporary_files_and_reraise(int signal_number) {
  remove_temporary_files();
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

bool wants_json(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--json") return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGBUS, on_mapped_file_lost);
  std::signal(SIGINT, remove_temporary_files_and_reraise);
  std::signal(SIGTERM, remove_temporary_files_and_reraise);
  CLI::App app{"curvefit: nonlinear least-squares curve fitting, from a handful of points to billions.",
               "curvefit"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "curvefit 0.1.0");
  app.footer(
      "Exit codes: 0 converged; 1 stopped without converging (max evaluations); 2 usage error;\n"
      "            3 bad data or model; 4 memory limit cannot be met; 5 an output or temporary file\n"
      "            cannot be written; 130 interrupted.");
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
    if (code == 0) return 0;
    if (wants_json(argc, argv)) std::cout << app::error_json(kExitUsage, e.what()) << std::endl;
    return kExitUsage;
  } catch (...) {
    return app::report_error(wants_json(argc, argv), std::cout, std::cerr);
  }
  return context.exit_code;
}
