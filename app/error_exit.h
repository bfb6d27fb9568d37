#pragma once
// The one place where errors become exit codes. The library throws typed errors where they arise
// (core/errors.h; MemoryError from memory/; std::bad_alloc from any allocation); the front end
// catches everything at main() and calls report_error.
#include <ostream>
#include <string>
#include <utility>

namespace curvefit::app {

// The documented exit code and the message of the exception being handled (call inside catch):
// UsageError 2; DataError, ModelError and other exceptions 3; MemoryError and std::bad_alloc 4;
// IoError 5; RankError (another MPI rank's error) that rank's code (core/errors.h).
std::pair<int, std::string> classify_current_exception();

// Prints the exception being handled as one line "curvefit: ..." on `err` and, when `json`, one
// object {"status": "error", "success": false, "exit_code": N, "message": "..."} on `out`;
// returns the exit code.
int report_error(bool json, std::ostream& out, std::ostream& err);

// A remark of the library (DataOptions::on_notice) as one line "curvefit: ..." on stderr.
void print_notice(const std::string& line);

// The JSON error object alone (also for errors of the command-line parser).
std::string error_json(int exit_code, const std::string& message);

}  // namespace curvefit::app
