#pragma once
// Errors that reach the user, each with the exit code the command line documents:
//   2 usage error, 3 bad data or model, 4 memory limit cannot be met (MemoryError in memory/, and
//   std::bad_alloc), 5 an output or temporary file cannot be written.
// The library throws them where they arise; only the front end (app/main.cpp) turns them into
// exit codes and messages.
// (0 converged, 1 stopped without converging and 130 interrupted are outcomes, not errors.)
#include <cstddef>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

namespace curvefit {

enum ExitCode : int {
  kExitConverged = 0,
  kExitNotConverged = 1,
  kExitUsage = 2,
  kExitBadInput = 3,
  kExitMemory = 4,
  kExitIo = 5,
  kExitInterrupted = 130,
};

// The text on one line: control characters (a newline inside a quoted CSV field or header name, a
// tab) written as the escapes \n, \r, \t, \xNN.
inline std::string one_line(const std::string& text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string line;
  line.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') line += "\\n";
    else if (c == '\r') line += "\\r";
    else if (c == '\t') line += "\\t";
    else if (byte < 0x20 || byte == 0x7f) line += std::string{'\\', 'x', kHex[byte >> 4], kHex[byte & 15]};
    else line += c;
  }
  return line;
}

// A bad command line or option value (exit 2); one line, whatever the text quoted in it.
class UsageError : public std::runtime_error {
 public:
  explicit UsageError(const std::string& message) : std::runtime_error(one_line(message)) {}
};

// Bad data: the message is one line "FILE:LINE:COLUMN: what is wrong" (line/column omitted when
// they do not apply, e.g. for HDF5 datasets), whatever the data's text quoted in it. Exit 3.
class DataError : public std::runtime_error {
 public:
  explicit DataError(const std::string& message) : std::runtime_error(one_line(message)) {}
  DataError(const std::string& file, std::size_t line, std::size_t column, const std::string& what)
      : std::runtime_error(one_line(file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
                                    what)) {}
};

// A model that cannot be built: unknown name, or a formula that does not parse. The first line of
// what() is the one-line error; for formulas, two more lines show the formula and a caret under the
// position. Exit 3.
class ModelError : public std::runtime_error {
 public:
  explicit ModelError(const std::string& message, std::size_t position = std::string::npos)
      : std::runtime_error(message), position_(position) {}
  // 0-based character offset in the formula, npos when not about a position.
  std::size_t position() const { return position_; }

 private:
  std::size_t position_;
};

// An output or temporary file that cannot be written (permission, missing directory, disk full):
// the message names the path and the system's reason (strerror). Exit 5.
class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An error another MPI rank met (core/engine/distributed.h), raised on every rank that did not meet
// it itself: that rank's exit code and message.
class RankError : public std::runtime_error {
 public:
  RankError(int exit_code, const std::string& message) : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// The documented exit code and the message of an exception: UsageError 2; DataError, ModelError
// and other exceptions 3; MemoryError and std::bad_alloc 4; IoError 5; RankError its own code.
std::pair<int, std::string> classify_exception(std::exception_ptr error);

}  // namespace curvefit
