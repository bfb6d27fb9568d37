#pragma once
// A model written in Python, as scipy's curve_fit takes it: f(x, *params) vectorised over a numpy
// array of x (shape (n,) for one predictor, (k, n) for k), and optionally jac(x, *params) giving
// the (n, p) Jacobian. Without jac, the Jacobian is taken by forward differences with scipy's
// steps (the one place curvefit differentiates numerically: the user gave no derivative).
//
// The engine calls it on blocks of a few hundred rows with the GIL released; each call takes the
// GIL back for the Python calls. A Python call costs microseconds, so when the rows are those of
// the fit's own arrays (set_arrays) the model evaluates kCallRows rows ahead in one call and
// serves the engine's next blocks from that window (the engine walks the rows in order on one
// thread); the window holds kCallRows * (params + 1) doubles. A Python exception is kept (error()) and the engine is stopped with a
// ModelError; the binding raises the kept exception once the fit has returned.
#include <atomic>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <pybind11/pybind11.h>

#include "core/model.h"

namespace curvefit::python {

class PythonModel : public Model {
 public:
  // lower/upper: the bounds of the fit (empty: none), so that difference steps stay inside them.
  PythonModel(pybind11::object function, pybind11::object jacobian, std::vector<std::string> names,
              int num_predictors, std::vector<double> lower, std::vector<double> upper);
  ~PythonModel() override;

  const std::vector<std::string>& param_names() const override { return names_; }
  int num_predictors() const override { return num_predictors_; }
  std::string formula() const override;
  void evaluate(const double* const* x, std::size_t n, const double* p, double* values) const override;
  void evaluate_with_jacobian(const double* const* x, std::size_t n, const double* p, double* values,
                              double* jac) const override;

  // The fit's stop flag. Ctrl-C while f runs raises KeyboardInterrupt inside f: the first one sets
  // the flag and repeats the call (the fit then stops at its best point); a second one aborts.
  void set_interrupt(std::atomic<bool>* interrupt) { interrupt_ = interrupt; }

  // The arrays the fit reads (one per predictor, `rows` each), which the window may run ahead in.
  void set_arrays(std::vector<const double*> columns, std::size_t rows);
  static constexpr std::size_t kCallRows = 1 << 16;

  // The Python exception raised by f or jac, if any (call with the GIL held); clears it.
  std::optional<pybind11::error_already_set> take_error() const;
  // Calls to f and to jac so far.
  long function_calls() const { return function_calls_; }
  long jacobian_calls() const { return jacobian_calls_; }

 private:
  pybind11::object x_array(const double* const* x, std::size_t n) const;
  void call_function(const pybind11::object& x, std::size_t n, const double* p, double* values) const;
  void call_jacobian(const pybind11::object& x, std::size_t n, const double* p, double* jac) const;
  void difference_jacobian(const pybind11::object& x, std::size_t n, const double* p, const double* values,
                           double* jac) const;
  [[noreturn]] void keep_error(pybind11::error_already_set& error) const;
  // Rows of the fit's arrays that x[..][0..n) are (their first index), or npos.
  std::size_t array_row(const double* const* x, std::size_t n) const;
  bool window_has(std::size_t row, std::size_t n, const double* p, bool jacobian) const;
  void fill_window(std::size_t row, const double* p, bool jacobian) const;
  void evaluate_direct(const double* const* x, std::size_t n, const double* p, double* values, double* jac) const;
  void call_python(const double* const* x, std::size_t n, const double* p, double* values, double* jac) const;

  struct Window {
    std::vector<double> p;
    bool jacobian = false;
    std::size_t begin = 0, rows = 0;
    std::vector<double> values, jac;   // jac column-major, leading dimension `rows`
  };

  pybind11::object function_;
  pybind11::object jacobian_;
  std::vector<std::string> names_;
  int num_predictors_;
  std::vector<double> lower_, upper_;
  std::vector<const double*> arrays_;
  std::size_t array_rows_ = 0;
  mutable Window window_;
  std::atomic<bool>* interrupt_ = nullptr;
  mutable bool keyboard_interrupted_ = false;  // f raised KeyboardInterrupt once (read with the GIL held)
  mutable std::optional<pybind11::error_already_set> error_;
  mutable long function_calls_ = 0;
  mutable long jacobian_calls_ = 0;
};

}  // namespace curvefit::python
