// curvefit: nonlinear least-squares curve fitting from a handful of points to billions.
//
// The one place where errors become exit codes: the library throws typed errors where they arise
// (core/errors.h, MemoryError from memory/, std::bad_alloc) and `report_error` maps each to its
// documented code and one line on stderr (and, with --json, one JSON object on stdout).
#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <exception>
#include <iostream>
#include <new>
#include <string_view>

#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "core/data/data_open.h"
#include "core/data/temp_files.h"
#include "core/errors.h"
#include "memory/memory_manager.h"

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

// The exit code and message of the exception being handled.
std::pair<int, std::string> classify_current_exception() {
  try {
    throw;
  } catch (const UsageError& e) {
    return {kExitUsage, e.what()};
  } catch (const DataError& e) {
    return {kExitBadInput, e.what()};
  } catch (const ModelError& e) {
    return {kExitBadInput, e.what()};
  } catch (const MemoryError& e) {
    return {kExitMemory, e.what()};
  } catch (const IoError& e) {
    return {kExitIo, e.what()};
  } catch (const std::bad_alloc&) {
    return {kExitMemory, "out of memory: an allocation failed; lower --memory-limit or --chunk-size, "
                         "or use --mode stream"};
  } catch (const std::exception& e) {
    return {kExitBadInput, e.what()};
  } catch (...) {
    return {kExitBadInput, "unknown error"};
  }
}

// One line on stderr; with --json also one object on stdout, so a program always gets JSON.
int report_error(bool json) {
  const auto [code, message] = classify_current_exception();
  std::cerr << "curvefit: " << message << "\n";
  if (json) {
    const std::string first_line = message.substr(0, message.find('\n'));
    const nlohmann::ordered_json out{{"status", "error"}, {"success", false}, {"exit_code", code},
                                     {"message", first_line}};
    std::cout << out.dump(2) << std::endl;
  }
  remove_temporary_files();
  return code;
}

bool wants_json(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--json") return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGBUS, on_mapped_file_lost);
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
    if (wants_json(argc, argv))
      std::cout << nlohmann::ordered_json{{"status", "error"}, {"success", false}, {"exit_code", kExitUsage},
                                          {"message", e.what()}}.dump(2)
                << std::endl;
    return kExitUsage;
  } catch (...) {
    return report_error(wants_json(argc, argv));
  }
  return context.exit_code;
}
