#pragma once
// MemoryManager: predictions of what a fit needs, availability checks, an RAII guard, an aligned
// thread-safe buffer pool, statistics and chunk planning. Usable on its own: it knows nothing of
// fitting beyond the sizes in solver_workspace.h.
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
  std::uint64_t evictions = 0;           // idle blocks freed to keep the pool within max_arrays
  std::uint64_t trims = 0;               // times the pool was emptied (clear, guard, gc_threshold)
  std::uint64_t total_requested_bytes = 0;  // sum of requested sizes (before 64-byte rounding)
  std::uint64_t total_served_bytes = 0;     // sum of requested sizes that pool hits served
  // total_served / total_requested: the share of requested bytes the pool saved from the system
  // allocator (0 before the first request).
  double efficiency = 0.0;
};

// The answer of check_memory_availability.
struct AvailabilityCheck {
  bool ok = false;
  // "needs 1.20 GB, 3.40 GB available (limit from cgroup v1)", or the shortfall when not ok.
  std::string message;
  std::uint64_t needed_bytes = 0;
  std::uint64_t available_bytes = 0;
  std::string source;  // which limit set available_bytes
};

// How to cover n_points rows within a memory limit (estimate_chunking_strategy).
struct ChunkingStrategy {
  bool needs_chunking = false;  // false: the whole in-memory fit fits under the limit
  std::size_t chunk_size = 0;   // rows per chunk (= n_points when not chunking)
  std::size_t n_chunks = 0;     // ceil(n_points / chunk_size)
  // Bytes of one chunk's workspace (footprint::chunk_workspace_bytes); when not chunking, the
  // whole in-memory prediction.
  std::uint64_t memory_per_chunk = 0;
  // Chunked plans keep the data resident when it fits beside the chunk; otherwise the data must be
  // streamed from its file chunk by chunk.
  bool data_in_memory = true;
  // Predicted peak of this plan, safety factor included (<= the limit).
  std::uint64_t peak_bytes = 0;
};

// Holds the promise that `needed` bytes were available when it was made; see memory_guard().
// On leaving the scope the manager trims its pool if usage has passed gc_threshold.
class [[nodiscard]] MemoryGuard {
 public:
  MemoryGuard(MemoryGuard&& other) noexcept
      : manager_(std::exchange(other.manager_, nullptr)),
        needed_(other.needed_),
        available_(other.available_) {}
  MemoryGuard(const MemoryGuard&) = delete;
  MemoryGuard& operator=(const MemoryGuard&) = delete;
  MemoryGuard& operator=(MemoryGuard&&) = delete;
  ~MemoryGuard();
  std::uint64_t needed_bytes() const { return needed_; }
  std::uint64_t available_bytes() const { return available_; }  // at entry

 private:
  friend class MemoryManager;
  MemoryGuard(MemoryManager* manager, std::uint64_t needed, std::uint64_t available)
      : manager_(manager), needed_(needed), available_(available) {}
  MemoryManager* manager_;
  std::uint64_t needed_;
  std::uint64_t available_;
};

class MemoryManager {
 public:
  // Where the manager learns what memory there is: a SystemProbe by default, a fixed figure or a
  // probe of a fake tree in tests.
  using SnapshotSource = std::function<MemorySnapshot()>;

  // Pool size bound until optimize_memory_pool() changes it.
  static constexpr std::size_t kDefaultMaxPoolArrays = 64;
  // Rows of the smallest chunk worth planning: below this the per-chunk fold of TSQR dominates.
  static constexpr std::size_t kMinChunkRows = 1024;
  // Data columns an in-memory fit of predict_memory_requirement holds: x and y.
  static constexpr std::size_t kDataColumns = 2;
  // m-vectors the in-memory fit keeps besides the data and the Jacobian with its residual vector:
  // the residuals at the trial point and the row weights (1/sigma times the robust-loss weight).
  static constexpr std::size_t kInMemoryRowVectors = 2;
  // The gc_threshold check reads /proc; it runs after this many bytes of fresh allocation.
  static constexpr std::uint64_t kGcProbeIntervalBytes = std::uint64_t{64} << 20;

  // gc_threshold: usage fraction above which the pool is trimmed; safety_factor: multiplier on
  // every prediction. Reads the real system through SystemProbe("/").
  explicit MemoryManager(double gc_threshold = 0.8, double safety_factor = 1.2);
  MemoryManager(SnapshotSource source, double gc_threshold = 0.8, double safety_factor = 1.2);
  MemoryManager(const SystemProbe& probe, double gc_threshold = 0.8, double safety_factor = 1.2);
  // A source that always reports `available_bytes` free out of that limit, RSS 0, with `source`
  // as the limit's name (for tests and for an explicit --memory-limit).
  static SnapshotSource fixed_limit(std::uint64_t available_bytes, std::string source = "fixed");
  ~MemoryManager();
  MemoryManager(const MemoryManager&) = delete;
  MemoryManager& operator=(const MemoryManager&) = delete;

