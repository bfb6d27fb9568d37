// HDF5 reading through the C++ API; the C API only where the C++ one has no equivalent (walking
// the error stack to fold HDF5's own reason into our message, visiting links to list datasets).
#include "core/data/hdf5_source.h"

#include <H5Cpp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <mutex>
#include <set>
#include <tuple>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "core/errors.h"

namespace curvefit {
namespace {


// HDF5 prints its error stack to stderr by default; we report one line of our own instead.
void silence_hdf5() {
  static const bool silenced = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    H5::Exception::dontPrint();
    return true;
  }();
  (void)silenced;
}

herr_t keep_innermost(unsigned, const H5E_error2_t* error, void* data) {
  if (error->desc && *error->desc) *static_cast<std::string*>(data) = error->desc;
  return 0;
}

// The most specific description on HDF5's error stack (where the failure was first detected).
std::string hdf5_reason(const H5::Exception& exception) {
  std::string reason;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, keep_innermost, &reason);
  if (reason.empty()) reason = exception.getDetailMsg();
  return reason;
}

std::string type_name(hid_t type) {
  const std::size_t bits = H5Tget_size(type) * 8;
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(bits);
    case H5T_FLOAT:
      return "float" + std::to_string(bits);
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    case H5T_ARRAY:
      return "array";
    default:
      return "other";
  }
}

bool is_numeric(hid_t type) {
  H5T_class_t type_class = H5Tget_class(type);
  return type_class == H5T_INTEGER || type_class == H5T_FLOAT;
}

Hdf5DatasetInfo describe(hid_t dataset, std::string path) {
  Hdf5DatasetInfo info;
  info.path = std::move(path);
  hid_t type = H5Dget_type(dataset);
  info.type = type_name(type);
  info.numeric = is_numeric(type);
  H5Tclose(type);
  hid_t space = H5Dget_space(dataset);
  int rank = H5Sget_simple_extent_ndims(space);
  if (rank > 0) {
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    info.dims.assign(dims.begin(), dims.end());
  }
  H5Sclose(space);
  return info;
}

herr_t visit_link(hid_t group, const char* name, const H5L_info_t* link, void* data) {
  if (link->type != H5L_TYPE_HARD) return 0;
  hid_t object = H5Oopen(group, name, H5P_DEFAULT);
  if (object < 0) return 0;
  if (H5Iget_type(object) == H5I_DATASET)
    static_cast<std::vector<Hdf5DatasetInfo>*>(data)->push_back(describe(object, std::string("/") + name));
  H5Oclose(object);
  return 0;
}

std::vector<Hdf5DatasetInfo> datasets_of(const H5::H5File& file);

// Debian's libhdf5 1.10 can crash (a null or wild pointer in its metadata cache or local heap)
// on a damaged file instead of returning an error; the fuzzer's such files are kept in
// tests/fuzz/libhdf5/. So a file is first opened and walked (every dataset's type and shape) in a
// child process, with the default action for the crash signals (a sanitizer's handler would turn
// the crash into an exit): if the child dies of a signal, the file is reported as damaged and
// never opened here. Each file (device, inode, size, modification time) is vetted once per process.
void vet_in_child_process(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return;  // the open below reports it
  using Key = std::tuple<dev_t, ino_t, off_t, time_t, long>;
  const Key key{info.st_dev, info.st_ino, info.st_size, info.st_mtim.tv_sec, info.st_mtim.tv_nsec};
  static std::mutex mutex;
  static std::set<Key> vetted;
  std::lock_guard<std::mutex> lock(mutex);
  if (vetted.count(key)) return;
  const pid_t child = ::fork();
  if (child < 0) return;  // cannot vet: the file is opened here as before
  if (child == 0) {
    for (int signal : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) std::signal(signal, SIG_DFL);
    try {
      H5::H5File file(path, H5F_ACC_RDONLY);
      datasets_of(file);
    } catch (...) {
    }
    ::_exit(0);  // no atexit handlers, no stdio flush: the parent's buffers are not written twice
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0)
    if (errno != EINTR) return;
  if (WIFSIGNALED(status))
    throw DataError(path + ": cannot open as HDF5: the HDF5 library crashed reading the file's metadata (" +
                    strsignal(WTERMSIG(status)) + "); the file is damaged");
  vetted.insert(key);
}

