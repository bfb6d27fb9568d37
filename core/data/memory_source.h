#pragma once
// Data held in RAM as columns of doubles: the loaded form of every source, and what tests build.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/data/data_source.h"

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

  // Columns that live elsewhere (a read-only mapping of a file, or one shared buffer), kept valid
  // by `owner` for as long as this source or a copy of it exists. sigma may be null.
  MemoryDataSource(std::vector<const double*> x, const double* y, const double* sigma, std::size_t rows,
                   std::shared_ptr<const void> owner, std::vector<std::string> names,
                   std::string description)
      : names_(std::move(names)), description_(std::move(description)), external_x_(std::move(x)),
        external_y_(y), external_sigma_(sigma), external_rows_(rows), owner_(std::move(owner)) {
    if (!owner_ || !external_y_) throw std::invalid_argument("external columns need an owner and y");
  }

  std::size_t rows() const override { return owner_ ? external_rows_ : y_.size(); }
  std::size_t rows_total() const override { return rows_total_ ? rows_total_ : rows(); }
  // The rows the loaded ones were selected from (DataSource::rows_total).
  void set_rows_total(std::size_t rows) { rows_total_ = rows; }
  int num_predictors() const override {
    return static_cast<int>(owner_ ? external_x_.size() : x_.size());
  }
  bool has_sigma() const override { return owner_ ? external_sigma_ != nullptr : !sigma_.empty(); }
  std::vector<std::string> column_names() const override { return names_; }
  std::string description() const override { return description_; }
  void read(std::size_t begin, std::size_t count, double* const* x, double* y,
            double* sigma) override {
    if (begin + count > rows()) throw std::out_of_range("row range beyond the data");
    for (int k = 0; k < num_predictors(); ++k) std::copy_n(x_column(k) + begin, count, x[k]);
    std::copy_n(y_column() + begin, count, y);
    if (sigma && has_sigma()) std::copy_n(sigma_column() + begin, count, sigma);
  }

  // Direct access for the in-memory and chunked modes (no copy).
  const double* x_column(int k) const {
    return owner_ ? external_x_[static_cast<std::size_t>(k)] : x_[static_cast<std::size_t>(k)].data();
  }
  const double* y_column() const { return owner_ ? external_y_ : y_.data(); }
  const double* sigma_column() const {
    return owner_ ? external_sigma_ : sigma_.empty() ? nullptr : sigma_.data();
  }
  // Whether the columns live outside this object (the second constructor): for loaded HDF5, a
  // mapping of the file rather than a copy (the report says so); for a loaded CSV, the buffers
  // the parse workers filled.
  bool external_columns() const { return owner_ != nullptr; }
  // For columns mapped from a file: how to tell that the file was written to (throws DataError).
  void set_unchanged_check(std::function<void()> check) { unchanged_check_ = std::move(check); }
  void check_unchanged() const override {
    if (unchanged_check_) unchanged_check_();
  }

  // Values nan_policy raise has not checked yet: a file mapped in place is checked row by row in
  // the fit's first full pass (ChunkedObjective) instead of in a pass of its own. `throw_first_bad`
  // scans every row and throws the DataError naming the first bad one (it returns when all are
  // valid). Copies of this source share the state.
  void defer_value_check(std::function<void()> throw_first_bad) {
    deferred_ = std::make_shared<DeferredCheck>();
    deferred_->throw_first_bad = std::move(throw_first_bad);
  }
  bool values_checked() const { return !deferred_ || deferred_->checked.load(std::memory_order_acquire); }
  // A full pass has seen every row valid.
  void mark_values_checked() const {
    if (deferred_) deferred_->checked.store(true, std::memory_order_release);
  }
  // The check as a pass of its own: throws DataError naming the first bad row, else marks the
  // values checked.
  void check_values() const {
    if (values_checked()) return;
    deferred_->throw_first_bad();
    mark_values_checked();
  }

 private:
  struct DeferredCheck {
    std::atomic<bool> checked{false};
    std::function<void()> throw_first_bad;
  };
  std::shared_ptr<DeferredCheck> deferred_;  // null: checked when the source was made
  std::vector<std::vector<double>> x_;
  std::vector<double> y_;
  std::vector<double> sigma_;
  std::vector<std::string> names_;
  std::string description_;
  std::vector<const double*> external_x_;
  const double* external_y_ = nullptr;
  const double* external_sigma_ = nullptr;
  std::size_t external_rows_ = 0;
  std::shared_ptr<const void> owner_;
  std::function<void()> unchanged_check_;
  std::size_t rows_total_ = 0;  // 0: rows()
};

}  // namespace curvefit
