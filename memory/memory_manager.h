#pragma once
// MemoryManager: the memory a process may use (a SystemProbe, or a fixed figure), the default limit
// a fit plans against, and an aligned thread-safe buffer pool with statistics. Usable on its own:
// it knows nothing of fitting. What a fit needs is predicted by core's planner from
// memory/footprint.h, the functions the engine sizes its pool requests with.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "memory/footprint.h"
#include "memory/solver_workspace.h"
#include "memory/system_probe.h"

namespace curvefit {

class MemoryManager;

// Thrown when memory that a guard or an allocation asked for is not there.
class MemoryError : public std::runtime_error {
 public:
  // "memory limit: needs N bytes (H), A bytes (H) available (limit from SOURCE)".
  MemoryError(std::size_t needed_bytes, std::size_t available_bytes, std::string source);
  // The same facts with a message of the caller's own (one line).
  MemoryError(const std::string& message, std::size_t needed_bytes, std::size_t available_bytes,
              std::string source);
  std::size_t needed_bytes() const { return needed_; }
  std::size_t available_bytes() const { return available_; }
  // Which limit set `available` ("cgroup v2", "cgroup v1", "rlimit", "meminfo", "fallback").
  const std::string& source() const { return source_; }

 private:
  std::size_t needed_;
  std::size_t available_;
  std::string source_;
};

// Untyped pooled block; the typed handle below is what callers use.
struct PoolBlock {
  void* data = nullptr;
  std::size_t capacity_bytes = 0;  // what the pool handed out (>= requested)
};

// An owning, 64-byte aligned buffer of rows x cols elements (column-major by convention) that goes
// back to its pool when it dies or when reset() is called. Move-only.
template <class T>
class PooledBuffer {
 public:
  PooledBuffer() = default;
  PooledBuffer(const PooledBuffer&) = delete;
  PooledBuffer& operator=(const PooledBuffer&) = delete;
  PooledBuffer(PooledBuffer&& other) noexcept { *this = std::move(other); }
  PooledBuffer& operator=(PooledBuffer&& other) noexcept {
    if (this != &other) {
      reset();
      owner_ = std::exchange(other.owner_, nullptr);
      block_ = std::exchange(other.block_, PoolBlock{});
      rows_ = std::exchange(other.rows_, 0);
      cols_ = std::exchange(other.cols_, 0);
    }
    return *this;
  }
  ~PooledBuffer() { reset(); }

  T* data() const { return static_cast<T*>(block_.data); }
  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }
  std::size_t size() const { return rows_ * cols_; }
  T& operator[](std::size_t i) const { return data()[i]; }
  explicit operator bool() const { return block_.data != nullptr; }
  // Returns the memory to the pool now.
  inline void reset();

 private:
  friend class MemoryManager;
  MemoryManager* owner_ = nullptr;
  PoolBlock block_{};
  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
};

// Counters of the pool and a snapshot of the process, as MemoryManager::statistics() reports them.
struct MemoryStats {
  std::uint64_t current_usage_bytes = 0;  // process resident set (VmRSS)
  std::uint64_t available_bytes = 0;      // effective available memory (see MemorySnapshot)
  std::uint64_t peak_usage_bytes = 0;     // process peak resident set (VmHWM)
  // current / (current + available): the share of what this process could hold that it holds.
  // The pool is trimmed when this passes gc_threshold.
  double usage_fraction = 0.0;
  std::uint64_t pool_bytes = 0;   // bytes held idle in the pool, ready for reuse
  std::size_t pool_arrays = 0;    // idle blocks in the pool
  std::uint64_t live_bytes = 0;   // bytes handed out and not yet returned
  std::size_t live_arrays = 0;    // blocks handed out and not yet returned
  std::uint64_t allocations = 0;  // requests (allocate / acquire_block calls) since construction
  std::uint64_t pool_hits = 0;    // requests served by an idle pooled block of the same size
  std::uint64_t system_allocations = 0;  // requests that had to ask the system (pool misses)
  std::uint64_t evictions = 0;           // idle blocks freed to keep the pool within kDefaultMaxPoolArrays
  std::uint64_t trims = 0;               // times the pool was emptied (clear_pool, gc_threshold)
  std::uint64_t total_requested_bytes = 0;  // sum of requested sizes (before 64-byte rounding)
  std::uint64_t total_served_bytes = 0;     // sum of requested sizes that pool hits served
  // total_served / total_requested: the share of requested bytes the pool saved from the system
  // allocator (0 before the first request).
  double efficiency = 0.0;
};

class MemoryManager {
 public:
  // Where the manager learns what memory there is: a SystemProbe by default, a fixed figure or a
  // probe of a fake tree in tests.
  using SnapshotSource = std::function<MemorySnapshot()>;

