// What it costs on this machine to bring data into a process, the floor under two issue-16 targets:
//
//   - a streamed pass must bring the whole file from the page cache into the process again on every
//     pass (the in-RAM pass reads memory that is already mapped), so a streamed fit can approach the
//     in-RAM fit only if that transfer is cheap next to the pass itself;
//   - loading a CSV writes fresh column memory that the kernel must zero on first touch.
//
//   bench_transfer_cost FILE [repetitions]     (FILE already in the page cache: read it once first)
//
// Prints one Markdown table: the median wall and CPU milliseconds over the repetitions, and the rate.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <thread>
#include <vector>

#include "core/engine/chunked_objective.h"
#include "core/engine/planner.h"

namespace {

constexpr std::size_t kWindowBytes = std::size_t{4} << 20;  // the stream's read-ahead windows are MBs
constexpr std::size_t kPageBytes = 4096;

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Sums every double: the least a pass over the data does (a volatile sink keeps the loop).
volatile double g_sink = 0;
void read_all(const char* bytes, std::size_t size) {
  const auto* values = reinterpret_cast<const double*>(bytes);
  double a = 0, b = 0, c = 0, d = 0;
  std::size_t i = 0;
  for (const std::size_t n = size / sizeof(double); i + 4 <= n; i += 4) {
    a += values[i];
    b += values[i + 1];
    c += values[i + 2];
    d += values[i + 3];
  }
  g_sink = g_sink + a + b + c + d;
}

struct Timing {
  double wall_ms, cpu_ms;
};

// The medians of `run`'s wall and CPU milliseconds over the repetitions; `prepare` and `finish`
// (untimed) come before and after each.
Timing median_of(int repetitions, const std::function<void()>& run, const std::function<void()>& prepare = {},
                 const std::function<void()>& finish = {}) {
  std::vector<double> walls, cpus;
  for (int r = 0; r < repetitions; ++r) {
    if (prepare) prepare();
    const auto start = std::chrono::steady_clock::now();
    const double start_cpu = process_cpu_seconds();
    run();
    cpus.push_back(1e3 * (process_cpu_seconds() - start_cpu));
    walls.push_back(1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (finish) finish();
  }
  std::sort(walls.begin(), walls.end());
  std::sort(cpus.begin(), cpus.end());
  return {walls[walls.size() / 2], cpus[cpus.size() / 2]};
}

// Each window of the file mapped, read and unmapped; populate = MAP_POPULATE (the page tables are
// built by the mmap call, as the stream's read-ahead thread does) instead of demand faults.
void read_through_windows(int fd, std::size_t size, bool populate, std::size_t window_bytes = kWindowBytes) {
  for (std::size_t offset = 0; offset < size; offset += window_bytes) {
    const std::size_t n = std::min(window_bytes, size - offset);
    void* window = mmap(nullptr, n, PROT_READ, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), fd,
                        static_cast<off_t>(offset));
    if (window == MAP_FAILED) std::exit(1);
    read_all(static_cast<const char*>(window), n);
    munmap(window, n);
  }
}

// Two threads share the file as a streamed pass's two workers do: thread t takes windows t, t + 2,
// ... (each maps, reads and unmaps its own), or, with windows = 0, reads its half of the mapping.
// Unmapping in a process whose other thread is running costs an interrupt to that core (a TLB
// shootdown), which one thread alone never pays.
void two_threads_through(int fd, const char* whole, std::size_t size, std::size_t window_bytes) {
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 2; ++t)
    threads.emplace_back([=] {
      if (window_bytes == 0) {
        const std::size_t half = size / 2 / sizeof(double) * sizeof(double);
        read_all(whole + t * half, t == 0 ? half : size - half);
        return;
      }
      for (std::size_t offset = t * window_bytes; offset < size; offset += 2 * window_bytes) {
        const std::size_t n = std::min(window_bytes, size - offset);
        void* window = mmap(nullptr, n, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, static_cast<off_t>(offset));
        if (window == MAP_FAILED) std::exit(1);
        read_all(static_cast<const char*>(window), n);
        munmap(window, n);
      }
    });
  for (std::thread& thread : threads) thread.join();
}

