// Predictions, availability checks, the guard, and chunk planning, checked against arithmetic
// written out here from the definitions (not from the code under test).
#include "memory/memory_manager.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <string>

namespace curvefit {
namespace {

// Workspaces of the sizes the solvers declare (the memory module takes any spec).
constexpr WorkspaceSpec kTrf{3, 15, "trf"}, kLm{1, 11, "lm"}, kDogbox{1, 8, "dogbox"};

// Bytes of the solver's own workspace, from the spec table the solvers allocate with.
std::uint64_t solver_bytes(const WorkspaceSpec& algorithm, std::uint64_t n) {
  const WorkspaceSpec spec = algorithm;
  return 8 * (static_cast<std::uint64_t>(spec.square_matrices) * n * n +
              static_cast<std::uint64_t>(spec.vectors) * n);
}

// In-memory fit: x and y (2m), Jacobian (mn), residuals (m), trial residuals and weights (2m).
std::uint64_t in_memory_bytes(const WorkspaceSpec& algorithm, std::uint64_t m, std::uint64_t n) {
  return 8 * (2 * m + m * n + m + 2 * m) + solver_bytes(algorithm, n);
}

// Chunked fit with chunk c: per chunk x, y, model values, residuals and the c x n block; plus two
// (n+1)^2 TSQR factors and the solver; plus the data when it stays resident.
std::uint64_t chunked_bytes(const WorkspaceSpec& algorithm, std::uint64_t m, std::uint64_t n, std::uint64_t c,
                            bool resident) {
  return 8 * (c * (4 + n) + 2 * (n + 1) * (n + 1) + (resident ? 2 * m : 0)) +
         solver_bytes(algorithm, n);
}

std::uint64_t with_safety(double factor, std::uint64_t bytes) {
  return static_cast<std::uint64_t>(std::ceil(factor * static_cast<double>(bytes)));
}

TEST(Predict, InMemoryRequirementForEachAlgorithm) {
  MemoryManager manager(MemoryManager::fixed_limit(1));
  for (const WorkspaceSpec& algorithm : {kTrf, kLm, kDogbox}) {
    for (auto [m, n] :
         {std::pair<std::uint64_t, std::uint64_t>{1000, 5}, {1, 1}, {100'000'000, 5}, {3, 40}}) {
      EXPECT_EQ(manager.predict_memory_requirement(m, n, algorithm),
                with_safety(1.2, in_memory_bytes(algorithm, m, n)))
          << algorithm.solver << " m=" << m << " n=" << n;
    }
  }
  // A worked figure: 1e8 points, 5 parameters, a solver with {4, 16} slots: 9.6e9 bytes of rows.
  EXPECT_EQ(manager.predict_memory_requirement(100'000'000, 5, WorkspaceSpec{4, 16}), 9'600'001'728u);
}

TEST(Predict, SafetyFactorScalesAndBadSizesAreRejected) {
  MemoryManager plain(MemoryManager::fixed_limit(1), 0.8, 1.0);
  MemoryManager doubled(MemoryManager::fixed_limit(1), 0.8, 2.0);
  EXPECT_EQ(doubled.predict_memory_requirement(1234, 3, kLm),
            2 * plain.predict_memory_requirement(1234, 3, kLm));
  EXPECT_THROW(plain.predict_memory_requirement(0, 3, kLm), std::invalid_argument);
  EXPECT_THROW(plain.predict_memory_requirement(10, 0, kLm), std::invalid_argument);
  EXPECT_THROW(plain.predict_memory_requirement(std::size_t{1} << 62, 100, kLm),
               std::invalid_argument);
  EXPECT_THROW(MemoryManager(MemoryManager::fixed_limit(1), 1.5, 1.2), std::invalid_argument);
  EXPECT_THROW(MemoryManager(MemoryManager::fixed_limit(1), 0.8, 0.5), std::invalid_argument);
}

TEST(Availability, CheckNamesNeededAndAvailable) {
  MemoryManager manager(MemoryManager::fixed_limit(2'000'000'000, "cgroup v1"));
  const AvailabilityCheck fits = manager.check_memory_availability(1'500'000'000);
  EXPECT_TRUE(fits.ok);
  EXPECT_EQ(fits.available_bytes, 2'000'000'000u);
  EXPECT_NE(fits.message.find("1.50 GB"), std::string::npos) << fits.message;
  EXPECT_NE(fits.message.find("2.00 GB"), std::string::npos) << fits.message;
  const AvailabilityCheck short_of = manager.check_memory_availability(3'000'000'000);
  EXPECT_FALSE(short_of.ok);
  EXPECT_EQ(short_of.source, "cgroup v1");
  EXPECT_NE(short_of.message.find("3.00 GB"), std::string::npos) << short_of.message;
  EXPECT_NE(short_of.message.find("cgroup v1"), std::string::npos) << short_of.message;
  EXPECT_TRUE(manager.check_memory_availability(2'000'000'000).ok);  // exactly the available
}

TEST(Guard, SucceedsWithoutTouchingThePool) {
  MemoryManager manager(MemoryManager::fixed_limit(10'000));
  { auto idle = manager.allocate<double>(16); }
  {
    MemoryGuard guard = manager.memory_guard(9'000);
    EXPECT_EQ(guard.needed_bytes(), 9'000u);
    EXPECT_EQ(guard.available_bytes(), 10'000u);
  }
  EXPECT_EQ(manager.statistics().pool_arrays, 1u);
  EXPECT_EQ(manager.statistics().trims, 0u);
}

TEST(Guard, FailureTrimsThePoolThenThrowsWithTheFacts) {
  MemoryManager manager(MemoryManager::fixed_limit(10'000, "cgroup v2"));
  { auto idle = manager.allocate<double>(16); }
  try {
    MemoryGuard guard = manager.memory_guard(20'000);
    ADD_FAILURE() << "guard did not throw";
  } catch (const MemoryError& e) {
    EXPECT_EQ(e.needed_bytes(), 20'000u);
    EXPECT_EQ(e.available_bytes(), 10'000u);
    EXPECT_EQ(e.source(), "cgroup v2");
    const std::string what = e.what();
    EXPECT_NE(what.find("20000"), std::string::npos) << what;
    EXPECT_NE(what.find("10000"), std::string::npos) << what;
    EXPECT_NE(what.find("cgroup v2"), std::string::npos) << what;
  }
  EXPECT_EQ(manager.statistics().pool_arrays, 0u);
  EXPECT_GE(manager.statistics().trims, 1u);
}

TEST(Guard, SucceedsWhenTrimmingMadeRoom) {
  // The first look finds too little, the look after trimming finds enough.
  std::atomic<int> looks{0};
  MemoryManager manager([&looks] {
    MemorySnapshot s;
    s.available_bytes = looks++ == 0 ? 1'000 : 50'000;
    s.limit_bytes = 100'000;
    s.limit_source = "test";
    return s;
  });
  { auto idle = manager.allocate<double>(16); }
  MemoryGuard guard = manager.memory_guard(20'000);
  EXPECT_EQ(guard.available_bytes(), 50'000u);
  EXPECT_EQ(manager.statistics().pool_arrays, 0u);
}

TEST(Chunking, FitsInMemoryMeansOneChunk) {
  MemoryManager manager(MemoryManager::fixed_limit(1));
  const std::uint64_t need = manager.predict_memory_requirement(10'000, 4, kTrf);
  const ChunkingStrategy s = manager.estimate_chunking_strategy(10'000, 4, kTrf, need);
  EXPECT_FALSE(s.needs_chunking);
  EXPECT_EQ(s.chunk_size, 10'000u);
  EXPECT_EQ(s.n_chunks, 1u);
  EXPECT_EQ(s.memory_per_chunk, need);
  EXPECT_TRUE(
      manager.estimate_chunking_strategy(10'000, 4, kTrf, need - 1).needs_chunking);
}

TEST(Chunking, DefaultLimitIsTheAvailableMemory) {
  MemoryManager manager(MemoryManager::fixed_limit(1'000'000));
  const ChunkingStrategy s = manager.estimate_chunking_strategy(1'000'000, 3, kLm);
  EXPECT_TRUE(s.needs_chunking);
  EXPECT_LE(s.peak_bytes, 1'000'000u);
}

TEST(Chunking, LargestChunkThatFitsWithDataResident) {
  MemoryManager manager(MemoryManager::fixed_limit(1));
  const std::uint64_t m = 1'000'000, n = 5,
                      limit = 60'000'000;  // data 16 MB fits, in-memory 96 MB does not
  const ChunkingStrategy s = manager.estimate_chunking_strategy(m, n, kTrf, limit);
  ASSERT_TRUE(s.needs_chunking);
  EXPECT_TRUE(s.data_in_memory);
  const std::uint64_t c = s.chunk_size;
  EXPECT_LE(with_safety(1.2, chunked_bytes(kTrf, m, n, c, true)), limit);
  EXPECT_GT(with_safety(1.2, chunked_bytes(kTrf, m, n, c + 1, true)),
            limit);  // the largest
  EXPECT_EQ(s.peak_bytes, with_safety(1.2, chunked_bytes(kTrf, m, n, c, true)));
  EXPECT_EQ(s.n_chunks, (m + c - 1) / c);
  EXPECT_EQ(s.memory_per_chunk, 8 * c * (4 + n));
}

TEST(Chunking, FewerPointsThanAChunk) {
  // 100 points: the smallest chunk is all of them. Just below the in-memory need, one chunk of
  // 100 rows with the data streamed still fits (no m x n Jacobian, no extra m-vectors).
  MemoryManager manager(MemoryManager::fixed_limit(1));
  const std::uint64_t m = 100, n = 3;
  const std::uint64_t in_memory = manager.predict_memory_requirement(m, n, kDogbox);
  ASSERT_LT(with_safety(1.2, chunked_bytes(kDogbox, m, n, m, false)), in_memory);
  const ChunkingStrategy s =
      manager.estimate_chunking_strategy(m, n, kDogbox, in_memory - 1);
  EXPECT_TRUE(s.needs_chunking);
  EXPECT_EQ(s.chunk_size, m);
  EXPECT_EQ(s.n_chunks, 1u);
  EXPECT_LE(s.peak_bytes, in_memory - 1);
}

TEST(Chunking, LimitBelowTheSmallestChunkStatesTheMinimum) {
  MemoryManager manager(MemoryManager::fixed_limit(1));
  const std::uint64_t m = 50'000'000, n = 6;
  // The smallest sensible chunk is 1024 rows with the data streamed.
  const std::uint64_t minimum = with_safety(1.2, chunked_bytes(kLm, m, n, 1024, false));
  try {
    (void)manager.estimate_chunking_strategy(m, n, kLm, minimum - 1);
    ADD_FAILURE() << "no error below the minimum";
  } catch (const MemoryError& e) {
    EXPECT_EQ(e.needed_bytes(), minimum);
    EXPECT_NE(std::string(e.what()).find(std::to_string(minimum)), std::string::npos) << e.what();
  }
  const ChunkingStrategy at_minimum =
      manager.estimate_chunking_strategy(m, n, kLm, minimum);
  EXPECT_EQ(at_minimum.chunk_size, 1024u);
  EXPECT_FALSE(at_minimum.data_in_memory);
  EXPECT_EQ(at_minimum.n_chunks, (m + 1023) / 1024);
}

TEST(Chunking, HugeProblemStreamsTheData) {
  MemoryManager manager(MemoryManager::fixed_limit(1));
  const std::uint64_t m = 1'000'000'000'000, n = 5, limit = 8'000'000'000;  // 1e12 points, 8 GB
  const ChunkingStrategy s = manager.estimate_chunking_strategy(m, n, kTrf, limit);
  EXPECT_TRUE(s.needs_chunking);
  EXPECT_FALSE(s.data_in_memory);  // 16 TB of data cannot stay
  EXPECT_LE(s.peak_bytes, limit);
  EXPECT_GT(with_safety(1.2, chunked_bytes(kTrf, m, n, s.chunk_size + 1, false)), limit);
  EXPECT_GE(static_cast<std::uint64_t>(s.chunk_size) * s.n_chunks, m);
  EXPECT_LT(static_cast<std::uint64_t>(s.chunk_size) * (s.n_chunks - 1), m);
}

TEST(Chunking, InvariantsOverManyShapes) {
  MemoryManager manager(MemoryManager::fixed_limit(1));
  for (std::uint64_t m : {1ull, 999ull, 1024ull, 1025ull, 77'777ull, 10'000'000ull})
    for (std::uint64_t n : {1ull, 2ull, 9ull, 50ull})
      for (std::uint64_t limit : {200'000ull, 5'000'000ull, 300'000'000ull}) {
        ChunkingStrategy s;
        try {
          s = manager.estimate_chunking_strategy(m, n, kTrf, limit);
        } catch (const MemoryError& e) {
          EXPECT_GT(e.needed_bytes(), limit);
          continue;
        }
        EXPECT_GE(s.chunk_size, 1u);
        EXPECT_LE(s.chunk_size, m);
        EXPECT_EQ(s.n_chunks, (m + s.chunk_size - 1) / s.chunk_size);
        EXPECT_LE(s.peak_bytes, limit) << m << " " << n << " " << limit;
        if (s.needs_chunking) {
          EXPECT_GE(s.chunk_size, std::min<std::uint64_t>(m, 1024));
        }
      }
}

TEST(Plan, UsesTheGivenLimitOrTheAvailableMemory) {
  MemoryManager manager(MemoryManager::fixed_limit(3'000'000'000, "cgroup v1"));
  const MemoryPlan given = plan_memory(100'000'000, 5, kTrf, 512'000'000, manager);
  EXPECT_EQ(given.memory_limit_bytes, 512'000'000u);
  EXPECT_EQ(given.limit_source, "--memory-limit");
  EXPECT_EQ(given.predicted_bytes,
            manager.predict_memory_requirement(100'000'000, 5, kTrf));
  EXPECT_TRUE(given.strategy.needs_chunking);
  const MemoryPlan probed = plan_memory(100'000'000, 5, kTrf, std::nullopt, manager);
  EXPECT_EQ(probed.memory_limit_bytes, 3'000'000'000u);
  EXPECT_EQ(probed.limit_source, "cgroup v1");
  EXPECT_TRUE(probed.strategy.needs_chunking);
  EXPECT_TRUE(probed.strategy.data_in_memory);
}

}  // namespace
}  // namespace curvefit
