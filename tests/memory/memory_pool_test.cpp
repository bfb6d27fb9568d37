// The buffer pool: reuse of equal sizes, alignment, zeroing, LRU eviction, statistics, trimming at
// gc_threshold, and many threads allocating at once (run this binary under
// -DCURVEFIT_SANITIZE=thread too).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "memory/huge_pages.h"
#include "memory/memory_manager.h"

namespace curvefit {
namespace {

// Workspaces of the sizes the solvers declare (the memory module takes any spec).
constexpr WorkspaceSpec kTrf{3, 15, "trf"}, kLm{1, 11, "lm"}, kDogbox{1, 8, "dogbox"};

constexpr std::uint64_t kPlenty = std::uint64_t{1} << 40;

bool aligned64(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 64 == 0; }

TEST(MemoryPool, EqualSizedRequestReusesTheReturnedBlock) {
  MemoryManager manager(MemoryManager::fixed_limit(kPlenty));
  const double* first = nullptr;
  {
    auto buffer = manager.allocate<double>(100, 5);
    first = buffer.data();
    EXPECT_EQ(buffer.rows(), 100u);
    EXPECT_EQ(buffer.cols(), 5u);
    EXPECT_EQ(buffer.size(), 500u);
  }
  auto again = manager.allocate<double>(500);  // same bytes, other shape
  EXPECT_EQ(again.data(), first);
  auto other = manager.allocate<double>(501);
  EXPECT_NE(other.data(), first);
  const MemoryStats stats = manager.statistics();
  EXPECT_EQ(stats.allocations, 3u);
  EXPECT_EQ(stats.pool_hits, 1u);
  EXPECT_EQ(stats.system_allocations, 2u);
  EXPECT_EQ(stats.total_requested_bytes, 8u * (500 + 500 + 501));
  EXPECT_EQ(stats.total_served_bytes, 8u * 500);
  EXPECT_DOUBLE_EQ(stats.efficiency, 500.0 / 1501.0);
  EXPECT_EQ(stats.live_arrays, 2u);
  EXPECT_EQ(stats.pool_arrays, 0u);
}

TEST(MemoryPool, EveryBlockIs64ByteAligned) {
  MemoryManager manager(MemoryManager::fixed_limit(kPlenty));
  std::vector<PooledBuffer<char>> bytes;
  for (std::size_t n : {0, 1, 3, 63, 64, 65, 1000, 4097})
    bytes.push_back(manager.allocate<char>(n));
  for (const auto& b : bytes) EXPECT_TRUE(aligned64(b.data()));
  auto doubles = manager.allocate<double>(7, 3);
  EXPECT_TRUE(aligned64(doubles.data()));
  // Reused blocks too.
  bytes.clear();
  for (std::size_t n : {1, 65, 4097}) EXPECT_TRUE(aligned64(manager.allocate<char>(n).data()));
}

// Blocks of one huge page and more (a read-ahead ring's buffers) start on a 2 MiB boundary, so
// that the kernel can back the whole huge pages they fill with huge pages; from 32 MiB they are also
// a whole number of 2 MiB (the pool reuses them more often). Smaller ones keep 64-byte alignment.
TEST(MemoryPool, LargeBlocksAreHugePageAligned) {
  MemoryManager manager(MemoryManager::fixed_limit(kPlenty));
  const std::size_t large = (std::size_t{32} << 20) + 1000;
  auto block = manager.allocate<char>(large);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block.data()) % kHugePageBytes, 0u);
  EXPECT_EQ(manager.statistics().live_bytes, std::size_t{34} << 20);  // rounded up to 17 x 2 MiB
  block[large - 1] = 1;                                           // writable to the end
  const std::size_t ring_buffer = (std::size_t{3} << 20) + 64;    // a huge page and a 4 KiB-paged rest
  auto medium = manager.allocate<char>(ring_buffer);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(medium.data()) % kHugePageBytes, 0u);
  EXPECT_EQ(manager.statistics().live_bytes, (std::size_t{34} << 20) + ring_buffer);  // 64-byte rounding only
  medium[ring_buffer - 1] = 1;
  auto small = manager.allocate<char>(std::size_t{1} << 20);
  EXPECT_TRUE(aligned64(small.data()));
  EXPECT_EQ(manager.statistics().live_bytes, (std::size_t{34} << 20) + ring_buffer + (std::size_t{1} << 20));
}