H5::H5File open_file(const std::string& path) {
  silence_hdf5();
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw DataError(path + ": cannot open: " + std::strerror(errno));
  }
  if (!has_hdf5_signature(path)) throw DataError(path + ": not an HDF5 file (no HDF5 signature)");
  vet_in_child_process(path);
  try {
    return H5::H5File(path, H5F_ACC_RDONLY);
  } catch (const H5::Exception& e) {
    throw DataError(path + ": cannot open as HDF5: " + hdf5_reason(e));
  }
}

std::vector<Hdf5DatasetInfo> datasets_of(const H5::H5File& file) {
  std::vector<Hdf5DatasetInfo> datasets;
  // A damaged group structure stops the walk part way: the datasets found so far would be
  // reported as if they were all, and a missing column named as absent rather than unreadable.
  if (H5Lvisit(file.getId(), H5_INDEX_NAME, H5_ITER_INC, visit_link, &datasets) < 0)
    throw DataError(file.getFileName() + ": cannot list the file's datasets (its group structure is damaged)");
  std::sort(datasets.begin(), datasets.end(),
            [](const Hdf5DatasetInfo& a, const Hdf5DatasetInfo& b) { return a.path < b.path; });
  return datasets;
}

// Filters people meet in files written elsewhere (h5py's LZF, the HDF5 plugin registry's ids),
// named in messages when the file's own name for the filter is empty.
std::string known_filter_name(H5Z_filter_t id) {
  switch (id) {
    case 307: return "BZIP2";
    case 32000: return "LZF";
    case 32001: return "Blosc";
    case 32004: return "LZ4";
    case 32008: return "bitshuffle";
    case 32013: return "ZFP";
    case 32015: return "Zstandard";
    case 32017: return "SZ";
    default: return "";
  }
}

// The first filter of the dataset's pipeline this HDF5 library cannot apply, as "filter 32000
// (LZF)", and whether the file marks it optional (then only chunks it actually filtered are
// unreadable); empty when every filter is available.
std::string unavailable_filter(const H5::DataSet& dataset, bool& optional) {
  const hid_t create = H5Dget_create_plist(dataset.getId());
  std::string found;
  const int filters = H5Pget_nfilters(create);
  for (int i = 0; i < filters && found.empty(); ++i) {
    unsigned flags = 0, config = 0;
    std::size_t values = 0;
    char name[256] = {};
    const H5Z_filter_t id = H5Pget_filter2(create, static_cast<unsigned>(i), &flags, &values, nullptr,
                                           sizeof name, name, &config);
    if (id < 0 || H5Zfilter_avail(id) > 0) continue;
    std::string label = name[0] ? name : known_filter_name(id);
    found = "filter " + std::to_string(id) + (label.empty() ? "" : " (" + label + ")");
    optional = (flags & H5Z_FLAG_OPTIONAL) != 0;
  }
  H5Pclose(create);
  return found;
}

std::string filter_advice(const std::string& path, const std::string& filter) {
  return "stored with " + filter + ", which this HDF5 library does not provide; convert the file to " +
         "an unfiltered copy, e.g. h5repack -f NONE " + path + " unfiltered.h5";
}

std::string row_problem(bool is_sigma) {
  return is_sigma ? "sigma must be finite and > 0 (use --nan-policy omit to drop such rows)"
                  : "non-finite value (use --nan-policy omit to drop such rows)";
}

bool row_value_bad(double value, bool is_sigma) {
  return is_sigma ? !(value > 0.0 && std::isfinite(value)) : !std::isfinite(value);
}

// The first column of row r (predictors 0..k-1, y k, sigma k+1) whose value nan_policy rejects;
// k + 2 when the row is valid. sigma may be null.
std::size_t bad_column(const std::vector<const double*>& x, const double* y, const double* sigma, std::size_t r) {
  const std::size_t k = x.size();
  for (std::size_t c = 0; c < k; ++c)
    if (row_value_bad(x[c][r], false)) return c;
  if (row_value_bad(y[r], false)) return k;
  if (sigma && row_value_bad(sigma[r], true)) return k + 1;
  return k + 2;
}