  // Idle blocks the pool keeps; returning one more evicts the least recently returned.
  static constexpr std::size_t kDefaultMaxPoolArrays = 64;
  // The gc_threshold check reads /proc; it runs after this many bytes of fresh allocation.
  static constexpr std::uint64_t kGcProbeIntervalBytes = std::uint64_t{64} << 20;

  // gc_threshold: usage fraction above which the pool is trimmed; safety_factor: what the
  // available memory is divided by for the default limit. Reads the real system through
  // SystemProbe("/").
  explicit MemoryManager(double gc_threshold = 0.8, double safety_factor = 1.2);
  MemoryManager(SnapshotSource source, double gc_threshold = 0.8, double safety_factor = 1.2);
  MemoryManager(const SystemProbe& probe, double gc_threshold = 0.8, double safety_factor = 1.2);
  // A source that always reports `available_bytes` free out of that limit, RSS 0, with `source`
  // as the limit's name (for tests and benchmarks).
  static SnapshotSource fixed_limit(std::uint64_t available_bytes, std::string source = "fixed");
  ~MemoryManager();
  MemoryManager(const MemoryManager&) = delete;
  MemoryManager& operator=(const MemoryManager&) = delete;

  // ---- What there is ----
  MemorySnapshot snapshot() const;         // a fresh reading of the source

  // The limit a fit plans against when none is given: what the process may still use divided by
  // safety_factor, plus what it already holds (its RSS is part of the peak the limit bounds).
  // Under an address-space rlimit, thread stacks are set aside from what it may still use; under a
  // cgroup limit, the result never exceeds that limit.
  // `source` says where the figure comes from, e.g. "available memory (cgroup v2) / 1.2".
  struct FitLimit {
    std::uint64_t bytes = 0;
    std::string source;
  };
  FitLimit default_limit() const;
  // The limit a fit plans against: `requested` (--memory-limit) when given, but never more than
  // the process can hold (its RSS plus the available figure, e.g. RLIMIT_AS less the address
  // space already mapped): a promise the system cannot keep is not made. Else default_limit().
  FitLimit fit_limit(std::optional<std::uint64_t> requested) const;

  // ---- Buffer pool ----
  // rows x cols elements of T, 64-byte aligned, zero-filled when `zero`. Equal-sized requests
  // reuse pooled blocks. Thread-safe.
  template <class T>
  PooledBuffer<T> allocate(std::size_t rows, std::size_t cols = 1, bool zero = false) {
    if (cols != 0 && rows > std::numeric_limits<std::size_t>::max() / sizeof(T) / cols)
      throw std::length_error("allocation of " + std::to_string(rows) + " x " +
                              std::to_string(cols) + " elements overflows");
    PooledBuffer<T> buffer;
    buffer.block_ = acquire_block(rows * cols * sizeof(T), zero);
    buffer.owner_ = this;
    buffer.rows_ = rows;
    buffer.cols_ = cols;
    return buffer;
  }
  // Low-level pool access, used by PooledBuffer; `zero` fills the block with zeros.
  PoolBlock acquire_block(std::size_t bytes, bool zero);
  void release_block(PoolBlock block) noexcept;

  // Frees every idle block and returns freed heap memory to the system (malloc_trim).
  void clear_pool();
  // Trims the pool when the usage fraction has passed gc_threshold; returns whether it did.
  bool trim_if_above_threshold();

  MemoryStats statistics() const;

 private:
  struct Impl;
  Impl* impl_;
  SnapshotSource source_;
  double gc_threshold_;
  double safety_factor_;
};

template <class T>
void PooledBuffer<T>::reset() {
  if (owner_ && block_.data) owner_->release_block(block_);
  owner_ = nullptr;
  block_ = {};
  rows_ = cols_ = 0;
}

// The process-wide instance (gc_threshold 0.8, safety_factor 1.2, the real system).
MemoryManager& get_memory_manager();

// Makes the process's RSS follow what it holds, as the planner predicts it: every allocation of
// kMappedAllocationBytes or more is mapped on its own and unmapped when freed. glibc otherwise
// raises that threshold after the first such free, and later blocks, once freed, stay in the heap
// and in the RSS (measured: 2-3 MB above the prediction in a streamed fit whose read-ahead ring is
// allocated every pass). Call once at the start of the process.
inline constexpr std::size_t kMappedAllocationBytes = std::size_t{128} << 10;
void map_large_allocations();

// The n x n matrices and n-vectors of one solver run, taken from the pool as one block per slot.
// The slot counts are workspace_spec(algorithm): what solver_workspace_bytes adds up.
class SolverWorkspace {
 public:
  SolverWorkspace(const WorkspaceSpec& spec, std::size_t n_params,
                  MemoryManager& manager = get_memory_manager());
  std::size_t n() const { return n_; }
  double* matrix(int slot) const;  // n x n, column-major
  double* vector(int slot) const;  // n

 private:
  std::size_t n_;
  WorkspaceSpec spec_;
  PooledBuffer<double> storage_;  // matrices first, then vectors
};

}  // namespace curvefit
