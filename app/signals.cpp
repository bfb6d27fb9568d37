#include "app/signals.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>

#include "core/data/data_open.h"
#include "core/data/temp_files.h"
#include "core/errors.h"

namespace curvefit::app {

namespace {

volatile std::sig_atomic_t g_json_errors = 0;

void write_text(int fd, const char* text) {
  [[maybe_unused]] const ssize_t ignored = ::write(fd, text, ::strlen(text));
}

// `text` as the inside of a JSON string: quotes and backslashes escaped, control characters dropped.
void write_json_string_body(int fd, const char* text) {
  for (const char* c = text; *c; ++c) {
    if (static_cast<unsigned char>(*c) < 0x20) continue;
    if (*c == '"' || *c == '\\') write_text(fd, "\\");
    [[maybe_unused]] const ssize_t ignored = ::write(fd, c, 1);
  }
}

// Async-signal-safe calls only. With --json, stdout gets the error object every failure prints
// (app/error_exit.cpp): the report is written in one piece at the end, so nothing precedes it.
extern "C" void on_mapped_file_lost(int) {
  // Several threads may touch lost pages at once: the first one speaks and ends the process.
  static std::atomic_flag entered = ATOMIC_FLAG_INIT;
  if (entered.test_and_set())
    for (;;) ::pause();
  static const char suffix[] = ": the file changed or became unreadable while it was being read";
  const char* path = mapped_file_path();
  write_text(STDERR_FILENO, "curvefit: ");
  write_text(STDERR_FILENO, path);
  write_text(STDERR_FILENO, suffix);
  write_text(STDERR_FILENO, "\n");
  if (g_json_errors) {
    write_text(STDOUT_FILENO, "{\n  \"status\": \"error\",\n  \"success\": false,\n  \"exit_code\": 3,\n  \"message\": \"");
    write_json_string_body(STDOUT_FILENO, path);
    write_text(STDOUT_FILENO, suffix);
    write_text(STDOUT_FILENO, "\"\n}\n");
  }
  remove_temporary_files();
  ::_exit(kExitBadInput);
}

extern "C" void remove_temporary_files_and_reraise(int signal_number) {
  remove_temporary_files();
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

}  // namespace

void install_signal_handlers(bool json_errors) {
  g_json_errors = json_errors ? 1 : 0;
  std::signal(SIGBUS, on_mapped_file_lost);
  std::signal(SIGINT, remove_temporary_files_and_reraise);
  std::signal(SIGTERM, remove_temporary_files_and_reraise);
}

}  // namespace curvefit::app