[[noreturn]] void throw_bad_row(const std::string& file, const std::vector<std::string>& names, std::size_t bad,
                                std::size_t k, std::size_t r) {
  throw DataError(file + ": dataset " + (bad < names.size() ? names[bad] : std::string("?")) + ": row " +
                  std::to_string(r + 1) + ": " + row_problem(bad == k + 1));
}

// The numeric datasets that are one column (1-D, or N x 1) are the columns the rule of
// core/data/columns.h may choose.
ColumnRequest column_request_of(const std::string& path, const std::vector<Hdf5DatasetInfo>& datasets,
                                const DataOptions& options) {
  ColumnRequest request;
  request.where = path;
  request.source = ColumnSource::hdf5;
  for (const Hdf5DatasetInfo& info : datasets)
    if (info.numeric && (info.dims.size() == 1 || (info.dims.size() == 2 && info.dims[1] == 1)))
      request.columns.push_back(info.path);
  request.x = options.x;
  request.y = options.y;
  request.sigma = options.sigma;
  return request;
}

}  // namespace

ColumnRequest hdf5_column_request(const std::string& path, const DataOptions& options) {
  std::lock_guard lock(hdf5_mutex());
  H5::H5File file = open_file(path);
  return column_request_of(path, datasets_of(file), options);
}

std::recursive_mutex& hdf5_mutex() {
  static std::recursive_mutex mutex;
  return mutex;
}

bool has_hdf5_signature(const std::string& path) {
  static const char signature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  std::ifstream file(path, std::ios::binary);
  if (!file) return false;
  // The superblock sits at 0 or, after a user block, at 512, 1024, 2048, ...
  for (std::streamoff offset = 0; offset <= (std::streamoff{1} << 30); offset = offset ? offset * 2 : 512) {
    char head[8];
    file.clear();
    file.seekg(offset);
    if (!file.read(head, 8)) return false;
    if (std::memcmp(head, signature, 8) == 0) return true;
  }
  return false;
}

std::vector<Hdf5DatasetInfo> list_hdf5_datasets(const std::string& path) {
  std::lock_guard lock(hdf5_mutex());
  H5::H5File file = open_file(path);
  return datasets_of(file);
}

struct Hdf5DataSource::Column {
  H5::DataSet dataset;
  std::string spec;
  int column = -1;  // 0-based column of a 2-D dataset, -1 for 1-D
  std::string missing_filter;  // an optional filter the library lacks ("" when none)
};

struct Hdf5DataSource::Handles {
  H5::H5File file;
  std::vector<Column> columns;  // predictors, y, sigma
  int fd = -1;                  // HDF5's own descriptor of the file (sec2 driver)
  std::size_t bytes_at_open = 0;
  timespec modified_at_open{};
};

Hdf5DataSource::Hdf5DataSource(const std::string& path, const DataOptions& options, bool scan_invalid)
    : path_(path), on_notice_(options.on_notice),
      file_of_several_(options.file_of_several) {
  std::lock_guard lock(hdf5_mutex());
  handles_ = std::make_unique<Handles>();
  handles_->file = open_file(path);
  void* vfd_handle = nullptr;
  struct stat info {};
  if (H5Fget_vfd_handle(handles_->file.getId(), H5P_DEFAULT, &vfd_handle) < 0 || !vfd_handle ||
      ::fstat(*static_cast<int*>(vfd_handle), &info) != 0)
    throw DataError(path + ": cannot determine the file's size");
  handles_->fd = *static_cast<int*>(vfd_handle);
  handles_->bytes_at_open = static_cast<std::size_t>(info.st_size);
  handles_->modified_at_open = info.st_mtim;

  ColumnRequest request = column_request_of(path, datasets_of(handles_->file), options);
  request.predictor_names = options.predictor_names.empty() ? default_predictor_names(options.num_predictors)
                                                            : options.predictor_names;
  const ColumnChoice choice = choose_columns(request);
  std::vector<std::string> specs = choice.x;
  num_predictors_ = static_cast<int>(specs.size());
  specs.push_back(choice.y);
  if (!choice.sigma.empty()) {
    specs.push_back(choice.sigma);
    has_sigma_ = true;
  }
  column_notes_ = choice.notes;

  std::string first_spec;
  for (const std::string& spec : specs) {
    open_column(spec, first_spec);
    names_.push_back(spec);
  }
  fit_columns_ = handles_->columns.size();
  if (options.selection)
    for (const std::string& spec : options.selection->columns) open_column(spec, first_spec);
  if (rows_ == 0) throw DataError(path + ": dataset " + first_spec + ": empty (0 rows)");
  verify_positional_offsets();
  // omit and a selection need the kept rows before the first read (they shift row numbers): one
  // scan now. raise alone checks each row the first time a read delivers it, so no pass is spent
  // on checking.
  const bool drops_rows = options.nan_policy == NanPolicy::omit || options.selection;
  if (scan_invalid && drops_rows) find_kept_rows(options.nan_policy, options.selection.get());
  check_on_read_ = scan_invalid && !drops_rows;
}

