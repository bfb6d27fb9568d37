#include "memory/memory_manager.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <list>
#include <mutex>
#include <new>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "memory/huge_pages.h"
#include "memory/size.h"

namespace curvefit {

namespace {

constexpr std::size_t kAlignment = 64;

// Blocks from this size on (a whole Jacobian, say) start on a 2 MiB boundary, are a whole number
// of 2 MiB and ask for huge pages: the rounding costs under 6%, the first touch 512 times fewer
// page faults (see huge_pages.h).
constexpr std::size_t kHugePageBlockBytes = std::size_t{32} << 20;

std::size_t round_up(std::size_t bytes) {
  if (bytes >= kHugePageBlockBytes)
    return (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

void* allocate_block(std::size_t capacity) {
  if (capacity < kHugePageBlockBytes) return std::aligned_alloc(kAlignment, capacity);
  void* data = std::aligned_alloc(kHugePageBytes, capacity);
  if (data) advise_huge_pages(data, capacity);
  return data;
}

// Hands freed heap pages back to the kernel; glibc otherwise keeps them for reuse.
void return_memory_to_system() noexcept {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

std::string describe(std::uint64_t bytes) {
  return std::to_string(bytes) + " bytes (" + format_size(bytes) + ")";
}

std::uint64_t times_safety(double safety_factor, std::uint64_t bytes) {
  return static_cast<std::uint64_t>(std::ceil(safety_factor * static_cast<double>(bytes)));
}

// Rejects problems whose byte counts would overflow 64 bits.
void check_plannable(std::size_t n_points, std::size_t n_params) {
  if (n_points == 0) throw std::invalid_argument("n_points must be at least 1");
  if (n_params == 0) throw std::invalid_argument("n_params must be at least 1");
  constexpr double kMaxBytes = 1.0e18;  // well below 2^64, leaving room for the safety factor
  const double m = static_cast<double>(n_points);
  const double n = static_cast<double>(n_params);
  if (n > 1.0e5 || 8.0 * m * (n + 8.0) > kMaxBytes)
    throw std::invalid_argument("problem too large to plan: " + std::to_string(n_points) +
                                " points x " + std::to_string(n_params) + " parameters");
}

}  // namespace

MemoryError::MemoryError(std::size_t needed_bytes, std::size_t available_bytes, std::string source)
    : MemoryError("memory limit: needs " + describe(needed_bytes) + ", " +
                      describe(available_bytes) + " available (limit from " + source + ")",
                  needed_bytes, available_bytes, source) {}

MemoryError::MemoryError(const std::string& message, std::size_t needed_bytes,
                         std::size_t available_bytes, std::string source)
    : std::runtime_error(message),
      needed_(needed_bytes),
      available_(available_bytes),
      source_(std::move(source)) {}

// ---------------------------------------------------------------------------------------------
// The pool: idle blocks in one recency list (front = most recently returned) and an index from
// capacity to the list positions of that capacity. A request takes the most recently returned
// block of its capacity (warmest in cache); eviction takes the least recently returned block.
struct MemoryManager::Impl {
  struct IdleBlock {
    std::size_t capacity;
    void* data;
  };
  using Recency = std::list<IdleBlock>;

  mutable std::mutex mutex;
  Recency recency;
  std::unordered_map<std::size_t, std::vector<Recency::iterator>> by_capacity;
  std::size_t max_arrays = kDefaultMaxPoolArrays;
  std::uint64_t idle_bytes = 0;
  std::uint64_t fresh_bytes_since_probe = 0;
  MemoryStats counters;  // only the pool fields are kept up to date here

  // All below: the caller holds `mutex`.
  void* take(std::size_t capacity) {
    const auto found = by_capacity.find(capacity);
    if (found == by_capacity.end() || found->second.empty()) return nullptr;
    const Recency::iterator position = found->second.back();
    found->second.pop_back();
    if (found->second.empty()) by_capacity.erase(found);
    void* data = position->data;
    idle_bytes -= capacity;
    recency.erase(position);
    return data;
  }

  void put(std::size_t capacity, void* data) {
    recency.push_front({capacity, data});
    by_capacity[capacity].push_back(recency.begin());
    idle_bytes += capacity;
  }

  // Removes the least recently returned block from the index and the list; returns its memory.
  void* evict_oldest() {
    const Recency::iterator oldest = std::prev(recency.end());
    auto& positions = by_capacity[oldest->capacity];
    positions.erase(std::find(positions.begin(), positions.end(), oldest));
    if (positions.empty()) by_capacity.erase(oldest->capacity);
    void* data = oldest->data;
    idle_bytes -= oldest->capacity;
    recency.erase(oldest);
    ++counters.evictions;
    return data;
  }

  // Evicts down to max_arrays; the evicted blocks are freed by the caller outside the lock.
  std::vector<void*> evict_over_bound() {
    std::vector<void*> evicted;
    while (recency.size() > max_arrays) evicted.push_back(evict_oldest());
    return evicted;
  }

  std::vector<void*> take_all() {
    std::vector<void*> all;
    all.reserve(recency.size());
    for (const IdleBlock& block : recency) all.push_back(block.data);
    recency.clear();
    by_capacity.clear();
    idle_bytes = 0;
    return all;
  }
};

namespace {
void free_all(const std::vector<void*>& blocks) noexcept {
  for (void* data : blocks) std::free(data);
}
}  // namespace

MemoryManager::MemoryManager(double gc_threshold, double safety_factor)
    : MemoryManager(SystemProbe("/"), gc_threshold, safety_factor) {}

MemoryManager::MemoryManager(const SystemProbe& probe, double gc_threshold, double safety_factor)
    : MemoryManager(SnapshotSource([probe] { return probe.snapshot(); }), gc_threshold,
                    safety_factor) {}

MemoryManager::MemoryManager(SnapshotSource source, double gc_threshold, double safety_factor)
    : impl_(new Impl),
      source_(std::move(source)),
      gc_threshold_(gc_threshold),
      safety_factor_(safety_factor) {
  if (!(gc_threshold > 0.0 && gc_threshold <= 1.0)) {
    delete impl_;
    throw std::invalid_argument("gc_threshold must be in (0, 1], got " +
                                std::to_string(gc_threshold));
  }
  if (!(safety_factor >= 1.0)) {
    delete impl_;
    throw std::invalid_argument("safety_factor must be at least 1, got " +
                                std::to_string(safety_factor));
  }
}

MemoryManager::SnapshotSource MemoryManager::fixed_limit(std::uint64_t available_bytes,
                                                         std::string source) {
  return [available_bytes, source = std::move(source)] {
    MemorySnapshot snapshot;
    snapshot.total_bytes = available_bytes;
    snapshot.available_bytes = available_bytes;
    snapshot.limit_bytes = available_bytes;
    snapshot.limit_source = source;
    return snapshot;
  };
}

MemoryManager::~MemoryManager() {
  clear_pool();
  delete impl_;
}

// ---------------------------------------------------------------------------------------------
// What there is.

MemorySnapshot MemoryManager::snapshot() const { return source_(); }

std::uint64_t MemoryManager::available_memory() const { return snapshot().available_bytes; }

// ---------------------------------------------------------------------------------------------
// What a fit needs.

std::uint64_t MemoryManager::predict_memory_requirement(std::size_t n_points, std::size_t n_params,
                                                        const WorkspaceSpec& solver) const {
  check_plannable(n_points, n_params);
  const std::uint64_t bytes = footprint::data_bytes(n_points, kDataColumns) +
                              footprint::full_jacobian_bytes(n_points, n_params) +
                              solver_workspace_bytes(solver, n_params) +
                              sizeof(double) * kInMemoryRowVectors * n_points;
  return times_safety(safety_factor_, bytes);
}

AvailabilityCheck MemoryManager::check_memory_availability(std::uint64_t bytes) const {
  const MemorySnapshot now = snapshot();
  AvailabilityCheck check;
  check.needed_bytes = bytes;
  check.available_bytes = now.available_bytes;
  check.source = now.limit_source;
  check.ok = bytes <= now.available_bytes;
  check.message = (check.ok ? "ok: needs " : "not enough memory: needs ") + format_size(bytes) +
                  ", " + format_size(now.available_bytes) + " available (limit from " +
                  now.limit_source + ")";
  return check;
}

MemoryGuard MemoryManager::memory_guard(std::uint64_t bytes) {
  AvailabilityCheck check = check_memory_availability(bytes);
  if (!check.ok) {
    // Idle pooled blocks count against us; give them back and look again.
    clear_pool();
    check = check_memory_availability(bytes);
    if (!check.ok) throw MemoryError(bytes, check.available_bytes, check.source);
  }
  return MemoryGuard(this, bytes, check.available_bytes);
}

MemoryGuard::~MemoryGuard() {
  if (!manager_) return;
  try {
    manager_->trim_if_above_threshold();
  } catch (...) {
    // A failed probe must not escape a destructor; the next guard will look again.
  }
}

ChunkingStrategy MemoryManager::estimate_chunking_strategy(std::size_t n_points,
                                                           std::size_t n_params,
                                                           const WorkspaceSpec& solver,
                                                           std::uint64_t memory_limit) const {
  const std::uint64_t predicted = predict_memory_requirement(n_points, n_params, solver);
  const std::uint64_t limit = memory_limit ? memory_limit : available_memory();
  ChunkingStrategy strategy;
  if (predicted <= limit) {
    strategy.needs_chunking = false;
    strategy.chunk_size = n_points;
    strategy.n_chunks = 1;
    strategy.memory_per_chunk = predicted;
    strategy.peak_bytes = predicted;
    return strategy;
  }

  // Everything a chunked fit holds besides the chunk: the solver, the running R and one partial R.
  const std::uint64_t fixed =
      solver_workspace_bytes(solver, n_params) + 2 * footprint::tsqr_factor_bytes(n_params);
  const std::uint64_t data = footprint::data_bytes(n_points, kDataColumns);
  const auto peak = [&](std::size_t rows, bool data_resident) {
    return times_safety(safety_factor_,
                        (data_resident ? data : 0) + fixed +
                            footprint::chunk_workspace_bytes(rows, n_params, kDataColumns));
  };
  const std::size_t min_rows = std::min(n_points, kMinChunkRows);
  if (peak(min_rows, false) > limit) {
    const std::uint64_t minimum = peak(min_rows, false);
    throw MemoryError("memory limit " + format_size(limit) + " is too small: the smallest chunk (" +
                          std::to_string(min_rows) + " rows x " + std::to_string(n_params) +
                          " parameters) needs " + format_size(minimum) + "; a limit of at least " +
                          std::to_string(minimum) + " bytes would work",
                      minimum, limit, "memory limit");
  }
  strategy.needs_chunking = true;
  strategy.data_in_memory = peak(min_rows, true) <= limit;
  // The largest chunk that fits: invert peak(rows) <= limit, then step down over rounding.
  const std::uint64_t base = strategy.data_in_memory ? data + fixed : fixed;
  const std::uint64_t row_bytes = footprint::chunk_workspace_bytes(1, n_params, kDataColumns);
  const double budget =
      std::floor(static_cast<double>(limit) / safety_factor_) - static_cast<double>(base);
  std::size_t rows =
      budget > 0 ? static_cast<std::size_t>(std::min(budget / static_cast<double>(row_bytes),
                                                     static_cast<double>(n_points)))
                 : min_rows;
  rows = std::max(rows, min_rows);
  while (rows > min_rows && peak(rows, strategy.data_in_memory) > limit) --rows;
  strategy.chunk_size = rows;
  strategy.n_chunks = (n_points + rows - 1) / rows;
  strategy.memory_per_chunk = footprint::chunk_workspace_bytes(rows, n_params, kDataColumns);
  strategy.peak_bytes = peak(rows, strategy.data_in_memory);
  return strategy;
}

// ---------------------------------------------------------------------------------------------
// The buffer pool.

PoolBlock MemoryManager::acquire_block(std::size_t bytes, bool zero) {
  const std::size_t capacity = round_up(bytes == 0 ? 1 : bytes);
  void* data = nullptr;
  bool probe_due = false;
  {
    std::lock_guard lock(impl_->mutex);
    MemoryStats& counters = impl_->counters;
    ++counters.allocations;
    counters.total_requested_bytes += bytes;
    data = impl_->take(capacity);
    if (data) {
      ++counters.pool_hits;
      counters.total_served_bytes += bytes;
    } else {
      ++counters.system_allocations;
      impl_->fresh_bytes_since_probe += capacity;
      if (impl_->fresh_bytes_since_probe >= kGcProbeIntervalBytes) {
        impl_->fresh_bytes_since_probe = 0;
        probe_due = true;
      }
    }
    ++counters.live_arrays;
    counters.live_bytes += capacity;
  }
  if (!data) {
    if (probe_due) trim_if_above_threshold();
    data = allocate_block(capacity);
    if (!data) {
      // The system refused: give back what the pool holds and try once more.
      clear_pool();
      data = allocate_block(capacity);
    }
    if (!data) {
      {
        std::lock_guard lock(impl_->mutex);
        --impl_->counters.live_arrays;
        impl_->counters.live_bytes -= capacity;
      }
      const MemorySnapshot now = snapshot();
      throw MemoryError(capacity, now.available_bytes, now.limit_source);
    }
  }
  if (zero) std::memset(data, 0, capacity);
  return {data, capacity};
}

void MemoryManager::release_block(PoolBlock block) noexcept {
  if (!block.data) return;
  std::vector<void*> evicted;
  {
    std::lock_guard lock(impl_->mutex);
    --impl_->counters.live_arrays;
    impl_->counters.live_bytes -= block.capacity_bytes;
    if (impl_->max_arrays == 0) {
      evicted.push_back(block.data);
    } else {
      impl_->put(block.capacity_bytes, block.data);
      evicted = impl_->evict_over_bound();
    }
  }
  free_all(evicted);
}

void MemoryManager::optimize_memory_pool(std::size_t max_arrays) {
  std::vector<void*> evicted;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->max_arrays = max_arrays;
    evicted = impl_->evict_over_bound();
  }
  free_all(evicted);
  if (!evicted.empty()) return_memory_to_system();
}

void MemoryManager::clear_pool() {
  std::vector<void*> idle;
  {
    std::lock_guard lock(impl_->mutex);
    idle = impl_->take_all();
    ++impl_->counters.trims;
  }
  free_all(idle);
  return_memory_to_system();
}

bool MemoryManager::trim_if_above_threshold() {
  const MemorySnapshot now = snapshot();
  const double held = static_cast<double>(now.process_rss_bytes);
  const double could_hold = held + static_cast<double>(now.available_bytes);
  if (could_hold <= 0.0 || held / could_hold <= gc_threshold_) return false;
  clear_pool();
  return true;
}

MemoryStats MemoryManager::statistics() const {
  const MemorySnapshot now = snapshot();
  MemoryStats stats;
  {
    std::lock_guard lock(impl_->mutex);
    stats = impl_->counters;
    stats.pool_bytes = impl_->idle_bytes;
    stats.pool_arrays = impl_->recency.size();
  }
  stats.current_usage_bytes = now.process_rss_bytes;
  stats.available_bytes = now.available_bytes;
  stats.peak_usage_bytes = now.process_peak_bytes;
  const double could_hold =
      static_cast<double>(now.process_rss_bytes) + static_cast<double>(now.available_bytes);
  stats.usage_fraction =
      could_hold > 0.0 ? static_cast<double>(now.process_rss_bytes) / could_hold : 0.0;
  stats.efficiency = stats.total_requested_bytes
                         ? static_cast<double>(stats.total_served_bytes) /
                               static_cast<double>(stats.total_requested_bytes)
                         : 0.0;
  return stats;
}

// ---------------------------------------------------------------------------------------------
// The process-wide instance.

MemoryManager& get_memory_manager() {
  static MemoryManager manager;
  return manager;
}

MemoryStats get_memory_stats() { return get_memory_manager().statistics(); }

void clear_memory_pool() { get_memory_manager().clear_pool(); }

MemoryPlan plan_memory(std::size_t n_points, std::size_t n_params, const WorkspaceSpec& solver,
                       std::optional<std::uint64_t> memory_limit, MemoryManager& manager) {
  MemoryPlan plan;
  plan.solver = solver;
  plan.n_points = n_points;
  plan.n_params = n_params;
  plan.predicted_bytes = manager.predict_memory_requirement(n_points, n_params, solver);
  if (memory_limit) {
    if (*memory_limit == 0) throw std::invalid_argument("memory limit must be positive");
    plan.memory_limit_bytes = *memory_limit;
    plan.limit_source = "--memory-limit";
  } else {
    const MemorySnapshot now = manager.snapshot();
    // Nothing available is still a limit (of one byte), not "ask the probe again".
    plan.memory_limit_bytes = std::max<std::uint64_t>(now.available_bytes, 1);
    plan.limit_source = now.limit_source;
  }
  plan.strategy =
      manager.estimate_chunking_strategy(n_points, n_params, solver, plan.memory_limit_bytes);
  return plan;
}

// ---------------------------------------------------------------------------------------------
// Solver workspaces.

SolverWorkspace::SolverWorkspace(const WorkspaceSpec& spec, std::size_t n_params, MemoryManager& manager)
    : n_(n_params), spec_(spec) {
  storage_ = manager.allocate<double>(
      n_params, static_cast<std::size_t>(spec_.square_matrices) * n_params + spec_.vectors, true);
}

double* SolverWorkspace::matrix(int slot) const {
  if (slot < 0 || slot >= spec_.square_matrices) throw std::out_of_range("workspace matrix slot");
  return storage_.data() + static_cast<std::size_t>(slot) * n_ * n_;
}

double* SolverWorkspace::vector(int slot) const {
  if (slot < 0 || slot >= spec_.vectors) throw std::out_of_range("workspace vector slot");
  return storage_.data() + static_cast<std::size_t>(spec_.square_matrices) * n_ * n_ +
         static_cast<std::size_t>(slot) * n_;
}

}  // namespace curvefit
