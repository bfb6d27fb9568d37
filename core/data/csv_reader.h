#pragma once
// CSV, TSV and whitespace-separated text: dialect and header detection, column selection, and a
// block-parallel parser that never holds the whole file as text.
//
// Understood as people write it: a UTF-8 byte order mark, CRLF or lone-CR line ends, quoted fields
// (with newlines inside), a decimal comma (forced, or detected in ';'-separated files), and empty
// fields or NA, N/A, NaN, null as missing values, which nan_policy then raises on or omits.
//
// The file is read in blocks (8 MB by default) split at line boundaries. A TBB pipeline reads
// blocks in order (one thread), parses them in parallel into column vectors, and hands them to a
// sink in file order, so errors name the exact line and the first error in file order wins. The
// load into RAM (parse_placed) of a regular file cuts its blocks out of a read-only mapping of
// the file instead of reading them into buffers.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/data/columns.h"
#include "core/data/data_source.h"
#include "core/data/data_types.h"

namespace curvefit {

// The CSV dialect found (or forced) from the first lines of the file.
struct CsvDialect {
  char delimiter = ',';        // ',', '\t', ';', another forced character, or ' ' for whitespace runs
  char decimal = '.';          // the decimal separator: '.' or ','
  bool whitespace = false;     // fields separated by runs of spaces/tabs
  bool has_header = false;
  std::size_t header_line = 0;         // 1-based line number of the header row, 0 when none
  std::vector<std::string> header;     // header names (empty when none)
  std::size_t field_count = 0;         // fields on every data row
};

// The columns a fit uses, as 0-based field indices: predictors, then y, then sigma if any.
struct CsvSelection {
  std::vector<std::size_t> fields;
  std::vector<std::string> names;
  int num_predictors = 1;
  bool has_sigma = false;
  std::vector<std::string> notes;  // about the choice (ColumnChoice::notes)
  // Fields the row selection reads besides these (DataOptions::selection), parsed but never
  // delivered.
  std::vector<std::size_t> selection_fields;
};

// What a full parse saw.
struct CsvParseStats {
  std::size_t rows = 0;                    // rows delivered to the sink
  std::size_t skipped_invalid = 0;         // rows dropped by skip_invalid
  std::vector<std::size_t> first_skipped;  // their first few line numbers
  std::size_t omitted_nonfinite = 0;       // rows dropped by nan_policy omit
  std::vector<std::size_t> first_omitted;  // their first few line numbers
  std::size_t unselected = 0;              // rows the selection (DataOptions::selection) drops
  // Rows before the selection and nan_policy omit (after skip_invalid): what "N of M rows" counts.
  std::size_t rows_total() const { return rows + omitted_nonfinite + unselected; }
};

// Tunables, exposed for tests (tiny blocks exercise block borders) and the benchmark.
struct CsvParseTuning {
  std::size_t block_bytes = 8u << 20;     // text per parallel block
  std::size_t max_line_bytes = 1u << 20;  // longer lines are an error, not an unbounded buffer
  std::size_t sample_bytes = 1u << 20;    // prefix read for detection and row estimates

  // Blocks in flight in the parse pipeline: one per worker, plus the one being read and the one
  // being handed to the sink.
  static std::size_t pipeline_tokens();
  // The most a parse holds at once besides the caller's columns, so that the planner can count it:
  // the sample and pipeline_tokens() blocks, each its text buffer (block_bytes + max_line_bytes)
  // and its parsed columns (`columns` doubles a row, rows of bytes_per_row bytes on average;
  // twice that, since a column's reserve is sized from the block's first line and grows by
  // doubling when later lines are shorter).
  std::size_t parse_buffer_bytes(std::size_t columns, double bytes_per_row) const;
};

// The selected columns of one parsed block, each of length rows.
struct CsvColumnsBlock {
  std::vector<std::vector<double>> columns;
  std::size_t rows = 0;
};

class CsvReader {
 public:
  // Opens path ("-" = stdin), reads the sample prefix, detects the dialect and header (unless
  // forced by options) and resolves the selected columns (unless !choose_columns: then
  // selection() is empty, for describe_columns). Throws DataError with FILE:LINE:COL, and
  // UsageError when the decimal separator is also the delimiter.
  CsvReader(const std::string& path, const DataOptions& options, CsvParseTuning tuning = {},
            bool choose_columns = true);
  ~CsvReader();
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  const CsvDialect& dialect() const { return dialect_; }
  const CsvSelection& selection() const { return selection_; }
  const std::string& display_name() const { return display_name_; }
  // File size in bytes, 0 for stdin or pipes.
  std::size_t file_bytes() const { return file_bytes_; }
  // Data rows: exact when the whole file fit in the sample (and no rows can be dropped),
  // otherwise the sample's rows plus the rest of the file at the bytes per line of a few windows
  // spread over it (the first megabyte alone can be off by 5 %: numbers get longer down a file).
  std::size_t estimated_rows() const { return estimated_rows_; }
  bool rows_exact() const { return rows_exact_; }
  // The header fields or, without a header, the first data line's fields (for `inspect`).
  const std::vector<std::string>& first_row_fields() const { return first_row_fields_; }
  // The first data row's fields (after the header), empty if the sample has none (`inspect`).
  const std::vector<std::string>& first_data_fields() const { return first_data_fields_; }

