// CSV reading: detection from a sample prefix, then a three-stage TBB pipeline
//   cut blocks at record boundaries (serial) -> parse records (parallel) -> deliver (serial, in file
//   order, where block-relative line numbers become absolute ones).
// A record is one line, or several when a quoted field holds newlines; blocks are cut between
// records only, so a quoted newline never straddles a block border.
#include "core/data/csv_reader.h"

#include <fast_float/fast_float.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>

#include "core/errors.h"
#include "core/thread_sanitizer.h"

namespace curvefit {
namespace {

constexpr std::size_t kListedLines = 5;
// Byte ranges up to this size are parsed on the calling thread (parse_byte_range).
constexpr std::size_t kSerialParseBytes = std::size_t{64} << 10;
constexpr char kByteOrderMark[] = "\xEF\xBB\xBF";

// Standard input can be probed and then loaded: the probe's sample is kept here and served
// again to the next reader of "-". Bytes read past the sample are consumed for good.
std::mutex g_stdin_mutex;
std::string g_stdin_pushback;
bool g_stdin_streamed = false;

bool is_blank(char c) { return c == ' ' || c == '\t'; }

fast_float::parse_options number_format(char decimal) {
  return fast_float::parse_options(fast_float::chars_format::general, decimal);
}

// A number filling [first, last) exactly; '+' accepted, nan/inf recognised (fast_float).
bool parse_exact(const char* first, const char* last, double& value, char decimal = '.') {
  while (first < last && is_blank(*first)) ++first;
  while (last > first && is_blank(last[-1])) --last;
  if (first < last && *first == '+') {
    ++first;
    if (first == last || *first == '-' || *first == '+') return false;
  }
  if (first == last) return false;
  auto result = fast_float::from_chars_advanced(first, last, value, number_format(decimal));
  return result.ec == std::errc() && result.ptr == last;
}

// An empty field, or a marker spreadsheets, R and pandas write for a missing value: NA, N/A,
// NaN, null (any case).
bool is_missing_marker(const char* first, const char* last) {
  while (first < last && is_blank(*first)) ++first;
  while (last > first && is_blank(last[-1])) --last;
  std::string text(first, last);
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text.empty() || text == "na" || text == "n/a" || text == "nan" || text == "null";
}

std::string quote_for_message(const char* first, const char* last) {
  std::string text(first, static_cast<std::size_t>(std::min<std::ptrdiff_t>(last - first, 40)));
  if (last - first > 40) text += "...";
  return "'" + text + "'";
}

std::string too_long(std::size_t max_line_bytes) {
  return "line longer than " + std::to_string(max_line_bytes) + " bytes";
}

// Splits one record ('\r' before its end already stripped) into fields for detection and headers:
// trimmed, quotes removed, "" inside quotes unescaped. Not the hot path.
std::vector<std::string> split_fields(const char* p, const char* end, char delimiter, bool whitespace) {
  std::vector<std::string> fields;
  auto skip_blanks = [&] { while (p < end && is_blank(*p) && !(!whitespace && *p == delimiter)) ++p; };
  skip_blanks();
  if (whitespace && p == end) return fields;
  while (true) {
    std::string field;
    if (p < end && *p == '"') {
      ++p;
      while (p < end) {
        if (*p == '"') {
          if (p + 1 < end && p[1] == '"') { field += '"'; p += 2; continue; }
          ++p;
          break;
        }
        field += *p++;
      }
      while (p < end && !(whitespace ? is_blank(*p) : *p == delimiter)) field += *p++;
    } else {
      while (p < end && !(whitespace ? is_blank(*p) : *p == delimiter)) field += *p++;
      while (!field.empty() && is_blank(field.back())) field.pop_back();
    }
    fields.push_back(std::move(field));
    if (p == end) break;
    if (whitespace) {
      while (p < end && is_blank(*p)) ++p;
      if (p == end) break;
    } else {
      ++p;  // the delimiter
      skip_blanks();
    }
  }
  return fields;
}

// Delimiter occurrences outside quotes.
std::size_t count_outside_quotes(const std::string& line, char delimiter) {
  std::size_t count = 0;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') quoted = !quoted;
    else if (c == delimiter && !quoted) ++count;
  }
  return count;
}

bool is_skippable(const char* p, const char* end) {
  while (p < end && (is_blank(*p) || *p == '\r')) ++p;
  return p == end || *p == '#';
}

// The '\n' that ends the record starting at p: the first newline outside a quoted field, or null
// when [p, end) holds no complete record. embedded counts the newlines inside quotes passed. As
// in parse_line, a quote opens a quoted field only at the start of a field (after the delimiter
// and any padding; delimiter 0 stands for any of , ; tab while the dialect is not known yet), and
// "" inside one is a quote: a stray quote in the middle of a field does not swallow lines.
const char* record_end(const char* p, const char* end, char delimiter, std::size_t& embedded) {
  embedded = 0;
  const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
  if (!std::memchr(p, '"', static_cast<std::size_t>((nl ? nl : end) - p))) return nl;
  auto separates = [delimiter](char c) {
    return delimiter == 0 ? (c == ',' || c == ';' || c == '\t') : (c == delimiter || (delimiter == ' ' && is_blank(c)));
  };
  bool quoted = false, field_start = true;
  for (const char* q = p; q < end; ++q) {
    const char c = *q;
    if (quoted) {
      if (c == '\n') ++embedded;
      if (c != '"') continue;
      if (q + 1 == end) return nullptr;  // "" or the closing quote: the next byte decides
      if (q[1] == '"') ++q;
      else quoted = false;
    } else if (c == '\n') {
      return q;
    } else if (c == '"' && field_start) {
      quoted = true;
      field_start = false;
    } else if (separates(c)) {
      field_start = true;
    } else if (!is_blank(c)) {
      field_start = false;
    }
  }
  return nullptr;
}

// Bytes of [text, text + size), which starts a record, that form complete records. Without a
// quote in the text (has_quote false) a record is a line.
std::size_t complete_records_length(const char* text, std::size_t size, bool has_quote, char delimiter) {
  if (!has_quote) {
    for (const char* q = text + size; q > text;)
      if (*--q == '\n') return static_cast<std::size_t>(q - text) + 1;
    return 0;
  }
  const char* p = text;
  std::size_t embedded = 0;
  while (const char* nl = record_end(p, text + size, delimiter, embedded)) p = nl + 1;
  return static_cast<std::size_t>(p - text);
}

}  // namespace

