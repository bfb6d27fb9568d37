// CSV reading: detection from a sample prefix, then a three-stage TBB pipeline
//   read blocks split at line boundaries (serial) -> parse lines (parallel) -> deliver (serial, in
//   file order, where block-relative line numbers become absolute ones).
#include "core/data/csv_reader.h"

#include <fast_float/fast_float.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <iostream>
#include <mutex>
#include <optional>

#include "core/errors.h"

namespace curvefit {
namespace {

constexpr std::size_t kListedLines = 5;

// Standard input can be probed and then loaded: the probe's sample is kept here and served
// again to the next reader of "-". Bytes read past the sample are consumed for good.
std::mutex g_stdin_mutex;
std::string g_stdin_pushback;
bool g_stdin_streamed = false;

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// A number filling [first, last) exactly; '+' accepted, nan/inf recognised (fast_float).
bool parse_exact(const char* first, const char* last, double& value) {
  while (first < last && is_blank(*first)) ++first;
  while (last > first && is_blank(last[-1])) --last;
  if (first < last && *first == '+') {
    ++first;
    if (first == last || *first == '-' || *first == '+') return false;
  }
  if (first == last) return false;
  auto result = fast_float::from_chars(first, last, value);
  return result.ec == std::errc() && result.ptr == last;
}

std::string quote_for_message(const char* first, const char* last) {
  std::string text(first, static_cast<std::size_t>(std::min<std::ptrdiff_t>(last - first, 40)));
  if (last - first > 40) text += "...";
  return "'" + text + "'";
}

// Splits one line (no '\n', '\r' already stripped) into fields for detection and headers:
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

}  // namespace

// Bytes from a file descriptor, after a prefix that was read earlier and pushed back.
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
      if (S_ISREG(info.st_mode)) size_ = static_cast<std::size_t>(info.st_size);
    }
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  }
  ~Input() {
    if (!is_stdin_ && fd_ >= 0) ::close(fd_);
  }
  bool is_stdin() const { return is_stdin_; }
  std::size_t size() const { return size_; }
  void push_back(std::string prefix) {
    prefix_ = std::move(prefix);
    prefix_position_ = 0;
  }
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
      if (got >= 0) return static_cast<std::size_t>(got);
      if (errno != EINTR) throw DataError(name + ": read error: " + std::strerror(errno));
    }
  }

 private:
  bool is_stdin_;
  int fd_ = -1;
  std::size_t size_ = 0;
  std::string prefix_;
  std::size_t prefix_position_ = 0;
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

bool is_csv_number(const std::string& text) {
  double value;
  return parse_exact(text.data(), text.data() + text.size(), value);
}

std::string format_line_list(const std::vector<std::size_t>& lines, std::size_t total) {
  std::string text = lines.size() == 1 ? "line " : "lines ";
  for (std::size_t i = 0; i < lines.size(); ++i) text += (i ? ", " : "") + std::to_string(lines[i]);
  if (total > lines.size()) text += ", ...";
  return text;
}

std::size_t CsvParseTuning::pipeline_tokens() {
  return static_cast<std::size_t>(tbb::this_task_arena::max_concurrency()) + 2;
}

std::size_t CsvParseTuning::parse_buffer_bytes(std::size_t columns, double bytes_per_row) const {
  const double rows_per_block = static_cast<double>(block_bytes) / std::max(bytes_per_row, 1.0) + 16;
  const auto parsed = static_cast<std::size_t>(2 * rows_per_block) * columns * sizeof(double);
  return sample_bytes + pipeline_tokens() * (block_bytes + max_line_bytes + 1 + parsed);
}

CsvReader::CsvReader(const std::string& path, const DataOptions& options, CsvParseTuning tuning)
    : path_(path), display_name_(path == "-" ? "<stdin>" : path), options_(options), tuning_(tuning) {
  if (options.csv_block_bytes > 0) tuning_.block_bytes = options.csv_block_bytes;
  input_ = std::make_unique<Input>(path);
  file_bytes_ = input_->size();
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
    g_stdin_pushback = sample_;
  }
  if (sample_.empty()) throw DataError(display_name_, 1, 1, "empty file");
  detect(options);
  select(options);
}

CsvReader::~CsvReader() = default;

