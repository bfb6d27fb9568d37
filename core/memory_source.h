#pragma once
// Data held in RAM as columns of doubles: the loaded form of every source, and what tests build.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/data_source.h"

namespace curvefit {

class MemoryDataSource : public DataSource {
 public:
  // x: one vector per predictor, all of y's length; sigma empty or of y's length.
  MemoryDataSource(std::vector<std::vector<double>> x, std::vector<double> y,
                   std::vector<double> sigma = {}, std::vector<std::string> names = {},
                   std::string description = "<memory>")
      : x_(std::move(x)), y_(std::move(y)), sigma_(std::move(sigma)),
        names_(std::move(names)), description_(std::move(description)) {
    for (const auto& column : x_)
      if (column.size() != y_.size()) throw std::invalid_argument("predictor length differs from y");
    if (!sigma_.empty() && sigma_.size() != y_.size())
      throw std::invalid_argument("sigma length differs from y");
    if (names_.empty()) {
      for (std::size_t k = 0; k < x_.size(); ++k)
        names_.push_back(x_.size() == 1 ? "x" : "x" + std::to_string(k + 1));
      names_.push_back("y");
      if (!sigma_.empty()) names_.push_back("sigma");
    }
  }

  std::size_t rows() const override { return y_.size(); }
  int num_predictors() const override { return static_cast<int>(x_.size()); }
  bool has_sigma() const override { return !sigma_.empty(); }
  std::vector<std::string> column_names() const override { return names_; }
  std::string description() const override { return description_; }
  void read(std::size_t begin, std::size_t count, double* const* x, double* y,
            double* sigma) override {
    if (begin + count > rows()) throw std::out_of_range("row range beyond the data");
    for (std::size_t k = 0; k < x_.size(); ++k)
      std::copy_n(x_[k].data() + begin, count, x[k]);
    std::copy_n(y_.data() + begin, count, y);
    if (sigma && has_sigma()) std::copy_n(sigma_.data() + begin, count, sigma);
  }

  // Direct access for the in-memory and chunked modes (no copy).
  const double* x_column(int k) const { return x_[static_cast<std::size_t>(k)].data(); }
  const double* y_column() const { return y_.data(); }
  const double* sigma_column() const { return sigma_.empty() ? nullptr : sigma_.data(); }

 private:
  std::vector<std::vector<double>> x_;
  std::vector<double> y_;
  std::vector<double> sigma_;
  std::vector<std::string> names_;
  std::string description_;
};

}  // namespace curvefit