// Bytes from a file descriptor, after a prefix that was read earlier and pushed back. Old Mac
// files end lines with a lone '\r': once told so, every '\r' read becomes '\n'.
class CsvReader::Input {
 public:
  explicit Input(const std::string& path) : is_stdin_(path == "-") {
    if (is_stdin_) {
      fd_ = 0;
      return;
    }
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw DataError(path + ": cannot open: " + std::strerror(errno));
    struct stat info {};
    if (::fstat(fd_, &info) == 0) {
      if (S_ISDIR(info.st_mode)) {
        ::close(fd_);
        throw DataError(path + ": is a directory");
      }
      if (S_ISREG(info.st_mode)) {
        size_ = static_cast<std::size_t>(info.st_size);
        opened_ = info;
        regular_ = true;
      }
    }
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  }
  ~Input() {
    unmap();
    if (!is_stdin_ && fd_ >= 0) ::close(fd_);
  }
  bool is_stdin() const { return is_stdin_; }
  std::size_t size() const { return size_; }
  void push_back(std::string prefix) {
    prefix_ = std::move(prefix);
    prefix_position_ = 0;
  }
  void translate_carriage_returns() { translate_cr_ = true; }
  // Reads up to n bytes; 0 at end of input.
  std::size_t read(char* destination, std::size_t n, const std::string& name) {
    if (prefix_position_ < prefix_.size()) {
      std::size_t take = std::min(n, prefix_.size() - prefix_position_);
      std::memcpy(destination, prefix_.data() + prefix_position_, take);
      prefix_position_ += take;
      return take;
    }
    while (true) {
      ssize_t got = ::read(fd_, destination, n);
      if (got >= 0) {
        if (got == 0) check_unchanged(name);
        bytes_read_ += static_cast<std::size_t>(got);
        if (translate_cr_) std::replace(destination, destination + got, '\r', '\n');
        return static_cast<std::size_t>(got);
      }
      if (errno != EINTR) throw DataError(name + ": read error: " + std::strerror(errno));
    }
  }

  // The bytes [offset, size()) of a regular file as it was opened, mapped read-only; null when
  // the input is not a regular file, holds no such bytes, or cannot be mapped (then read()).
  // Under an address-space limit (`ulimit -v`) the whole file's mapping would take address space
  // that the plan does not count: the file is read then.
  const char* map_from(std::size_t offset) {
    struct rlimit address_space {};
    if (::getrlimit(RLIMIT_AS, &address_space) != 0 || address_space.rlim_cur != RLIM_INFINITY) return nullptr;
    if (!regular_ || translate_cr_ || offset >= size_) return nullptr;
    void* address = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (address == MAP_FAILED) return nullptr;
    ::madvise(address, size_, MADV_SEQUENTIAL);
    mapping_ = static_cast<const char*>(address);
    return mapping_ + offset;
  }
  // Unmaps, and checks that the file did not change while it was mapped (as read() does at its end).
  void finish_mapped(const std::string& name) {
    unmap();
    bytes_read_ = size_;
    check_unchanged(name);
  }

  // Reads up to n bytes at `offset` of a regular file (pread: no shared file position); 0 at its end.
  std::size_t read_at(char* destination, std::size_t n, std::size_t offset, const std::string& name) {
    while (true) {
      const ssize_t got = ::pread(fd_, destination, n, static_cast<off_t>(offset));
      if (got >= 0) return static_cast<std::size_t>(got);
      if (errno != EINTR) throw DataError(name + ": read error: " + std::strerror(errno));
    }
  }

 private:
  // At the end of a regular file: everything it held when opened was read and it was not written
  // since. A file cut short or rewritten under the parse would otherwise give fewer or other rows
  // without an error (a file replaced by rename is not a change: the open descriptor keeps the
  // old one).
  void check_unchanged(const std::string& name) const {
    struct stat now {};
    if (!regular_ || ::fstat(fd_, &now) != 0) return;
    const bool written = now.st_mtim.tv_sec != opened_.st_mtim.tv_sec || now.st_mtim.tv_nsec != opened_.st_mtim.tv_nsec;
    if (bytes_read_ == size_ && static_cast<std::size_t>(now.st_size) == size_ && !written) return;
    throw DataError(name + ": the file changed while it was being read (" + std::to_string(size_) +
                    " bytes when opened, " + std::to_string(now.st_size) + " now, " + std::to_string(bytes_read_) +
                    " read); it must not change during a fit");
  }

  void unmap() {
    if (mapping_) ::munmap(const_cast<char*>(mapping_), size_);
    mapping_ = nullptr;
  }

  bool is_stdin_;
  bool regular_ = false;
  const char* mapping_ = nullptr;
  struct stat opened_ {};
  std::size_t bytes_read_ = 0;
  int fd_ = -1;
  std::size_t size_ = 0;
  std::string prefix_;
  std::size_t prefix_position_ = 0;
  bool translate_cr_ = false;
};

char parse_delimiter_option(const std::string& text) {
  if (text.empty()) return 0;
  if (text == "tab" || text == "\\t" || text == "\t") return '\t';
  if (text == "space" || text == "whitespace" || text == " ") return ' ';
  if (text == "comma") return ',';
  if (text == "semicolon") return ';';
  if (text.size() == 1 && text[0] != '"' && text[0] != '#' && text[0] != '\n' && text[0] != '\r') return text[0];
  throw UsageError("--delimiter: expected one character (not a quote, '#' or a newline), 'tab' or 'space', got '" +
                   text + "'");
}

char parse_decimal_option(const std::string& text) {
  if (text.empty()) return 0;
  if (text == "." || text == "point" || text == "dot") return '.';
  if (text == "," || text == "comma") return ',';
  throw UsageError("--decimal: expected '.' or ',', got '" + text + "'");
}

bool is_csv_number(const std::string& text, char decimal) {
  double value;
  return parse_exact(text.data(), text.data() + text.size(), value, decimal);
}

// One record of the sample: its text, its first and last physical line, and the sample offset
// just past it.
struct CsvReader::SampleLine {
  std::string text;
  std::size_t number = 0;
  std::size_t last_number = 0;
  std::size_t end_offset = 0;
};

std::size_t CsvParseTuning::pipeline_tokens() {
  return static_cast<std::size_t>(tbb::this_task_arena::max_concurrency()) + 2;
}

std::size_t CsvParseTuning::parse_buffer_bytes(std::size_t columns, double bytes_per_row) const {
  const double rows_per_block = static_cast<double>(block_bytes) / std::max(bytes_per_row, 1.0) + 16;
  const auto parsed = static_cast<std::size_t>(2 * rows_per_block) * columns * sizeof(double);
  return sample_bytes + pipeline_tokens() * (block_bytes + max_line_bytes + 1 + parsed);
}

CsvReader::CsvReader(const std::string& path, const DataOptions& options, CsvParseTuning tuning,
                     bool choose_columns)
    : path_(path), display_name_(path == "-" ? "<stdin>" : path), options_(options), tuning_(tuning) {
  if (options.csv_block_bytes > 0) tuning_.block_bytes = options.csv_block_bytes;
  input_ = std::make_unique<Input>(path);
  file_bytes_ = input_->size();
  read_sample();
  if (sample_.empty()) throw DataError(display_name_, 1, 1, "empty file");
  detect(options);
  if (choose_columns) select(options);
}

CsvReader::~CsvReader() = default;

void CsvReader::read_sample() {
  // The sample: up to sample_bytes, plus one byte so a maximal line is recognisably complete.
  const std::size_t want = tuning_.sample_bytes + 1;
  if (input_->is_stdin()) {
    std::lock_guard lock(g_stdin_mutex);
    if (g_stdin_streamed) throw DataError("<stdin>: standard input was already read");
    sample_ = g_stdin_pushback;
  }
  std::size_t have = sample_.size();
  sample_.resize(std::max(want, have));
  bool eof = false;
  while (have < want) {
    std::size_t got = input_->read(sample_.data() + have, want - have, display_name_);
    if (got == 0) { eof = true; break; }
    have += got;
  }
  sample_.resize(have);
  sample_is_whole_file_ = eof;
  if (input_->is_stdin()) {
    std::lock_guard lock(g_stdin_mutex);
    g_stdin_pushback = sample_;  // as read: the next reader normalises it the same way
  }
  // A UTF-8 byte order mark (spreadsheet exports) is not part of the first field.
  if (sample_.starts_with(kByteOrderMark)) {
    sample_.erase(0, sizeof kByteOrderMark - 1);
    data_offset_ = sizeof kByteOrderMark - 1;
  }
  // Lines ended by a lone '\r' (old Mac exports): no '\n' at all in the sample, but '\r's.
  if (sample_.find('\n') == std::string::npos && sample_.find('\r') != std::string::npos) {
    std::replace(sample_.begin(), sample_.end(), '\r', '\n');
    input_->translate_carriage_returns();
    lone_cr_ = true;
  }
}

