#include "core/data/csv_byte_ranges.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/errors.h"

namespace curvefit {
namespace {

// A window reads up to the end of the range being counted (at most kWindowBytes at a time), and
// kMinWindowBytes past it or when searching for a row: little beyond what the caller needs.
constexpr std::size_t kWindowBytes = std::size_t{1} << 20;
constexpr std::size_t kMinWindowBytes = std::size_t{1} << 10;

bool is_padding(char c) { return c == ' ' || c == '\t' || c == '\r'; }

long long mtime_ns(const struct stat& info) {
  return static_cast<long long>(info.st_mtim.tv_sec) * 1000000000LL + info.st_mtim.tv_nsec;
}

}  // namespace

CsvLineScanner::CsvLineScanner(const std::string& path, std::size_t data_begin)
    : path_(path), data_begin_(data_begin), window_(kWindowBytes) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw DataError(path + ": cannot open: " + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd_, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd_);
    throw DataError(path + ": byte ranges need a regular file");
  }
  file_bytes_ = static_cast<std::size_t>(info.st_size);
  opened_mtime_ns_ = mtime_ns(info);
  data_begin_ = std::min(data_begin_, file_bytes_);
}

CsvLineScanner::~CsvLineScanner() {
  if (fd_ >= 0) ::close(fd_);
}

void CsvLineScanner::check_unchanged() const {
  struct stat now {};
  if (::fstat(fd_, &now) != 0) return;
  if (static_cast<std::size_t>(now.st_size) == file_bytes_ && mtime_ns(now) == opened_mtime_ns_) return;
  throw DataError(path_ + ": the file changed while it was being read (" + std::to_string(file_bytes_) +
                  " bytes when opened, " + std::to_string(now.st_size) + " now); it must not change during a fit");
}

const char* CsvLineScanner::window_at(std::size_t offset, std::size_t& available) {
  if (offset < window_begin_ || offset >= window_begin_ + window_size_) {
    window_begin_ = offset;
    window_size_ = 0;
    const std::size_t want = std::clamp(read_limit_ > offset ? read_limit_ - offset : 0, kMinWindowBytes, kWindowBytes);
    while (offset + window_size_ < file_bytes_ && window_size_ < want) {
      const ssize_t got = ::pread(fd_, window_.data() + window_size_, want - window_size_,
                                  static_cast<off_t>(offset + window_size_));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw DataError(path_ + ": read error: " + std::strerror(errno));
      if (got == 0) break;  // cut short: check_unchanged names it
      window_size_ += static_cast<std::size_t>(got);
      bytes_read_ += static_cast<std::size_t>(got);
    }
  }
  available = window_begin_ + window_size_ - offset;
  if (offset >= window_begin_ + window_size_) available = 0;
  return window_.data() + (offset - window_begin_);
}

std::size_t CsvLineScanner::newline_from(std::size_t offset, bool* quote) {
  while (true) {
    std::size_t available = 0;
    const char* p = window_at(offset, available);
    if (available == 0) return file_bytes_;
    const auto* nl = static_cast<const char*>(std::memchr(p, '\n', available));
    const std::size_t length = nl ? static_cast<std::size_t>(nl - p) : available;
    if (quote && !*quote && std::memchr(p, '"', length)) *quote = true;
    if (nl) return offset + length;
    offset += available;
  }
}

bool CsvLineScanner::is_row_at(std::size_t offset) {
  while (true) {
    std::size_t available = 0;
    const char* p = window_at(offset, available);
    if (available == 0) return false;
    for (std::size_t i = 0; i < available; ++i)
      if (!is_padding(p[i])) return p[i] != '\n' && p[i] != '#';
    offset += available;
  }
}

bool CsvLineScanner::has_quote(std::size_t begin, std::size_t end) {
  while (begin < end) {
    std::size_t available = 0;
    const char* p = window_at(begin, available);
    if (available == 0) return false;
    available = std::min(available, end - begin);
    if (std::memchr(p, '"', available)) return true;
    begin += available;
  }
  return false;
}