// Opens and checks the dataset spec names ("/t", "/table:2") and appends it to the columns; the
// first one (first_spec, set here when empty) fixes the number of rows the others must have.
void Hdf5DataSource::open_column(const std::string& spec, std::string& first_spec) {
  Column column;
  column.spec = spec;
  std::string dataset_path = spec;
  std::size_t colon = spec.rfind(':');
  if (colon != std::string::npos && colon + 1 < spec.size() &&
      std::all_of(spec.begin() + static_cast<std::ptrdiff_t>(colon) + 1, spec.end(),
                  [](char c) { return c >= '0' && c <= '9'; })) {
    dataset_path = spec.substr(0, colon);
    column.column = std::stoi(spec.substr(colon + 1)) - 1;
    if (column.column < 0) throw DataError(path_ + ": dataset " + spec + ": columns are numbered from 1");
  }
  if (dataset_path.empty() || dataset_path[0] != '/') dataset_path = "/" + dataset_path;
  const std::string where = path_ + ": dataset " + dataset_path;
  bool exists = false;
  try {
    exists = handles_->file.nameExists(dataset_path) &&
             handles_->file.childObjType(dataset_path) == H5O_TYPE_DATASET;
  } catch (const H5::Exception&) {
    exists = false;  // an intermediate group is missing
  }
  if (!exists) {
    std::string names;
    for (const auto& info : datasets_of(handles_->file)) names += (names.empty() ? "" : ", ") + info.path;
    throw DataError(where + ": not found (datasets in the file: " + (names.empty() ? "none" : names) + ")");
  }
  try {
    column.dataset = handles_->file.openDataSet(dataset_path);
  } catch (const H5::Exception& e) {
    throw DataError(where + ": cannot open: " + hdf5_reason(e));
  }
  bool optional_filter = false;
  const std::string filter = unavailable_filter(column.dataset, optional_filter);
  if (!filter.empty() && !optional_filter) throw DataError(where + ": " + filter_advice(path_, filter));
  column.missing_filter = filter;
  Hdf5DatasetInfo info = describe(column.dataset.getId(), dataset_path);
  if (!info.numeric) throw DataError(where + ": type " + info.type + " is not numeric");
  std::size_t length = 0;
  if (info.dims.size() == 1) {
    if (column.column >= 0)
      throw DataError(where + ": is 1-D; a column (" + spec + ") needs a 2-D dataset");
    length = info.dims[0];
  } else if (info.dims.size() == 2) {
    if (column.column < 0 && info.dims[1] == 1) column.column = 0;  // N x 1: the one column
    if (column.column < 0 && info.dims[0] == 1)
      throw DataError(where + ": is 2-D (1 x " + std::to_string(info.dims[1]) +
                      "), one row; curvefit reads the columns of a 2-D dataset, so store these values as a "
                      "1-D dataset or as " + std::to_string(info.dims[1]) + " x 1");
    if (column.column < 0)
      throw DataError(where + ": is 2-D (" + std::to_string(info.dims[0]) + " x " + std::to_string(info.dims[1]) +
                      "): choose a column, e.g. " + dataset_path + ":1");
    if (static_cast<unsigned long long>(column.column) >= info.dims[1])
      throw DataError(where + ": has " + std::to_string(info.dims[1]) + " columns; no column " +
                      std::to_string(column.column + 1));
    length = info.dims[0];
  } else {
    throw DataError(where + ": rank " + std::to_string(info.dims.size()) +
                    " is not supported (1-D datasets, or a column of a 2-D dataset as /name:N)");
  }
  if (first_spec.empty()) {
    first_spec = spec;
    rows_ = length;
  } else if (length != rows_) {
    throw DataError(where + ": has " + std::to_string(length) + " rows but " + first_spec + " has " +
                    std::to_string(rows_));
  }
  handles_->columns.push_back(std::move(column));
}