void CsvReader::detect(const DataOptions& options) {
  std::size_t data_bytes = 0, data_lines = 0;
  const std::vector<SampleLine> lines = scan_sample(data_bytes, data_lines);
  choose_delimiter(lines, options);
  choose_decimal(lines, options);
  detect_header(lines, options);
  std::size_t header_end_offset = 0;
  if (dialect_.has_header) {
    data_bytes -= lines[0].text.size() + 1;
    --data_lines;
    // Parsing starts after the header record: drop it (and what precedes it) from the sample.
    header_end_offset = lines[0].end_offset;
    lines_before_data_ = lines[0].last_number;
  }
  data_offset_ += header_end_offset;
  input_->push_back(sample_.substr(header_end_offset));

  // Rows: exact when the sample is the whole file and no row can be dropped, else estimated.
  if (sample_is_whole_file_) {
    estimated_rows_ = data_lines;
    rows_exact_ = !options.skip_invalid && options.nan_policy == NanPolicy::raise && !options.selection;
  } else {
    estimated_rows_ = estimate_rows(data_bytes, data_lines, data_offset_ - header_end_offset + sample_.size());
  }
}

std::size_t CsvReader::estimate_rows(std::size_t data_bytes, std::size_t data_lines, std::size_t sample_end) {
  if (data_lines == 0 || file_bytes_ == 0) return data_lines;
  const double sample_per_line = static_cast<double>(data_bytes) / static_cast<double>(data_lines);
  if (input_->is_stdin() || file_bytes_ <= sample_end)
    return static_cast<std::size_t>(static_cast<double>(file_bytes_) / sample_per_line);
  // The rest of the file at the line density of windows spread evenly over it (comment lines and
  // quoted newlines count as rows here: an estimate, for reserving and planning).
  constexpr std::size_t kWindows = 32, kWindowBytes = std::size_t{32} << 10;
  const std::size_t rest = file_bytes_ - sample_end;
  const char line_end = lone_cr_ ? '\r' : '\n';
  std::vector<char> window(std::min(kWindowBytes, rest / kWindows + 1));
  std::size_t window_bytes = 0, window_lines = 0;
  for (std::size_t i = 0; i < kWindows; ++i) {
    const std::size_t offset = sample_end + rest / kWindows * i;
    const std::size_t got = input_->read_at(window.data(), window.size(), offset, display_name_);
    window_bytes += got;
    window_lines += static_cast<std::size_t>(std::count(window.data(), window.data() + got, line_end));
  }
  const double rest_per_line =
      window_lines > 0 ? static_cast<double>(window_bytes) / static_cast<double>(window_lines) : sample_per_line;
  return data_lines + static_cast<std::size_t>(static_cast<double>(rest) / rest_per_line);
}

std::vector<CsvReader::SampleLine> CsvReader::scan_sample(std::size_t& data_bytes, std::size_t& data_lines) {
  // Complete, non-comment, non-blank records of the sample (the first 64 kept), with their bytes.
  std::vector<SampleLine> lines;
  std::size_t line_number = 0, offset = 0;
  const char* const sample_end = sample_.data() + sample_.size();
  while (offset < sample_.size()) {
    const char* begin = sample_.data() + offset;
    std::size_t embedded = 0;
    const char* nl = record_end(begin, sample_end, 0, embedded);
    if (!nl && !sample_is_whole_file_) break;  // an incomplete last record
    const char* end = nl ? nl : sample_end;
    const std::size_t first_line = ++line_number;
    line_number += embedded;
    if (static_cast<std::size_t>(end - begin) > tuning_.max_line_bytes)
      throw DataError(display_name_, first_line, 1, too_long(tuning_.max_line_bytes));
    const char* stripped_end = (end > begin && end[-1] == '\r') ? end - 1 : end;
    if (const void* nul = std::memchr(begin, '\0', static_cast<std::size_t>(end - begin)))
      throw DataError(display_name_, first_line, static_cast<std::size_t>(static_cast<const char*>(nul) - begin) + 1,
                      "embedded NUL byte (is this a binary file?)");
    offset = static_cast<std::size_t>(end - sample_.data()) + (nl ? 1 : 0);
    if (!is_skippable(begin, stripped_end)) {
      if (lines.size() < 64) lines.push_back({std::string(begin, stripped_end), first_line, line_number, offset});
      data_bytes += static_cast<std::size_t>(end - begin) + 1;
      ++data_lines;
    }
  }
  if (lines.empty()) {
    if (!sample_is_whole_file_) throw DataError(display_name_, line_number + 1, 1, too_long(tuning_.max_line_bytes));
    throw DataError(display_name_, line_number, 1, "empty file: only comments and blank lines");
  }
  return lines;
}

void CsvReader::choose_delimiter(const std::vector<SampleLine>& lines, const DataOptions& options) {
  if (options.delimiter == ' ') {
    dialect_.whitespace = true;
    dialect_.delimiter = ' ';
    return;
  }
  if (options.delimiter != 0) {
    dialect_.delimiter = options.delimiter;
    return;
  }
  // The candidate that splits most sample lines into the first line's field count. A decimal
  // comma rules out the comma.
  std::size_t best_score = 0, best_count = 0;
  char best = 0;
  for (char candidate : {',', '\t', ';'}) {
    if (candidate == ',' && options.decimal == ',') continue;
    std::size_t first = count_outside_quotes(lines[0].text, candidate);
    if (first == 0) continue;
    std::size_t score = 0;
    for (const auto& line : lines) score += count_outside_quotes(line.text, candidate) == first;
    if (score > best_score || (score == best_score && first > best_count)) {
      best_score = score;
      best_count = first;
      best = candidate;
    }
  }
  if (best != 0 && best_score * 2 >= lines.size()) {
    dialect_.delimiter = best;
  } else {
    dialect_.whitespace = true;
    dialect_.delimiter = ' ';
  }
}

void CsvReader::choose_decimal(const std::vector<SampleLine>& lines, const DataOptions& options) {
  dialect_.decimal = options.decimal != 0 ? options.decimal : '.';
  if (options.decimal == 0 && !dialect_.whitespace && dialect_.delimiter == ';') {
    // A ';'-separated export from a locale that writes 0,5: numbers with a comma and none with a
    // point among the sample's fields.
    std::size_t with_comma = 0, with_point = 0;
    for (const auto& line : lines)
      for (const auto& field : split_fields(line.text.data(), line.text.data() + line.text.size(), ';', false)) {
        if (field.find(',') != std::string::npos && is_csv_number(field, ',')) ++with_comma;
        if (field.find('.') != std::string::npos && is_csv_number(field, '.')) ++with_point;
      }
    if (with_comma > 0 && with_point == 0) dialect_.decimal = ',';
  }
  if (!dialect_.whitespace && dialect_.delimiter == dialect_.decimal)
    throw UsageError(std::string("--decimal '") + dialect_.decimal + "' needs a delimiter other than '" +
                     dialect_.delimiter + "' (e.g. --delimiter ';')");
}

