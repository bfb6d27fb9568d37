#include "core/model/generate.h"

#include <H5Cpp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numbers>

#include "core/errors.h"
#include "core/owned_files.h"

namespace curvefit {
namespace {

std::string lower_extension(std::string_view path) {
  std::string ext = std::filesystem::path(std::string(path)).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

// Shortest text that reads back as the same double.
void append_number(std::string& out, double v) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, v);
  out.append(buffer, result.ptr);
}
std::string number_text(double v) {
  std::string s;
  append_number(s, v);
  return s;
}

std::string parameter_text(const Model& model, const std::vector<double>& params) {
  std::string s;
  for (std::size_t j = 0; j < params.size(); ++j) {
    if (j) s += ",";
    s += model.param_names()[j] + "=";
    append_number(s, params[j]);
  }
  return s;
}

std::uint64_t splitmix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Receives chunks of points; one implementation per file format.
class Writer {
 public:
  virtual ~Writer() = default;
  virtual void write(std::uint64_t begin, std::size_t count, const double* const* x, const double* y) = 0;
  virtual void finish() = 0;
};

class CsvWriter final : public Writer {
 public:
  // Writes through a duplicate of fd (the owned temporary file, whose descriptor and lock the
  // caller keeps); errors name `path`, the destination.
  CsvWriter(int fd, const std::string& path, const std::string& comment, int predictors) : path_(path) {
    const int own = ::dup(fd);
    file_ = own < 0 ? nullptr : ::fdopen(own, "wb");
    if (!file_) {
      if (own >= 0) ::close(own);
      throw IoError(path + ": cannot write: " + std::strerror(errno));
    }
    std::string head = "# " + comment + "\n";
    head += predictors == 1 ? "x,y\n" : "x1,x2,y\n";
    put(head);
    predictors_ = predictors;
  }
  ~CsvWriter() override {
    if (file_) std::fclose(file_);
  }
  void write(std::uint64_t, std::size_t count, const double* const* x, const double* y) override {
    buffer_.clear();
    for (std::size_t i = 0; i < count; ++i) {
      for (int k = 0; k < predictors_; ++k) {
        append_number(buffer_, x[k][i]);
        buffer_ += ',';
      }
      append_number(buffer_, y[i]);
      buffer_ += '\n';
      if (buffer_.size() >= kFlushBytes) put(buffer_), buffer_.clear();
    }
    put(buffer_);
  }
  void finish() override {
    const bool ok = std::fflush(file_) == 0 && !std::ferror(file_);
    const int reason = errno;
    const bool closed = std::fclose(file_) == 0;
    file_ = nullptr;
    if (!ok || !closed) throw IoError(path_ + ": write failed: " + std::strerror(ok ? errno : reason));
  }

 private:
  void put(const std::string& text) {
    if (std::fwrite(text.data(), 1, text.size(), file_) != text.size())
      throw IoError(path_ + ": write failed: " + std::strerror(errno));
  }
  static constexpr std::size_t kFlushBytes = 1 << 22;  // text held at once, whatever the chunk size
  std::string path_;
  std::FILE* file_ = nullptr;
  int predictors_ = 1;
  std::string buffer_;
};

// The system's reason behind an HDF5 failure (its file driver records "errno = 28" on the error
// stack), or HDF5's own innermost message.
herr_t keep_reason(unsigned, const H5E_error2_t* error, void* data) {
  auto& reason = *static_cast<std::string*>(data);
  const char* text = error->desc ? error->desc : "";
  if (const char* at = std::strstr(text, "errno = ")) {
    reason = std::strerror(std::atoi(at + 8));
    return 1;  // stop: the system's reason is the one to report
  }
  if (reason.empty()) reason = text;
  return 0;
}
std::string hdf5_write_reason(const H5::Exception& e) {
  std::string reason;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_reason, &reason);
  return reason.empty() ? e.getDetailMsg() : reason;
}

// Runs HDF5 calls, turning a failure into IoError while the error stack still holds the reason
// (closing the file would clear it).
template <class Calls>
void hdf5_guarded(const std::string& out_path, Calls calls) {
  try {
    calls();
  } catch (const H5::Exception& e) {
    throw IoError(out_path + ": cannot write HDF5: " + hdf5_write_reason(e));
  }
}