// Two threads copy the file as a streamed pass's two workers do since it reads by position: thread
// t preads batches t, t + 2, ... into a buffer of its own, reused, and reads it.
void two_threads_pread(int fd, std::size_t size, std::size_t batch_bytes) {
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 2; ++t)
    threads.emplace_back([=] {
      std::vector<char> buffer(batch_bytes);
      for (std::size_t offset = t * batch_bytes; offset < size; offset += 2 * batch_bytes) {
        const std::size_t n = std::min(batch_bytes, size - offset);
        if (pread(fd, buffer.data(), n, static_cast<off_t>(offset)) != static_cast<ssize_t>(n)) std::exit(1);
        read_all(buffer.data(), n);
      }
    });
  for (std::thread& thread : threads) thread.join();
}

// The same windows at virtual addresses congruent to their file offsets modulo 2 MiB (file
// offsets are multiples of the window), so that the kernel may map a 2 MiB page-cache folio with
// one page-table entry; huge_advice adds MADV_HUGEPAGE and populates with MADV_POPULATE_READ.
void read_through_aligned_windows(int fd, std::size_t size, std::size_t window_bytes, bool huge_advice) {
  constexpr std::size_t kHugeBytes = std::size_t{2} << 20;
  for (std::size_t offset = 0; offset < size; offset += window_bytes) {
    const std::size_t n = std::min(window_bytes, size - offset);
    void* area = mmap(nullptr, n + kHugeBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (area == MAP_FAILED) std::exit(1);
    const auto base = reinterpret_cast<std::uintptr_t>(area);
    char* aligned = reinterpret_cast<char*>((base + kHugeBytes - 1) & ~(kHugeBytes - 1));
    void* window = mmap(aligned, n, PROT_READ, MAP_PRIVATE | MAP_FIXED | (huge_advice ? 0 : MAP_POPULATE), fd,
                        static_cast<off_t>(offset));
    if (window == MAP_FAILED) std::exit(1);
    if (huge_advice) {
      madvise(window, n, MADV_HUGEPAGE);
      madvise(window, n, MADV_POPULATE_READ);
    }
    read_all(static_cast<const char*>(window), n);
    munmap(area, n + kHugeBytes);
  }
}

void read_through_buffer(int fd, std::size_t size, char* buffer, std::size_t piece = kWindowBytes) {
  for (std::size_t offset = 0; offset < size; offset += piece) {
    const ssize_t got = pread(fd, buffer, std::min(piece, size - offset), static_cast<off_t>(offset));
    if (got <= 0) std::exit(1);
    read_all(buffer, static_cast<std::size_t>(got));
  }
}

// First touch of `size` bytes of fresh anonymous memory (4 KiB pages) split over `threads`.
void first_touch(std::size_t size, int threads) {
  void* memory = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) std::exit(1);
  madvise(memory, size, MADV_NOHUGEPAGE);
  auto* bytes = static_cast<char*>(memory);
  std::vector<std::thread> workers;
  const std::size_t share = size / static_cast<std::size_t>(threads);
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([=] {
      for (std::size_t i = share * static_cast<std::size_t>(t); i < share * static_cast<std::size_t>(t + 1); i += kPageBytes)
        bytes[i] = 1;
    });
  for (auto& worker : workers) worker.join();
  munmap(memory, size);
}

