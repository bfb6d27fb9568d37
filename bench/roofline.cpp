// The roofline for one pass over the data: a hand-fused loop computing, for y = a*exp(-b*x) + c,
// the residuals, the Jacobian and the normal-equation sums (J^T J, J^T f) in a single sweep over
// x and y, with the same compiler flags as curvefit. No fitter can do a full pass faster than this
// (curvefit does more per row: a Householder fold instead of the normal-equation sums).
//
// usage: bench_roofline FILE.h5 [repetitions]   -> median seconds per pass, on stdout as JSON
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/bench_data.h"
#include "core/vector_math.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE.h5 [repetitions]\n", argv[0]);
    return 2;
  }
  const std::vector<double> x = curvefit::bench::read_dataset(argv[1], "/x");
  const std::vector<double> y = curvefit::bench::read_dataset(argv[1], "/y");
  const int repetitions = argc > 2 ? std::stoi(argv[2]) : 5;
  const double a = 2.0, b = 0.5, c = 0.1;
  constexpr std::size_t kBlock = 1024;
  double e[kBlock], arg[kBlock];
  std::vector<double> times;
  double checksum = 0;
  for (int r = 0; r < repetitions; ++r) {
    const auto start = std::chrono::steady_clock::now();
    double s[3][3] = {}, g[3] = {}, f2 = 0;
    for (std::size_t begin = 0; begin < x.size(); begin += kBlock) {
      const std::size_t n = std::min(kBlock, x.size() - begin);
      for (std::size_t i = 0; i < n; ++i) arg[i] = -b * x[begin + i];
      curvefit::vmath::exp(arg, e, n);
      for (std::size_t i = 0; i < n; ++i) {
        const double xi = x[begin + i];
        const double f = a * e[i] + c - y[begin + i];
        const double j0 = e[i], j1 = -a * xi * e[i], j2 = 1.0;
        s[0][0] += j0 * j0, s[0][1] += j0 * j1, s[0][2] += j0 * j2;
        s[1][1] += j1 * j1, s[1][2] += j1 * j2, s[2][2] += j2 * j2;
        g[0] += j0 * f, g[1] += j1 * f, g[2] += j2 * f;
        f2 += f * f;
      }
    }
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    checksum += s[0][0] + s[1][1] + s[2][2] + s[0][1] + s[0][2] + s[1][2] + g[0] + g[1] + g[2] + f2;
  }
  std::sort(times.begin(), times.end());
  std::printf("{\"contender\": \"roofline pass\", \"m\": %zu, \"time_s\": %.6g, \"min_s\": %.6g, \"max_s\": %.6g, \"checksum\": %.17g}\n",
              x.size(), times[times.size() / 2], times.front(), times.back(), checksum);
  return 0;
}