class Hdf5Writer final : public Writer {
 public:
  Hdf5Writer(const std::string& temporary, const std::string& out_path, const Model& model, const GenerateSpec& spec)
      : out_path_(out_path) {
    hdf5_guarded(out_path, [&] { create(temporary, model, spec); });
  }
  void finish() override {
    hdf5_guarded(out_path_, [&] {
      columns_.clear();
      file_->close();
    });
  }

 private:
  void create(const std::string& temporary, const Model& model, const GenerateSpec& spec) {
    file_ = std::make_unique<H5::H5File>(temporary, H5F_ACC_TRUNC);
    // Contiguous datasets (h5py's default too): a reader can use the values in place, and a
    // hyperslab read is one read of the file, without a chunk index or a chunk cache.
    const hsize_t dims[1] = {spec.points};
    H5::DataSpace space(1, dims);
    H5::DSetCreatPropList properties;
    const int k = model.num_predictors();
    for (int j = 0; j < k; ++j)
      columns_.push_back(file_->createDataSet(k == 1 ? "x" : "x" + std::to_string(j + 1),
                                             H5::PredType::NATIVE_DOUBLE, space, properties));
    columns_.push_back(file_->createDataSet("y", H5::PredType::NATIVE_DOUBLE, space, properties));

    auto string_attribute = [&](const char* name, const std::string& value) {
      const H5::StrType type(H5::PredType::C_S1, std::max<std::size_t>(value.size(), 1));
      file_->createAttribute(name, type, H5::DataSpace(H5S_SCALAR)).write(type, value);
    };
    auto double_attribute = [&](const char* name, const double* values, hsize_t n) {
      const hsize_t size[1] = {n};
      file_->createAttribute(name, H5::PredType::NATIVE_DOUBLE, H5::DataSpace(1, size))
          .write(H5::PredType::NATIVE_DOUBLE, values);
    };
    std::string names;
    for (const auto& name : model.param_names()) names += (names.empty() ? "" : ",") + name;
    string_attribute("model", spec.model_label);
    string_attribute("formula", model.formula());
    string_attribute("param_names", names);
    double_attribute("param_values", spec.params.data(), spec.params.size());
    double_attribute("noise_sd", &spec.noise_sd, 1);
    const hsize_t seed_size[1] = {1};
    file_->createAttribute("seed", H5::PredType::NATIVE_UINT64, H5::DataSpace(1, seed_size))
        .write(H5::PredType::NATIVE_UINT64, &spec.seed);
  }
 public:
  void write(std::uint64_t begin, std::size_t count, const double* const* x, const double* y) override {
    const hsize_t start[1] = {begin}, size[1] = {count};
    // The dataspaces outlive the guarded calls: closing them would clear the error stack.
    const H5::DataSpace memory(1, size);
    std::vector<H5::DataSpace> in_file;
    for (const H5::DataSet& column : columns_) in_file.push_back(column.getSpace());
    hdf5_guarded(out_path_, [&] {
      for (std::size_t c = 0; c < columns_.size(); ++c) {
        in_file[c].selectHyperslab(H5S_SELECT_SET, size, start);
        columns_[c].write(c + 1 < columns_.size() ? x[c] : y, H5::PredType::NATIVE_DOUBLE, memory, in_file[c]);
      }
    });
  }

 private:
  std::string out_path_;
  std::unique_ptr<H5::H5File> file_;
  std::vector<H5::DataSet> columns_;
};

// A model value that is not finite would be written as a NaN row: refuse the range instead,
// naming the first such point.
void require_finite(const Model& model, const GenerateSpec& spec, const double* const* x, const double* y,
                    std::size_t count) {
  const double* bad = std::find_if(y, y + count, [](double v) { return !std::isfinite(v); });
  if (bad == y + count) return;
  const auto i = static_cast<std::size_t>(bad - y);
  const int k = model.num_predictors();
  std::string where;
  for (int j = 0; j < k; ++j)
    where += (j ? ", x" + std::to_string(j + 1) : k == 1 ? "x" : "x1") + " = " + number_text(x[j][i]);
  throw ModelError("model " + spec.model_label + " is not finite at " + where + " (value " + number_text(*bad) +
                   "); choose an --x-range where it is defined");
}

}  // namespace

OutputFormat output_format_for(std::string_view path) {
  const std::string ext = lower_extension(path);
  if (ext == ".csv") return OutputFormat::csv;
  if (ext == ".h5" || ext == ".hdf5" || ext == ".he5") return OutputFormat::hdf5;
  throw UsageError("--out: '" + std::string(path) + "' must end in .csv, .h5 or .hdf5");
}