void CsvReader::detect_header(const std::vector<SampleLine>& lines, const DataOptions& options) {
  auto fields_of = [&](const std::string& text) {
    return split_fields(text.data(), text.data() + text.size(), dialect_.delimiter, dialect_.whitespace);
  };
  // Forced, or the first record has a field that is neither a number nor a missing value.
  std::vector<std::string> first = fields_of(lines[0].text);
  bool header = false;
  if (options.header.has_value()) {
    header = *options.header;
  } else {
    for (const auto& field : first) {
      const char* text = field.data();
      if (!is_missing_marker(text, text + field.size()) && !is_csv_number(field, dialect_.decimal)) header = true;
    }
  }
  dialect_.has_header = header;
  dialect_.field_count = first.size();
  first_row_fields_ = first;
  if (!header) first_data_fields_ = first;
  else if (lines.size() > 1) first_data_fields_ = fields_of(lines[1].text);
  if (header) {
    dialect_.header_line = lines[0].number;
    dialect_.header = first;
  }
}

std::size_t CsvReader::resolve_column(const std::string& spec, const char* option) const {
  const std::size_t line = dialect_.has_header ? dialect_.header_line : 1;
  bool numeric = !spec.empty() && std::all_of(spec.begin(), spec.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (numeric) {
    std::size_t index = std::stoul(spec);
    if (index == 0 || index > dialect_.field_count)
      throw DataError(display_name_, line, 1,
                      std::string(option) + " column " + spec + " does not exist: the file has " +
                          std::to_string(dialect_.field_count) + " column" +
                          (dialect_.field_count == 1 ? "" : "s"));
    return index - 1;
  }
  if (!dialect_.has_header)
    throw DataError(display_name_, line, 1,
                    std::string(option) + " column '" + spec +
                        "' not found: the file has no header row (use a 1-based index)");
  for (std::size_t i = 0; i < dialect_.header.size(); ++i)
    if (dialect_.header[i] == spec) return i;
  std::string names;
  for (const auto& name : dialect_.header) names += (names.empty() ? "" : ", ") + name;
  throw DataError(display_name_, line, 1,
                  std::string(option) + " column '" + spec + "' not found (columns: " + names + ")");
}

ColumnRequest CsvReader::column_request(const DataOptions& options) const {
  ColumnRequest request;
  request.where = display_name_ + ":" + std::to_string(dialect_.has_header ? dialect_.header_line : 1) + ":1";
  request.source = dialect_.has_header ? ColumnSource::csv_header : ColumnSource::csv_no_header;
  if (dialect_.has_header) request.columns = dialect_.header;
  // Text: neither a number in the file's decimal convention nor a missing-value marker.
  for (const std::string& field : first_data_fields_)
    request.text.push_back(!is_missing_marker(field.data(), field.data() + field.size()) &&
                           !is_csv_number(field, dialect_.decimal));
  request.x = options.x;
  request.y = options.y;
  request.sigma = options.sigma;
  return request;
}

void CsvReader::select(const DataOptions& options) {
  auto name_of = [&](std::size_t field) {
    if (dialect_.has_header && !dialect_.header[field].empty()) return dialect_.header[field];
    return "column " + std::to_string(field + 1);
  };
  ColumnRequest request = column_request(options);
  request.predictor_names = options.predictor_names.empty() ? default_predictor_names(options.num_predictors)
                                                            : options.predictor_names;
  const ColumnChoice choice = choose_columns(request);
  selection_.num_predictors = static_cast<int>(choice.x.size());
  for (const auto& spec : choice.x) selection_.fields.push_back(resolve_column(spec, "--x"));
  selection_.fields.push_back(resolve_column(choice.y, "--y"));
  if (!choice.sigma.empty()) {
    selection_.fields.push_back(resolve_column(choice.sigma, "--sigma"));
    selection_.has_sigma = true;
  }
  for (std::size_t field : selection_.fields) selection_.names.push_back(name_of(field));
  selection_.notes = choice.notes;
  if (options.selection)
    for (const std::string& column : options.selection->columns)
      selection_.selection_fields.push_back(resolve_column(column, "--where"));
}

namespace {

// One block of text in flight through the pipeline, and what parsing it produced. Blocks are
// reused (text buffer and column capacity kept) so that no pass faults in fresh pages.
struct Block {
  std::unique_ptr<char[]> text;  // capacity bytes, not zero-filled (unused when the file is mapped)
  std::size_t capacity = 0;
  const char* data = nullptr;    // the block's records: in text, or in the mapped file
  std::size_t size = 0;
  std::size_t lines = 0;
  CsvColumnsBlock parsed;
  std::size_t first_row = 0;  // rows parsed before this block (set in file order)
  std::size_t skipped = 0;
  std::vector<std::size_t> skipped_lines;  // block-relative, 0-based
  std::size_t omitted = 0;
  std::vector<std::size_t> omitted_lines;
  std::size_t unselected = 0;
  // With a row selection: the rows kept so far whose values nan_policy rejects, judged once the
  // selection has been evaluated (an unselected row may hold anything).
  struct BadRow {
    std::size_t row;        // in parsed
    std::size_t line;       // block-relative
    const char* record;     // into text
    const char* record_end;
    std::size_t slot;
    bool missing;
    std::size_t column;
  };
  std::vector<BadRow> bad_rows;
  std::vector<unsigned char> keep;
  bool has_error = false;
  std::size_t error_line = 0;  // block-relative, 0-based
  std::size_t error_column = 0;
  std::string error_message;
  void fail(std::size_t line, std::size_t column, std::string message) {
    has_error = true;
    error_line = line;
    error_column = column;
    error_message = std::move(message);
  }
  void reset() {
    size = lines = skipped = omitted = unselected = 0;
    parsed.rows = 0;
    for (auto& column : parsed.columns) column.clear();
    skipped_lines.clear();
    omitted_lines.clear();
    bad_rows.clear();
    has_error = false;
  }
};

// Every block ever made is owned here (freed with the pool); free ones wait for reuse.
class BlockPool {
 public:
  explicit BlockPool(std::size_t capacity) : capacity_(capacity) {}
  Block* take() {
    std::lock_guard lock(mutex_);
    if (!free_.empty()) {
      Block* block = free_.back();
      free_.pop_back();
      block->reset();
      return block;
    }
    blocks_.push_back(std::make_unique<Block>());
    if (capacity_ > 0) blocks_.back()->text.reset(new char[capacity_]);
    blocks_.back()->capacity = capacity_;
    blocks_.back()->data = blocks_.back()->text.get();
    return blocks_.back().get();
  }
  void give_back(Block* block) {
    std::lock_guard lock(mutex_);
    free_.push_back(block);
  }

 private:
  std::size_t capacity_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Block>> blocks_;
  std::vector<Block*> free_;
};

// Finds the first NUL byte a little ahead of the parse (64 KB at a time), so the text is still in
// cache when its lines are parsed; the first NUL is all that matters.
class NulScanner {
 public:
  NulScanner(const char* text, const char* end) : checked_(text), end_(end) {}
  // The first NUL before limit, or null.
  const char* first_before(const char* limit) {
    if (!nul_ && limit > checked_) {
      const char* until = std::min(end_, std::max(limit, checked_ + (64 << 10)));
      nul_ = static_cast<const char*>(std::memchr(checked_, '\0', static_cast<std::size_t>(until - checked_)));
      checked_ = until;
    }
    return nul_ && nul_ < limit ? nul_ : nullptr;
  }

 private:
  const char* checked_;
  const char* end_;
  const char* nul_ = nullptr;
};

// What the parallel stage needs to know about the layout.
struct LineParser {
  char delimiter = ',';
  bool whitespace = false;
  fast_float::parse_options numbers = number_format('.');
  std::size_t field_count = 0;
  std::vector<int> slot_of_field;  // -1 when the field is not selected
  std::vector<std::pair<std::size_t, std::size_t>> duplicates;  // (slot, slot it copies)
  std::size_t slots = 0;      // the fit's columns, then the selection's
  std::size_t fit_slots = 0;  // the fit's columns: predictors, y, sigma
  const RowSelection* selection = nullptr;
  bool has_sigma = false;
  bool skip_invalid = false;
  bool omit_nonfinite = false;
  std::size_t max_line_bytes = 0;

  struct LineError {
    std::size_t column;
    std::string message;
  };

  bool at_separator(const char* q) const { return whitespace ? is_blank(*q) : *q == delimiter; }

  // Parses the selected field at p into value: a quoted number, a number, or a missing value
  // (empty, NA, ...: NaN, its slot marked in missing). Leaves p after the field.
  std::optional<LineError> parse_field(const char*& p, const char* begin, const char* end, std::size_t field,
                                       double& value, bool& missing) const {
    const auto where = static_cast<std::size_t>(p - begin) + 1;
    missing = false;
    if (p < end && *p == '"') {
      const char* close = p + 1;
      while (true) {
        close = static_cast<const char*>(std::memchr(close, '"', static_cast<std::size_t>(end - close)));
        if (!close) return LineError{where, "unterminated quoted field"};
        if (close + 1 < end && close[1] == '"') { close += 2; continue; }
        break;
      }
      missing = !parse_exact(p + 1, close, value, numbers.decimal_point) && is_missing_marker(p + 1, close);
      if (missing) value = std::numeric_limits<double>::quiet_NaN();
      else if (!parse_exact(p + 1, close, value, numbers.decimal_point))
        return LineError{where, "field " + std::to_string(field + 1) + " " + quote_for_message(p, close + 1) +
                                    " is not a number"};
      p = close + 1;
      return std::nullopt;
    }
    const char* number = p;
    if (number < end && *number == '+' && number + 1 < end && number[1] != '-' && number[1] != '+') ++number;
    auto result = fast_float::from_chars_advanced(number, end, value, numbers);
    const char* stop = result.ptr;
    bool ok = result.ec == std::errc() && stop > number;
    while (ok && stop < end && is_blank(*stop) && !at_separator(stop)) ++stop;
    if (ok && (stop == end || at_separator(stop))) {
      p = result.ptr;
      return std::nullopt;
    }
    const char* field_end = p;
    while (field_end < end && !at_separator(field_end)) ++field_end;
    const char* trimmed = field_end;
    while (trimmed > p && is_blank(trimmed[-1])) --trimmed;
    if (!is_missing_marker(p, trimmed))
      return LineError{where, "field " + std::to_string(field + 1) + " " + quote_for_message(p, trimmed) +
                                  " is not a number"};
    value = std::numeric_limits<double>::quiet_NaN();
    missing = true;
    p = trimmed;
    return std::nullopt;
  }

  // Parses the fields of the record [begin, end) into values[slot], their columns and the
  // missing-value bit of each slot; returns an error or nothing.
  std::optional<LineError> parse_line(const char* begin, const char* end, double* values, std::size_t* columns,
                                      std::uint64_t& missing) const {
    const char* p = begin;
    std::size_t field = 0;
    auto skip_padding = [&] {
      while (p < end && is_blank(*p) && !(!whitespace && *p == delimiter)) ++p;
    };
    skip_padding();
    if (whitespace && p == end) return LineError{1, "no fields"};
    while (true) {
      const char* field_start = p;
      const int slot = field < field_count ? slot_of_field[field] : -1;
      if (slot >= 0) {
        bool is_missing = false;
        if (auto error = parse_field(p, begin, end, field, values[slot], is_missing)) return error;
        columns[slot] = static_cast<std::size_t>(field_start - begin) + 1;
        if (is_missing) missing |= std::uint64_t{1} << slot;
      } else if (p < end && *p == '"') {
        const char* close = p + 1;
        while (true) {
          close = static_cast<const char*>(std::memchr(close, '"', static_cast<std::size_t>(end - close)));
          if (!close) return LineError{static_cast<std::size_t>(field_start - begin) + 1, "unterminated quoted field"};
          if (close + 1 < end && close[1] == '"') { close += 2; continue; }
          break;
        }
        p = close + 1;
      } else {
        while (p < end && !at_separator(p)) ++p;
      }
      ++field;
      if (whitespace) {
        while (p < end && is_blank(*p)) ++p;
        if (p == end) break;
        continue;
      }
      skip_padding();
      if (p == end) break;
      if (*p != delimiter)
        return LineError{static_cast<std::size_t>(p - begin) + 1, "unexpected character after field " + std::to_string(field)};
      ++p;
      skip_padding();
    }
    if (field != field_count)
      return LineError{static_cast<std::size_t>(end - begin) + 1,
                       "expected " + std::to_string(field_count) + " fields, found " + std::to_string(field)};
    return std::nullopt;
  }

  // The fast path: a line of unpadded, unquoted fields separated by the delimiter. Parses the
  // selected fields straight from the text and returns the line's end ('\n' or end of block),
  // or nullptr when the line is anything else (the general path then parses or reports it).
  const char* parse_plain_line(const char* p, const char* end, double* values, std::size_t* columns) const {
    const char* const line = p;
    if (p == end || *p == '#' || *p == '\n' || *p == '\r' || is_blank(*p)) return nullptr;
    std::size_t field = 0;
    while (true) {
      const int slot = field < field_count ? slot_of_field[field] : -1;
      if (slot >= 0) {
        auto result = fast_float::from_chars_advanced(p, end, values[slot], numbers);
        if (result.ec != std::errc() || result.ptr == p) return nullptr;
        columns[slot] = static_cast<std::size_t>(p - line) + 1;
        p = result.ptr;
      } else {
        while (p < end && *p != delimiter && *p != '\n' && *p != '"') ++p;
      }
      ++field;
      if (p == end || *p == '\n') break;
      if (*p == '\r' && (p + 1 == end || p[1] == '\n')) {
        ++p;
        break;
      }
      if (*p != delimiter) return nullptr;
      ++p;
    }
    return field == field_count ? p : nullptr;
  }

  // Why the value in slot makes its row invalid under nan_policy raise.
  std::string bad_value_message(std::size_t slot, bool missing, const char* field, const char* line_end) const {
    const std::string advice = " (use --nan-policy omit to drop such rows)";
    if (missing) {
      const char* stop = field;
      while (stop < line_end && !at_separator(stop)) ++stop;
      while (stop > field && is_blank(stop[-1])) --stop;
      return (stop == field ? std::string("empty field: a missing value") : "missing value " + quote_for_message(field, stop)) +
             advice;
    }
    if (has_sigma && slot + 1 == fit_slots) return "sigma must be finite and > 0" + advice;
    return "non-finite value" + advice;
  }

  // Records may span lines (quoted newlines): a column counted from the record's start becomes
  // the line within the record and the column on that line.
  static void fail_at(Block& block, std::size_t line, const char* record, std::size_t column, std::string message) {
    const char* at = record + column - 1;
    for (const char* q = record; q < at; ++q)
      if (*q == '\n') {
        ++line;
        column = static_cast<std::size_t>(at - q);
      }
    block.fail(line, column, std::move(message));
  }

  // Checks and stores one parsed (or, when !parsed, yet to be parsed) record. False when it
  // ends the block with an error.
  bool take_row(Block& block, std::size_t line, const char* p, const char* line_end, bool parsed, double* values,
                std::size_t* columns) const {
    std::uint64_t missing = 0;
    if (!parsed) {
      if (auto error = parse_line(p, line_end, values, columns, missing)) {
        if (!skip_invalid) {
          fail_at(block, line, p, error->column, std::move(error->message));
          return false;
        }
        if (block.skipped_lines.size() < kListedLines) block.skipped_lines.push_back(line);
        ++block.skipped;
        return true;
      }
    }
    for (const auto& [slot, source] : duplicates) {
      values[slot] = values[source];
      columns[slot] = columns[source];
      if (missing >> source & 1) missing |= std::uint64_t{1} << slot;
    }
    // Non-finite or missing x or y, or sigma <= 0 (NaN included): an error, or the row is omitted.
    std::size_t bad = slots;
    for (std::size_t s = 0; s < fit_slots && bad == slots; ++s) {
      const bool is_sigma = has_sigma && s + 1 == fit_slots;
      if (is_sigma ? !(values[s] > 0.0 && std::isfinite(values[s])) : !std::isfinite(values[s])) bad = s;
    }
    if (bad != slots && selection) {
      block.bad_rows.push_back({block.parsed.rows, line, p, line_end, bad, (missing >> bad & 1) != 0, columns[bad]});
      bad = slots;
    }
    if (bad == slots) {
      for (std::size_t s = 0; s < slots; ++s) block.parsed.columns[s].push_back(values[s]);
      ++block.parsed.rows;
      return true;
    }
    if (!omit_nonfinite) {
      fail_at(block, line, p, columns[bad], bad_value_message(bad, missing >> bad & 1, p + columns[bad] - 1, line_end));
      return false;
    }
    if (block.omitted_lines.size() < kListedLines) block.omitted_lines.push_back(line);
    ++block.omitted;
    return true;
  }

  void parse_block(Block& block) const {
    const bool fast_path = !whitespace && delimiter != '"';
    const char* text = block.data;
    const char* const end = text + block.size;
    NulScanner nul(text, end);
    block.parsed.columns.resize(slots);
    const char* first_nl = static_cast<const char*>(std::memchr(text, '\n', block.size));
    std::size_t first_length = first_nl ? static_cast<std::size_t>(first_nl - text) + 1 : block.size;
    for (auto& column : block.parsed.columns) column.reserve(block.size / std::max<std::size_t>(first_length, 1) + 16);
    double values[64];
    std::size_t columns[64];
    std::size_t line = 0;
    for (const char* p = text; p < end;) {
      // Plain numeric lines parse in one pass that also finds the line end; anything else
      // (padding, quotes, comments, missing values, errors) takes the general path.
      const char* line_end = fast_path ? parse_plain_line(p, end, values, columns) : nullptr;
      const bool parsed = line_end != nullptr;
      std::size_t embedded = 0;
      if (!parsed) {
        line_end = record_end(p, end, whitespace ? ' ' : delimiter, embedded);
        if (!line_end) line_end = end;
      }
      const char* next = line_end < end ? line_end + 1 : end;
      if (const char* zero = nul.first_before(line_end)) {
        fail_at(block, line, p, static_cast<std::size_t>(zero - p) + 1, "embedded NUL byte (is this a binary file?)");
        break;
      }
      if (static_cast<std::size_t>(line_end - p) > max_line_bytes) {
        block.fail(line, 1, too_long(max_line_bytes));
        break;
      }
      if (line_end > p && line_end[-1] == '\r') --line_end;
      if ((parsed || !is_skippable(p, line_end)) && !take_row(block, line, p, line_end, parsed, values, columns))
        break;
      p = next;
      line += 1 + embedded;
    }
    block.lines = line;
    if (selection) select_rows(block);
  }

  // Keeps the rows of the block the selection selects, in order, and drops the selection's own
  // columns. Then nan_policy judges the selected rows that were kept with a bad value: raise
  // fails at the first (it precedes any later error of the block), omit drops them.
  void select_rows(Block& block) const {
    const std::size_t n = block.parsed.rows;
    std::vector<const double*> fit(fit_slots), extra(slots - fit_slots);
    for (std::size_t s = 0; s < slots; ++s)
      (s < fit_slots ? fit[s] : extra[s - fit_slots]) = block.parsed.columns[s].data();
    block.keep.assign(n, 0);
    if (n > 0) selection->keep(fit.data(), extra.data(), n, block.keep.data());
    std::size_t omitted = 0;
    for (const Block::BadRow& bad : block.bad_rows) {
      if (!block.keep[bad.row]) continue;
      if (!omit_nonfinite) {
        fail_at(block, bad.line, bad.record, bad.column,
                bad_value_message(bad.slot, bad.missing, bad.record + bad.column - 1, bad.record_end));
        return;
      }
      block.keep[bad.row] = 0;
      if (block.omitted_lines.size() < kListedLines) block.omitted_lines.push_back(bad.line);
      ++omitted;
    }
    block.omitted += omitted;
    std::size_t kept = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!block.keep[i]) continue;
      if (kept != i)
        for (std::size_t s = 0; s < fit_slots; ++s) block.parsed.columns[s][kept] = block.parsed.columns[s][i];
      ++kept;
    }
    block.unselected += n - kept - omitted;
    for (std::size_t s = 0; s < slots; ++s) block.parsed.columns[s].resize(s < fit_slots ? kept : 0);
    block.parsed.rows = kept;
  }
};

