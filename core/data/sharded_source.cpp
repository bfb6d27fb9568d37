#include "core/data/sharded_source.h"

#include <glob.h>
#include <sys/stat.h>

#include <algorithm>

#include "core/data/csv_reader.h"
#include "core/data/hdf5_source.h"
#include "core/errors.h"

namespace curvefit {
namespace {

bool is_pattern(const std::string& argument) {
  if (argument.find_first_of("*?[") == std::string::npos) return false;
  struct stat info {};
  return ::stat(argument.c_str(), &info) != 0;  // a file of that very name is a path
}

std::vector<std::string> glob_files(const std::string& pattern) {
  glob_t found{};
  const int status = ::glob(pattern.c_str(), 0, nullptr, &found);
  std::vector<std::string> files;
  if (status == 0)
    for (std::size_t i = 0; i < found.gl_pathc; ++i) files.emplace_back(found.gl_pathv[i]);
  ::globfree(&found);
  if (status == GLOB_NOMATCH) throw UsageError(pattern + ": no file matches this pattern");
  if (status != 0) throw UsageError(pattern + ": the pattern cannot be expanded");
  return files;
}

std::string without_leading_slash(const std::string& name) {
  return !name.empty() && name.front() == '/' ? name.substr(1) : name;
}

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

}  // namespace

std::vector<std::string> expand_data_paths(const std::vector<std::string>& arguments) {
  if (arguments.size() == 1 && arguments.front() == "-") return arguments;
  std::vector<std::string> files;
  for (const std::string& argument : arguments) {
    if (argument == "-") throw UsageError("- (CSV on stdin) cannot be one of several data files");
    if (!is_pattern(argument)) {
      files.push_back(argument);
      continue;
    }
    const std::vector<std::string> matches = glob_files(argument);
    files.insert(files.end(), matches.begin(), matches.end());
  }
  std::sort(files.begin(), files.end());
  const auto twice = std::adjacent_find(files.begin(), files.end());
  if (twice != files.end()) throw UsageError(*twice + ": named twice among the data files");
  return files;
}

std::string describe_data_paths(const std::vector<std::string>& arguments, const std::vector<std::string>& files) {
  if (files.size() == 1) return files.front() == "-" ? "<stdin>" : files.front();
  std::string text = arguments.front();
  if (arguments.size() > 3) text += " ... " + arguments.back();
  else
    for (std::size_t i = 1; i < arguments.size(); ++i) text += " " + arguments[i];
  return text + " (" + std::to_string(files.size()) + " files)";
}

void finish_files(const std::string& description, std::size_t rows, std::size_t rows_total,
                  const std::vector<Shard>& files, const DataOptions& options) {
  if (rows == 0 && options.selection)
    throw DataError(description + ": no row of any file is selected (" + options.selection->text + "); nothing to fit");
  if (rows == 0) throw DataError(description + ": no valid rows remain in any file");
  if (!options.selection || !options.on_notice) return;
  std::string text = description + ": " + selected_rows_notice(rows, rows_total, *options.selection);
  constexpr std::size_t kNamed = 3;
  std::size_t empty = 0;
  for (const Shard& file : files) {
    if (file.rows > 0) continue;
    if (empty < kNamed) text += (empty == 0 ? "; none from " : ", ") + file.path;
    ++empty;
  }
  if (empty > kNamed) text += " and " + std::to_string(empty - kNamed) + " more";
  options.on_notice(text);
}

void check_same_columns(const std::string& first, const std::vector<std::string>& first_names,
                        const std::string& path, const std::vector<std::string>& names) {
  bool same = names.size() == first_names.size();
  for (std::size_t c = 0; same && c < names.size(); ++c)
    same = without_leading_slash(names[c]) == without_leading_slash(first_names[c]);
  if (!same)
    throw DataError(path + ": its columns (" + join(names) + ") differ from those of " + first + " (" +
                    join(first_names) + "); every data file must have the same columns");
}

ShardedDataSource::ShardedDataSource(const std::vector<std::string>& paths, const std::vector<FileFormat>& formats,
                                     const DataOptions& options, std::vector<std::unique_ptr<DataSource>> csv_rows)
    : options_(options), csv_rows_(std::move(csv_rows)) {
  options_.file_of_several = true;  // a file without rows left is no error; none with rows is
  csv_rows_.resize(paths.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (csv_rows_[i]) {
      const DataSource& rows = *csv_rows_[i];
      rows_total_ += rows.rows_total();
      spill_first_row_.push_back(kNone);
      add_shard(paths[i], rows.rows(), rows.column_names(), rows.has_sigma());
      continue;
    }
    if (formats[i] == FileFormat::hdf5) {
      const Hdf5DataSource file(paths[i], options_, true);
      rows_total_ += file.rows_total();
      spill_first_row_.push_back(kNone);
      add_shard(paths[i], file.rows(), file.column_names(), file.has_sigma());
      continue;
    }
    CsvReader reader(paths[i], options_);
    if (!shards_.empty()) check_same_columns(shards_.front().path, names_, paths[i], reader.selection().names);
    std::size_t rows = 0;
    if (!spill_) {
      spill_ = std::make_unique<SpillDataSource>(reader, options.temp_dir);
      spill_first_row_.push_back(0);
      rows = spill_->rows();
    } else {
      spill_first_row_.push_back(spill_->rows());
      rows = spill_->append(reader);
    }
    add_shard(paths[i], rows, reader.selection().names, reader.selection().has_sigma);
  }
  if (spill_) rows_total_ += spill_->rows_total();
  description_ = paths.empty() ? "" : describe_data_paths(paths, paths);
  if (!paths.empty()) finish_files(description_, rows_, rows_total_, shards_, options);
  options_.on_notice = nullptr;  // a file opened again for a pass has nothing new to say
}

void ShardedDataSource::add_shard(const std::string& path, std::size_t rows, const std::vector<std::string>& names,
                                  bool has_sigma) {
  if (shards_.empty()) {
    names_ = names;
    has_sigma_ = has_sigma;
    num_predictors_ = static_cast<int>(names.size()) - 1 - (has_sigma_ ? 1 : 0);
  } else {
    check_same_columns(shards_.front().path, names_, path, names);
  }
  shards_.push_back({path, rows_, rows});
  rows_ += rows;
}

void ShardedDataSource::read(std::size_t begin, std::size_t count, double* const* x, double* y, double* sigma) {
  if (begin + count > rows_)
    throw DataError(description_ + ": rows " + std::to_string(begin + 1) + ".." + std::to_string(begin + count) +
                    " requested but the data have " + std::to_string(rows_));
  // The last shard that starts at or before `begin`, then onwards while rows remain.
  auto after = std::upper_bound(shards_.begin(), shards_.end(), begin,
                                [](std::size_t row, const Shard& shard) { return row < shard.first_row; });
  std::size_t s = static_cast<std::size_t>(after - shards_.begin()) - 1;
  std::vector<double*> x_at(static_cast<std::size_t>(num_predictors_));
  std::size_t done = 0;
  while (done < count) {
    const Shard& shard = shards_[s];
    const std::size_t within = begin + done - shard.first_row;
    const std::size_t take = std::min(count - done, shard.rows - within);
    for (std::size_t c = 0; c < x_at.size(); ++c) x_at[c] = x[c] + done;
    read_shard(s, within, take, x_at.data(), y + done, sigma ? sigma + done : nullptr);
    done += take;
    ++s;
  }
}

void ShardedDataSource::read_shard(std::size_t s, std::size_t begin, std::size_t count, double* const* x, double* y,
                                   double* sigma) {
  if (count == 0) return;
  if (csv_rows_[s]) {
    csv_rows_[s]->read(begin, count, x, y, sigma);
    return;
  }
  if (spill_first_row_[s] != kNone) {
    spill_->read(spill_first_row_[s] + begin, count, x, y, sigma);
    return;
  }
  if (open_shard_ != s) {
    open_source_.reset();  // closes the HDF5 file read before
    open_shard_ = kNone;
    open_source_ = std::make_unique<Hdf5DataSource>(shards_[s].path, options_, true);
    if (open_source_->rows() != shards_[s].rows)
      throw DataError(shards_[s].path + ": has " + std::to_string(open_source_->rows()) + " rows now, " +
                      std::to_string(shards_[s].rows) + " when the fit began");
    open_shard_ = s;
  }
  open_source_->read(begin, count, x, y, sigma);
}

}  // namespace curvefit
