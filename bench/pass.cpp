// One full pass over data in RAM, curvefit's against the roofline, in the same process on the same
// arrays: curvefit's ChunkedObjective linearizing y = a*exp(-b*x) + c (model, residuals, the
// Householder fold into R — what every solver iteration costs on big data), its cost-only pass, and
// the hand-fused roofline pass of bench/roofline.cpp (residuals, Jacobian and normal-equation sums),
// each with 1 and with T threads (the roofline splits the rows into T equal parts, one per thread).
// Then the same linearizing pass streamed from FILE (mode stream: the workers copy the file's rows
// with pread into the read-ahead ring on every pass) beside the in-RAM pass again, alternating, to
// measure what streaming adds to a pass.
//
// usage: bench_pass FILE.h5 [repetitions] [threads]   -> one JSON line per contender (median s)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_data.h"
#include "core/engine/chunked_objective.h"
#include "core/data/hdf5_source.h"
#include "core/data/memory_source.h"
#include "core/model/model_library.h"
#include "core/formula/vector_math.h"

namespace {

struct Sums {
  double s[3][3] = {}, g[3] = {}, f2 = 0;
};

// The fused pass over rows [begin, end): four rows at a time into four lanes of partial sums
// (AVX2 where the CPU has it, as curvefit's kernels), so that no sum waits on a single chain of
// additions: the fastest plain loop for this work, not a straw man.
// The helpers below are inlined: the note that a 32-byte vector passed by value differs from the
// AVX ABI concerns no call.
#pragma GCC diagnostic ignored "-Wpsabi"
typedef double Lanes __attribute__((vector_size(32)));
__attribute__((target_clones("avx2", "default")))
Sums roofline_pass(const double* x, const double* y, std::size_t begin, std::size_t end) {
  const double a = 4.0, b = 0.4, c = 0.5;
  constexpr std::size_t kBlock = 1024;
  double e[kBlock], arg[kBlock];
  Lanes s00 = {}, s01 = {}, s02 = {}, s11 = {}, s12 = {}, s22 = {}, g0 = {}, g1 = {}, g2 = {}, f2 = {};
  Sums t;
  const auto load = [](const double* p) {
    Lanes v;
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  for (std::size_t start = begin; start < end; start += kBlock) {
    const std::size_t n = std::min(kBlock, end - start);
    for (std::size_t i = 0; i < n; ++i) arg[i] = -b * x[start + i];
    curvefit::vmath::exp(arg, e, n);
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
      const Lanes xi = load(x + start + i), ei = load(e + i);
      const Lanes f = a * ei + c - load(y + start + i);
      const Lanes j0 = ei, j1 = -a * xi * ei;  // j2 = 1
      s00 += j0 * j0, s01 += j0 * j1, s02 += j0;
      s11 += j1 * j1, s12 += j1, s22 += 1.0;
      g0 += j0 * f, g1 += j1 * f, g2 += f;
      f2 += f * f;
    }
    for (; i < n; ++i) {
      const double xi = x[start + i];
      const double f = a * e[i] + c - y[start + i];
      const double j0 = e[i], j1 = -a * xi * e[i];
      t.s[0][0] += j0 * j0, t.s[0][1] += j0 * j1, t.s[0][2] += j0;
      t.s[1][1] += j1 * j1, t.s[1][2] += j1, t.s[2][2] += 1.0;
      t.g[0] += j0 * f, t.g[1] += j1 * f, t.g[2] += f;
      t.f2 += f * f;
    }
  }
  const auto total = [](Lanes v) { return (v[0] + v[1]) + (v[2] + v[3]); };
  t.s[0][0] += total(s00), t.s[0][1] += total(s01), t.s[0][2] += total(s02);
  t.s[1][1] += total(s11), t.s[1][2] += total(s12), t.s[2][2] += total(s22);
  t.g[0] += total(g0), t.g[1] += total(g1), t.g[2] += total(g2);
  t.f2 += total(f2);
  return t;
}

template <class Pass>
std::vector<double> time_runs(int repetitions, Pass pass) {
  std::vector<double> times;
  for (int r = 0; r < repetitions; ++r) {
    const auto start = std::chrono::steady_clock::now();
    pass();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times;
}

void print(const char* contender, int threads, std::size_t m, const std::vector<double>& times) {
  std::printf("{\"contender\": \"%s\", \"threads\": %d, \"m\": %zu, \"time_s\": %.6g, \"min_s\": %.6g, "
              "\"max_s\": %.6g}\n",
              contender, threads, m, times[times.size() / 2], times.front(), times.back());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE.h5 [repetitions] [threads]\n", argv[0]);
    return 2;
  }
  std::vector<double> x = curvefit::bench::read_dataset(argv[1], "/x");
  std::vector<double> y = curvefit::bench::read_dataset(argv[1], "/y");
  const int repetitions = argc > 2 ? std::stoi(argv[2]) : 7;
  const int max_threads = argc > 3 ? std::stoi(argv[3]) : 2;
  const std::size_t m = y.size();

  volatile double sink = 0;
  for (int threads = 1; threads <= max_threads; threads *= 2) {
    print("roofline pass", threads, m, time_runs(repetitions, [&] {
            std::vector<Sums> parts(static_cast<std::size_t>(threads));
            std::vector<std::thread> pool;
            for (int t = 0; t < threads; ++t)
              pool.emplace_back([&, t] {
                const std::size_t begin = m * static_cast<std::size_t>(t) / static_cast<std::size_t>(threads);
                const std::size_t end = m * static_cast<std::size_t>(t + 1) / static_cast<std::size_t>(threads);
                parts[static_cast<std::size_t>(t)] = roofline_pass(x.data(), y.data(), begin, end);
              });
            for (auto& thread : pool) thread.join();
            sink = sink + parts[0].s[0][0];
          }));
  }

  const std::unique_ptr<curvefit::Model> model = curvefit::make_model("exponential");
  curvefit::MemoryDataSource data({std::move(x)}, std::move(y));
  Eigen::VectorXd p(3);
  p << 4.0, 0.4, 0.5;
  for (int threads = 1; threads <= max_threads; threads *= 2) {
    curvefit::ChunkedObjectiveOptions options;
    options.threads = threads;
    curvefit::ChunkedObjective objective(*model, data, options);
    objective.evaluate(p, true);  // workspaces allocated outside the timing
    print("curvefit linearize pass", threads, m,
          time_runs(repetitions, [&] { sink = sink + objective.evaluate(p, true).cost; }));
    print("curvefit cost pass", threads, m,
          time_runs(repetitions, [&] { sink = sink + objective.evaluate(p, false).cost; }));
  }

  // Streamed against in RAM, alternating pass by pass so that both see the same machine.
  curvefit::DataOptions data_options;
  data_options.x = {"/x"};
  data_options.y = "/y";
  curvefit::Hdf5DataSource file(argv[1], data_options, /*scan_invalid=*/true);
  for (int threads = 1; threads <= max_threads; threads *= 2) {
    curvefit::ChunkedObjectiveOptions options;
    options.threads = threads;
    curvefit::ChunkedObjective in_ram(*model, data, options);
    curvefit::ChunkedObjective streamed(*model, file, options, curvefit::ChunkedObjective::Streaming{});
    in_ram.evaluate(p, true);
    streamed.evaluate(p, true);
    std::vector<double> ram_times, stream_times;
    for (int r = 0; r < repetitions; ++r) {
      const auto time_one = [&](curvefit::ChunkedObjective& objective) {
        const auto start = std::chrono::steady_clock::now();
        sink = sink + objective.evaluate(p, true).cost;
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      };
      ram_times.push_back(time_one(in_ram));
      stream_times.push_back(time_one(streamed));
    }
    std::sort(ram_times.begin(), ram_times.end());
    std::sort(stream_times.begin(), stream_times.end());
    print("curvefit linearize pass, in RAM (alternating)", threads, m, ram_times);
    print("curvefit linearize pass, streamed from the file (alternating)", threads, m, stream_times);
  }
  return 0;
}
