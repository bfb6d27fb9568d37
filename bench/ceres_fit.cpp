// Peer: Ceres Solver's own trust-region solver (Levenberg-Marquardt, dense QR) on the same data,
// one residual block per observation as Ceres is normally used, automatic derivatives.
//
// usage: bench_ceres_fit FILE.h5 MODEL P0   (MODEL: exponential | double_exponential)
#include <ceres/ceres.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_data.h"

namespace {
struct Exponential {
  double x, y;
  template <class T>
  bool operator()(const T* p, T* r) const {
    r[0] = p[0] * exp(-p[1] * x) + p[2] - y;
    return true;
  }
};
struct DoubleExponential {
  double x, y;
  template <class T>
  bool operator()(const T* p, T* r) const {
    r[0] = p[0] * exp(-p[1] * x) + p[2] * exp(-p[3] * x) + p[4] - y;
    return true;
  }
};
}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s FILE.h5 MODEL P0\n", argv[0]);
    return 2;
  }
  const std::vector<double> x = curvefit::bench::read_dataset(argv[1], "/x");
  const std::vector<double> y = curvefit::bench::read_dataset(argv[1], "/y");
  const std::string model = argv[2];
  std::vector<double> p;
  std::stringstream p0(argv[3]);
  for (std::string v; std::getline(p0, v, ',');) p.push_back(std::stod(v));

  const auto start = std::chrono::steady_clock::now();
  ceres::Problem problem;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (model == "exponential")
      problem.AddResidualBlock(new ceres::AutoDiffCostFunction<Exponential, 1, 3>(new Exponential{x[i], y[i]}),
                               nullptr, p.data());
    else
      problem.AddResidualBlock(
          new ceres::AutoDiffCostFunction<DoubleExponential, 1, 5>(new DoubleExponential{x[i], y[i]}), nullptr,
          p.data());
  }
  ceres::Solver::Options options;
  options.linear_solver_type = ceres::DENSE_QR;
  options.num_threads = 1;
  options.max_num_iterations = 200;
  ceres::Solver::Summary summary;
  ceres::Solve(options, &problem, &summary);
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("{\"contender\": \"ceres lm dense_qr\", \"m\": %zu, \"time_s\": %.6g, \"iterations\": %d, \"peak_rss_bytes\": %ld, \"params\": [",
              x.size(), elapsed, static_cast<int>(summary.iterations.size()), usage.ru_maxrss * 1024L);
  for (std::size_t j = 0; j < p.size(); ++j) std::printf("%s%.17g", j ? ", " : "", p[j]);
  std::printf("]}\n");
  return summary.IsSolutionUsable() ? 0 : 1;
}