LineParser make_line_parser(const CsvDialect& dialect, const CsvSelection& selection, const DataOptions& options,
                            std::size_t max_line_bytes, const std::string& name) {
  LineParser parser;
  parser.delimiter = dialect.delimiter;
  parser.whitespace = dialect.whitespace;
  parser.numbers = number_format(dialect.decimal);
  parser.field_count = dialect.field_count;
  parser.slot_of_field.assign(dialect.field_count, -1);
  std::vector<std::size_t> fields = selection.fields;
  fields.insert(fields.end(), selection.selection_fields.begin(), selection.selection_fields.end());
  for (std::size_t s = 0; s < fields.size(); ++s) {
    int& slot = parser.slot_of_field[fields[s]];
    if (slot < 0) slot = static_cast<int>(s);
    else parser.duplicates.emplace_back(s, static_cast<std::size_t>(slot));  // one column used twice
  }
  parser.slots = fields.size();
  parser.fit_slots = selection.fields.size();
  parser.selection = options.selection.get();
  if (parser.slots > 64) throw DataError(name + ": too many selected columns (limit 64)");
  parser.has_sigma = selection.has_sigma;
  parser.skip_invalid = options.skip_invalid;
  parser.omit_nonfinite = options.nan_policy == NanPolicy::omit;
  parser.max_line_bytes = max_line_bytes;
  return parser;
}