void generate_predictors(int num_predictors, std::uint64_t total_points, double x_min, double x_max,
                         std::uint64_t begin, std::size_t count, double* const* x) {
  // Grid side: the smallest s with s^k >= N (s = N for one predictor: plain even spacing).
  const auto k = static_cast<std::size_t>(std::max(num_predictors, 1));
  auto covers = [&](std::uint64_t s) {
    long double power = 1;
    for (std::size_t j = 0; j < k; ++j) power *= static_cast<long double>(s);
    return power >= static_cast<long double>(total_points);
  };
  auto side = static_cast<std::uint64_t>(
      std::ceil(std::pow(static_cast<double>(total_points), 1.0 / static_cast<double>(k))));
  while (!covers(side)) ++side;  // exact despite rounding of pow
  while (side > 1 && covers(side - 1)) --side;
  const double width = x_max - x_min;
  const double denominator = side > 1 ? static_cast<double>(side - 1) : 1.0;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint64_t index = begin + i;
    for (std::size_t j = 0; j < k; ++j) {  // predictor 1 varies fastest
      x[j][i] = x_min + width * (static_cast<double>(index % side) / denominator);
      index /= side;
    }
  }
}

double noise_deviate(std::uint64_t seed, std::uint64_t index) {
  const std::uint64_t a = splitmix64(seed ^ splitmix64(2 * index));
  const std::uint64_t b = splitmix64(seed ^ splitmix64(2 * index + 1));
  const double u1 = (static_cast<double>(a >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]: log is finite
  const double u2 = static_cast<double>(b >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

namespace {

// The comment line a CSV starts with: the command that makes the same file.
std::string generate_comment(const Model& model, const GenerateSpec& spec) {
  const bool quote = spec.model_label.find_first_of(" \t*()") != std::string::npos;
  std::string comment = "curvefit generate --model " +
                        (quote ? "\"" + spec.model_label + "\"" : spec.model_label) +
                        " --points " + std::to_string(spec.points) + " --params " +
                        parameter_text(model, spec.params) + " --noise " + number_text(spec.noise_sd) +
                        " --seed " + std::to_string(spec.seed) + " --x-range " + number_text(spec.x_min) +
                        ":" + number_text(spec.x_max);
  std::replace(comment.begin(), comment.end(), '\n', ' ');
  return comment;
}

void write_points(const Model& model, const GenerateSpec& spec, Writer& writer) {
  const int k = model.num_predictors();
  const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(std::max<std::size_t>(spec.chunk_points, 1), spec.points));
  std::vector<std::vector<double>> x(static_cast<std::size_t>(k), std::vector<double>(chunk));
  std::vector<double*> x_out;
  std::vector<const double*> x_in;
  for (auto& column : x) x_out.push_back(column.data()), x_in.push_back(column.data());
  std::vector<double> y(chunk);
  for (std::uint64_t begin = 0; begin < spec.points; begin += chunk) {
    const auto count = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, spec.points - begin));
    generate_predictors(k, spec.points, spec.x_min, spec.x_max, begin, count, x_out.data());
    model.evaluate(x_in.data(), count, spec.params.data(), y.data());
    require_finite(model, spec, x_in.data(), y.data(), count);
    if (spec.noise_sd > 0)
      for (std::size_t i = 0; i < count; ++i) y[i] += spec.noise_sd * noise_deviate(spec.seed, begin + i);
    writer.write(begin, count, x_in.data(), y.data());
  }
  writer.finish();
}

// The file is written as an owned temporary next to the target (core/owned_files.h), so that the
// final rename is atomic, a planted symlink is never followed, and what a killed run leaves is
// removed by the next run writing there.
void write_file_atomically(const Model& model, const GenerateSpec& spec, const std::string& out_path) {
  const std::filesystem::path destination(out_path);
  std::string directory = destination.parent_path().string();
  if (directory.empty()) directory = ".";
  remove_stale_files(directory);
  const OwnedFile temporary = create_owned_file(directory, destination.filename().string(), 0666);
  if (temporary.fd < 0) throw IoError(out_path + ": cannot write: " + std::strerror(errno));
  auto discard = [&] {
    ::unlink(temporary.path.c_str());
    ::close(temporary.fd);
  };
  try {
    std::unique_ptr<Writer> writer;
    if (output_format_for(out_path) == OutputFormat::csv) {
      writer = std::make_unique<CsvWriter>(temporary.fd, out_path, generate_comment(model, spec), model.num_predictors());
    } else {
      H5::Exception::dontPrint();
      writer = std::make_unique<Hdf5Writer>(temporary.path, out_path, model, spec);
    }
    write_points(model, spec, *writer);
    writer.reset();
    if (::fsync(temporary.fd) != 0) throw IoError(out_path + ": write failed: " + std::strerror(errno));
    if (::rename(temporary.path.c_str(), out_path.c_str()) != 0)
      throw IoError(out_path + ": cannot rename the finished file into place: " + std::strerror(errno));
    ::close(temporary.fd);
  } catch (const H5::Exception& e) {  // closing a file that failed to write
    discard();
    throw IoError(out_path + ": cannot write HDF5: " + e.getDetailMsg());
  } catch (...) {
    discard();
    throw;
  }
}

}  // namespace