Hdf5DataSource::~Hdf5DataSource() {
  std::lock_guard lock(hdf5_mutex());
  handles_.reset();
}

void Hdf5DataSource::read_file_rows(std::size_t begin, std::size_t count, double* const* x, double* y,
                                    double* sigma, double* const* extra) {
  if (begin + count > rows_)
    throw DataError(path_ + ": rows " + std::to_string(begin + 1) + ".." + std::to_string(begin + count) +
                    " requested but the file has " + std::to_string(rows_));
  read_physical(begin, count, x, y, sigma, extra);
}

void Hdf5DataSource::read_physical(std::size_t begin, std::size_t count, double* const* x, double* y,
                                   double* sigma, double* const* extra) {
  if (count == 0) return;
  const bool by_position = !positional_offsets_.empty();
  for (std::size_t c = 0; c < handles_->columns.size(); ++c) {
    double* target = c >= fit_columns_                                 ? (extra ? extra[c - fit_columns_] : nullptr)
                     : c < static_cast<std::size_t>(num_predictors_)  ? x[c]
                     : c == static_cast<std::size_t>(num_predictors_) ? y
                                                                       : sigma;
    if (!target) continue;
    if (by_position && c < fit_columns_) read_by_position(c, begin, count, target);
    else read_through_hdf5(c, begin, count, target);
  }
  check_file_size();
}

void Hdf5DataSource::read_through_hdf5(std::size_t c, std::size_t begin, std::size_t count, double* target) const {
  std::lock_guard lock(hdf5_mutex());
  Column& column = handles_->columns[c];
  try {
    H5::DataSpace file_space = column.dataset.getSpace();
    if (column.column < 0) {
      hsize_t start[1] = {begin}, size[1] = {count};
      file_space.selectHyperslab(H5S_SELECT_SET, size, start);
    } else {
      hsize_t start[2] = {begin, static_cast<hsize_t>(column.column)}, size[2] = {count, 1};
      file_space.selectHyperslab(H5S_SELECT_SET, size, start);
    }
    hsize_t memory_size[1] = {count};
    H5::DataSpace memory_space(1, memory_size);
    column.dataset.read(target, H5::PredType::NATIVE_DOUBLE, memory_space, file_space);
  } catch (const H5::Exception& e) {
    const std::string where = path_ + ": dataset " + column.spec;
    if (!column.missing_filter.empty()) throw DataError(where + ": " + filter_advice(path_, column.missing_filter));
    check_file_size();
    throw DataError(where + ": reading rows " + std::to_string(begin + 1) + ".." + std::to_string(begin + count) +
                    " failed: " + hdf5_reason(e));
  }
}

