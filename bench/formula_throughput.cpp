// Model evaluation throughput: ns per point for the value and the full Jacobian of
//   - y = a*exp(-b*x) + c: the formula compiled to a tape (core/formula/expression.h), the
//     built-in `exponential`, and a plain C++ loop with std::exp (the floor any implementation is
//     compared with);
//   - the Gaussian a*exp(-((x - mu)^2)/(2*sigma^2)): the formula and the built-in `gaussian`.
// Every entry is called on the same chunks of points (by default 256 per call, the sub-block the
// chunked objective hands a model) and writes values and Jacobian columns into the same buffers;
// the figure is the median of kRepetitions sweeps over all points (thread CPU time; the entries
// take turns). Each entry is first checked against its reference (the plain loop, or the
// built-in for the Gaussian) to 1e-13 relative.
//
// Usage: bench_formula_throughput [points] [points per call]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "core/formula/expression.h"
#include "core/formula/vector_math.h"
#include "core/model.h"
#include "core/model/model_library.h"

namespace {

constexpr int kRepetitions = 31;
constexpr double kExponentialParams[] = {2.5, 0.7, 0.3};  // a, b, c
constexpr double kGaussianParams[] = {3.0, 5.0, 1.2};     // a, mu, sigma

// Evaluates one chunk: values[n] and jac[3 * n] (column-major).
using ChunkFunction = std::function<void(const double* x, std::size_t n, double* values, double* jac)>;

struct Entry {
  std::string name;
  ChunkFunction evaluate;
  std::size_t reference;  // the entry this one is checked against and compared with
};

ChunkFunction model_function(const curvefit::Model& model, const double* params) {
  return [&model, params](const double* x, std::size_t n, double* values, double* jac) {
    const double* columns[] = {x};
    model.evaluate_with_jacobian(columns, n, params, values, jac);
  };
}

void plain_loop(const double* x, std::size_t n, double* values, double* jac) {
  const double a = kExponentialParams[0], b = kExponentialParams[1], c = kExponentialParams[2];
  for (std::size_t i = 0; i < n; ++i) {
    const double e = std::exp(-b * x[i]);
    values[i] = a * e + c;
    jac[i] = e;
    jac[n + i] = -a * x[i] * e;
    jac[2 * n + i] = 1;
  }
}

// This thread's CPU time in ns: the machine is shared, and wall time would count the time other
// processes hold the core.
double thread_cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return 1e9 * static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec);
}

// ns per point of each entry: median over repetitions of one sweep over all points. Entries
// take turns within each repetition so that they see the same machine conditions.
std::vector<double> ns_per_point(const std::vector<Entry>& entries, const std::vector<double>& x, std::size_t chunk) {
  std::vector<double> values(chunk), jac(3 * chunk);
  std::vector<std::vector<double>> samples(entries.size());
  for (int r = 0; r < kRepetitions; ++r) {
    for (std::size_t e = 0; e < entries.size(); ++e) {
      const double start = thread_cpu_ns();
      for (std::size_t offset = 0; offset < x.size(); offset += chunk) {
        const std::size_t n = std::min(chunk, x.size() - offset);
        entries[e].evaluate(x.data() + offset, n, values.data(), jac.data());
      }
      samples[e].push_back((thread_cpu_ns() - start) / static_cast<double>(x.size()));
    }
  }
  std::vector<double> medians;
  for (auto& s : samples) {
    std::sort(s.begin(), s.end());
    medians.push_back(s[s.size() / 2]);
  }
  return medians;
}

// The largest relative difference between the entry and its reference on the first chunk.
double worst_difference(const Entry& entry, const Entry& reference, const std::vector<double>& x, std::size_t n) {
  std::vector<double> values(n), jac(3 * n), ref_values(n), ref_jac(3 * n);
  entry.evaluate(x.data(), n, values.data(), jac.data());
  reference.evaluate(x.data(), n, ref_values.data(), ref_jac.data());
  const auto relative = [](double u, double v) { return std::fabs(u - v) / std::max(1e-300, std::fabs(v)); };
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    worst = std::max(worst, relative(values[i], ref_values[i]));
    for (std::size_t j = 0; j < 3; ++j) worst = std::max(worst, relative(jac[j * n + i], ref_jac[j * n + i]));
  }
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t points = argc > 1 ? static_cast<std::size_t>(std::atof(argv[1])) : std::size_t{1} << 20;
  const std::size_t chunk = argc > 2 ? static_cast<std::size_t>(std::atof(argv[2])) : 256;
  if (points == 0 || chunk == 0) {
    std::fprintf(stderr, "usage: bench_formula_throughput [points > 0] [points per call > 0]\n");
    return 2;
  }
  std::vector<double> x(points);
  for (std::size_t i = 0; i < points; ++i) x[i] = 10.0 * static_cast<double>(i) / static_cast<double>(points);

  const auto exponential_formula = curvefit::compile_formula("a*exp(-b*x)+c");
  const auto exponential = curvefit::make_model("exponential");
  const auto gaussian_formula = curvefit::compile_formula("a*exp(-((x - mu)^2)/(2*sigma^2))");
  const auto gaussian = curvefit::make_model("gaussian");
  const std::vector<Entry> entries{
      {"plain C++ loop (std::exp), a*exp(-b*x)+c", plain_loop, 0},
      {"exponential (built-in)", model_function(*exponential, kExponentialParams), 0},
      {"formula \"a*exp(-b*x)+c\" (tape)", model_function(*exponential_formula, kExponentialParams), 1},
      {"gaussian (built-in)", model_function(*gaussian, kGaussianParams), 3},
      {"formula \"a*exp(-((x - mu)^2)/(2*sigma^2))\" (tape)", model_function(*gaussian_formula, kGaussianParams), 3},
  };
  for (const Entry& entry : entries) {
    const double worst = worst_difference(entry, entries[entry.reference], x, std::min(chunk, points));
    if (worst > 1e-13) {
      std::fprintf(stderr, "%s disagrees with %s (relative %.3g)\n", entry.name.c_str(),
                   entries[entry.reference].name.c_str(), worst);
      return 1;
    }
  }

  std::printf("value + 3-column Jacobian, %zu points in calls of %zu, median of %d (thread CPU time), AVX2 %s\n\n",
              points, chunk, kRepetitions, curvefit::vmath::using_avx2() ? "on" : "off");
  std::printf("| implementation | ns/point | time relative to the built-in model |\n|---|---|---|\n");
  const std::vector<double> ns = ns_per_point(entries, x, chunk);
  for (std::size_t e = 0; e < entries.size(); ++e) {
    const std::size_t builtin = e < 3 ? 1 : 3;
    std::printf("| %s | %.2f | %.2fx |\n", entries[e].name.c_str(), ns[e], ns[e] / ns[builtin]);
  }
  return 0;
}
