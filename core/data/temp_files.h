#pragma once
// Temporary files that must not outlive the process: the CSV spill files of streaming fits.
// A fixed-size registry (no allocation) lets a signal handler unlink them safely.
//
// Lifetime rules:
//   - register_temporary_file() adds a path; unregister_temporary_file() unlinks and forgets it
//     (called by the owner's destructor).
//   - At normal exit (std::exit / return from main) an atexit hook removes whatever is left.
//   - On SIGINT/SIGTERM the front end's handler calls remove_temporary_files() (signal policy is
//     the process's, not the library's: app/main.cpp installs it).
#include <string>

namespace curvefit {

// Adds path to the registry and makes sure the atexit hook is installed. Throws IoError when
// the registry is full (more than 64 live temporary files).
void register_temporary_file(const std::string& path);

// Unlinks path (ignoring a file already gone) and removes it from the registry.
void unregister_temporary_file(const std::string& path);

// Unlinks every registered file. Async-signal-safe (only unlink() and atomics): callable from a
// signal handler, from an error path or at exit. Files stay registered-but-gone afterwards
// until their owners unregister them.
void remove_temporary_files() noexcept;

// Number of registered files (for tests).
int temporary_file_count();

// The directory for temporary files: dir if non-empty, else $TMPDIR, else /tmp.
std::string temporary_directory(const std::string& dir);

}  // namespace curvefit
