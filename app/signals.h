#pragma once
// The process's signal policy (the library installs no handlers):
//   SIGBUS          a mapped input file lost pages (it shrank while being read): one line naming
//                   the file on stderr (and, with --json, the error object on stdout),
//                   temporary files removed, exit 3.
//   SIGINT/SIGTERM  temporary files removed, then the default action. The fit command replaces
//                   these with its own (stop after the iteration, report, exit 130).
namespace curvefit::app {

void install_signal_handlers(bool json_errors = false);

}  // namespace curvefit::app
