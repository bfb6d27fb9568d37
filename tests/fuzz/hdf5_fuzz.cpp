// Fuzzes the HDF5 opener on mutated small files (seeds: tests/fuzz/corpus/hdf5/, written by
// make_hdf5_seeds.py): listing datasets, choosing columns, opening the selected datasets and
// reading every row, with nan_policy raise and omit.
//
// Input: one option byte, then the file's bytes (written to a temporary file). Every
// outcome is the data or a DataError; rows read are finite where nan_policy omit promised so.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/data/hdf5_source.h"
#include "core/errors.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

curvefit::DataOptions options_from(std::uint8_t byte) {
  curvefit::DataOptions options;
  options.nan_policy = (byte & 1) ? curvefit::NanPolicy::omit : curvefit::NanPolicy::raise;
  switch (byte >> 1 & 3) {
    case 1: options.x = {"/x"}; options.y = "/y"; break;
    case 2: options.x = {"/table:1"}; options.y = "/table:2"; options.sigma = "/table:3"; break;
    case 3: options.x = {"/g/t"}; options.y = "/g/v"; break;
    default: break;
  }
  return options;
}

void read_all(const std::string& path, const curvefit::DataOptions& options) {
  curvefit::Hdf5DataSource source(path, options, true);
  const std::size_t rows = source.rows();
  FUZZ_CHECK(rows <= source.file_rows());
  const std::size_t block = 7;
  std::vector<std::vector<double>> x(static_cast<std::size_t>(source.num_predictors()), std::vector<double>(block));
  std::vector<double*> x_columns;
  for (auto& column : x) x_columns.push_back(column.data());
  std::vector<double> y(block), sigma(block);
  for (std::size_t begin = 0; begin < rows && begin < 4096; begin += block) {
    const std::size_t count = std::min(block, rows - begin);
    source.read(begin, count, x_columns.data(), y.data(), source.has_sigma() ? sigma.data() : nullptr);
    if (options.nan_policy == curvefit::NanPolicy::omit)
      for (std::size_t i = 0; i < count; ++i) FUZZ_CHECK(std::isfinite(y[i]));
  }
  source.contiguous_file_offsets();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool no_locking = setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1) == 0;
  (void)no_locking;
  if (size < 1) return 0;
  const curvefit::DataOptions options = options_from(data[0]);
  curvefit::fuzz::TempFile file(data + 1, size - 1);
  try {
    if (!curvefit::has_hdf5_signature(file.path())) return 0;
    curvefit::list_hdf5_datasets(file.path());
    curvefit::hdf5_column_request(file.path(), options);
    read_all(file.path(), options);
  } catch (const curvefit::DataError&) {
  }
  return 0;
}