void CsvReader::detect(const DataOptions& options) {
  // Complete, non-comment, non-blank lines of the sample, with their line numbers and bytes.
  struct SampleLine { std::string text; std::size_t number; };
  std::vector<SampleLine> lines;
  std::size_t data_bytes = 0, data_lines = 0, line_number = 0, offset = 0;
  std::size_t header_end_offset = 0;
  while (offset < sample_.size()) {
    const char* begin = sample_.data() + offset;
    const char* nl = static_cast<const char*>(std::memchr(begin, '\n', sample_.size() - offset));
    if (!nl && !sample_is_whole_file_) break;  // an incomplete last line
    const char* end = nl ? nl : sample_.data() + sample_.size();
    ++line_number;
    if (static_cast<std::size_t>(end - begin) > tuning_.max_line_bytes)
      throw DataError(display_name_, line_number, 1,
                      "line longer than " + std::to_string(tuning_.max_line_bytes) + " bytes");
    const char* stripped_end = (end > begin && end[-1] == '\r') ? end - 1 : end;
    if (const void* nul = std::memchr(begin, '\0', static_cast<std::size_t>(end - begin)))
      throw DataError(display_name_, line_number, static_cast<const char*>(nul) - begin + 1,
                      "embedded NUL byte (is this a binary file?)");
    if (!is_skippable(begin, stripped_end)) {
      if (lines.size() < 64) lines.push_back({std::string(begin, stripped_end), line_number});
      data_bytes += static_cast<std::size_t>(end - begin) + 1;
      ++data_lines;
    }
    offset = static_cast<std::size_t>(end - sample_.data()) + (nl ? 1 : 0);
  }
  if (lines.empty()) {
    if (!sample_is_whole_file_)
      throw DataError(display_name_, line_number + 1, 1,
                      "line longer than " + std::to_string(tuning_.max_line_bytes) + " bytes");
    throw DataError(display_name_, line_number, 1, "empty file: only comments and blank lines");
  }

  // Delimiter: the candidate that splits most sample lines into the first line's field count.
  if (options.delimiter == ' ') {
    dialect_.whitespace = true;
    dialect_.delimiter = ' ';
  } else if (options.delimiter != 0) {
    dialect_.delimiter = options.delimiter;
  } else {
    std::size_t best_score = 0, best_count = 0;
    char best = 0;
    for (char candidate : {',', '\t', ';'}) {
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

  // Header: forced, or the first line has a non-empty field that is not a number.
  auto fields_of = [&](const std::string& text) {
    return split_fields(text.data(), text.data() + text.size(), dialect_.delimiter, dialect_.whitespace);
  };
  std::vector<std::string> first = fields_of(lines[0].text);
  bool header = false;
  if (options.header.has_value()) {
    header = *options.header;
  } else {
    for (const auto& field : first) {
      double value;
      if (!field.empty() && !parse_exact(field.data(), field.data() + field.size(), value)) header = true;
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
    data_bytes -= lines[0].text.size() + 1;
    --data_lines;
    // Parsing starts after the header line: drop it (and what precedes it) from the sample.
    std::size_t seen = 0;
    header_end_offset = 0;
    while (seen < lines[0].number) {
      const char* nl = static_cast<const char*>(
          std::memchr(sample_.data() + header_end_offset, '\n', sample_.size() - header_end_offset));
      header_end_offset = nl ? static_cast<std::size_t>(nl - sample_.data()) + 1 : sample_.size();
      ++seen;
    }
    lines_before_data_ = lines[0].number;
  }
  input_->push_back(sample_.substr(header_end_offset));

  // Rows: exact when the sample is the whole file and no row can be dropped, else estimated.
  if (sample_is_whole_file_) {
    estimated_rows_ = data_lines;
    rows_exact_ = !options.skip_invalid && options.nan_policy == NanPolicy::raise;
  } else if (data_lines > 0 && file_bytes_ > 0) {
    double per_line = static_cast<double>(data_bytes) / static_cast<double>(data_lines);
    estimated_rows_ = static_cast<std::size_t>(static_cast<double>(file_bytes_) / per_line);
  } else {
    estimated_rows_ = data_lines;
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

void CsvReader::select(const DataOptions& options) {
  auto name_of = [&](std::size_t field) {
    if (dialect_.has_header && !dialect_.header[field].empty()) return dialect_.header[field];
    return "column " + std::to_string(field + 1);
  };
  selection_.num_predictors = options.x.empty() ? options.num_predictors : static_cast<int>(options.x.size());
  if (options.x.empty()) {
    for (int k = 0; k < options.num_predictors; ++k)
      selection_.fields.push_back(resolve_column(std::to_string(k + 1), "--x"));
  } else {
    for (const auto& spec : options.x) selection_.fields.push_back(resolve_column(spec, "--x"));
  }
  selection_.fields.push_back(resolve_column(
      options.y.empty() ? std::to_string(selection_.num_predictors + 1) : options.y, "--y"));
  if (!options.sigma.empty()) {
    selection_.fields.push_back(resolve_column(options.sigma, "--sigma"));
    selection_.has_sigma = true;
  }
  for (std::size_t field : selection_.fields) selection_.names.push_back(name_of(field));
}

namespace {

// One block of text in flight through the pipeline, and what parsing it produced. Blocks are
// reused (text buffer and column capacity kept) so that no pass faults in fresh pages.
struct Block {
  std::unique_ptr<char[]> text;  // capacity bytes, not zero-filled
  std::size_t capacity = 0;
  std::size_t size = 0;
  std::size_t lines = 0;
  CsvColumnsBlock parsed;
  std::size_t skipped = 0;
  std::vector<std::size_t> skipped_lines;  // block-relative, 0-based
  std::size_t omitted = 0;
  std::vector<std::size_t> omitted_lines;
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
    size = lines = skipped = omitted = 0;
    parsed.rows = 0;
    for (auto& column : parsed.columns) column.clear();
    skipped_lines.clear();
    omitted_lines.clear();
    has_error = false;
  }
};

// What the parallel stage needs to know about the layout.
struct LineParser {
  char delimiter;
  bool whitespace;
  std::size_t field_count;
  std::vector<int> slot_of_field;  // -1 when the field is not selected
  std::vector<std::pair<std::size_t, std::size_t>> duplicates;  // (slot, slot it copies)
  std::size_t slots;
  int predictors;
  bool has_sigma;
  bool skip_invalid;
  bool omit_nonfinite;
  std::size_t max_line_bytes;

  struct LineError {
    std::size_t column;
    std::string message;
  };

  // Parses the fields of [begin, end) into values[slot] and their columns; returns an error or
  // nothing. The hot path: one pass over the characters, fast_float straight from the field.
  std::optional<LineError> parse_line(const char* begin, const char* end, double* values,
                                      std::size_t* columns) const {
    const char* p = begin;
    std::size_t field = 0;
    auto at_separator = [&](const char* q) {
      return whitespace ? is_blank(*q) : *q == delimiter;
    };
    auto skip_padding = [&] {
      while (p < end && is_blank(*p) && !(!whitespace && *p == delimiter)) ++p;
    };
    skip_padding();
    if (whitespace && p == end) return LineError{1, "no fields"};
    while (true) {
      const char* field_start = p;
      int slot = field < field_count ? slot_of_field[field] : -1;
      if (p < end && *p == '"') {
        const char* close = p + 1;
        while (true) {
          close = static_cast<const char*>(std::memchr(close, '"', static_cast<std::size_t>(end - close)));
          if (!close)
            return LineError{static_cast<std::size_t>(field_start - begin) + 1, "unterminated quoted field"};
          if (close + 1 < end && close[1] == '"') { close += 2; continue; }
          break;
        }
        if (slot >= 0) {
          if (!parse_exact(p + 1, close, values[slot]))
            return LineError{static_cast<std::size_t>(field_start - begin) + 1,
                             "field " + std::to_string(field + 1) + " " +
                                 quote_for_message(p, close + 1) + " is not a number"};
          columns[slot] = static_cast<std::size_t>(field_start - begin) + 1;
        }
        p = close + 1;
      } else if (slot >= 0) {
        const char* number = p;
        if (number < end && *number == '+' && number + 1 < end && number[1] != '-' && number[1] != '+') ++number;
        auto result = fast_float::from_chars(number, end, values[slot]);
        const char* stop = result.ptr;
        bool ok = result.ec == std::errc() && stop > number;
        if (ok && whitespace) {
          ok = stop == end || is_blank(*stop);
        } else if (ok) {
          const char* q = stop;
          while (q < end && is_blank(*q) && *q != delimiter) ++q;
          ok = q == end || *q == delimiter;
        }
        if (!ok) {
          const char* field_end = p;
          while (field_end < end && !at_separator(field_end)) ++field_end;
          const char* trimmed = field_end;
          while (trimmed > p && is_blank(trimmed[-1])) --trimmed;
          if (trimmed == p)
            return LineError{static_cast<std::size_t>(field_start - begin) + 1,
                             "field " + std::to_string(field + 1) + " is empty"};
          return LineError{static_cast<std::size_t>(field_start - begin) + 1,
                           "field " + std::to_string(field + 1) + " " + quote_for_message(p, trimmed) +
                               " is not a number"};
        }
        columns[slot] = static_cast<std::size_t>(field_start - begin) + 1;
        p = stop;
      } else if (whitespace) {
        while (p < end && !is_blank(*p)) ++p;
      } else {
        const char* next = static_cast<const char*>(std::memchr(p, delimiter, static_cast<std::size_t>(end - p)));
        p = next ? next : end;
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
        return LineError{static_cast<std::size_t>(p - begin) + 1,
                         "unexpected character after field " + std::to_string(field)};
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
        auto result = fast_float::from_chars(p, end, values[slot]);
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

  void parse_block(Block& block) const {
    const bool fast_path = !whitespace && delimiter != '"';
    const char* text = block.text.get();
    const char* const end = text + block.size;
    // NUL bytes are looked for a little ahead of the parse (64 KB at a time) so the text is
    // still in cache when the lines are parsed; the first NUL is all that matters.
    const char* nul = nullptr;
    const char* nul_checked = text;
    auto check_nul_through = [&](const char* limit) {
      if (nul || limit <= nul_checked) return;
      const char* until = std::min(end, std::max(limit, nul_checked + (64 << 10)));
      nul = static_cast<const char*>(std::memchr(nul_checked, '\0', static_cast<std::size_t>(until - nul_checked)));
      nul_checked = until;
    };
    block.parsed.columns.resize(slots);
    const char* first_nl = static_cast<const char*>(std::memchr(text, '\n', block.size));
    std::size_t first_length = first_nl ? static_cast<std::size_t>(first_nl - text) + 1 : block.size;
    for (auto& column : block.parsed.columns)
      column.reserve(block.size / std::max<std::size_t>(first_length, 1) + 16);
    double values[64];
    std::size_t columns[64];
    std::size_t line = 0;
    for (const char* p = text; p < end; ++line) {
      // Plain numeric lines parse in one pass that also finds the line end; anything else
      // (padding, quotes, comments, errors) takes the general path below.
      const char* line_end = fast_path ? parse_plain_line(p, end, values, columns) : nullptr;
      bool parsed = line_end != nullptr;
      if (!parsed) {
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
        line_end = nl ? nl : end;
      }
      const char* next = line_end < end ? line_end + 1 : end;
      check_nul_through(line_end);
      if (nul && nul < line_end) {
        block.fail(line, static_cast<std::size_t>(nul - p) + 1, "embedded NUL byte (is this a binary file?)");
        return;
      }
      if (static_cast<std::size_t>(line_end - p) > max_line_bytes) {
        block.fail(line, 1, "line longer than " + std::to_string(max_line_bytes) + " bytes");
        return;
      }
      if (line_end > p && line_end[-1] == '\r') --line_end;
      if (!parsed && (p == line_end || is_skippable(p, line_end))) {
        p = next;
        continue;
      }
      if (auto error = parsed ? std::nullopt : parse_line(p, line_end, values, columns)) {
        if (!skip_invalid) {
          block.fail(line, error->column, std::move(error->message));
          return;
        }
        if (block.skipped_lines.size() < kListedLines) block.skipped_lines.push_back(line);
        ++block.skipped;
        p = next;
        continue;
      }
      for (const auto& [slot, source] : duplicates) {
        values[slot] = values[source];
        columns[slot] = columns[source];
      }
      // Non-finite x or y, or sigma <= 0 (NaN included): an error, or the row is omitted.
      std::size_t bad = slots;
      for (std::size_t s = 0; s < slots; ++s) {
        bool is_sigma = has_sigma && s + 1 == slots;
        if (is_sigma ? !(values[s] > 0.0 && std::isfinite(values[s])) : !std::isfinite(values[s])) {
          bad = s;
          break;
        }
      }
      if (bad < slots) {
        if (!omit_nonfinite) {
          bool is_sigma = has_sigma && bad + 1 == slots;
          block.fail(line, columns[bad],
                     is_sigma ? "sigma must be finite and > 0 (use --nan-policy omit to drop such rows)"
                              : "non-finite value (use --nan-policy omit to drop such rows)");
          return;
        }
        if (block.omitted_lines.size() < kListedLines) block.omitted_lines.push_back(line);
        ++block.omitted;
        p = next;
        continue;
      }
      for (std::size_t s = 0; s < slots; ++s) block.parsed.columns[s].push_back(values[s]);
      ++block.parsed.rows;
      p = next;
    }
    block.lines = line;
  }
};

}  // namespace

CsvParseStats CsvReader::parse(const std::function<void(CsvColumnsBlock&)>& sink) {
  if (parsed_) throw DataError(display_name_ + ": the data were already read once");
  parsed_ = true;
  if (input_->is_stdin()) {
    std::lock_guard lock(g_stdin_mutex);
    g_stdin_streamed = true;
  }
  LineParser parser;
  parser.delimiter = dialect_.delimiter;
  parser.whitespace = dialect_.whitespace;
  parser.field_count = dialect_.field_count;
  parser.slot_of_field.assign(dialect_.field_count, -1);
  for (std::size_t s = 0; s < selection_.fields.size(); ++s) {
    int& slot = parser.slot_of_field[selection_.fields[s]];
    if (slot < 0) slot = static_cast<int>(s);
    else parser.duplicates.emplace_back(s, static_cast<std::size_t>(slot));  // one column used twice
  }
  parser.slots = selection_.fields.size();
  if (parser.slots > 64) throw DataError(display_name_ + ": too many selected columns (limit 64)");
  parser.predictors = selection_.num_predictors;
  parser.has_sigma = selection_.has_sigma;
  parser.skip_invalid = options_.skip_invalid;
  parser.omit_nonfinite = options_.nan_policy == NanPolicy::omit;
  parser.max_line_bytes = tuning_.max_line_bytes;

  // Stage 1 state (serial): the unfinished line carried into the next block.
  std::vector<char> carry;
  bool input_done = false;
  bool stop_next = false;
  // Stage 3 state (serial, in file order).
  std::size_t line_base = lines_before_data_;
  CsvParseStats stats;
  std::size_t data_lines_seen = 0;

  const std::size_t block_bytes = std::max<std::size_t>(tuning_.block_bytes, 1);
  // Room for a block after a carried partial line; a line that does not fit is too long anyway.
  const std::size_t capacity = block_bytes + tuning_.max_line_bytes + 1;
  const std::size_t tokens = CsvParseTuning::pipeline_tokens();

  // Every block ever made is owned here (freed on return or error); free ones wait for reuse.
  std::mutex blocks_mutex;
  std::vector<std::unique_ptr<Block>> blocks;
  std::vector<Block*> free_blocks;
  auto take_block = [&]() -> Block* {
    std::lock_guard lock(blocks_mutex);
    if (!free_blocks.empty()) {
      Block* block = free_blocks.back();
      free_blocks.pop_back();
      block->reset();
      return block;
    }
    blocks.push_back(std::make_unique<Block>());
    blocks.back()->text.reset(new char[capacity]);
    blocks.back()->capacity = capacity;
    return blocks.back().get();
  };
  auto give_back = [&](Block* block) {
    std::lock_guard lock(blocks_mutex);
    free_blocks.push_back(block);
  };

  tbb::parallel_pipeline(
      tokens,
      tbb::make_filter<void, Block*>(
          tbb::filter_mode::serial_in_order,
          [&](tbb::flow_control& control) -> Block* {
            if (input_done || stop_next) {
              control.stop();
              return nullptr;
            }
            Block* block = take_block();
            char* text = block->text.get();
            std::memcpy(text, carry.data(), carry.size());
            std::size_t have = carry.size();
            carry.clear();
            while (true) {
              if (have == block->capacity) {
                // A line with no end in sight: report it instead of buffering forever.
                block->fail(0, 1, "line longer than " + std::to_string(tuning_.max_line_bytes) + " bytes");
                stop_next = true;
                return block;
              }
              std::size_t got =
                  input_->read(text + have, std::min(block_bytes, block->capacity - have), display_name_);
              const std::size_t searched_from = have;
              have += got;
              if (got == 0) input_done = true;
              // The last newline among the new bytes.
              const char* last_nl = nullptr;
              for (const char* q = text + have; q > text + searched_from;) {
                --q;
                if (*q == '\n') {
                  last_nl = q;
                  break;
                }
              }
              if (last_nl || input_done) {
                const std::size_t cut = input_done ? have : static_cast<std::size_t>(last_nl - text) + 1;
                carry.assign(text + cut, text + have);
                block->size = cut;
                if (cut == 0) {
                  give_back(block);
                  control.stop();
                  return nullptr;
                }
                return block;
              }
              if (have > tuning_.max_line_bytes) {
                block->fail(0, 1, "line longer than " + std::to_string(tuning_.max_line_bytes) + " bytes");
                stop_next = true;
                return block;
              }
            }
          }) &
          tbb::make_filter<Block*, Block*>(tbb::filter_mode::parallel,
                                           [&](Block* block) -> Block* {
                                             if (!block->has_error) parser.parse_block(*block);
                                             return block;
                                           }) &
          tbb::make_filter<Block*, void>(
              tbb::filter_mode::serial_in_order, [&](Block* block) {
                if (block->has_error)
                  throw DataError(display_name_, line_base + block->error_line + 1, block->error_column,
                                  block->error_message);
                for (std::size_t line : block->skipped_lines)
                  if (stats.first_skipped.size() < kListedLines) stats.first_skipped.push_back(line_base + line + 1);
                for (std::size_t line : block->omitted_lines)
                  if (stats.first_omitted.size() < kListedLines) stats.first_omitted.push_back(line_base + line + 1);
                stats.skipped_invalid += block->skipped;
                stats.omitted_nonfinite += block->omitted;
                stats.rows += block->parsed.rows;
                data_lines_seen += block->parsed.rows + block->skipped + block->omitted;
                line_base += block->lines;
                if (block->parsed.rows > 0) sink(block->parsed);
                give_back(block);
              }));

  if (stats.skipped_invalid > 0)
    std::cerr << "curvefit: " << display_name_ << ": skipped " << stats.skipped_invalid << " invalid row"
              << (stats.skipped_invalid == 1 ? "" : "s") << " ("
              << format_line_list(stats.first_skipped, stats.skipped_invalid) << ")\n";
  if (stats.omitted_nonfinite > 0)
    std::cerr << "curvefit: " << display_name_ << ": omitted " << stats.omitted_nonfinite << " row"
              << (stats.omitted_nonfinite == 1 ? "" : "s") << " with non-finite x/y or sigma <= 0 ("
              << format_line_list(stats.first_omitted, stats.omitted_nonfinite) << ")\n";
  if (data_lines_seen == 0) {
    if (dialect_.has_header)
      throw DataError(display_name_, dialect_.header_line, 1, "header row but no data rows");
    throw DataError(display_name_, std::max<std::size_t>(line_base, 1), 1, "empty file: no data rows");
  }
  if (stats.rows == 0)
    throw DataError(display_name_, line_base, 1,
                    "no valid rows remain (" + std::to_string(stats.skipped_invalid) + " skipped, " +
                        std::to_string(stats.omitted_nonfinite) + " omitted)");
  return stats;
}

std::size_t CsvReader::count_data_lines() {
  if (parsed_) throw DataError(display_name_ + ": the data were already read once");
  parsed_ = true;
  std::vector<char> buffer(tuning_.block_bytes);
  std::string partial;  // the start of a line split across reads
  std::size_t count = 0;
  auto count_line = [&](const char* begin, const char* end) {
    if (end > begin && end[-1] == '\r') --end;
    if (!is_skippable(begin, end)) ++count;
  };
  while (std::size_t got = input_->read(buffer.data(), buffer.size(), display_name_)) {
    const char* p = buffer.data();
    const char* const end = p + got;
    while (p < end) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      if (!nl) {
        partial.append(p, end);
        if (partial.size() > tuning_.max_line_bytes) partial.erase(64);  // only its start matters
        break;
      }
      if (partial.empty()) {
        count_line(p, nl);
      } else {
        partial.append(p, nl);
        count_line(partial.data(), partial.data() + partial.size());
        partial.clear();
      }
      p = nl + 1;
    }
  }
  if (!partial.empty()) count_line(partial.data(), partial.data() + partial.size());
  return count;
}

}  // namespace curvefit
