#pragma once
// Files for the sharded-data tests: rows of generated data (y = a exp(-b x) + c plus a
// deterministic noise, with known a, b, c) written to a CSV or an HDF5 file, whole or a row range
// of it, so that a fit of the shards can be compared with a fit of one file holding the same rows.
#include <H5Cpp.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace curvefit::testing_data {

struct Rows {
  std::vector<double> x, y;
};

// y = a exp(-b x) + c + noise on x in [0, 10), a = 5, b = 0.5, c = 1: the noise is a fixed
// pseudo-random sequence of standard deviation about 0.05 (an LCG, so every platform agrees).
inline Rows exponential_rows(std::size_t n) {
  Rows rows;
  std::uint64_t state = 12345;
  for (std::size_t i = 0; i < n; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const double uniform = static_cast<double>(state >> 11) / 9007199254740992.0;  // [0, 1)
    const double x = 10.0 * static_cast<double>(i) / static_cast<double>(n);
    rows.x.push_back(x);
    rows.y.push_back(5.0 * std::exp(-0.5 * x) + 1.0 + 0.05 * std::sqrt(12.0) * (uniform - 0.5));
  }
  return rows;
}

// Rows [begin, end) as CSV with a header x,y; values printed exactly (17 significant digits).
inline void write_csv_rows(const std::string& path, const Rows& rows, std::size_t begin, std::size_t end,
                           const std::string& header = "x,y") {
  std::ofstream out(path);
  out << header << "\n";
  char line[80];
  for (std::size_t i = begin; i < end; ++i) {
    std::snprintf(line, sizeof line, "%.17g,%.17g\n", rows.x[i], rows.y[i]);
    out << line;
  }
}

// Rows [begin, end) as HDF5 datasets /x and /y of float64.
inline void write_hdf5_rows(const std::string& path, const Rows& rows, std::size_t begin, std::size_t end) {
  H5::H5File file(path, H5F_ACC_TRUNC);
  hsize_t dims[1] = {end - begin};
  H5::DataSpace space(1, dims);
  for (const auto& [name, column] : {std::pair{"/x", &rows.x}, std::pair{"/y", &rows.y}}) {
    H5::DataSet dataset = file.createDataSet(name, H5::PredType::NATIVE_DOUBLE, space);
    dataset.write(column->data() + begin, H5::PredType::NATIVE_DOUBLE);
  }
}

}  // namespace curvefit::testing_data
