#include "core/data/spill_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/errors.h"
#include "core/owned_files.h"
#include "core/data/temp_files.h"

namespace curvefit {

SpillDataSource::SpillDataSource(CsvReader& reader, const std::string& temp_dir)
    : num_predictors_(reader.selection().num_predictors),
      has_sigma_(reader.selection().has_sigma),
      names_(reader.selection().names),
      description_(reader.display_name()) {
  try {
    create_files(temp_dir, reader.selection().fields.size());
    spill(reader);
  } catch (...) {
    release();
    throw;
  }
}

SpillDataSource::SpillDataSource(const DataSource& shape, const std::string& temp_dir)
    : num_predictors_(shape.num_predictors()),
      has_sigma_(shape.has_sigma()),
      names_(shape.column_names()),
      description_(shape.description()) {
  try {
    create_files(temp_dir, static_cast<std::size_t>(num_predictors_) + 1 + (has_sigma_ ? 1 : 0));
  } catch (...) {
    release();
    throw;
  }
}

// The constructors below delegate to the one above: once it has returned, the destructor removes
// the files whatever they throw.
SpillDataSource::SpillDataSource(CsvRowsSource& rows, const std::vector<std::pair<std::size_t, std::size_t>>& blocks,
                                 const std::string& temp_dir)
    : SpillDataSource(static_cast<const DataSource&>(rows), temp_dir) {
  std::vector<const double*> column(files_.size());
  for (const auto& [begin, count] : blocks)
    rows.parse_rows(begin, count, [&](CsvColumnsBlock& block) {
      for (std::size_t c = 0; c < column.size(); ++c) column[c] = block.columns[c].data();
      append_columns(column.data(), block.rows);
    });
}

SpillDataSource::SpillDataSource(DataSource& rows, const std::vector<std::pair<std::size_t, std::size_t>>& blocks,
                                 const std::string& temp_dir)
    : SpillDataSource(static_cast<const DataSource&>(rows), temp_dir) {
  std::vector<std::vector<double>> slab(files_.size());
  std::vector<double*> column(files_.size());
  const auto y = static_cast<std::size_t>(num_predictors_);
  for (const auto& [begin, count] : blocks)
    for (std::size_t done = 0; done < count;) {
      const std::size_t take = std::min(kCopySlabRows, count - done);
      for (std::size_t c = 0; c < column.size(); ++c) {
        slab[c].resize(take);
        column[c] = slab[c].data();
      }
      rows.read(begin + done, take, column.data(), column[y], has_sigma_ ? column[y + 1] : nullptr);
      append_columns(column.data(), take);
      done += take;
    }
}

void SpillDataSource::create_files(const std::string& temp_dir, std::size_t columns) {
  const std::string directory = temporary_directory(temp_dir);
  remove_stale_files(directory);  // spill files of runs that were killed
  for (std::size_t c = 0; c < columns; ++c) {
    const OwnedFile file = create_owned_file(directory, "curvefit-spill", S_IRUSR | S_IWUSR);
    if (file.fd < 0)
      throw IoError(description_ + ": cannot create a spill file in " + directory + ": " + std::strerror(errno));
    files_.push_back({file.path, file.fd});
    register_temporary_file(file.path);
  }
}

SpillDataSource::~SpillDataSource() { release(); }

std::size_t SpillDataSource::append(CsvReader& reader) {
  if (reader.selection().fields.size() != files_.size())
    throw DataError(reader.display_name() + ": selects " + std::to_string(reader.selection().fields.size()) +
                    " columns, the spill holds " + std::to_string(files_.size()));
  const std::size_t before = rows_;
  spill(reader);
  return rows_ - before;
}

void SpillDataSource::spill(CsvReader& reader) {
  std::vector<const double*> columns(files_.size());
  stats_ = reader.parse([&](CsvColumnsBlock& block) {
    for (std::size_t c = 0; c < files_.size(); ++c) columns[c] = block.columns[c].data();
    append_columns(columns.data(), block.rows);
  });
  rows_total_ += stats_.rows_total();
}

void SpillDataSource::append_columns(const double* const* columns, std::size_t rows) {
  for (std::size_t c = 0; c < files_.size(); ++c) {
    const char* bytes = reinterpret_cast<const char*>(columns[c]);
    std::size_t left = rows * sizeof(double);
    while (left > 0) {
      ssize_t written = ::write(files_[c].fd, bytes, left);
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0)
        throw IoError(description_ + ": writing the spill file " + files_[c].path + " failed: " + std::strerror(errno));
      bytes += written;
      left -= static_cast<std::size_t>(written);
    }
  }
  rows_ += rows;
}

void SpillDataSource::release() noexcept {
  for (ColumnFile& file : files_) {
    if (file.fd >= 0) ::close(file.fd);
    file.fd = -1;
    unregister_temporary_file(file.path);
  }
  files_.clear();
}

std::vector<std::string> SpillDataSource::spill_paths() const {
  std::vector<std::string> paths;
  for (const ColumnFile& file : files_) paths.push_back(file.path);
  return paths;
}

void SpillDataSource::read(std::size_t begin, std::size_t count, double* const* x, double* y, double* sigma) {
  if (begin + count > rows_)
    throw DataError(description_ + ": rows " + std::to_string(begin + 1) + ".." + std::to_string(begin + count) +
                    " requested but the data have " + std::to_string(rows_));
  for (std::size_t c = 0; c < files_.size(); ++c) {
    double* target = c < static_cast<std::size_t>(num_predictors_) ? x[c]
                     : c == static_cast<std::size_t>(num_predictors_) ? y
                                                                      : sigma;
    if (!target) continue;
    char* bytes = reinterpret_cast<char*>(target);
    std::size_t left = count * sizeof(double);
    off_t offset = static_cast<off_t>(begin * sizeof(double));
    while (left > 0) {
      ssize_t got = ::pread(files_[c].fd, bytes, left, offset);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0)
        throw DataError(description_ + ": reading the spill file " + files_[c].path + " failed: " +
                        (got == 0 ? std::string("unexpected end of file") : std::strerror(errno)));
      bytes += got;
      offset += got;
      left -= static_cast<std::size_t>(got);
    }
  }
}

}  // namespace curvefit
