#include "app/signals.h"

#include <unistd.h>

#include <csignal>
#include <cstring>

#include "core/data/data_open.h"
#include "core/data/temp_files.h"
#include "core/errors.h"

namespace curvefit::app {

namespace {

// Async-signal-safe calls only.
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

extern "C" void remove_temporary_files_and_reraise(int signal_number) {
  remove_temporary_files();
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

}  // namespace

void install_signal_handlers() {
  std::signal(SIGBUS, on_mapped_file_lost);
  std::signal(SIGINT, remove_temporary_files_and_reraise);
  std::signal(SIGTERM, remove_temporary_files_and_reraise);
}

}  // namespace curvefit::app
