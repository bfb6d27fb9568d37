// The entry points the planner and the fit engine call: format detection, a cheap probe, loading
// into RAM, and opening for streaming. Each dispatches to the CSV or HDF5 reader.
#include "core/data_open.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "core/csv_reader.h"
#include "core/errors.h"
#include "core/hdf5_source.h"
#include "core/spill_source.h"
#include "core/temp_files.h"

namespace curvefit {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  if (text.size() < suffix.size()) return false;
  return std::equal(suffix.rbegin(), suffix.rend(), text.rbegin(),
                    [](char a, char b) { return a == static_cast<char>(std::tolower(static_cast<unsigned char>(b))); });
}

// Large columns are filled once, front to back: transparent huge pages (where the kernel offers
// them on request) cut the page faults of that first touch by 512. Advice only; harmless if refused.
void advise_huge_pages(const void* data, std::size_t bytes) {
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  const auto address = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t begin = (address + kHuge - 1) & ~(kHuge - 1);
  const std::uintptr_t end = (address + bytes) & ~(kHuge - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

std::unique_ptr<MemoryDataSource> load_hdf5(const std::string& path, const DataOptions& options) {
  Hdf5DataSource source(path, options, false);
  const std::size_t rows = source.file_rows();
  const std::size_t k = static_cast<std::size_t>(source.num_predictors());
  // The columns are filled by appending slabs read into a small buffer: value-initialising
  // rows-sized vectors first would write every page twice (zeros, then data), which measured as
  // the largest part of loading (perf, 1e7 rows). Huge pages cut the page faults.
  std::vector<std::vector<double>> x(k);
  std::vector<double> y, sigma;
  auto reserve = [rows](std::vector<double>& column) {
    column.reserve(rows);
    advise_huge_pages(column.data(), rows * sizeof(double));
  };
  for (auto& column : x) reserve(column);
  reserve(y);
  if (source.has_sigma()) reserve(sigma);
  // Read in slabs (2 MB per column) so HDF5's conversion buffers and ours stay small.
  constexpr std::size_t kSlab = 1u << 18;
  const std::size_t slab_rows = std::min(kSlab, rows);
  std::vector<std::vector<double>> x_slab(k, std::vector<double>(slab_rows));
  std::vector<double> y_slab(slab_rows), sigma_slab(source.has_sigma() ? slab_rows : 0);
  std::vector<double*> x_at(k);
  for (std::size_t c = 0; c < k; ++c) x_at[c] = x_slab[c].data();
  for (std::size_t begin = 0; begin < rows; begin += kSlab) {
    const std::size_t count = std::min(kSlab, rows - begin);
    source.read(begin, count, x_at.data(), y_slab.data(), sigma_slab.empty() ? nullptr : sigma_slab.data());
    const auto n = static_cast<std::ptrdiff_t>(count);
    for (std::size_t c = 0; c < k; ++c) x[c].insert(x[c].end(), x_slab[c].begin(), x_slab[c].begin() + n);
    y.insert(y.end(), y_slab.begin(), y_slab.begin() + n);
    if (!sigma_slab.empty()) sigma.insert(sigma.end(), sigma_slab.begin(), sigma_slab.begin() + n);
  }
  std::vector<std::string> names = source.column_names();
  apply_nan_policy(x, y, sigma, options.nan_policy, path, names);
  return std::make_unique<MemoryDataSource>(std::move(x), std::move(y), std::move(sigma), std::move(names), path);
}

std::unique_ptr<MemoryDataSource> load_csv(const std::string& path, const DataOptions& options) {
  CsvReader reader(path, options);
  const std::size_t slots = reader.selection().fields.size();
  std::vector<std::vector<double>> columns(slots);
  // Reserve a little above the estimate: growing a billion-row vector would double its peak.
  const std::size_t reserve = reader.estimated_rows() + reader.estimated_rows() / 32 + 16;
  for (auto& column : columns) {
    column.reserve(reserve);
    advise_huge_pages(column.data(), column.capacity() * sizeof(double));
  }
  reader.parse([&](CsvColumnsBlock& block) {
    for (std::size_t c = 0; c < slots; ++c)
      columns[c].insert(columns[c].end(), block.columns[c].begin(), block.columns[c].end());
  });
  const std::size_t k = static_cast<std::size_t>(reader.selection().num_predictors);
  std::vector<std::vector<double>> x(std::make_move_iterator(columns.begin()),
                                     std::make_move_iterator(columns.begin() + static_cast<std::ptrdiff_t>(k)));
  std::vector<double> y = std::move(columns[k]);
  std::vector<double> sigma = reader.selection().has_sigma ? std::move(columns[k + 1]) : std::vector<double>{};
  return std::make_unique<MemoryDataSource>(std::move(x), std::move(y), std::move(sigma), reader.selection().names,
                                            reader.display_name());
}

}  // namespace

FileFormat detect_format(const std::string& path) {
  if (path == "-") return FileFormat::csv;
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) throw DataError(path + ": cannot open: " + std::strerror(errno));
  if (S_ISDIR(info.st_mode)) throw DataError(path + ": is a directory");
  if (has_hdf5_signature(path)) return FileFormat::hdf5;
  // Named like HDF5 but without the signature: treat as HDF5 so the error says so.
  for (const char* suffix : {".h5", ".hdf5", ".he5", ".hdf"})
    if (ends_with(path, suffix)) return FileFormat::hdf5;
  return FileFormat::csv;
}

DataInfo probe_data(const std::string& path, const DataOptions& options) {
  DataInfo info;
  info.format = detect_format(path);
  if (info.format == FileFormat::csv) {
    CsvReader reader(path, options);
    info.rows = reader.estimated_rows();
    info.rows_exact = reader.rows_exact();
    info.file_bytes = reader.file_bytes();
    info.num_predictors = reader.selection().num_predictors;
    info.has_sigma = reader.selection().has_sigma;
    info.column_names = reader.selection().names;
    return info;
  }
  Hdf5DataSource source(path, options, false);
  info.rows = source.file_rows();
  info.rows_exact = options.nan_policy == NanPolicy::raise;
  struct stat file_info {};
  if (::stat(path.c_str(), &file_info) == 0) info.file_bytes = static_cast<std::size_t>(file_info.st_size);
  info.num_predictors = source.num_predictors();
  info.has_sigma = source.has_sigma();
  info.column_names = source.column_names();
  return info;
}

std::unique_ptr<MemoryDataSource> load_data(const std::string& path, const DataOptions& options) {
  return detect_format(path) == FileFormat::csv ? load_csv(path, options) : load_hdf5(path, options);
}

std::unique_ptr<DataSource> open_streaming(const std::string& path, const DataOptions& options) {
  if (detect_format(path) == FileFormat::hdf5) return std::make_unique<Hdf5DataSource>(path, options, true);
  install_temporary_file_cleanup();
  CsvReader reader(path, options);
  return std::make_unique<SpillDataSource>(reader, options.temp_dir);
}

}  // namespace curvefit
