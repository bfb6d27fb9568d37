#pragma once
// A CSV file's rows found by byte offset without parsing them, so that processes that share a file
// each parse only the rows they need (MPI ranks: core/engine/csv_rank_rows.h).
//
// A row is what the reader (csv_reader.h) numbers as one: a line whose first byte other than
// space, tab or '\r' is neither the line's end nor '#'. That holds when no record spans lines,
// i.e. when the data hold no '"' (the scan reports one, and the caller then reads the file
// whole), and when the reader drops no rows (skip_invalid, nan_policy omit: the caller checks).
// '\r\n' line ends need nothing: the '\r' is a blank.
//
// Positions are line starts: a byte offset, the data rows before it and the lines before it (so
// that a parse starting there names the file's true line numbers).
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/data/csv_reader.h"
#include "core/data/data_source.h"

namespace curvefit {

struct CsvPosition {
  std::size_t offset = 0;  // byte of the line start
  std::size_t row = 0;     // data rows before it
  std::size_t line = 0;    // lines before it
};

// What a scan of the bytes [begin, end) found.
struct CsvRangeCount {
  std::size_t first_line_start = 0;  // the first line start at or after begin (>= end: none)
  std::size_t rows = 0;              // rows whose line starts in [begin, end)
  std::size_t newlines = 0;          // '\n' bytes in [begin, end)
  bool has_quote = false;            // a '"' in [begin, end)
  // Positions of rows about every checkpoint_bytes, counted from first_line_start (row and line
  // relative to it), so that a later search for a row starts near it.
  std::vector<CsvPosition> checkpoints;
};

// Reads a file's lines through a window of its own (pread), counting the bytes it reads.
class CsvLineScanner {
 public:
  // `data_begin`: the first byte of the data (after a byte order mark and the header).
  CsvLineScanner(const std::string& path, std::size_t data_begin);
  ~CsvLineScanner();
  CsvLineScanner(const CsvLineScanner&) = delete;
  CsvLineScanner& operator=(const CsvLineScanner&) = delete;

  std::size_t file_bytes() const { return file_bytes_; }
  std::size_t data_begin() const { return data_begin_; }
  // Rows and newlines of the bytes [begin, end) (data_begin <= begin <= end <= file_bytes()).
  CsvRangeCount count(std::size_t begin, std::size_t end, std::size_t checkpoint_bytes);
  // The line start of row `row` (>= at.row), scanning forward from `at`, a row's line start (or
  // the data's begin); a position at file_bytes() when the file has no such row.
  CsvPosition advance(CsvPosition at, std::size_t row);
  std::size_t bytes_read() const { return bytes_read_; }
  // Throws DataError when the file's size or modification time changed since it was opened.
  void check_unchanged() const;

 private:
  const char* window_at(std::size_t offset, std::size_t& available);
  // The first '\n' at or after offset (file_bytes() when none), noting in *quote a '"' before it;
  // and whether the line starting at offset is a data row.
  std::size_t newline_from(std::size_t offset, bool* quote = nullptr);
  bool is_row_at(std::size_t offset);
  bool has_quote(std::size_t begin, std::size_t end);

  std::string path_;
  int fd_ = -1;
  std::size_t file_bytes_ = 0;
  std::size_t data_begin_ = 0;
  long long opened_mtime_ns_ = 0;
  std::vector<char> window_;
  std::size_t window_begin_ = 0, window_size_ = 0;
  std::size_t read_limit_ = 0;  // the end of the range being counted (0: none)
  std::size_t bytes_read_ = 0;
};

// Every data row of a CSV file, read by row range from the byte offsets of a few known rows
// (anchors): a read parses exactly the bytes of its rows when its first row and the row after its
// last are anchors, and otherwise first scans forward from the nearest anchor before. Each row
// located is remembered, so that reads that continue where the last one ended scan nothing.
class CsvRowsSource : public DataSource {
 public:
  // `anchors` must hold row 0's position and rows' position at the end of the file.
  CsvRowsSource(std::unique_ptr<CsvReader> reader, std::unique_ptr<CsvLineScanner> scanner, std::size_t rows,
                const std::vector<CsvPosition>& anchors);
  ~CsvRowsSource() override;

  std::size_t rows() const override { return rows_; }
  int num_predictors() const override { return reader_->selection().num_predictors; }
  bool has_sigma() const override { return reader_->selection().has_sigma; }
  std::vector<std::string> column_names() const override { return reader_->selection().names; }
  std::string description() const override { return reader_->display_name(); }
  void read(std::size_t begin, std::size_t count, double* const* x, double* y, double* sigma) override;
  // Rows [begin, begin + count) handed to sink as the parser delivers them (blocks in row order),
  // so that no buffer of all of them is needed.
  void parse_rows(std::size_t begin, std::size_t count, const std::function<void(CsvColumnsBlock&)>& sink);
  void check_unchanged() const override;

  std::size_t file_bytes() const { return scanner_->file_bytes(); }
  // Bytes of the file this source read besides the reader's detection: scans and parses.
  std::size_t bytes_read() const { return scanner_->bytes_read() + parsed_bytes_; }

 private:
  CsvPosition locate(std::size_t row);

  std::unique_ptr<CsvReader> reader_;
  std::unique_ptr<CsvLineScanner> scanner_;
  std::size_t rows_ = 0;
  std::map<std::size_t, CsvPosition> anchors_;  // by row
  std::size_t parsed_bytes_ = 0;
};

}  // namespace curvefit