  // The header as the column rule (core/data/columns.h) sees it, with options' --x/--y/--sigma.
  ColumnRequest column_request(const DataOptions& options) const;

  // Counts data records (not comments or blanks; a record with quoted newlines counts once)
  // without parsing numbers; for `inspect`. Like
  // parse(), callable once and not together with parse().
  std::size_t count_data_lines();

  // Parses every data row once (callable once per reader), calling sink with each block's
  // columns in file order. Applies skip_invalid and nan_policy; throws DataError on bad input,
  // on an empty file, a header without rows, or when no valid row remains.
  CsvParseStats parse(const std::function<void(CsvColumnsBlock&)>& sink);
  // As parse(), but place(first_row, block) is called from the parse workers, concurrently and
  // in any order, with the number of rows before the block: for a sink that writes each block to
  // its own rows (load_data's columns). A regular file (not lone-'\r' line ends) is mapped for
  // the parse: if it shrinks meanwhile, reading the lost pages raises SIGBUS (data_open.h).
  CsvParseStats parse_placed(const std::function<void(std::size_t first_row, const CsvColumnsBlock&)>& place);

  // Where the data records of the file start: the byte offset after a byte order mark and the
  // header record, and the lines before it (for line numbers in messages).
  std::size_t data_offset() const { return data_offset_; }
  std::size_t lines_before_data() const { return lines_before_data_; }
  // Lines end with a lone '\r' (old Mac files): the reader translates them as it reads.
  bool lone_cr_line_ends() const { return lone_cr_; }
  // Parses the records in bytes [begin, end) of a regular file, which start and end at record
  // boundaries, with `lines_before` lines before begin (messages name the file's true line),
  // calling sink with each block in file order. Applies skip_invalid and nan_policy, but none of
  // parse()'s whole-file checks (no rows is no error here). Callable any number of times, from one
  // thread at a time, and not for stdin or lone-'\r' files; the parallel parser as parse() runs it.
  CsvParseStats parse_byte_range(std::size_t begin, std::size_t end, std::size_t lines_before,
                                 const std::function<void(CsvColumnsBlock&)>& sink);

 private:
  class Input;
  struct SampleLine;
  void read_sample();
  void detect(const DataOptions& options);
  std::vector<SampleLine> scan_sample(std::size_t& data_bytes, std::size_t& data_lines);
  // The data rows of the file; sample_end is the file offset just past the sample.
  std::size_t estimate_rows(std::size_t data_bytes, std::size_t data_lines, std::size_t sample_end);
  void choose_delimiter(const std::vector<SampleLine>& lines, const DataOptions& options);
  void choose_decimal(const std::vector<SampleLine>& lines, const DataOptions& options);
  void detect_header(const std::vector<SampleLine>& lines, const DataOptions& options);
  void start_reading();
  CsvParseStats parse_whole(const std::function<void(CsvColumnsBlock&)>& sink,
                            const std::function<void(std::size_t, const CsvColumnsBlock&)>& place);
  CsvParseStats run_pipeline(const std::function<std::size_t(char*, std::size_t)>& read, std::size_t block_bytes,
                             std::size_t lines_before, const std::function<void(CsvColumnsBlock&)>& sink,
                             const std::function<void(std::size_t, const CsvColumnsBlock&)>& place,
                             std::size_t& data_lines_seen, std::size_t& last_line, std::string_view mapped = {});
  void finish_parse(const CsvParseStats& stats, std::size_t data_lines_seen, std::size_t last_line) const;
  void select(const DataOptions& options);
  std::size_t resolve_column(const std::string& spec, const char* option) const;

  std::string path_;
  std::string display_name_;
  DataOptions options_;
  CsvParseTuning tuning_;
  std::unique_ptr<Input> input_;
  std::string sample_;              // the prefix read for detection (pushed back into the input)
  bool sample_is_whole_file_ = false;
  std::size_t file_bytes_ = 0;
  std::size_t estimated_rows_ = 0;
  bool rows_exact_ = false;
  std::size_t lines_before_data_ = 0;  // lines consumed before parsing starts (through header)
  std::size_t data_offset_ = 0;        // the file's byte where they start
  bool lone_cr_ = false;
  std::vector<std::string> first_row_fields_;
  std::vector<std::string> first_data_fields_;
  CsvDialect dialect_;
  CsvSelection selection_;
  bool parsed_ = false;
};

// The value of a --delimiter option for DataOptions::delimiter: one character, or "tab", "\t",
// "space"/"whitespace" (runs of spaces and tabs, stored as ' '), "comma", "semicolon"; empty
// means detect (0). Throws UsageError otherwise. Shared by every command that reads CSV.
char parse_delimiter_option(const std::string& text);

// The value of a --decimal option for DataOptions::decimal: "." or ","; empty means detect (0).
// Throws UsageError otherwise.
char parse_decimal_option(const std::string& text);

// Whether text (trimmed) is a number as the parser reads it: fast_float, '+' allowed, nan/inf.
bool is_csv_number(const std::string& text, char decimal = '.');

}  // namespace curvefit
