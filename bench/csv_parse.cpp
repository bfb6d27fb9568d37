// CSV parsing throughput: curvefit's load_data on one core and on all cores, against
// numpy.loadtxt (Debian's /usr/bin/python3) on the same file in the same run.
//
//   bench_csv_parse [--rows N] [--repeats R] [--file PATH] [--no-numpy]
//
// Without --file it writes a plain numeric CSV (header + N rows of x,y,sigma printed with %.17g,
// ~55 bytes per row) to $TMPDIR and removes it afterwards. Reports the median of R runs; the
// file is read once first so every run (ours and numpy's) sees it in the page cache.
#include <tbb/global_control.h>
#include <tbb/info.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <time.h>
#include <unistd.h>
#include <vector>

#include "core/data/data_open.h"

namespace {

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

void write_table(const std::string& path, std::size_t rows) {
  std::FILE* out = std::fopen(path.c_str(), "wb");
  if (!out) throw std::runtime_error("cannot write " + path);
  std::fprintf(out, "x,y,sigma\n");
  for (std::size_t i = 0; i < rows; ++i) {
    double x = static_cast<double>(i) * 1e-3;
    std::fprintf(out, "%.17g,%.17g,%.17g\n", x, 2.5 * std::exp(-0.3 * x) + 0.1 * std::sin(7.0 * x),
                 0.05 + 0.01 * static_cast<double>(i % 7));
  }
  std::fclose(out);
}

double process_cpu_seconds() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

struct Timing {
  double wall = 0, cpu = 0;
};

// Wall time, and the process CPU time (the fair "one core" figure on a shared, loaded machine).
Timing time_load(const std::string& path, std::size_t expected_rows) {
  curvefit::DataOptions options;
  options.sigma = "3";
  const double cpu_start = process_cpu_seconds();
  auto start = std::chrono::steady_clock::now();
  auto source = curvefit::load_data(path, options);
  Timing timing;
  timing.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  timing.cpu = process_cpu_seconds() - cpu_start;
  if (source->rows() != expected_rows) throw std::runtime_error("row count mismatch");
  return timing;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t rows = 4'000'000;
  int repeats = 5;
  std::string file;
  bool numpy = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--rows" && i + 1 < argc) rows = std::stoull(argv[++i]);
    else if (arg == "--repeats" && i + 1 < argc) repeats = std::stoi(argv[++i]);
    else if (arg == "--file" && i + 1 < argc) file = argv[++i];
    else if (arg == "--no-numpy") numpy = false;
    else {
      std::cerr << "usage: bench_csv_parse [--rows N] [--repeats R] [--file PATH] [--no-numpy]\n";
      return 2;
    }
  }
  const bool generated = file.empty();
  if (generated) {
    const char* tmp = std::getenv("TMPDIR");
    file = std::string(tmp && *tmp ? tmp : "/tmp") + "/curvefit-bench-csv-" + std::to_string(::getpid()) + ".csv";
    write_table(file, rows);
  } else {
    curvefit::DataOptions options;
    options.sigma = "3";
    rows = curvefit::load_data(file, options)->rows();  // the file must have x,y,sigma columns
  }
  const double megabytes = static_cast<double>(std::filesystem::file_size(file)) / 1e6;
  std::cout << "file: " << file << " (" << megabytes << " MB, " << rows << " rows)\n";

  time_load(file, rows);  // warm the page cache
  std::vector<double> one_core, one_core_cpu, all_cores;
  {
    tbb::global_control single(tbb::global_control::max_allowed_parallelism, 1);
    for (int r = 0; r < repeats; ++r) {
      Timing timing = time_load(file, rows);
      one_core.push_back(timing.wall);
      one_core_cpu.push_back(timing.cpu);
    }
  }
  for (int r = 0; r < repeats; ++r) all_cores.push_back(time_load(file, rows).wall);
  const double ours_1 = median(one_core), ours_n = median(all_cores), ours_cpu = median(one_core_cpu);
  std::printf("curvefit load_data, 1 thread : median %.3f s wall = %.0f MB/s; %.3f s CPU = %.0f MB/s per core\n",
              ours_1, megabytes / ours_1, ours_cpu, megabytes / ours_cpu);
  std::printf("curvefit load_data, %d threads: median %.3f s = %.0f MB/s\n", tbb::info::default_concurrency(), ours_n,
              megabytes / ours_n);

  if (numpy) {
    // numpy's wall and CPU (process_time) medians, so both comparisons are like for like.
    std::string script =
        "import numpy, time, statistics\n"
        "walls, cpus = [], []\n"
        "for _ in range(" + std::to_string(std::max(1, std::min(repeats, 3))) + "):\n"
        "    w = time.perf_counter(); c = time.process_time()\n"
        "    a = numpy.loadtxt('" + file + "', delimiter=',', skiprows=1)\n"
        "    cpus.append(time.process_time() - c); walls.append(time.perf_counter() - w)\n"
        "assert a.shape == (" + std::to_string(rows) + ", 3)\n"
        "print(statistics.median(walls), statistics.median(cpus), numpy.__version__)\n";
    std::string command = "/usr/bin/python3 -c \"$CURVEFIT_BENCH_SCRIPT\"";
    ::setenv("CURVEFIT_BENCH_SCRIPT", script.c_str(), 1);
    FILE* pipe = ::popen(command.c_str(), "r");
    char buffer[256] = {0};
    bool got = pipe && std::fgets(buffer, sizeof buffer, pipe);
    if (pipe) ::pclose(pipe);
    double their_wall = 0, their_cpu = 0;
    char version[64] = {0};
    if (got && std::sscanf(buffer, "%lf %lf %63s", &their_wall, &their_cpu, version) == 3) {
      std::printf("numpy %s loadtxt(delimiter=','): median %.3f s wall = %.0f MB/s; %.3f s CPU = %.0f MB/s\n", version,
                  their_wall, megabytes / their_wall, their_cpu, megabytes / their_cpu);
      std::printf("ratio (numpy time / curvefit time): 1 thread %.1fx wall, %.1fx CPU; %d threads %.1fx wall\n",
                  their_wall / ours_1, their_cpu / ours_cpu, tbb::info::default_concurrency(), their_wall / ours_n);
    } else {
      std::printf("numpy.loadtxt: not available (/usr/bin/python3 with numpy)\n");
    }
  }
  if (generated) std::filesystem::remove(file);
  return 0;
}