void Hdf5DataSource::read_by_position(std::size_t c, std::size_t begin, std::size_t count, double* target) const {
  char* out = reinterpret_cast<char*>(target);
  std::size_t left = count * sizeof(double);
  auto at = static_cast<off_t>(positional_offsets_[c] + begin * sizeof(double));
  while (left > 0) {
    const ssize_t got = ::pread(handles_->fd, out, left, at);
    if (got > 0) {
      out += got, left -= static_cast<std::size_t>(got), at += got;
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    const std::string reason = got < 0 ? std::strerror(errno) : "the file ends before them";
    check_file_size();  // a file cut short says so
    throw DataError(path_ + ": dataset " + handles_->columns[c].spec + ": reading rows " + std::to_string(begin + 1) +
                    ".." + std::to_string(begin + count) + " failed: " + reason);
  }
}

void Hdf5DataSource::check_file_size() const {
  // HDF5 returns zeros for storage past the end of a truncated file instead of failing, and a
  // file rewritten in place would mix old and new rows across passes, so every read is checked
  // against the size and modification time the file had when it was opened. A file replaced by
  // rename is not a change: the open descriptor keeps the old one.
  struct stat now {};
  if (::fstat(handles_->fd, &now) != 0 || static_cast<std::size_t>(now.st_size) < handles_->bytes_at_open)
    throw DataError(path_ + ": the file shrank from " + std::to_string(handles_->bytes_at_open) + " to " +
                    std::to_string(now.st_size) + " bytes while it was being read; it must not change during a fit");
  const timespec& then = handles_->modified_at_open;
  if (static_cast<std::size_t>(now.st_size) != handles_->bytes_at_open || now.st_mtim.tv_sec != then.tv_sec ||
      now.st_mtim.tv_nsec != then.tv_nsec)
    throw DataError(path_ + ": the file was written to while it was being read; it must not change during a fit");
}

void Hdf5DataSource::check_rows(std::size_t begin, std::size_t count, const double* const* x,
                                const double* y, const double* sigma, std::size_t offset) {
  const std::size_t k = static_cast<std::size_t>(num_predictors_);
  // A quick look first; only then find the first bad row, in its first bad column, as a scan would.
  bool any = any_non_finite(y + offset, count);
  for (std::size_t c = 0; c < k && !any; ++c) any = any_non_finite(x[c] + offset, count);
  if (has_sigma_ && sigma && !any)
    for (std::size_t r = 0; r < count && !any; ++r) any = row_value_bad(sigma[offset + r], true);
  if (!any) return;
  for (std::size_t r = 0; r < count; ++r)
    for (std::size_t c = 0; c <= k + (has_sigma_ && sigma ? 1 : 0); ++c) {
      const bool is_sigma = c == k + 1;
      const double value = (c < k ? x[c] : c == k ? y : sigma)[offset + r];
      if (row_value_bad(value, is_sigma))
        throw DataError(path_ + ": dataset " + names_[c] + ": row " + std::to_string(begin + r + 1) + ": " +
                        row_problem(is_sigma));
    }
}

void Hdf5DataSource::find_kept_rows(NanPolicy policy, const RowSelection* selection) {
  const std::size_t k = static_cast<std::size_t>(num_predictors_);
  const std::size_t columns = handles_->columns.size();
  const std::size_t slab = std::min(rows_, kHdf5ScanRows);
  std::vector<double> buffer(columns * slab);
  std::vector<unsigned char> keep(slab);
  std::vector<double*> at(columns);
  std::vector<std::size_t> first_omitted;
  std::size_t omitted = 0, unselected = 0;
  filtered_ = true;
  for (std::size_t begin = 0; begin < rows_; begin += kHdf5ScanRows) {
    const std::size_t count = std::min(kHdf5ScanRows, rows_ - begin);
    for (std::size_t c = 0; c < columns; ++c) at[c] = buffer.data() + c * count;
    read_physical(begin, count, at.data(), at[k], has_sigma_ ? at[k + 1] : nullptr, at.data() + fit_columns_);
    std::fill_n(keep.begin(), count, static_cast<unsigned char>(1));
    if (selection) selection->keep(at.data(), at.data() + fit_columns_, count, keep.data());
    const std::vector<const double*> x(at.begin(), at.begin() + static_cast<std::ptrdiff_t>(k));
    for (std::size_t r = 0; r < count; ++r) {
      if (!keep[r]) {
        ++unselected;
        continue;
      }
      const std::size_t bad = bad_column(x, at[k], has_sigma_ ? at[k + 1] : nullptr, r);
      if (bad <= k + 1) {
        if (policy == NanPolicy::raise) throw_bad_row(path_, names_, bad, k, begin + r);
        if (first_omitted.size() < 5) first_omitted.push_back(begin + r + 1);
        ++omitted;
        continue;
      }
      if (!runs_.empty() && runs_.back().physical + runs_.back().length == begin + r) ++runs_.back().length;
      else runs_.push_back({begin + r, kept_rows_, 1});
      ++kept_rows_;
    }
  }
  runs_.shrink_to_fit();
  if (omitted > 0 && on_notice_)
    on_notice_(path_ + ": omitted " + std::to_string(omitted) + " row" + (omitted == 1 ? "" : "s") +
               " with non-finite x/y or sigma <= 0 (" + format_place_list(PlaceUnit::row, first_omitted, omitted) + ")");
  if (selection && on_notice_ && !file_of_several_)
    on_notice_(path_ + ": " + selected_rows_notice(kept_rows_, rows_, *selection));
  if (kept_rows_ == 0 && file_of_several_) return;
  if (kept_rows_ == 0 && selection && omitted == 0) throw DataError(path_ + ": " + no_row_selected(rows_, *selection));
  if (kept_rows_ == 0)
    throw DataError(path_ + ": no valid rows remain (" + std::to_string(omitted) + " omitted" +
                    (unselected > 0 ? ", " + std::to_string(unselected) + " not selected" : "") + ")");
}

std::vector<std::uint64_t> Hdf5DataSource::contiguous_file_offsets() const {
  std::lock_guard lock(hdf5_mutex());
  try {
    if (handles_->file.getCreatePlist().getUserblock() != 0) return {};
    std::vector<std::uint64_t> offsets;
    for (std::size_t c = 0; c < fit_columns_; ++c) {
      const Column& column = handles_->columns[c];
      if (column.column >= 0) return {};
      const hid_t id = column.dataset.getId();
      const H5::DSetCreatPropList create = column.dataset.getCreatePlist();
      if (create.getLayout() != H5D_CONTIGUOUS || create.getExternalCount() != 0) return {};
      const H5::DataType type = column.dataset.getDataType();
      if (!(type == H5::PredType::NATIVE_DOUBLE)) return {};
      if (H5Dget_storage_size(id) != rows_ * sizeof(double)) return {};
      const haddr_t offset = H5Dget_offset(id);
      if (offset == HADDR_UNDEF || offset % alignof(double) != 0) return {};
      offsets.push_back(offset);
    }
    return offsets;
  } catch (const H5::Exception&) {
    return {};  // not usable in place: read through HDF5 instead
  }
}

// Trust, but verify: the first and the last rows read by position must be the values HDF5 reads.
void Hdf5DataSource::verify_positional_offsets() {
  positional_offsets_ = contiguous_file_offsets();
  const std::size_t probe = std::min<std::size_t>(rows_, 64);
  std::vector<double> through_hdf5(probe), by_position(probe);
  for (std::size_t c = 0; c < positional_offsets_.size() && probe > 0; ++c)
    for (const std::size_t begin : {std::size_t{0}, rows_ - probe}) {
      read_through_hdf5(c, begin, probe, through_hdf5.data());
      read_by_position(c, begin, probe, by_position.data());
      if (std::memcmp(through_hdf5.data(), by_position.data(), probe * sizeof(double)) != 0) {
        positional_offsets_.clear();
        return;
      }
    }
}

void Hdf5DataSource::read(std::size_t begin, std::size_t count, double* const* x, double* y, double* sigma) {
  if (begin + count > rows())
    throw DataError(path_ + ": rows " + std::to_string(begin + 1) + ".." + std::to_string(begin + count) +
                    " requested but the data have " + std::to_string(rows()));
  if (count == 0) return;
  if (filtered_) {
    read_kept(begin, count, x, y, sigma);
    return;
  }
  read_physical(begin, count, x, y, sigma);
  if (check_on_read_ && begin + count > checked_rows_) {
    const std::size_t from = std::max(begin, checked_rows_);
    check_rows(from, begin + count - from, x, y, sigma, from - begin);
    if (begin <= checked_rows_) checked_rows_ = begin + count;
  }
}

void Hdf5DataSource::read_kept(std::size_t begin, std::size_t count, double* const* x, double* y, double* sigma) {
  // The runs' pieces that hold the rows are read together while they span at most `window`
  // physical rows (one read for dense selections, no read of long unselected stretches).
  const std::size_t window = std::max<std::size_t>(count, std::size_t{1} << 16);
  const std::size_t k = static_cast<std::size_t>(num_predictors_);
  const std::size_t slots = k + 1 + (has_sigma_ && sigma ? 1 : 0);
  struct Piece {
    std::size_t physical, out, length;
  };
  std::vector<Piece> pieces;
  auto flush = [&] {
    if (pieces.empty()) return;
    const std::size_t first = pieces.front().physical;
    const std::size_t span = pieces.back().physical + pieces.back().length - first;
    scratch_.resize(slots * span);
    std::vector<double*> at(slots);
    for (std::size_t c = 0; c < slots; ++c) at[c] = scratch_.data() + c * span;
    read_physical(first, span, at.data(), at[k], slots > k + 1 ? at[k + 1] : nullptr);
    for (const Piece& piece : pieces)
      for (std::size_t c = 0; c < slots; ++c) {
        double* target = c < k ? x[c] : c == k ? y : sigma;
        std::copy_n(at[c] + (piece.physical - first), piece.length, target + piece.out);
      }
    pieces.clear();
  };
  // The last run that starts at or before `begin`.
  auto run = std::upper_bound(runs_.begin(), runs_.end(), begin,
                              [](std::size_t row, const Run& r) { return row < r.logical; }) - 1;
  for (std::size_t out = 0; out < count; ++run) {
    const std::size_t offset = begin + out - run->logical;
    const std::size_t take = std::min(run->length - offset, count - out);
    const std::size_t physical = run->physical + offset;
    if (!pieces.empty() && physical + take - pieces.front().physical > window) flush();
    pieces.push_back({physical, out, take});
    out += take;
  }
  flush();
}

void check_values_raise(const std::vector<const double*>& x, const double* y, const double* sigma,
                        std::size_t rows, const std::string& file, const std::vector<std::string>& names) {
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t bad = bad_column(x, y, sigma, r);
    if (bad <= x.size() + 1) throw_bad_row(file, names, bad, x.size(), r);
  }
}

