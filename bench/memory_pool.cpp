// What the buffer pool saves on repeated workspace allocation of solver-like shapes, against plain
// 64-byte aligned operator new/delete. Each "cycle" allocates a workspace set, writes every 512th
// double of every buffer (so fresh pages are faulted in as a solver would), and releases it.
// Zeroing is done on both sides where the workspace asks for zeros (the pool memsets; the plain
// side value-initialises), so the comparison is like for like.
//
//   build/bin/bench_memory_pool [repetitions=15] [cycles_per_repetition=auto]
//
// Prints the median CPU time (this thread, user + system) per cycle over the repetitions for each
// shape and the pool's saving.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#include <string>
#include <vector>

#include "memory/memory_manager.h"

namespace {

using curvefit::MemoryManager;

struct Shape {
  std::size_t rows;
  std::size_t cols;
  std::size_t count;  // buffers of this shape in one workspace
  bool zero;
};

struct Workspace {
  std::string name;
  std::vector<Shape> shapes;
};

// Touches one double per 4 KiB page, as a solver filling the buffer would fault it in.
void touch(double* data, std::size_t size) {
  for (std::size_t i = 0; i < size; i += 512) data[i] = 1.0;
  if (size) data[size - 1] = 1.0;
}

double sink = 0.0;  // keeps the writes observable

void cycle_plain(const Workspace& workspace, std::vector<double*>& held) {
  for (const Shape& shape : workspace.shapes)
    for (std::size_t k = 0; k < shape.count; ++k) {
      const std::size_t size = shape.rows * shape.cols;
      double* data = shape.zero ? new (std::align_val_t{64}) double[size]()
                                : new (std::align_val_t{64}) double[size];
      touch(data, size);
      held.push_back(data);
    }
  for (double* data : held) {
    sink += data[0];
    ::operator delete[](data, std::align_val_t{64});
  }
  held.clear();
}

void cycle_pool(const Workspace& workspace, MemoryManager& manager,
                std::vector<curvefit::PooledBuffer<double>>& held) {
  for (const Shape& shape : workspace.shapes)
    for (std::size_t k = 0; k < shape.count; ++k) {
      auto buffer = manager.allocate<double>(shape.rows, shape.cols, shape.zero);
      touch(buffer.data(), buffer.size());
      held.push_back(std::move(buffer));
    }
  for (auto& buffer : held) sink += buffer[0];
  held.clear();  // back to the pool
}

// This thread's CPU time (user + system, so page faults count) in ns: on a shared machine wall
// time would also count the time other processes held the core.
double thread_cpu_ns() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return 1e9 * static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec);
}

// Median over `repetitions` of the mean CPU time per cycle (ns) of `cycles` cycles.
template <class Cycle>
double median_ns(int repetitions, int cycles, Cycle cycle) {
  std::vector<double> per_cycle;
  for (int r = 0; r < repetitions; ++r) {
    const double start = thread_cpu_ns();
    for (int c = 0; c < cycles; ++c) cycle();
    per_cycle.push_back((thread_cpu_ns() - start) / cycles);
  }
  std::nth_element(per_cycle.begin(), per_cycle.begin() + per_cycle.size() / 2, per_cycle.end());
  return per_cycle[per_cycle.size() / 2];
}

std::size_t workspace_bytes(const Workspace& workspace) {
  std::size_t bytes = 0;
  for (const Shape& s : workspace.shapes) bytes += sizeof(double) * s.rows * s.cols * s.count;
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  const int repetitions = argc > 1 ? std::atoi(argv[1]) : 15;
  const int fixed_cycles = argc > 2 ? std::atoi(argv[2]) : 0;
  // TRF-like solver workspaces (4 n x n matrices, 16 n-vectors, zeroed) and chunk workspaces of
  // the TSQR objective (a 65536 x n Jacobian block, data columns, model values and residuals).
  const std::vector<Workspace> workspaces{
      {"solver n=5 (4 5x5 + 16 vec)", {{5, 5, 4, true}, {5, 1, 16, true}}},
      {"solver n=50 (4 50x50 + 16 vec)", {{50, 50, 4, true}, {50, 1, 16, true}}},
      {"solver n=300 (4 300x300 + 16 vec)", {{300, 300, 4, true}, {300, 1, 16, true}}},
      {"chunk 65536 x 5 (J block + 4 cols)", {{65536, 5, 1, false}, {65536, 1, 4, false}}},
      {"chunk 262144 x 10 (J block + 4 cols)", {{262144, 10, 1, false}, {262144, 1, 4, false}}},
      {"chunk 65536 x 5, zeroed", {{65536, 5, 1, true}, {65536, 1, 4, true}}},
  };
  std::printf("%-38s %12s %14s %14s %9s\n", "workspace", "bytes", "plain ns/cycle", "pool ns/cycle",
              "saving");
  for (const Workspace& workspace : workspaces) {
    const std::size_t bytes = workspace_bytes(workspace);
    // About 8 MB of allocation per repetition, at least 5 cycles.
    const int cycles = fixed_cycles > 0
                           ? fixed_cycles
                           : static_cast<int>(std::max<std::size_t>(5, 8'000'000 / bytes));
    std::vector<double*> plain_held;
    MemoryManager manager(MemoryManager::fixed_limit(std::uint64_t{1} << 40));
    std::vector<curvefit::PooledBuffer<double>> pool_held;
    // Warm both paths once so neither pays first-touch of the heap in the timing.
    cycle_plain(workspace, plain_held);
    cycle_pool(workspace, manager, pool_held);
    const double plain =
        median_ns(repetitions, cycles, [&] { cycle_plain(workspace, plain_held); });
    const double pool =
        median_ns(repetitions, cycles, [&] { cycle_pool(workspace, manager, pool_held); });
    std::printf("%-38s %12zu %14.0f %14.0f %8.1f%%\n", workspace.name.c_str(), bytes, plain, pool,
                100.0 * (plain - pool) / plain);
  }
  std::fflush(stdout);
  std::fprintf(stderr, "(checksum %g)\n", sink);
  return 0;
}
