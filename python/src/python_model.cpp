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

void PythonModel::evaluate(const double* const* x, std::size_t n, const double* p, double* values) const {
  py::gil_scoped_acquire gil;
  if (error_) throw ModelError("the Python model function raised an exception");
  try {
    call_function(x_array(x, n), n, p, values);
  } catch (py::error_already_set& error) {
    keep_error(error);
  }
}

void PythonModel::evaluate_with_jacobian(const double* const* x, std::size_t n, const double* p, double* values,
                                         double* jac) const {
  py::gil_scoped_acquire gil;
  if (error_) throw ModelError("the Python model function raised an exception");
  try {
    const py::object xs = x_array(x, n);
    call_function(xs, n, p, values);
    if (jacobian_.is_none())
      difference_jacobian(xs, n, p, values, jac);
    else
      call_jacobian(xs, n, p, jac);
  } catch (py::error_already_set& error) {
    keep_error(error);
  }
}

}  // namespace curvefit::python