// Stage 1: fills blocks with whole records from the input, carrying an unfinished record over.
class BlockCutter {
 public:
  BlockCutter(std::function<std::size_t(char*, std::size_t)> read, char delimiter, std::size_t block_bytes,
              std::size_t max_line_bytes)
      : read_(std::move(read)), delimiter_(delimiter), block_bytes_(block_bytes), max_line_bytes_(max_line_bytes) {}
  // Cutting the text [begin, end) of a mapped file instead: blocks point into it, nothing is copied.
  BlockCutter(const char* begin, const char* end, char delimiter, std::size_t block_bytes, std::size_t max_line_bytes)
      : delimiter_(delimiter), block_bytes_(block_bytes), max_line_bytes_(max_line_bytes), next_(begin), end_(end) {}

  Block* next(BlockPool& pool, tbb::flow_control& control) {
    if (done_ || (end_ && next_ == end_)) {
      control.stop();
      return nullptr;
    }
    if (end_) return next_mapped(pool.take());
    Block* block = pool.take();
    char* text = block->text.get();
    block->data = text;
    std::copy(carry_.begin(), carry_.end(), text);
    std::size_t have = carry_.size();
    has_quote_ = std::find(carry_.begin(), carry_.end(), '"') != carry_.end();
    carry_.clear();
    while (true) {
      // A record with no end in sight: report it instead of buffering forever.
      if (have == block->capacity || have > max_line_bytes_) return refuse(block);
      const std::size_t got = read_noting_quotes(text + have, std::min(block_bytes_, block->capacity - have));
      have += got;
      const bool input_done = got == 0;
      const std::size_t cut = input_done ? have : complete_records_length(text, have, has_quote_, delimiter_);
      if (cut == 0 && !input_done) continue;
      done_ = input_done;
      carry_.assign(text + cut, text + have);
      block->size = cut;
      if (cut == 0) {
        pool.give_back(block);
        control.stop();
        return nullptr;
      }
      return block;
    }
  }