// From one huge page (262144 doubles) up the buffer starts on a 2 MiB boundary; smaller ones are
// plain, cache-line aligned memory (a huge page would cost 2 MiB of RSS for a few kB).
TEST(HugePages, LargeDoublesStartOnA2MiBBoundarySmallOnesOnACacheLineAndAllAreWritable) {
  for (std::size_t n : {std::size_t{1}, std::size_t{20000}, std::size_t{262144}, std::size_t{300000}}) {
    std::shared_ptr<double> doubles = allocate_huge_page_doubles(n);
    ASSERT_NE(doubles, nullptr);
    const std::size_t alignment = n * sizeof(double) >= kHugePageBytes ? kHugePageBytes : 64;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(doubles.get()) % alignment, 0u) << n;
    for (std::size_t i = 0; i < n; i += 512) doubles.get()[i] = static_cast<double>(i) + 0.5;
    doubles.get()[n - 1] = -1.0;
    EXPECT_EQ(doubles.get()[n - 1], -1.0);
    if (n > 512) {
      EXPECT_EQ(doubles.get()[512], 512.5);
    }
  }
}

TEST(MemoryPool, OverflowingShapeIsRejected) {
  MemoryManager manager(MemoryManager::fixed_limit(kPlenty));
  EXPECT_THROW(manager.allocate<double>(std::size_t{1} << 40, std::size_t{1} << 30),
               std::length_error);
  EXPECT_EQ(manager.statistics().live_arrays, 0u);
}

TEST(MemoryPool, ZeroRequestClearsAReusedBlock) {
  MemoryManager manager(MemoryManager::fixed_limit(kPlenty));
  {
    auto dirty = manager.allocate<double>(256);
    for (std::size_t i = 0; i < dirty.size(); ++i) dirty[i] = 1.0 + static_cast<double>(i);
  }
  auto clean = manager.allocate<double>(256, 1, true);
  EXPECT_EQ(manager.statistics().pool_hits, 1u);
  for (std::size_t i = 0; i < clean.size(); ++i) ASSERT_EQ(clean[i], 0.0) << i;
}

TEST(MemoryPool, EvictsLeastRecentlyReturnedBeyondMaxArrays) {
  MemoryManager manager(MemoryManager::fixed_limit(kPlenty));
  constexpr std::size_t kMax = MemoryManager::kDefaultMaxPoolArrays;
  // kMax + 2 blocks of distinct sizes, returned in order: the two returned first are evicted.
  std::vector<PooledBuffer<double>> buffers;
  for (std::size_t i = 1; i <= kMax + 2; ++i) buffers.push_back(manager.allocate<double>(8 * i));
  const double* newest = buffers.back().data();
  for (PooledBuffer<double>& buffer : buffers) buffer.reset();
  MemoryStats stats = manager.statistics();
  EXPECT_EQ(stats.pool_arrays, kMax);
  EXPECT_EQ(stats.evictions, 2u);
  auto again = manager.allocate<double>(8 * (kMax + 2));
  EXPECT_EQ(again.data(), newest);
  auto first = manager.allocate<double>(8);  // evicted: a miss
  stats = manager.statistics();
  EXPECT_EQ(stats.pool_hits, 1u);
  EXPECT_EQ(stats.system_allocations, kMax + 3);
}

TEST(MemoryPool, MovedBufferKeepsOwnershipAndReturnsOnce) {
  MemoryManager manager(MemoryManager::fixed_limit(kPlenty));
  {
    auto scratch = manager.allocate<int>(1000, 1, true);
    EXPECT_EQ(manager.statistics().live_arrays, 1u);
    PooledBuffer<int> moved = std::move(scratch);
    EXPECT_FALSE(scratch);
    EXPECT_TRUE(moved);
    EXPECT_EQ(manager.statistics().live_arrays, 1u);
  }
  const MemoryStats stats = manager.statistics();
  EXPECT_EQ(stats.live_arrays, 0u);
  EXPECT_EQ(stats.live_bytes, 0u);
  EXPECT_EQ(stats.pool_arrays, 1u);
  EXPECT_EQ(stats.pool_bytes, 4032u);  // 4000 bytes rounded up to 64
}

TEST(MemoryPool, ClearPoolFreesIdleBlocksButNotLiveOnes) {
  MemoryManager manager(MemoryManager::fixed_limit(kPlenty));
  auto live = manager.allocate<double>(100);
  { auto idle = manager.allocate<double>(200); }
  manager.clear_pool();
  const MemoryStats stats = manager.statistics();
  EXPECT_EQ(stats.pool_arrays, 0u);
  EXPECT_EQ(stats.live_arrays, 1u);
  EXPECT_EQ(stats.trims, 1u);
  live[99] = 3.0;  // still usable
  EXPECT_EQ(live[99], 3.0);
}

TEST(MemoryPool, TrimsWhenUsagePassesGcThreshold) {
  // Usage fraction = rss / (rss + available); the source lets the test move it.
  std::atomic<std::uint64_t> rss{100};
  MemoryManager manager(
      [&rss] {
        MemorySnapshot s;
        s.process_rss_bytes = rss;
        s.available_bytes = 1000 - rss;
        s.limit_bytes = 1000;
        s.limit_source = "test";
        return s;
      },
      /*gc_threshold=*/0.8);
  { auto idle = manager.allocate<double>(64); }
  EXPECT_FALSE(manager.trim_if_above_threshold());  // 0.1
  EXPECT_EQ(manager.statistics().pool_arrays, 1u);
  rss = 800;
  EXPECT_FALSE(manager.trim_if_above_threshold());  // exactly 0.8 does not pass it
  rss = 850;
  EXPECT_NEAR(manager.statistics().usage_fraction, 0.85, 1e-12);
  EXPECT_TRUE(manager.trim_if_above_threshold());
  EXPECT_EQ(manager.statistics().pool_arrays, 0u);
}

