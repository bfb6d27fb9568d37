#pragma once
// numpy arrays that are not contiguous float64 (float32, integers, bool, or any strides — a column
// of a 2-D array, a pandas view) served to the engine as doubles, converted chunk by chunk on
// every read: the fit streams from them and never holds a copy of the data. Conversion costs
// about what reading does, far less than a pass's model evaluation.
//
// read() touches only the arrays' memory, never the Python API, so it runs with the GIL released
// and from the engine's read-ahead thread. The arrays must stay alive and unchanged during the fit
// (the binding holds them). Values are checked as a file's reader checks them: x and y finite,
// sigma positive and finite, else a DataError naming the row.
#include <cstddef>
#include <string>
#include <vector>

#include <pybind11/numpy.h>

#include "core/data/data_source.h"

namespace curvefit::python {

class ArraySource : public DataSource {
 public:
  // Whether `array` can be read in place by ArraySource: 1-D, a real numeric or bool dtype in the
  // machine's byte order (others are converted to float64 by the caller first).
  static bool readable(const pybind11::array& array);
  // Columns of equal length: one per predictor, y, and sigma (none: empty array object).
  ArraySource(const std::vector<pybind11::array>& x, const pybind11::array& y, const pybind11::array* sigma,
              std::vector<std::string> names);

  std::size_t rows() const override { return rows_; }
  int num_predictors() const override { return static_cast<int>(columns_.size()) - 1 - (has_sigma_ ? 1 : 0); }
  bool has_sigma() const override { return has_sigma_; }
  std::vector<std::string> column_names() const override { return names_; }
  std::string description() const override { return "<memory>"; }
  void read(std::size_t begin, std::size_t count, double* const* x, double* y, double* sigma) override;

 private:
  // One column: its first element, the bytes between elements, and its element type.
  struct Column {
    const char* data = nullptr;
    std::ptrdiff_t stride = 0;
    char kind = 'f';        // numpy's dtype kind: f, i, u or b
    std::size_t size = 8;   // bytes per element
  };
  static Column column_of(const pybind11::array& array);
  static void convert(const Column& column, std::size_t begin, std::size_t count, double* out);
  void check(std::size_t begin, std::size_t count, double* const* x, const double* y, const double* sigma) const;

  std::vector<Column> columns_;  // predictors, y, then sigma when has_sigma_
  bool has_sigma_ = false;
  std::size_t rows_ = 0;
  std::vector<std::string> names_;
};

}  // namespace curvefit::python