CsvRangeCount CsvLineScanner::count(std::size_t begin, std::size_t end, std::size_t checkpoint_bytes) {
  CsvRangeCount result;
  read_limit_ = end;
  // The first line start at or after begin: begin itself when the byte before it ends a line.
  std::size_t start = begin;
  if (begin > data_begin_) {
    const std::size_t nl = newline_from(begin - 1);
    start = nl >= file_bytes_ ? file_bytes_ : nl + 1;
    if (nl < file_bytes_ && nl >= begin && nl < end) ++result.newlines;
  }
  result.first_line_start = start;
  result.has_quote = has_quote(begin, std::min(start, end));
  std::size_t row = 0, lines = 0, next_checkpoint = start;
  for (std::size_t s = start; s < end && s < file_bytes_;) {
    const bool is_row = is_row_at(s);
    if (is_row && s >= next_checkpoint) {
      result.checkpoints.push_back({s, row, lines});
      next_checkpoint = s + std::max<std::size_t>(checkpoint_bytes, 1);
    }
    row += is_row ? 1 : 0;
    const std::size_t nl = newline_from(s, &result.has_quote);  // the quote search reads the line as it is in cache
    if (nl >= file_bytes_) break;
    if (nl < end) ++result.newlines;
    ++lines;
    s = nl + 1;
  }
  result.rows = row;
  read_limit_ = 0;
  return result;
}

CsvPosition CsvLineScanner::advance(CsvPosition at, std::size_t row) {
  while (at.offset < file_bytes_) {
    if (is_row_at(at.offset)) {
      if (at.row == row) return at;
      ++at.row;
    }
    const std::size_t nl = newline_from(at.offset);
    if (nl >= file_bytes_) break;
    ++at.line;
    at.offset = nl + 1;
  }
  at.offset = file_bytes_;
  return at;
}

CsvRowsSource::CsvRowsSource(std::unique_ptr<CsvReader> reader, std::unique_ptr<CsvLineScanner> scanner,
                             std::size_t rows, const std::vector<CsvPosition>& anchors)
    : reader_(std::move(reader)), scanner_(std::move(scanner)), rows_(rows) {
  for (const CsvPosition& anchor : anchors) anchors_.emplace(anchor.row, anchor);
  if (!anchors_.contains(0) || !anchors_.contains(rows_))
    throw DataError(description() + ": the positions of the first row and of the end are needed");
}

CsvRowsSource::~CsvRowsSource() = default;

CsvPosition CsvRowsSource::locate(std::size_t row) {
  auto known = anchors_.upper_bound(row);
  --known;  // row 0 is known
  if (known->first == row) return known->second;
  const CsvPosition found = scanner_->advance(known->second, row);
  if (found.offset >= scanner_->file_bytes())
    throw DataError(description() + ": row " + std::to_string(row + 1) + " is beyond the end of the file");
  anchors_.emplace(row, found);
  return found;
}

void CsvRowsSource::parse_rows(std::size_t begin, std::size_t count, const std::function<void(CsvColumnsBlock&)>& sink) {
  if (begin + count > rows_)
    throw DataError(description() + ": rows " + std::to_string(begin + 1) + ".." + std::to_string(begin + count) +
                    " requested but the data have " + std::to_string(rows_));
  if (count == 0) return;
  const CsvPosition first = locate(begin);
  const CsvPosition last = locate(begin + count);
  std::size_t done = 0;
  auto mismatch = [&](std::size_t got) {
    return DataError(description() + ": lines " + std::to_string(first.line + 1) + " to " + std::to_string(last.line) +
                     " hold " + std::to_string(got) + " rows where the line scan counted " + std::to_string(count) +
                     " (did the file change?)");
  };
  reader_->parse_byte_range(first.offset, last.offset, first.line, [&](CsvColumnsBlock& block) {
    if (block.rows > count - done) throw mismatch(done + block.rows);
    sink(block);
    done += block.rows;
  });
  parsed_bytes_ += last.offset - first.offset;
  if (done != count) throw mismatch(done);
}

void CsvRowsSource::read(std::size_t begin, std::size_t count, double* const* x, double* y, double* sigma) {
  const auto k = static_cast<std::size_t>(num_predictors());
  std::size_t done = 0;
  parse_rows(begin, count, [&](CsvColumnsBlock& block) {
    for (std::size_t q = 0; q < k; ++q) std::copy_n(block.columns[q].data(), block.rows, x[q] + done);
    std::copy_n(block.columns[k].data(), block.rows, y + done);
    if (sigma && has_sigma()) std::copy_n(block.columns[k + 1].data(), block.rows, sigma + done);
    done += block.rows;
  });
}

void CsvRowsSource::check_unchanged() const { scanner_->check_unchanged(); }

}  // namespace curvefit