TEST(MemoryPool, ProcessWideInstance) {
  MemoryManager& global = get_memory_manager();
  EXPECT_EQ(&global, &get_memory_manager());
  const std::uint64_t before = global.statistics().allocations;
  { auto b = global.allocate<double>(333); }
  EXPECT_EQ(global.statistics().allocations, before + 1);
  EXPECT_GE(global.statistics().pool_arrays, 1u);
  global.clear_pool();
  EXPECT_EQ(global.statistics().pool_arrays, 0u);
  EXPECT_GT(global.statistics().current_usage_bytes, 0u);
}

TEST(SolverWorkspace, SlotsAreDisjointZeroedAndChecked) {
  MemoryManager manager(MemoryManager::fixed_limit(kPlenty));
  constexpr std::size_t n = 7;
  for (const WorkspaceSpec& algorithm : {kTrf, kLm, kDogbox}) {
    const WorkspaceSpec spec = algorithm;
    SolverWorkspace workspace(algorithm, n, manager);
    // Write each slot's index into every element; overlapping slots would overwrite each other.
    for (int s = 0; s < spec.square_matrices; ++s)
      for (std::size_t i = 0; i < n * n; ++i) {
        ASSERT_EQ(workspace.matrix(s)[i], 0.0);
        workspace.matrix(s)[i] = s + 1;
      }
    for (int s = 0; s < spec.vectors; ++s)
      for (std::size_t i = 0; i < n; ++i) {
        ASSERT_EQ(workspace.vector(s)[i], 0.0);
        workspace.vector(s)[i] = 100 + s;
      }
    for (int s = 0; s < spec.square_matrices; ++s) EXPECT_EQ(workspace.matrix(s)[n * n - 1], s + 1);
    for (int s = 0; s < spec.vectors; ++s) EXPECT_EQ(workspace.vector(s)[0], 100 + s);
    EXPECT_THROW(workspace.matrix(spec.square_matrices), std::out_of_range);
    EXPECT_THROW(workspace.vector(-1), std::out_of_range);
  }
  // The bytes the workspaces took are what solver_workspace_bytes predicts (before rounding to 64).
  const MemoryStats stats = manager.statistics();
  EXPECT_EQ(stats.total_requested_bytes, solver_workspace_bytes(kTrf, n) +
                                             solver_workspace_bytes(kLm, n) +
                                             solver_workspace_bytes(kDogbox, n));
}

TEST(MemoryPoolConcurrency, ManyThreadsAllocateAndReleaseWithoutSharingBlocks) {
  MemoryManager manager(MemoryManager::fixed_limit(kPlenty));
  constexpr int kThreads = 16;
  constexpr int kRounds = 400;
  // Solver- and chunk-like shapes, some shared between threads so blocks change hands.
  const std::vector<std::size_t> sizes{25, 5 * 5 * 4 + 16 * 5, 1024 * 7, 4096 * 3, 333};
  std::atomic<int> corrupted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(static_cast<unsigned>(t));
      std::vector<PooledBuffer<std::uint64_t>> held;
      for (int round = 0; round < kRounds; ++round) {
        auto buffer =
            manager.allocate<std::uint64_t>(sizes[random() % sizes.size()], 1, round % 3 == 0);
        if (!aligned64(buffer.data())) ++corrupted;
        // A block handed to two threads at once would show the other thread's mark.
        const std::uint64_t mark =
            (static_cast<std::uint64_t>(t) << 32) | static_cast<std::uint64_t>(round);
        for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = mark;
        held.push_back(std::move(buffer));
        if (held.size() > 3 || random() % 2) {
          const auto& oldest = held.front();
          const std::uint64_t expected = oldest[0];
          for (std::size_t i = 0; i < oldest.size(); ++i)
            if (oldest[i] != expected) {
              ++corrupted;
              break;
            }
          held.erase(held.begin());
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(corrupted.load(), 0);
  const MemoryStats stats = manager.statistics();
  EXPECT_EQ(stats.allocations, static_cast<std::uint64_t>(kThreads * kRounds));
  EXPECT_EQ(stats.pool_hits + stats.system_allocations, stats.allocations);
  EXPECT_GT(stats.pool_hits, 0u);
  EXPECT_EQ(stats.live_arrays, 0u);
  EXPECT_EQ(stats.live_bytes, 0u);
  EXPECT_LE(stats.pool_arrays, MemoryManager::kDefaultMaxPoolArrays);
}

}  // namespace
}  // namespace curvefit
