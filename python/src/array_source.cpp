#include "array_source.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/errors.h"

namespace py = pybind11;

namespace curvefit::python {

namespace {

template <typename T>
void convert_as(const char* data, std::ptrdiff_t stride, std::size_t begin, std::size_t count, double* out) {
  const char* p = data + static_cast<std::ptrdiff_t>(begin) * stride;
  for (std::size_t i = 0; i < count; ++i, p += stride) {
    T value;
    std::memcpy(&value, p, sizeof(T));  // any alignment: views of records may be unaligned
    out[i] = static_cast<double>(value);
  }
}

bool native_order(const py::dtype& dtype) {
  const char order = dtype.byteorder();
  constexpr char kNative = std::endian::native == std::endian::little ? '<' : '>';
  return order == '=' || order == '|' || order == kNative;
}

}  // namespace

bool ArraySource::readable(const py::array& array) {
  const py::dtype dtype = array.dtype();
  const char kind = dtype.kind();
  const auto size = static_cast<std::size_t>(dtype.itemsize());
  const bool sized = kind == 'f' ? (size == 4 || size == 8)
                     : kind == 'b' ? size == 1
                     : (kind == 'i' || kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8);
  return array.ndim() == 1 && sized && native_order(dtype);
}

ArraySource::Column ArraySource::column_of(const py::array& array) {
  if (!readable(array)) throw UsageError("an array of dtype " + std::string(py::str(array.dtype())) +
                                         " cannot be read in place");
  return Column{static_cast<const char*>(array.data()), array.strides(0), array.dtype().kind(),
                static_cast<std::size_t>(array.dtype().itemsize())};
}

ArraySource::ArraySource(const std::vector<py::array>& x, const py::array& y, const py::array* sigma,
                         std::vector<std::string> names)
    : has_sigma_(sigma != nullptr), rows_(static_cast<std::size_t>(y.size())), names_(std::move(names)) {
  for (const py::array& column : x) columns_.push_back(column_of(column));
  columns_.push_back(column_of(y));
  if (sigma) columns_.push_back(column_of(*sigma));
  for (const py::array& column : x)
    if (static_cast<std::size_t>(column.size()) != rows_) throw UsageError("x, y and sigma have different lengths");
  if (names_.empty()) {
    for (std::size_t k = 0; k < x.size(); ++k) names_.push_back(x.size() == 1 ? "x" : "x" + std::to_string(k + 1));
    names_.push_back("y");
    if (sigma) names_.push_back("sigma");
  }
  if (sigma && static_cast<std::size_t>(sigma->size()) != rows_)
    throw UsageError("x, y and sigma have different lengths");
}

void ArraySource::convert(const Column& c, std::size_t begin, std::size_t count, double* out) {
  switch (c.kind) {
    case 'f': return c.size == 8 ? convert_as<double>(c.data, c.stride, begin, count, out)
                                 : convert_as<float>(c.data, c.stride, begin, count, out);
    case 'b': return convert_as<std::uint8_t>(c.data, c.stride, begin, count, out);
    case 'i':
      switch (c.size) {
        case 1: return convert_as<std::int8_t>(c.data, c.stride, begin, count, out);
        case 2: return convert_as<std::int16_t>(c.data, c.stride, begin, count, out);
        case 4: return convert_as<std::int32_t>(c.data, c.stride, begin, count, out);
        default: return convert_as<std::int64_t>(c.data, c.stride, begin, count, out);
      }
    default:
      switch (c.size) {
        case 1: return convert_as<std::uint8_t>(c.data, c.stride, begin, count, out);
        case 2: return convert_as<std::uint16_t>(c.data, c.stride, begin, count, out);
        case 4: return convert_as<std::uint32_t>(c.data, c.stride, begin, count, out);
        default: return convert_as<std::uint64_t>(c.data, c.stride, begin, count, out);
      }
  }
}

void ArraySource::read(std::size_t begin, std::size_t count, double* const* x, double* y, double* sigma) {
  if (begin > rows_ || count > rows_ - begin) throw DataError("<memory>: read past the end of the arrays");
  const std::size_t k = columns_.size() - 1 - (has_sigma_ ? 1 : 0);
  for (std::size_t c = 0; c < k; ++c) convert(columns_[c], begin, count, x[c]);
  convert(columns_[k], begin, count, y);
  if (has_sigma_) convert(columns_[k + 1], begin, count, sigma);
  check(begin, count, x, y, has_sigma_ ? sigma : nullptr);
}

// As the fit checks contiguous arrays (core/engine/fit_setup.cpp): one fast scan, then the row.
void ArraySource::check(std::size_t begin, std::size_t count, double* const* x, const double* y,
                        const double* sigma) const {
  const std::size_t k = columns_.size() - 1 - (has_sigma_ ? 1 : 0);
  check_rows_or_throw(x, k, y, sigma, count, begin + 1, "<memory>");
}

}  // namespace curvefit::python
