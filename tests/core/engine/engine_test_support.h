#pragma once
// Shared by the fit-engine tests: a model with an analytic Jacobian, data generated from known
// parameters, and a DataSource wrapper that counts (and can fail) reads, standing in for a file.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/data/data_source.h"
#include "core/errors.h"
#include "core/data/memory_source.h"
#include "core/engine/fit.h"
#include "core/model.h"

namespace curvefit::testing_support {

// y = a exp(-b x) + c, with its exact derivatives.
class ExponentialDecay : public Model {
 public:
  const std::vector<std::string>& param_names() const override { return names_; }
  int num_predictors() const override { return 1; }
  std::string formula() const override { return "a*exp(-b*x)+c"; }
  void evaluate(const double* const* x, std::size_t n, const double* p,
                double* values) const override {
    for (std::size_t i = 0; i < n; ++i) values[i] = p[0] * std::exp(-p[1] * x[0][i]) + p[2];
  }
  void evaluate_with_jacobian(const double* const* x, std::size_t n, const double* p,
                              double* values, double* jac) const override {
    for (std::size_t i = 0; i < n; ++i) {
      const double e = std::exp(-p[1] * x[0][i]);
      values[i] = p[0] * e + p[2];
      jac[i] = e;
      jac[n + i] = -p[0] * x[0][i] * e;
      jac[2 * n + i] = 1.0;
    }
  }

 private:
  std::vector<std::string> names_{"a", "b", "c"};
};

inline const std::vector<double>& true_params() {
  static const std::vector<double> p{3.0, 0.7, 0.5};
  return p;
}

// m points on [0, 10] from the true parameters with Gaussian noise of 0.05 (seeded), optionally
// gross outliers (every 97th point +1.5, so that robust losses matter), and optionally sigma.
inline MemoryDataSource make_decay_data(std::size_t m, bool with_sigma, bool outliers = true,
                                        unsigned seed = 42) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.05);
  std::vector<double> x(m), y(m), sigma;
  const auto& p = true_params();
  for (std::size_t i = 0; i < m; ++i) {
    x[i] = 10.0 * static_cast<double>(i) / static_cast<double>(m);
    y[i] = p[0] * std::exp(-p[1] * x[i]) + p[2] + noise(rng);
    if (outliers && i % 97 == 5) y[i] += 1.5;
  }
  if (with_sigma) {
    sigma.resize(m);
    for (std::size_t i = 0; i < m; ++i) sigma[i] = 0.03 + 0.01 * static_cast<double>(i % 7);
  }
  return MemoryDataSource({x}, y, sigma);
}

// A source that re-reads from a MemoryDataSource, as a file-backed source would, counting the
// calls and rows; it can be told to fail when a read reaches a given row.
class CountingSource : public DataSource {
 public:
  explicit CountingSource(MemoryDataSource& data) : data_(data) {}
  std::size_t rows() const override { return data_.rows(); }
  int num_predictors() const override { return data_.num_predictors(); }
  bool has_sigma() const override { return data_.has_sigma(); }
  std::vector<std::string> column_names() const override { return data_.column_names(); }
  std::string description() const override { return "<counting>"; }
  void read(std::size_t begin, std::size_t count, double* const* x, double* y,
            double* sigma) override {
    ++reads;
    if (begin + count > fail_at_row && fail_at_row != kNever)
      throw DataError("<counting>", fail_at_row + 1, 1, "injected read failure");
    rows_read += count;
    last_end = std::max(last_end, begin + count);
    read_threads.push_back(std::this_thread::get_id());
    data_.read(begin, count, x, y, sigma);
  }
  bool reads_by_position() const override { return read_by_position; }
  static constexpr std::size_t kNever = static_cast<std::size_t>(-1);
  std::size_t fail_at_row = kNever;
  bool read_by_position = false;  // reads_by_position(): read() is to be called by the consumer
  std::vector<std::thread::id> read_threads;
  std::size_t reads = 0;
  std::size_t rows_read = 0;
  std::size_t last_end = 0;  // the highest row end any read reached

 private:
  MemoryDataSource& data_;
};

// A fit of the decay model from the start (1, 0.3, 0) in `mode`, chunks of `chunk` rows.
inline FitRequest decay_fit_request(const Model& model, DataSource& data, FitMode mode, std::size_t chunk,
                                    int threads = 2) {
  FitRequest request;
  request.model = &model;
  request.data = &data;
  request.p0 = Eigen::Vector3d(1.0, 0.3, 0.0);
  request.plan.mode = mode;
  request.plan.chunk_rows = chunk;
  request.plan.threads = threads;
  return request;
}

}  // namespace curvefit::testing_support