 private:
  // The next block of the mapped text: block_bytes, or what is left, shortened to whole records;
  // longer when no record ends in it, up to max_line_bytes.
  Block* next_mapped(Block* block) {
    const auto left = static_cast<std::size_t>(end_ - next_);
    std::size_t have = std::min(block_bytes_, left);
    while (true) {
      const bool has_quote = std::memchr(next_, '"', have) != nullptr;
      const std::size_t cut = have == left ? have : complete_records_length(next_, have, has_quote, delimiter_);
      if (cut > 0) {
        block->data = next_;
        block->size = cut;
        next_ += cut;
        return block;
      }
      if (have > max_line_bytes_) return refuse(block);
      have = std::min(have + block_bytes_, left);
    }
  }

  // Reads up to n bytes in pieces small enough to be still in cache when they are searched for a
  // quote right after: the search then costs little next to the parse.
  std::size_t read_noting_quotes(char* to, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      const std::size_t got = read_(to + done, std::min<std::size_t>(n - done, 256u << 10));
      if (got == 0) break;
      if (!has_quote_ && std::memchr(to + done, '"', got)) has_quote_ = true;
      done += got;
    }
    return done;
  }

  Block* refuse(Block* block) {
    block->fail(0, 1, too_long(max_line_bytes_));
    done_ = true;
    return block;
  }

  std::function<std::size_t(char*, std::size_t)> read_;
  char delimiter_;  // ' ' for runs of whitespace
  std::size_t block_bytes_;
  std::size_t max_line_bytes_;
  std::vector<char> carry_;
  bool has_quote_ = false;  // the block being filled holds a '"'
  bool done_ = false;
  const char* next_ = nullptr;  // the mapped text not cut yet: [next_, end_)
  const char* end_ = nullptr;
};

// Drops the page-table entries of the whole pages of a parsed block's text in the mapped file (the
// page cache keeps the pages): the RSS then holds the blocks in flight, as with buffers, not the
// file read so far, which a memory limit counts. Pages shared with a neighbouring block stay.
void drop_mapped_pages(const char* data, std::size_t size) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t begin = (reinterpret_cast<std::uintptr_t>(data) + page - 1) & ~(page - 1);
  const std::uintptr_t end = (reinterpret_cast<std::uintptr_t>(data) + size) & ~(page - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

// Stage 3: in file order, turns block-relative lines into file lines and hands rows to the sink.
struct BlockDelivery {
  const std::string& name;
  const std::function<void(CsvColumnsBlock&)>& sink;
  std::size_t line_base;  // lines before the block
  CsvParseStats stats;
  std::size_t data_lines_seen = 0;

  void operator()(Block& block) {
    if (block.has_error) throw DataError(name, line_base + block.error_line + 1, block.error_column, block.error_message);
    for (std::size_t line : block.skipped_lines)
      if (stats.first_skipped.size() < kListedLines) stats.first_skipped.push_back(line_base + line + 1);
    for (std::size_t line : block.omitted_lines)
      if (stats.first_omitted.size() < kListedLines) stats.first_omitted.push_back(line_base + line + 1);
    stats.skipped_invalid += block.skipped;
    stats.omitted_nonfinite += block.omitted;
    stats.unselected += block.unselected;
    block.first_row = stats.rows;
    stats.rows += block.parsed.rows;
    data_lines_seen += block.parsed.rows + block.skipped + block.omitted + block.unselected;
    line_base += block.lines;
    if (sink && block.parsed.rows > 0) sink(block.parsed);
  }
};

}  // namespace

void CsvReader::start_reading() {
  if (parsed_) throw DataError(display_name_ + ": the data were already read once");
  parsed_ = true;
  if (input_->is_stdin()) {
    std::lock_guard lock(g_stdin_mutex);
    g_stdin_streamed = true;
  }
}

CsvParseStats CsvReader::parse(const std::function<void(CsvColumnsBlock&)>& sink) {
  return parse_whole(sink, nullptr);
}

CsvParseStats CsvReader::parse_placed(const std::function<void(std::size_t, const CsvColumnsBlock&)>& place) {
  return parse_whole(nullptr, place);
}

CsvParseStats CsvReader::parse_whole(const std::function<void(CsvColumnsBlock&)>& sink,
                                     const std::function<void(std::size_t, const CsvColumnsBlock&)>& place) {
  start_reading();
  std::size_t data_lines_seen = 0, last_line = 0;
  // The load into RAM cuts its blocks out of a mapping of the file: the serial stage then copies
  // nothing, and no block buffers are first-touched.
  const char* mapped =
      place && options_.map_files && options_.csv_map_text ? input_->map_from(data_offset_) : nullptr;
  const CsvParseStats stats =
      run_pipeline([&](char* to, std::size_t n) { return input_->read(to, n, display_name_); }, tuning_.block_bytes,
                   lines_before_data_, sink, place, data_lines_seen, last_line,
                   mapped ? std::string_view(mapped, file_bytes_ - data_offset_) : std::string_view());
  if (mapped) input_->finish_mapped(display_name_);
  finish_parse(stats, data_lines_seen, last_line);
  return stats;
}

