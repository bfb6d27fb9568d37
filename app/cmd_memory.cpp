// `curvefit memory [--json]`: what memory this process may use, and which limit decides it.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "memory/memory_manager.h"
#include "memory/size.h"
#include "memory/system_probe.h"

namespace curvefit::app {

namespace {

struct MemoryOptions {
  bool json = false;
};

void print_snapshot(const MemorySnapshot& snapshot, const MemoryManager::FitLimit& fit_limit,
                    bool json) {
  if (json) {
    nlohmann::json out{
        {"total_bytes", snapshot.total_bytes},
        {"available_bytes", snapshot.available_bytes},
        {"limit_bytes", snapshot.limit_bytes},
        {"limit_source", snapshot.limit_source},
        {"process_rss_bytes", snapshot.process_rss_bytes},
        {"process_peak_bytes", snapshot.process_peak_bytes},
        {"default_memory_limit_bytes", fit_limit.bytes},
        {"default_memory_limit_source", fit_limit.source},
        {"notes", snapshot.notes},
    };
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << "total memory       " << format_size(snapshot.total_bytes) << "\n"
            << "available          " << format_size(snapshot.available_bytes) << "\n"
            << "limit              " << format_size(snapshot.limit_bytes) << " (from "
            << snapshot.limit_source << ")\n"
            << "process RSS        " << format_size(snapshot.process_rss_bytes) << "\n"
            << "process peak RSS   " << format_size(snapshot.process_peak_bytes) << "\n"
            << "fit memory limit   " << format_size(fit_limit.bytes) << " (" << fit_limit.source
            << "; the default of --memory-limit)\n";
  for (const std::string& note : snapshot.notes) std::cout << "note: " << note << "\n";
}

}  // namespace

void register_memory_command(CLI::App& app, Context& context) {
  auto options = std::make_shared<MemoryOptions>();
  CLI::App* command = app.add_subcommand(
      "memory",
      "Show total and available memory, the limit that decides it (cgroup, rlimit, RAM), this "
      "process's RSS, and the memory limit `fit` plans against by default.");
  command->add_flag("--json", options->json, "Print a JSON object instead of text");
  command->footer("Examples:\n  curvefit memory\n  curvefit memory --json");
  command->callback([options, &context] {
    const MemoryManager& manager = get_memory_manager();
    print_snapshot(manager.snapshot(), manager.default_limit(), options->json);
    context.exit_code = 0;
  });
}

}  // namespace curvefit::app