// The first reads of a fresh mapping of the file whose page tables MADV_POPULATE_READ has already
// built (as the in-RAM fit maps an HDF5 file): only `run` is timed, each repetition on a mapping
// of its own. On a VM that shadows the guest's page tables, the first access to each page still
// costs the host's work, once per mapping.
Timing median_on_fresh_mapping(int repetitions, int fd, std::size_t size, const std::function<void(const char*)>& run) {
#ifndef MADV_POPULATE_READ
  constexpr int MADV_POPULATE_READ = 22;
#endif
  void* mapping = nullptr;
  return median_of(
      repetitions, [&] { run(static_cast<const char*>(mapping)); },
      [&] {
        mapping = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
        if (mapping == MAP_FAILED) std::exit(1);
        madvise(mapping, size, MADV_POPULATE_READ);
      },
      [&] { munmap(mapping, size); });
}

// One byte read every `stride` bytes.
void touch_every(const char* bytes, std::size_t size, std::size_t stride) {
  char sum = 0;
  for (std::size_t i = 0; i < size; i += stride) sum = static_cast<char>(sum + bytes[i]);
  g_sink = g_sink + sum;
}

// What the subsample of a 1e7-row in-RAM fit copies: 391 evenly spaced blocks of 256 rows from
// each of two columns (here the file's two halves), 1e5 rows in all.
void copy_subsample_blocks(const char* bytes, std::size_t size, std::vector<double>& out) {
  const std::size_t rows = size / 2 / sizeof(double), blocks = 391, block_rows = 256;
  const auto* columns = reinterpret_cast<const double*>(bytes);
  out.resize(2 * blocks * block_rows);
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::size_t begin = (rows - block_rows) * b / (blocks - 1);
    for (std::size_t c = 0; c < 2; ++c)
      std::copy_n(columns + c * rows + begin, block_rows, out.data() + (c * blocks + b) * block_rows);
  }
  g_sink = g_sink + out[out.size() / 2];
}