CsvParseStats CsvReader::parse_byte_range(std::size_t begin, std::size_t end, std::size_t lines_before,
                                          const std::function<void(CsvColumnsBlock&)>& sink) {
  if (input_->is_stdin() || lone_cr_) throw DataError(display_name_ + ": byte ranges need a regular file with \\n line ends");
  std::size_t offset = begin, data_lines_seen = 0, last_line = 0;
  auto read = [&](char* to, std::size_t n) {
    const std::size_t got = input_->read_at(to, std::min(n, end - offset), offset, display_name_);
    offset += got;
    return got;
  };
  if (end - begin > kSerialParseBytes)
    return run_pipeline(read, tuning_.block_bytes, lines_before, sink, nullptr, data_lines_seen, last_line);
  // A few rows (a sample's): parsed on this thread, as one block, without the pipeline's set-up.
  Block block;
  block.capacity = end - begin;
  block.text.reset(new char[std::max<std::size_t>(block.capacity, 1)]);
  block.data = block.text.get();
  while (block.size < block.capacity) {
    const std::size_t got = read(block.text.get() + block.size, block.capacity - block.size);
    if (got == 0) break;
    block.size += got;
  }
  make_line_parser(dialect_, selection_, options_, tuning_.max_line_bytes, display_name_).parse_block(block);
  BlockDelivery delivery{display_name_, sink, lines_before, {}, 0};
  delivery(block);
  return delivery.stats;
}

// The pipeline: cut blocks (serial), parse them (parallel), account for them in file order
// (serial) and, with an ordered sink, deliver them there; a placing sink instead gets each block
// in a last parallel stage, so that copying the values out and first-touching their destination
// is not one thread's work.
CsvParseStats CsvReader::run_pipeline(const std::function<std::size_t(char*, std::size_t)>& read,
                                      std::size_t block_bytes_wanted, std::size_t lines_before,
                                      const std::function<void(CsvColumnsBlock&)>& sink,
                                      const std::function<void(std::size_t, const CsvColumnsBlock&)>& place,
                                      std::size_t& data_lines_seen, std::size_t& last_line, std::string_view mapped) {
  const LineParser parser = make_line_parser(dialect_, selection_, options_, tuning_.max_line_bytes, display_name_);
  const std::size_t block_bytes = std::max<std::size_t>(block_bytes_wanted, 1);
  // Room for a block after a carried partial record; a record that does not fit is too long anyway.
  BlockPool pool(mapped.empty() ? block_bytes + tuning_.max_line_bytes + 1 : 0);
  BlockCutter cutter = mapped.empty() ? BlockCutter(read, dialect_.delimiter, block_bytes, tuning_.max_line_bytes)
                                      : BlockCutter(mapped.data(), mapped.data() + mapped.size(), dialect_.delimiter,
                                                    block_bytes, tuning_.max_line_bytes);
  BlockDelivery delivery{display_name_, sink, lines_before, {}, 0};
  const std::size_t tokens = CsvParseTuning::pipeline_tokens();
  // ThreadSanitizer (core/thread_sanitizer.h): besides the fork and the join, each block passes
  // from filter to filter (released by one, acquired by the next), and the calls of a serial
  // filter follow one another; TBB orders all of these inside its library.
  const tsan::ForkJoin edges;
  auto serial = [&edges](const void* state, auto body) { return edges.task(tsan::between(state, state, body)); };
  tbb::parallel_pipeline(
      tokens,
      tbb::make_filter<void, Block*>(tbb::filter_mode::serial_in_order,
                                     serial(&cutter, [&](tbb::flow_control& control) {
                                       Block* block = cutter.next(pool, control);
                                       if (block) tsan::release(block);
                                       return block;
                                     })) &
          tbb::make_filter<Block*, Block*>(tbb::filter_mode::parallel, edges.task([&](Block* block) {
                                             tsan::acquire(block);
                                             if (!block->has_error) parser.parse_block(*block);
                                             tsan::release(block);
                                             return block;
                                           })) &
          tbb::make_filter<Block*, Block*>(tbb::filter_mode::serial_in_order, serial(&delivery, [&](Block* block) {
                                             tsan::acquire(block);
                                             delivery(*block);
                                             tsan::release(block);
                                             return block;
                                           })) &
          tbb::make_filter<Block*, void>(tbb::filter_mode::parallel, edges.task([&](Block* block) {
            tsan::acquire(block);
            if (place && block->parsed.rows > 0) place(block->first_row, block->parsed);
            if (!mapped.empty()) drop_mapped_pages(block->data, block->size);
            pool.give_back(block);
          })));
  edges.joined();
  data_lines_seen = delivery.data_lines_seen;
  last_line = delivery.line_base;
  return delivery.stats;
}

void CsvReader::finish_parse(const CsvParseStats& stats, std::size_t data_lines_seen, std::size_t last_line) const {
  if (stats.skipped_invalid > 0 && options_.on_notice)
    options_.on_notice(display_name_ + ": skipped " + std::to_string(stats.skipped_invalid) + " invalid row" +
                       (stats.skipped_invalid == 1 ? "" : "s") + " (" +
                       format_place_list(PlaceUnit::line, stats.first_skipped, stats.skipped_invalid) + ")");
  if (stats.omitted_nonfinite > 0 && options_.on_notice)
    options_.on_notice(display_name_ + ": omitted " + std::to_string(stats.omitted_nonfinite) + " row" +
                       (stats.omitted_nonfinite == 1 ? "" : "s") + " with non-finite x/y or sigma <= 0 (" +
                       format_place_list(PlaceUnit::line, stats.first_omitted, stats.omitted_nonfinite) + ")");
  if (data_lines_seen == 0) {
    if (dialect_.has_header) throw DataError(display_name_, dialect_.header_line, 1, "header row but no data rows");
    throw DataError(display_name_, std::max<std::size_t>(last_line, 1), 1, "empty file: no data rows");
  }
  if (options_.selection && options_.on_notice && !options_.file_of_several)
    options_.on_notice(display_name_ + ": " + selected_rows_notice(stats.rows, stats.rows_total(), *options_.selection));
  if (stats.rows == 0 && options_.file_of_several) return;
  if (stats.rows == 0 && stats.unselected > 0 && stats.omitted_nonfinite == 0)
    throw DataError(display_name_ + ": " + no_row_selected(stats.rows_total(), *options_.selection));
  if (stats.rows == 0)
    throw DataError(display_name_, last_line, 1,
                    "no valid rows remain (" + std::to_string(stats.skipped_invalid) + " skipped, " +
                        std::to_string(stats.omitted_nonfinite) + " omitted" +
                        (stats.unselected > 0 ? ", " + std::to_string(stats.unselected) + " not selected" : "") + ")");
}

std::size_t CsvReader::count_data_lines() {
  if (parsed_) throw DataError(display_name_ + ": the data were already read once");
  parsed_ = true;
  // Whole records are counted (a quoted field may hold newlines); an unfinished one is carried
  // to the front of the buffer.
  std::vector<char> buffer(tuning_.block_bytes + tuning_.max_line_bytes + 1);
  std::size_t have = 0, count = 0, line = lines_before_data_;
  auto count_record = [&](const char* begin, const char* end) {
    if (end > begin && end[-1] == '\r') --end;
    if (!is_skippable(begin, end)) ++count;
  };
  while (true) {
    const std::size_t got = input_->read(buffer.data() + have, buffer.size() - have, display_name_);
    const char* p = buffer.data();
    const char* const end = p + have + got;
    std::size_t embedded = 0;
    while (const char* nl = record_end(p, end, dialect_.delimiter, embedded)) {
      count_record(p, nl);
      line += 1 + embedded;
      p = nl + 1;
    }
    have = static_cast<std::size_t>(end - p);
    if (got == 0) {
      if (have > 0) count_record(p, end);
      return count;
    }
    if (have > tuning_.max_line_bytes) throw DataError(display_name_, line + 1, 1, too_long(tuning_.max_line_bytes));
    std::memmove(buffer.data(), p, have);
  }
}

}  // namespace curvefit
