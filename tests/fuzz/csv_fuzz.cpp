// Fuzzes the CSV reader: dialect and header detection, column choice and the block-parallel parse.
//
// Input: two option bytes, then the file's text. The text is read with the options the bytes
// choose, once with one block for the whole file and once cut into tiny blocks as the parallel
// parser cuts a large file: both reads must give the same outcome (the same columns bit for bit,
// or the same error). A third read with a tiny sample and tiny line limit checks only that every
// outcome is a value or a documented error.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <tbb/global_control.h>

#include "core/data/csv_reader.h"
#include "core/errors.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using curvefit::CsvParseTuning;
using curvefit::DataOptions;

DataOptions options_from(std::uint8_t a, std::uint8_t b) {
  static const char kDelimiters[8] = {0, ',', '\t', ';', ' ', '|', ':', 'x'};
  static const char kDecimals[4] = {0, '.', ',', 0};
  DataOptions options;
  options.delimiter = kDelimiters[a & 7];
  options.decimal = kDecimals[(a >> 3) & 3];
  if ((a >> 5 & 3) == 1) options.header = true;
  if ((a >> 5 & 3) == 2) options.header = false;
  options.skip_invalid = (a & 0x80) != 0;
  options.nan_policy = (b & 1) ? curvefit::NanPolicy::omit : curvefit::NanPolicy::raise;
  options.num_predictors = 1 + (b >> 4 & 1);
  if (b & 0x20) options.sigma = "3";
  if (b & 0x40) options.y = "2";
  return options;
}

// What one read produced: the error's kind and text, or the stats and the columns.
struct Outcome {
  std::string error;
  std::size_t rows = 0, skipped = 0, omitted = 0;
  std::vector<std::vector<double>> columns;
  bool operator==(const Outcome& other) const {
    if (error != other.error || rows != other.rows || skipped != other.skipped ||
        omitted != other.omitted || columns.size() != other.columns.size())
      return false;
    for (std::size_t c = 0; c < columns.size(); ++c) {
      if (columns[c].size() != other.columns[c].size()) return false;
      if (!columns[c].empty() &&
          std::memcmp(columns[c].data(), other.columns[c].data(), columns[c].size() * sizeof(double)) != 0)
        return false;
    }
    return true;
  }
};

void parse_into(curvefit::CsvReader& reader, Outcome& outcome) {
  outcome.columns.resize(reader.selection().fields.size());
  const auto stats = reader.parse([&](curvefit::CsvColumnsBlock& block) {
    FUZZ_CHECK(block.columns.size() == outcome.columns.size());
    for (std::size_t c = 0; c < block.columns.size(); ++c) {
      FUZZ_CHECK(block.columns[c].size() == block.rows);
      outcome.columns[c].insert(outcome.columns[c].end(), block.columns[c].begin(), block.columns[c].end());
    }
  });
  outcome.rows = stats.rows;
  outcome.skipped = stats.skipped_invalid;
  outcome.omitted = stats.omitted_nonfinite;
  FUZZ_CHECK(stats.rows > 0);
  for (const auto& column : outcome.columns) FUZZ_CHECK(column.size() == stats.rows);
}

Outcome read(const std::string& path, const DataOptions& options, CsvParseTuning tuning, bool count) {
  Outcome outcome;
  try {
    curvefit::CsvReader reader(path, options, tuning);
    FUZZ_CHECK(!reader.selection().fields.empty());
    if (count)
      outcome.rows = reader.count_data_lines();
    else
      parse_into(reader, outcome);
  } catch (const curvefit::DataError& e) {
    outcome = {};
    outcome.error = std::string("data: ") + e.what();
  } catch (const curvefit::UsageError& e) {
    outcome = {};
    outcome.error = std::string("usage: ") + e.what();
  }
  if (outcome.error.find('\n') != std::string::npos) {  // messages are one line
    std::fprintf(stderr, "%s\n", outcome.error.c_str());
    FUZZ_CHECK(outcome.error.find('\n') == std::string::npos);
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // One thread: blocks are cut and delivered as with many (their order is the file's), and idle
  // TBB workers would spin for each tiny input. Races are ThreadSanitizer's part (label threads).
  static tbb::global_control one_thread(tbb::global_control::max_allowed_parallelism, 1);
  if (size < 2) return 0;
  const DataOptions options = options_from(data[0], data[1]);
  const bool count = (data[1] & 0x80) != 0;
  const std::size_t tiny_block = 1 + (data[1] >> 1 & 7) * 5;
  curvefit::fuzz::MemoryFile file(data + 2, size - 2);

  CsvParseTuning whole;
  whole.max_line_bytes = 4096;
  whole.block_bytes = 1 << 16;
  CsvParseTuning blocks = whole;
  blocks.block_bytes = tiny_block;
  const Outcome one_block = read(file.path(), options, whole, count);
  const Outcome many_blocks = read(file.path(), options, blocks, count);
  if (!(one_block == many_blocks)) {
    std::fprintf(stderr, "one block: %s (%zu rows)\nblocks of %zu bytes: %s (%zu rows)\n", one_block.error.c_str(),
                 one_block.rows, tiny_block, many_blocks.error.c_str(), many_blocks.rows);
    FUZZ_CHECK(one_block == many_blocks);
  }

  CsvParseTuning tight;
  tight.sample_bytes = 8 + data[0] % 64;
  tight.max_line_bytes = 16 + data[1] % 64;
  tight.block_bytes = tiny_block;
  read(file.path(), options, tight, count);
  return 0;
}
