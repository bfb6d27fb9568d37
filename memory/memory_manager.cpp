#include "memory/memory_manager.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <mutex>
#include <new>
#include <thread>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include <sys/resource.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "memory/huge_pages.h"
#include "memory/size.h"

namespace curvefit {

namespace {

constexpr std::size_t kAlignment = 64;

// Blocks from this size on (the data of a huge fit, say) are a whole number of 2 MiB, so that
// the pool finds a block of the same size more often: the rounding costs under 6%.
constexpr std::size_t kWholeHugePagesBlockBytes = std::size_t{32} << 20;

std::size_t round_up(std::size_t bytes) {
  if (bytes >= kWholeHugePagesBlockBytes)
    return (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

// A block of a huge page or more (a read-ahead ring's buffers, 2 MiB each in a streamed fit of
// one predictor) starts on a 2 MiB boundary and asks for huge pages over the whole huge pages the
// request fills: their first touch then costs one page fault per 2 MiB instead of 512 (a streamed
// 1e7-row fit, whose ring is all the fresh memory it touches: 0.216 -> 0.160 s, bench/RESULTS.md).
// The rest stays in 4 KiB pages, so the block's RSS never exceeds what was asked for.
void* allocate_block(std::size_t capacity, std::size_t requested) {
  if (capacity < kHugePageBytes) return std::aligned_alloc(kAlignment, capacity);
  void* data = nullptr;
  if (::posix_memalign(&data, kHugePageBytes, capacity) != 0) return nullptr;
  advise_huge_pages(data, requested);
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

  // Evicts down to kDefaultMaxPoolArrays; the evicted blocks are freed by the caller outside the lock.
  std::vector<void*> evict_over_bound() {
    std::vector<void*> evicted;
    while (recency.size() > kDefaultMaxPoolArrays) evicted.push_back(evict_oldest());
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


namespace {

// What the process may still allocate. Under an address-space limit (RLIMIT_AS, RLIMIT_DATA) each
// thread's stack is reserved from the same room, though little of it becomes resident: room for a
// stack per core and two more (the caller, a read-ahead thread) is set aside.
std::uint64_t room_to_allocate(const MemorySnapshot& now) {
  if (now.limit_source != "rlimit") return now.available_bytes;
  rlimit stack{};
  std::uint64_t stack_bytes = std::uint64_t{8} << 20;
  if (::getrlimit(RLIMIT_STACK, &stack) == 0 && stack.rlim_cur != RLIM_INFINITY)
    stack_bytes = static_cast<std::uint64_t>(stack.rlim_cur);
  const std::uint64_t stacks = (std::thread::hardware_concurrency() + 2) * stack_bytes;
  return now.available_bytes > stacks ? now.available_bytes - stacks : 0;
}

// A cgroup's limit bounds what the process may reach whatever its RSS already holds: RSS counts
// shared library pages charged to other cgroups, so "available + RSS" can exceed the limit.
std::uint64_t within_cgroup_limit(const MemorySnapshot& now, std::uint64_t bytes) {
  if (now.limit_source.rfind("cgroup", 0) != 0) return bytes;
  return std::min(bytes, now.limit_bytes);
}

}  // namespace

MemoryManager::FitLimit MemoryManager::default_limit() const {
  const MemorySnapshot now = snapshot();
  char factor[16];
  std::snprintf(factor, sizeof factor, "%g", safety_factor_);
  return {within_cgroup_limit(now, static_cast<std::uint64_t>(static_cast<double>(room_to_allocate(now)) /
                                                             safety_factor_) +
                                       now.process_rss_bytes),
          "available memory (" + now.limit_source + ") / " + factor};
}

MemoryManager::FitLimit MemoryManager::fit_limit(std::optional<std::uint64_t> requested) const {
  if (!requested) return default_limit();
  const MemorySnapshot now = snapshot();
  const std::uint64_t room = within_cgroup_limit(now, room_to_allocate(now) + now.process_rss_bytes);
  if (*requested <= room) return {*requested, "--memory-limit"};
  return {room, "--memory-limit " + format_size(*requested) + ", capped at what the process can hold (" +
                    now.limit_source + ")"};
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
    data = allocate_block(capacity, bytes == 0 ? 1 : bytes);
    if (!data) {
      // The system refused: give back what the pool holds and try once more.
      clear_pool();
      data = allocate_block(capacity, bytes == 0 ? 1 : bytes);
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
    impl_->put(block.capacity_bytes, block.data);
    evicted = impl_->evict_over_bound();
  }
  free_all(evicted);
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

void map_large_allocations() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMappedAllocationBytes));
  // Under an address-space limit (RLIMIT_AS, `ulimit -v`) every malloc arena that threads create
  // when they contend for the main one reserves 64 MiB of address space; how many get created
  // depends on timing, so the same fit could pass or run out of address space. One arena makes it
  // deterministic (the workers' hot loops do not allocate).
  struct rlimit address_space {};
  if (::getrlimit(RLIMIT_AS, &address_space) == 0 && address_space.rlim_cur != RLIM_INFINITY)
    mallopt(M_ARENA_MAX, 1);
#endif
}

MemoryManager& get_memory_manager() {
  static MemoryManager manager;
  return manager;
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
