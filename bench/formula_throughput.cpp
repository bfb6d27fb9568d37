// Model evaluation throughput: ns per point for the value and the full Jacobian of
// y = a*exp(-b*x) + c, computed by
//   - the formula "a*exp(-b*x)+c" compiled to a tape (core/expression.h),
//   - a plain C++ loop with std::exp, the floor any model implementation is compared with.
// Every entry is called on the same chunks of points (kChunk per call, as the chunked objective
// does) and writes values and Jacobian columns into the same buffers; the figure is the median
// of kRepetitions sweeps over all points (thread CPU time; the entries take turns).
//
// To compare another implementation (e.g. the built-in `exponential` model), add an entry to
// `entries` in main() with model_entry(name, model) — nothing else changes.
//
// Usage: bench_formula_throughput [points]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "core/formula/expression.h"
#include "core/model/model_library.h"
#include "core/model.h"
#include "core/formula/vector_math.h"

namespace {

constexpr std::size_t kChunk = 4096;
constexpr int kRepetitions = 31;
constexpr double kParams[] = {2.5, 0.7, 0.3};  // a, b, c

// Evaluates one chunk: values[n] and jac[3 * n] (column-major, columns a, b, c).
using ChunkFunction = std::function<void(const double* x, std::size_t n, double* values, double* jac)>;

struct Entry {
  std::string name;
  ChunkFunction evaluate;
};

Entry model_entry(std::string name, const curvefit::Model& model) {
  return {std::move(name), [&model](const double* x, std::size_t n, double* values, double* jac) {
            const double* columns[] = {x};
            model.evaluate_with_jacobian(columns, n, kParams, values, jac);
          }};
}

void plain_loop(const double* x, std::size_t n, double* values, double* jac) {
  const double a = kParams[0], b = kParams[1], c = kParams[2];
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
std::vector<double> ns_per_point(const std::vector<Entry>& entries, const std::vector<double>& x,
                                 std::vector<double>& values, std::vector<double>& jac) {
  std::vector<std::vector<double>> samples(entries.size());
  for (int r = 0; r < kRepetitions; ++r) {
    for (std::size_t e = 0; e < entries.size(); ++e) {
      const double start = thread_cpu_ns();
      for (std::size_t offset = 0; offset < x.size(); offset += kChunk) {
        const std::size_t n = std::min(kChunk, x.size() - offset);
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

}  // namespace

int main(int argc, char** argv) {
  const std::size_t points = argc > 1 ? static_cast<std::size_t>(std::atof(argv[1])) : std::size_t{1} << 20;
  std::vector<double> x(points);
  for (std::size_t i = 0; i < points; ++i) x[i] = 10.0 * static_cast<double>(i) / static_cast<double>(points);

  const auto formula = curvefit::compile_formula("a*exp(-b*x)+c");
  const auto builtin = curvefit::make_model("exponential");
  std::vector<Entry> entries{
      {"plain C++ loop (std::exp)", plain_loop},
      model_entry("formula \"a*exp(-b*x)+c\" (tape)", *formula),
      model_entry("exponential (built-in)", *builtin),
  };

  // Every entry must compute the same numbers as the plain loop on the first chunk.
  const std::size_t check = std::min(kChunk, points);
  std::vector<double> reference(check), reference_jac(3 * check);
  plain_loop(x.data(), check, reference.data(), reference_jac.data());
  for (const Entry& entry : entries) {
    std::vector<double> values(check), jac(3 * check);
    entry.evaluate(x.data(), check, values.data(), jac.data());
    double worst = 0;
    for (std::size_t i = 0; i < check; ++i) {
      worst = std::max(worst, std::fabs(values[i] - reference[i]) / std::fabs(reference[i]));
      for (std::size_t j = 0; j < 3; ++j)
        worst = std::max(worst, std::fabs(jac[j * check + i] - reference_jac[j * check + i]) /
                                    std::max(1e-300, std::fabs(reference_jac[j * check + i])));
    }
    if (worst > 1e-13) {
      std::fprintf(stderr, "%s disagrees with the plain loop (relative %.3g)\n", entry.name.c_str(), worst);
      return 1;
    }
  }

  std::vector<double> values(kChunk), jac(3 * kChunk);
  std::printf("value + 3-column Jacobian of a*exp(-b*x)+c, %zu points in chunks of %zu, median of %d (thread CPU time), AVX2 %s\n\n",
              points, kChunk, kRepetitions, curvefit::vmath::using_avx2() ? "on" : "off");
  std::printf("| implementation | ns/point | points/s | throughput relative to the plain loop |\n|---|---|---|---|\n");
  const std::vector<double> ns = ns_per_point(entries, x, values, jac);
  for (std::size_t e = 0; e < entries.size(); ++e)
    std::printf("| %s | %.2f | %.3g | %.2fx |\n", entries[e].name.c_str(), ns[e], 1e9 / ns[e], ns[0] / ns[e]);
  return 0;
}