  double gc_threshold() const { return gc_threshold_; }
  double safety_factor() const { return safety_factor_; }

  // ---- What there is ----
  MemorySnapshot snapshot() const;         // a fresh reading of the source
  std::uint64_t available_memory() const;  // snapshot().available_bytes

  // ---- What a fit needs ----
  // Bytes an in-memory fit of n_points x n_params needs, times safety_factor:
  //   footprint::data_bytes(m, kDataColumns)    the x and y columns
  // + footprint::full_jacobian_bytes(m, n)       the m x n Jacobian and the residual vector
  // + solver_workspace_bytes(solver, n)          the solver's n x n matrices and n-vectors
  // + kInMemoryRowVectors * m doubles            trial residuals and row weights
  // Throws std::invalid_argument when n_points or n_params is 0 or the product overflows.
  std::uint64_t predict_memory_requirement(std::size_t n_points, std::size_t n_params,
                                           const WorkspaceSpec& solver) const;
  AvailabilityCheck check_memory_availability(std::uint64_t bytes) const;
  // Returns a guard when `bytes` are available; otherwise trims the pool, looks again, and throws
  // MemoryError(needed, available, source) if they are still not there.
  MemoryGuard memory_guard(std::uint64_t bytes);

  // Splits n_points rows into chunks whose predicted peak stays within memory_limit (0: the
  // available memory). Not chunking when the in-memory prediction fits. Otherwise the chunked peak
  // is safety_factor * ([data_bytes(m, 2) when it fits] + solver_workspace_bytes + 2 *
  // tsqr_factor_bytes (running and partial R) + chunk_workspace_bytes(c, n, 2)), with the largest
  // c that fits, at least min(m, kMinChunkRows). Throws MemoryError stating the minimum limit when
  // even that smallest chunk does not fit.
  ChunkingStrategy estimate_chunking_strategy(std::size_t n_points, std::size_t n_params,
                                              const WorkspaceSpec& solver,
                                              std::uint64_t memory_limit = 0) const;

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
  // A buffer for one scope: the same handle as allocate(), named for the use where it must not
  // outlive the block it is declared in (it returns to the pool at the closing brace).
  template <class T>
  [[nodiscard]] PooledBuffer<T> temporary_allocation(std::size_t rows, std::size_t cols = 1,
                                                     bool zero = false) {
    return allocate<T>(rows, cols, zero);
  }
  // Explicitly gives a buffer back (same as letting it die).
  template <class T>
  void free(PooledBuffer<T>& buffer) {
    buffer.reset();
  }

  // Low-level pool access, used by PooledBuffer; `zero` fills the block with zeros.
  PoolBlock acquire_block(std::size_t bytes, bool zero);
  void release_block(PoolBlock block) noexcept;

  // Bounds the pool to max_arrays idle blocks, evicting the least recently returned first.
  void optimize_memory_pool(std::size_t max_arrays);
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

// The process-wide instance (gc_threshold 0.8, safety_factor 1.2, the real system), and shortcuts.
MemoryManager& get_memory_manager();
MemoryStats get_memory_stats();
void clear_memory_pool();

// What `curvefit plan --points N --params P` reports: the in-memory prediction and the chunking
// strategy under a limit.
struct MemoryPlan {
  WorkspaceSpec solver;                  // the solver planned for (its name and workspace)
  std::size_t n_points = 0;
  std::size_t n_params = 0;
  std::uint64_t predicted_bytes = 0;     // predict_memory_requirement (all rows, whole Jacobian)
  std::uint64_t memory_limit_bytes = 0;  // the limit planned against
  std::string limit_source;              // "--memory-limit" or the probe's limit_source
  ChunkingStrategy strategy;
};
// Plans against `memory_limit` when given, else the manager's available memory.
MemoryPlan plan_memory(std::size_t n_points, std::size_t n_params, const WorkspaceSpec& solver,
                       std::optional<std::uint64_t> memory_limit,
                       MemoryManager& manager = get_memory_manager());

// The n x n matrices and n-vectors of one solver run, taken from the pool as one block per slot.
// The slot counts are the solver's WorkspaceSpec: what predict_memory_requirement adds up.
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
