#include "python_model.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <pybind11/numpy.h>

#include "core/errors.h"

namespace py = pybind11;

namespace curvefit::python {

PythonModel::PythonModel(py::object function, py::object jacobian, std::vector<std::string> names,
                         int num_predictors, std::vector<double> lower, std::vector<double> upper)
    : function_(std::move(function)), jacobian_(std::move(jacobian)), names_(std::move(names)),
      num_predictors_(num_predictors), lower_(std::move(lower)), upper_(std::move(upper)) {}

// Destroyed by the binding with the GIL held (the Python objects are released here).
PythonModel::~PythonModel() = default;

std::string PythonModel::formula() const {
  py::gil_scoped_acquire gil;
  const std::string name = py::str(py::getattr(function_, "__name__", py::str("function")));
  std::string args;
  for (const auto& p : names_) args += ", " + p;
  return "python " + name + "(x" + args + ")";
}

std::optional<py::error_already_set> PythonModel::take_error() const {
  std::optional<py::error_already_set> error;
  error.swap(error_);
  return error;
}

void PythonModel::keep_error(py::error_already_set& error) const {
  const std::string what = error.what();
  if (!error_) error_.emplace(std::move(error));
  throw ModelError("the Python model function raised: " + what);
}

// x as f expects it: a read-only view of the block for one predictor, a (k, n) array for more.
py::object PythonModel::x_array(const double* const* x, std::size_t n) const {
  const auto rows = static_cast<py::ssize_t>(n);
  if (num_predictors_ == 1) {
    py::array_t<double> view({rows}, {static_cast<py::ssize_t>(sizeof(double))}, x[0], py::capsule(x[0], [](void*) {}));
    py::detail::array_proxy(view.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
    return view;
  }
  py::array_t<double> block({static_cast<py::ssize_t>(num_predictors_), rows});
  double* out = block.mutable_data();
  for (int k = 0; k < num_predictors_; ++k) std::copy_n(x[k], n, out + static_cast<std::size_t>(k) * n);
  return block;
}

namespace {

py::tuple call_arguments(const py::object& x, const double* p, std::size_t num_params) {
  py::tuple args(num_params + 1);
  args[0] = x;
  for (std::size_t j = 0; j < num_params; ++j) args[j + 1] = py::float_(p[j]);
  return args;
}

using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

DoubleArray as_doubles(const py::object& value, const char* what) {
  DoubleArray array = DoubleArray::ensure(value);
  if (!array) throw ModelError(std::string("the Python model's ") + what + " did not return numbers");
  return array;
}

}  // namespace

void PythonModel::call_function(const py::object& x, std::size_t n, const double* p, double* values) const {
  ++function_calls_;
  const DoubleArray out = as_doubles(function_(*call_arguments(x, p, num_params())), "function");
  const auto size = static_cast<std::size_t>(out.size());
  if (size != n && size != 1)
    throw ModelError("the Python model function returned " + std::to_string(size) + " values for " +
                     std::to_string(n) + " points");
  if (size == 1)
    std::fill_n(values, n, out.data()[0]);
  else
    std::copy_n(out.data(), n, values);
}

// jac(x, *p) returns (n, P) as scipy's; stored column-major (jac[j * n + i]).
void PythonModel::call_jacobian(const py::object& x, std::size_t n, const double* p, double* jac) const {
  ++jacobian_calls_;
  const DoubleArray out = as_doubles(jacobian_(*call_arguments(x, p, num_params())), "jac");
  const std::size_t P = num_params();
  if (static_cast<std::size_t>(out.size()) != n * P)
    throw ModelError("the Python jac returned " + std::to_string(out.size()) + " values; expected " +
                     std::to_string(n) + " x " + std::to_string(P));
  const double* J = out.data();
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < P; ++j) jac[j * n + i] = J[i * P + j];
}

// Forward differences with scipy's '2-point' steps: h = sqrt(eps) * sign(p) * max(1, |p|), turned
// around when p + h would leave the bounds; the step actually taken is (p + h) - p.
void PythonModel::difference_jacobian(const py::object& x, std::size_t n, const double* p, const double* values,
                                      double* jac) const {
  const std::size_t P = num_params();
  const double relative_step = std::sqrt(std::numeric_limits<double>::epsilon());
  std::vector<double> shifted(p, p + P);
  for (std::size_t j = 0; j < P; ++j) {
    double h = relative_step * (p[j] >= 0 ? 1.0 : -1.0) * std::max(1.0, std::abs(p[j]));
    const double lo = lower_.empty() ? -INFINITY : lower_[j], hi = upper_.empty() ? INFINITY : upper_[j];
    if ((p[j] + h > hi || p[j] + h < lo) && p[j] - h >= lo && p[j] - h <= hi) h = -h;
    shifted[j] = p[j] + h;
    const double step = shifted[j] - p[j];
    double* column = jac + j * n;
    call_function(x, n, shifted.data(), column);
    for (std::size_t i = 0; i < n; ++i) column[i] = (column[i] - values[i]) / step;
    shifted[j] = p[j];
  }
}

void PythonModel::set_arrays(std::vector<const double*> columns, std::size_t rows) {
  arrays_ = std::move(columns);
  array_rows_ = rows;
  window_ = Window{};
}

std::size_t PythonModel::array_row(const double* const* x, std::size_t n) const {
  if (arrays_.size() != static_cast<std::size_t>(num_predictors_) || arrays_.empty()) return std::string::npos;
  const auto row = x[0] - arrays_[0];
  if (row < 0 || static_cast<std::size_t>(row) + n > array_rows_) return std::string::npos;
  for (std::size_t k = 1; k < arrays_.size(); ++k)
    if (x[k] - arrays_[k] != row) return std::string::npos;
  return static_cast<std::size_t>(row);
}

bool PythonModel::window_has(std::size_t row, std::size_t n, const double* p, bool jacobian) const {
  return window_.rows > 0 && (window_.jacobian || !jacobian) && row >= window_.begin &&
         row + n <= window_.begin + window_.rows && std::equal(window_.p.begin(), window_.p.end(), p);
}

// Evaluates rows [row, row + kCallRows) of the arrays (fewer at the end) at p in one call.
void PythonModel::fill_window(std::size_t row, const double* p, bool jacobian) const {
  window_.rows = 0;  // invalid until filled
  const std::size_t n = std::min(kCallRows, array_rows_ - row);
  std::vector<const double*> x;
  for (const double* column : arrays_) x.push_back(column + row);
  window_.values.resize(n);
  window_.jac.resize(jacobian ? n * num_params() : 0);
  evaluate_direct(x.data(), n, p, window_.values.data(), jacobian ? window_.jac.data() : nullptr);
  window_.p.assign(p, p + num_params());
  window_.jacobian = jacobian;
  window_.begin = row;
  window_.rows = n;
}

void PythonModel::call_python(const double* const* x, std::size_t n, const double* p, double* values,
                              double* jac) const {
  const py::object xs = x_array(x, n);
  call_function(xs, n, p, values);
  if (!jac) return;
  if (jacobian_.is_none())
    difference_jacobian(xs, n, p, values, jac);
  else
    call_jacobian(xs, n, p, jac);
}

// f (and the Jacobian when jac is not null) at exactly these rows. Called with the GIL held.
void PythonModel::evaluate_direct(const double* const* x, std::size_t n, const double* p, double* values,
                                  double* jac) const {
  try {
    call_python(x, n, p, values, jac);
  } catch (py::error_already_set& error) {
    // The flag may be set already: a SIGINT also sets it directly (SigintToFlag in module.cpp).
    const bool first_interrupt = error.matches(PyExc_KeyboardInterrupt) && interrupt_ && !keyboard_interrupted_;
    if (first_interrupt) {
      keyboard_interrupted_ = true;
      interrupt_->store(true);
    } else {
      keep_error(error);
    }
    try {
      call_python(x, n, p, values, jac);  // the fit stops after this evaluation, at its best point
    } catch (py::error_already_set& again) {
      keep_error(again);
    }
  }
}

void PythonModel::evaluate(const double* const* x, std::size_t n, const double* p, double* values) const {
  evaluate_with_jacobian(x, n, p, values, nullptr);
}

// jac may be null: values only.
void PythonModel::evaluate_with_jacobian(const double* const* x, std::size_t n, const double* p, double* values,
                                         double* jac) const {
  py::gil_scoped_acquire gil;
  if (error_) throw ModelError("the Python model function raised an exception");
  const std::size_t row = n < kCallRows ? array_row(x, n) : std::string::npos;
  if (row == std::string::npos) return evaluate_direct(x, n, p, values, jac);
  if (!window_has(row, n, p, jac != nullptr)) fill_window(row, p, jac != nullptr);
  const std::size_t offset = row - window_.begin;
  std::copy_n(window_.values.data() + offset, n, values);
  if (jac)
    for (std::size_t j = 0; j < num_params(); ++j)
      std::copy_n(window_.jac.data() + j * window_.rows + offset, n, jac + j * n);
}

}  // namespace curvefit::python
