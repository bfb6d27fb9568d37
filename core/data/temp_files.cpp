// The registry is a static array of fixed-size path slots guarded by per-slot atomic states, so
// that a signal handler can walk it without locks or allocation.
#include "core/data/temp_files.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/errors.h"

namespace curvefit {
namespace {

constexpr int kSlots = 64;
constexpr std::size_t kPathBytes = 4096;

enum SlotState : int { kFree = 0, kWriting = 1, kLive = 2 };

struct Slot {
  std::atomic<int> state{kFree};
  char path[kPathBytes];
};

Slot g_slots[kSlots];
std::once_flag g_atexit_once;

void remove_at_exit() { remove_temporary_files(); }

}  // namespace

void register_temporary_file(const std::string& path) {
  std::call_once(g_atexit_once, [] { std::atexit(remove_at_exit); });
  if (path.size() + 1 > kPathBytes) throw IoError(path + ": temporary file path too long");
  for (Slot& slot : g_slots) {
    int expected = kFree;
    if (slot.state.compare_exchange_strong(expected, kWriting)) {
      std::memcpy(slot.path, path.c_str(), path.size() + 1);
      slot.state.store(kLive, std::memory_order_release);
      return;
    }
  }
  throw IoError(path + ": too many temporary files at once (limit 64)");
}

void unregister_temporary_file(const std::string& path) {
  for (Slot& slot : g_slots) {
    if (slot.state.load(std::memory_order_acquire) != kLive) continue;
    if (path != slot.path) continue;
    int expected = kLive;
    if (slot.state.compare_exchange_strong(expected, kWriting)) {
      ::unlink(slot.path);
      slot.state.store(kFree, std::memory_order_release);
      return;
    }
  }
  ::unlink(path.c_str());
}

void remove_temporary_files() noexcept {
  for (Slot& slot : g_slots)
    if (slot.state.load(std::memory_order_acquire) == kLive) ::unlink(slot.path);
}

int temporary_file_count() {
  int count = 0;
  for (const Slot& slot : g_slots)
    if (slot.state.load(std::memory_order_acquire) == kLive) ++count;
  return count;
}

std::string temporary_directory(const std::string& dir) {
  if (!dir.empty()) return dir;
  const char* env = std::getenv("TMPDIR");
  if (env && *env) return env;
  return "/tmp";
}

}  // namespace curvefit
