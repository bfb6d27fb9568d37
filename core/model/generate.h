#pragma once
// Synthetic data with known truth: y = f(x; p) + Gaussian noise, written to CSV or HDF5 in chunks so
// that any number of points needs the memory of one chunk.
//
// Points. One predictor: x_i = lo + (hi - lo) * i / (N - 1), i = 0 .. N-1 (x_0 = lo when N = 1).
// k predictors: a grid of side s, the smallest s with s^k >= N, filled with predictor 1 varying
// fastest (two predictors: point i at column i mod s and row i / s), each coordinate evenly spaced
// over [lo, hi] in s steps; the last row (layer) may be partial.
// Noise. Point i gets sd * z_i, z_i a standard normal computed (Box-Muller) from splitmix64 of
// (seed, i) alone: the data do not depend on the chunk size, and a seed reproduces them exactly.
// Files. CSV: a leading comment line "# curvefit generate ..." with the true parameters, a header
// (x,y or x1,x2,y), numbers in shortest round-trip form. HDF5: 1-D chunked double datasets /x, /y
// (/x1, /x2, /y); the root group carries attributes model, formula, param_names (comma-separated),
// param_values (double array), noise_sd, seed. Written under a temporary name in the same folder
// and renamed when complete, so a reader never sees a partial file (core/owned_files.h: a killed
// run's temporary is removed by the next run writing to that folder).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"

namespace curvefit {

enum class OutputFormat { csv, hdf5 };

struct GenerateSpec {
  std::uint64_t points = 0;             // N >= 1
  std::vector<double> params;           // one per model parameter
  double noise_sd = 0;                  // standard deviation of the added noise (>= 0)
  std::uint64_t seed = 1;               // noise seed
  double x_min = 0, x_max = 10;         // range of each predictor
  std::size_t chunk_points = 1 << 20;   // points held in memory at once (does not change the data)
  std::string model_label;              // built-in name or formula, recorded in the file
};

// From the file name: .csv -> csv; .h5, .hdf5, .he5 -> hdf5. UsageError otherwise.
OutputFormat output_format_for(std::string_view path);

// Writes the data set; UsageError for an invalid spec, ModelError (naming the first such x) when the
// model is not finite somewhere in the range, DataError when the file cannot be written.
void generate_data(const Model& model, const GenerateSpec& spec, const std::string& out_path);

// Predictor values of points [begin, begin + count) into x[k][0..count).
void generate_predictors(int num_predictors, std::uint64_t total_points, double x_min, double x_max,
                         std::uint64_t begin, std::size_t count, double* const* x);

// The standard normal deviate of point `index` for `seed` (see the note at the top).
double noise_deviate(std::uint64_t seed, std::uint64_t index);

// Parsers for the command line (UsageError with a message naming the option on failure).
// "1000", "1e8", "2.5e6": a whole number >= 1.
std::uint64_t parse_point_count(std::string_view text);
// "lo:hi" with lo < hi, both finite.
std::pair<double, double> parse_range(std::string_view text);
// "a=1,b=2": values for the named parameters, starting from `defaults` (one per name). Every
// parameter must end up with a value: missing ones (where defaults is empty) are an error.
std::vector<double> parse_parameter_values(std::string_view text, const std::vector<std::string>& names,
                                           const std::vector<double>& defaults);

}  // namespace curvefit