void row(const char* what, const Timing& t, std::size_t bytes) {
  std::printf("| %s | %.1f | %.1f | %.2f |\n", what, t.wall_ms, t.cpu_ms, static_cast<double>(bytes) / 1e6 / t.wall_ms);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_transfer_cost FILE [repetitions]\n");
    return 2;
  }
  const int repetitions = argc > 2 ? std::max(1, std::atoi(argv[2])) : 9;
  const int fd = open(argv[1], O_RDONLY);
  if (fd < 0) {
    std::perror(argv[1]);
    return 2;
  }
  const auto size = static_cast<std::size_t>(lseek(fd, 0, SEEK_END));
  void* whole = mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  if (whole == MAP_FAILED) return 1;
  std::vector<char> buffer(kWindowBytes, 1);

  std::printf("%.0f MB file, %d repetitions, medians\n\n| what | wall ms | CPU ms | GB/s |\n|---|---:|---:|---:|\n",
              static_cast<double>(size) / 1e6, repetitions);
  row("read of the file already mapped (the in-RAM pass's reads)",
      median_of(repetitions, [&] { read_all(static_cast<const char*>(whole), size); }), size);
  row("pread into a reused 4 MiB buffer, then read",
      median_of(repetitions, [&] { read_through_buffer(fd, size, buffer.data()); }), size);
  for (std::size_t piece : {std::size_t{32} << 10, std::size_t{128} << 10, std::size_t{512} << 10}) {
    const std::string what = "pread into a reused " + std::to_string(piece >> 10) + " KiB buffer (cache-resident), then read";
    row(what.c_str(), median_of(repetitions, [&] { read_through_buffer(fd, size, buffer.data(), piece); }), size);
  }
  row("4 MiB windows mapped with MAP_POPULATE, read, unmapped",
      median_of(repetitions, [&] { read_through_windows(fd, size, true); }), size);
  row("4 MiB windows mapped, demand-faulted, read, unmapped",
      median_of(repetitions, [&] { read_through_windows(fd, size, false); }), size);
  for (std::size_t window : {std::size_t{256} << 10, std::size_t{1} << 20, std::size_t{16} << 20}) {
    const std::string what = std::to_string(window >> 10) + " KiB windows mapped with MAP_POPULATE, read, unmapped";
    row(what.c_str(), median_of(repetitions, [&] { read_through_windows(fd, size, true, window); }), size);
  }
  for (std::size_t window : {std::size_t{2} << 20, std::size_t{4} << 20}) {
    for (bool huge : {false, true}) {
      const std::string what = std::to_string(window >> 20) + " MiB windows at 2 MiB-aligned addresses" +
                               (huge ? ", MADV_HUGEPAGE + MADV_POPULATE_READ" : ", MAP_POPULATE");
      row(what.c_str(), median_of(repetitions, [&] { read_through_aligned_windows(fd, size, window, huge); }), size);
    }
  }
  row("2 threads: read of the file already mapped, half each",
      median_of(repetitions, [&] { two_threads_through(fd, static_cast<const char*>(whole), size, 0); }), size);
  // The batch a streamed 1e7-row fit copies per column by position (2 threads, a full round of
  // slots, the planner's largest chunks): what a streamed pass now pays for its transfer.
  const std::size_t copied_bytes =
      curvefit::ChunkedObjective::stream_batch_chunks(2, curvefit::ChunkedObjective::kMaxSlots,
                                                      curvefit::kMaxChunkRows) *
      curvefit::kMaxChunkRows * sizeof(double);
  {
    const std::string what = "2 threads: pread of alternate " + std::to_string(copied_bytes >> 10) +
                             " KiB batches each into a reused buffer, read";
    row(what.c_str(), median_of(repetitions, [&] { two_threads_pread(fd, size, copied_bytes); }), size);
  }
  // For comparison, the windows a streamed fit mapped before it read by position (commit 4304fe4):
  // the batch it mapped per column (as many chunks as fit in its 4 MiB window cap, at most a
  // third of the slots), and the cap itself.
  const std::size_t window_cap = std::size_t{4} << 20;
  const std::size_t chunk_bytes = curvefit::kMaxChunkRows * sizeof(double);
  const std::size_t batch_bytes =
      std::min(curvefit::ChunkedObjective::kMaxSlots / curvefit::ChunkedObjective::kStreamBatchesInProgress,
               window_cap / chunk_bytes) * chunk_bytes;
  for (std::size_t window : {batch_bytes, window_cap}) {
    const std::string what = "2 threads: " + std::to_string(window >> 10) +
                             " KiB windows, alternate ones each, MAP_POPULATE, read, unmapped";
    row(what.c_str(),
        median_of(repetitions, [&] { two_threads_through(fd, static_cast<const char*>(whole), size, window); }), size);
  }
  // The first read of the mapped file by a process, after MADV_POPULATE_READ: what the in-RAM fit's
  // first pass and its subsample's copy pay beyond later passes.
  row("a fresh mapping, populated: first read of all of it",
      median_on_fresh_mapping(repetitions, fd, size, [&](const char* bytes) { read_all(bytes, size); }), size);
  for (std::size_t stride : {std::size_t{4} << 10, std::size_t{64} << 10, std::size_t{2} << 20}) {
    const std::string what = "a fresh mapping, populated: one byte read every " + std::to_string(stride >> 10) + " KiB";
    row(what.c_str(),
        median_on_fresh_mapping(repetitions, fd, size, [&](const char* bytes) { touch_every(bytes, size, stride); }),
        size);
  }
  {
    std::vector<double> sample(2 * 391 * 256, 1.0);
    row("a fresh mapping, populated: the subsample's 2 x 391 blocks of 256 rows copied (into memory touched before)",
        median_on_fresh_mapping(repetitions, fd, size,
                                [&](const char* bytes) { copy_subsample_blocks(bytes, size, sample); }),
        sample.size() * sizeof(double));
  }
  for (int threads : {1, 2}) {
    const std::string what = "first touch of as much fresh anonymous memory, " + std::to_string(threads) + " thread(s)";
    row(what.c_str(), median_of(repetitions, [&] { first_touch(size, threads); }), size);
  }
  munmap(whole, size);
  close(fd);
  return 0;
}
