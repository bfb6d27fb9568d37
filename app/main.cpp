// curvefit: nonlinear least-squares curve fitting from a handful of points to billions.
//
// Process policy lives in app/: signal handlers (app/signals.h) and the one place where errors
// become exit codes (app/error_exit.h: one line on stderr and, with --json, one JSON object on
// stdout).
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "app/commands.h"
#include "app/error_exit.h"
#include "app/suggest.h"
#include "app/signals.h"
#include "core/data/temp_files.h"
#include "core/engine/distributed.h"
#include "core/errors.h"
#include "core/version.h"
#include "memory/memory_manager.h"

namespace {

using namespace curvefit;

bool wants_json(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--json") return true;
  return false;
}

// Under mpirun/srun every rank runs this same program; rank 0 alone writes to stdout (report,
// JSON) and reports errors, the others' stdout goes to /dev/null. An error every rank agreed on
// (core/engine/distributed.h) ends each rank with its exit code; any other error ends the whole
// job through MPI_Abort (after rank 0 printed it), since the other ranks may be waiting for this
// one in a collective. Outcomes (converged, not converged, interrupted) are the same on every rank.
int report_and_end(int argc, char** argv) {
  Distributed& world = distributed();
  int code = 0;
  if (world.is_root()) {
    code = app::report_error(wants_json(argc, argv), std::cout, std::cerr);
  } else {
    code = app::classify_current_exception().first;
    remove_temporary_files();
  }
  if (world.size() > 1 && !world.failure_agreed()) {
    std::cout.flush();
    world.abort(code);
  }
  return code;
}

int finish(int code) {
  stop_distributed();
  return code;
}

int run(int argc, char** argv) {
  app::install_signal_handlers(wants_json(argc, argv));
  map_large_allocations();  // so that --memory-limit bounds the RSS the planner predicts
  CLI::App app{"curvefit: nonlinear least-squares curve fitting, from a handful of points to billions.",
               "curvefit"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("curvefit ") + version());
  app.footer(
      "Exit codes: 0 success (fit: converged); 1 fit stopped without converging (max evaluations);\n"
      "            2 usage error; 3 bad data or model; 4 memory limit cannot be met; 5 an output or\n"
      "            temporary file cannot be written; 130 interrupted.");
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
    if (!distributed().is_root()) return e.get_exit_code() == 0 ? 0 : kExitUsage;  // rank 0 says it
    if (e.get_exit_code() != 0) {
      const std::string correction = app::suggest_correction(app, argc, argv);
      if (!correction.empty()) {
        std::cerr << "curvefit: " << correction << "\n";
        return kExitUsage;
      }
    }
    const int code = app.exit(e);
    if (code == 0) return 0;
    if (wants_json(argc, argv)) std::cout << app::error_json(kExitUsage, e.what()) << std::endl;
    return kExitUsage;
  } catch (...) {
    return report_and_end(argc, argv);
  }
  return context.exit_code;
}

// Tasks started together that do not share an MPI world each run the whole fit alone: right, but
// K times the work and K reports, which a user who meant one fit across them should hear of (task
// farms of separate fits are legitimate, so this is a note, not an error). Said by the first task.
void warn_of_tasks_outside_mpi() {
  const int tasks = launched_task_count();
  const char* slurm_task = std::getenv("SLURM_PROCID");
  const char* open_mpi_rank = std::getenv("OMPI_COMM_WORLD_RANK");
  const bool first = (!slurm_task || std::atoi(slurm_task) == 0) && (!open_mpi_rank || std::atoi(open_mpi_rank) == 0);
  if (tasks <= distributed().size() || !first) return;
  std::cerr << "curvefit: note: one of " << tasks << " tasks that do not share an MPI world: each task fits alone ("
            << (built_with_mpi() ? "for one fit across them, launch with mpirun or srun --mpi=pmix"
                                 : "this curvefit was built without MPI, CURVEFIT_MPI=OFF")
            << ")\n";
}

}  // namespace

int main(int argc, char** argv) {
  try {
    start_distributed(&argc, &argv);
  } catch (const std::exception& e) {
    std::cerr << "curvefit: " << e.what() << "\n";
    return kExitUsage;
  }
  warn_of_tasks_outside_mpi();
  if (!distributed().is_root() && !std::freopen("/dev/null", "w", stdout)) return finish(kExitIo);
  return finish(run(argc, argv));
}