void generate_data(const Model& model, const GenerateSpec& spec, const std::string& out_path) {
  if (spec.points == 0) throw UsageError("--points: must be at least 1");
  if (spec.params.size() != model.num_params())
    throw UsageError("--params: the model has " + std::to_string(model.num_params()) + " parameters");
  if (!(spec.noise_sd >= 0) || !std::isfinite(spec.noise_sd)) throw UsageError("--noise: must be finite and >= 0");
  if (!(spec.x_min < spec.x_max)) throw UsageError("--x-range: lo must be below hi");
  output_format_for(out_path);
  write_file_atomically(model, spec, out_path);
}

std::uint64_t parse_point_count(std::string_view text) {
  double value = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size() || !(value >= 1) ||
      value > 9.007199254740992e15 || value != std::floor(value))
    throw UsageError("--points: '" + std::string(text) + "' is not a whole number >= 1 (e.g. 1000 or 1e8)");
  return static_cast<std::uint64_t>(value);
}

std::pair<double, double> parse_range(std::string_view text) {
  const std::size_t colon = text.find(':', text.front() == '-' ? 1 : 0);
  auto number = [&](std::string_view part) {
    double v = 0;
    const auto result = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || result.ec != std::errc() || result.ptr != part.data() + part.size() || !std::isfinite(v))
      throw UsageError("--x-range: '" + std::string(text) + "' is not lo:hi (e.g. 0:10 or -5:5)");
    return v;
  };
  if (text.empty() || colon == std::string_view::npos)
    throw UsageError("--x-range: '" + std::string(text) + "' is not lo:hi (e.g. 0:10 or -5:5)");
  const double lo = number(text.substr(0, colon)), hi = number(text.substr(colon + 1));
  if (!(lo < hi)) throw UsageError("--x-range: lo must be below hi in '" + std::string(text) + "'");
  return {lo, hi};
}

std::vector<double> parse_parameter_values(std::string_view text, const std::vector<std::string>& names,
                                           const std::vector<double>& defaults) {
  std::vector<double> values = defaults;
  std::vector<bool> given(names.size(), !defaults.empty());
  if (values.empty()) values.assign(names.size(), 0.0);
  std::string known;
  for (const auto& name : names) known += (known.empty() ? "" : ", ") + name;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const std::size_t equals = item.find('=');
    if (equals == std::string_view::npos)
      throw UsageError("--params: '" + std::string(item) + "' is not name=value");
    const std::string name(item.substr(0, equals));
    const std::string_view number = item.substr(equals + 1);
    const auto where = std::find(names.begin(), names.end(), name);
    if (where == names.end())
      throw UsageError("--params: unknown parameter '" + name + "' (the model has " + known + ")");
    double v = 0;
    const auto result = std::from_chars(number.data(), number.data() + number.size(), v);
    if (number.empty() || result.ec != std::errc() || result.ptr != number.data() + number.size() || !std::isfinite(v))
      throw UsageError("--params: '" + std::string(number) + "' is not a finite number for " + name);
    const auto j = static_cast<std::size_t>(where - names.begin());
    values[j] = v;
    given[j] = true;
  }
  for (std::size_t j = 0; j < names.size(); ++j)
    if (!given[j]) throw UsageError("--params: no value for parameter '" + names[j] + "'");
  return values;
}

}  // namespace curvefit