bool row_passes(const std::vector<const double*>& x, const double* y, const double* sigma, std::size_t r,
                NanPolicy policy, std::size_t file_row, const std::string& file, const std::vector<std::string>& names) {
  const std::size_t bad = bad_column(x, y, sigma, r);
  if (bad > x.size() + 1) return true;
  if (policy == NanPolicy::raise) throw_bad_row(file, names, bad, x.size(), file_row);
  return false;
}

std::size_t apply_nan_policy(std::vector<std::vector<double>>& x, std::vector<double>& y,
                             std::vector<double>& sigma, NanPolicy policy, const std::string& file,
                             const std::vector<std::string>& names,
                             const std::function<void(const std::string&)>& on_notice,
                             std::size_t first_row) {
  const std::size_t n = y.size(), k = x.size();
  std::size_t kept = first_row, omitted = 0;
  std::vector<std::size_t> first;
  std::vector<const double*> columns;
  for (const auto& column : x) columns.push_back(column.data());
  for (std::size_t r = first_row; r < n; ++r) {
    const std::size_t bad = bad_column(columns, y.data(), sigma.empty() ? nullptr : sigma.data(), r);
    if (bad <= k + 1) {
      if (policy == NanPolicy::raise) throw_bad_row(file, names, bad, k, r - first_row);
      if (first.size() < 5) first.push_back(r - first_row + 1);
      ++omitted;
      continue;
    }
    if (kept != r) {
      for (std::size_t c = 0; c < k; ++c) x[c][kept] = x[c][r];
      y[kept] = y[r];
      if (!sigma.empty()) sigma[kept] = sigma[r];
    }
    ++kept;
  }
  for (auto& column : x) column.resize(kept);
  y.resize(kept);
  if (!sigma.empty()) sigma.resize(kept);
  if (omitted > 0) {
    const std::string list = format_place_list(PlaceUnit::row, first, omitted);
    if (on_notice)
      on_notice(file + ": omitted " + std::to_string(omitted) + " row" + (omitted == 1 ? "" : "s") +
                " with non-finite x/y or sigma <= 0 (" + list + ")");
  }
  if (kept == first_row) throw DataError(file + ": no valid rows remain (" + std::to_string(omitted) + " omitted)");
  return omitted;
}

}  // namespace curvefit
