#pragma once
// A table of observations: predictors x1..xk, the response y and optionally sigma, all served as
// doubles by row range into caller buffers. The same interface serves data loaded into RAM once
// and data re-read from a file on every pass; the fit engine decides which.
#include <cmath>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.h"

namespace curvefit {

// Whether any of the n values is NaN or +-inf: v * 0 is 0 for finite v and NaN otherwise, and a
// NaN survives the sum. Four independent partial sums, so that checking costs far less than reading.
inline bool any_non_finite(const double* values, std::size_t n) {
  double sum[4] = {0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (std::size_t lane = 0; lane < 4; ++lane) sum[lane] += values[i + lane] * 0.0;
  for (; i < n; ++i) sum[0] += values[i] * 0.0;
  return !((sum[0] + sum[1]) + (sum[2] + sum[3]) == 0.0);
}

// Whether rows [0, n) pass nan_policy raise: x and y finite, sigma (may be null) finite and > 0.
// Branch-free per value, for checking rows while a pass has them in cache.
inline bool rows_valid(const double* const* x, std::size_t k, const double* y, const double* sigma,
                       std::size_t n) {
  bool valid = !any_non_finite(y, n);
  for (std::size_t c = 0; c < k && valid; ++c) valid = !any_non_finite(x[c], n);
  if (sigma && valid) {
    valid = !any_non_finite(sigma, n);
    bool positive = true;
    for (std::size_t i = 0; i < n; ++i) positive &= sigma[i] > 0.0;
    valid = valid && positive;
  }
  return valid;
}

// Throws the DataError nan_policy raise gives for the first invalid row of rows [0, n) of arrays
// in RAM, numbered from first_row (1-based) in `where`'s message; returns when every row is valid.
// The fast scan runs first; the row-by-row search only once it has found something.
inline void check_rows_or_throw(const double* const* x, std::size_t k, const double* y, const double* sigma,
                                std::size_t n, std::size_t first_row, const std::string& where) {
  if (rows_valid(x, k, y, sigma, n)) return;
  for (std::size_t i = 0; i < n; ++i) {
    bool xy_finite = std::isfinite(y[i]);
    for (std::size_t c = 0; c < k; ++c) xy_finite = xy_finite && std::isfinite(x[c][i]);
    const bool sigma_good = !sigma || (sigma[i] > 0 && std::isfinite(sigma[i]));
    if (xy_finite && sigma_good) continue;
    throw DataError(where + ": row " + std::to_string(first_row + i) +
                    (xy_finite ? ": sigma must be positive and finite" : ": x or y is not finite"));
  }
}

class DataSource {
 public:
  virtual ~DataSource() = default;
  // Number of rows (observations).
  virtual std::size_t rows() const = 0;
  // Rows of the data before the row selection (DataOptions::selection) and nan_policy omit, for
  // reports ("rows() of rows_total() rows used").
  virtual std::size_t rows_total() const { return rows(); }
  // Number of predictor columns k.
  virtual int num_predictors() const = 0;
  // Whether a sigma column was selected.
  virtual bool has_sigma() const = 0;
  // Names of the selected columns, for reports: predictors, then y, then sigma if any.
  virtual std::vector<std::string> column_names() const = 0;
  // Where the data come from (file path, "<memory>", "<stdin>"), for messages.
  virtual std::string description() const = 0;
  // Copies rows [begin, begin + count) into x[0..k-1][0..count-1], y[0..count-1] and, when
  // has_sigma(), sigma[0..count-1] (sigma may be null otherwise). Throws DataError on failure.
  // Not required to be thread-safe: one reader thread feeds the workers.
  virtual void read(std::size_t begin, std::size_t count, double* const* x, double* y,
                    double* sigma) = 0;
  // Throws DataError when the file the rows come from was written to since it was opened (a
  // result computed from it could mix old and new values). Sources holding their own copy, or
  // checking on every read anyway, have nothing more to check.
  virtual void check_unchanged() const {}
  // Whether read() is a positional copy out of the file (pread at the columns' known offsets),
  // cheap and independent of any earlier read: a streamed pass's workers then fill its batches
  // themselves, with no reader thread (ReadAhead::consumer_fills).
  virtual bool reads_by_position() const { return false; }
  // Bytes a full in-RAM copy of the selected columns takes: rows * (k + 1 + has_sigma) * 8.
  std::size_t in_memory_bytes() const {
    return rows() * static_cast<std::size_t>(num_predictors() + 1 + (has_sigma() ? 1 : 0)) *
           sizeof(double);
  }
};

}  // namespace curvefit
