#pragma once
// Which columns of a file a fit uses: one rule for CSV headers and HDF5 datasets.
//
// A column is named by its CSV header field, or by the last part of an HDF5 dataset's path
// ("/run/temp" is "temp"). Names match case-insensitively (an exact match wins when several
// columns differ only in case). For each role not given by --x, --y or --sigma:
//   - predictor k: the column named like the model's predictor k ("x"; "x1", "x2"; or the
//     formula's names that are columns, see formula_predictors);
//   - y: the column named "y";
//   - sigma: none. A column named like an uncertainty (sigma, sigma_y, dy, yerr, err) is never
//     used on its own: weighting changes the fit and its errors, so it takes --sigma; a note
//     says how.
// Roles left without a name take the remaining columns when exactly as many remain, in file
// order (so "time,signal" fits signal against time). Remaining means: not chosen, not an
// unnamed leading index column (pandas' to_csv writes one named "" or "Unnamed: 0"), not named
// like an uncertainty, and not text in the first data row. HDF5 datasets have no order, so there
// only a single open role takes a single remaining dataset. Anything else is ambiguous: a
// DataError that lists the columns and the options that choose.
// A CSV file without a header has no names: x1..xk are its first k columns and y the next.
#include <cstddef>
#include <string>
#include <vector>

namespace curvefit {

enum class ColumnSource { csv_header, csv_no_header, hdf5 };

struct ColumnRequest {
  std::string where;                        // "data.csv:1:1" or "data.h5", the start of messages
  ColumnSource source = ColumnSource::csv_header;
  std::vector<std::string> columns;         // header names in file order, or HDF5 dataset paths
  std::vector<bool> text;                   // per column: the first data row holds text (CSV)
  std::vector<std::string> predictor_names; // the model's predictors, in the model's order
  std::vector<std::string> x;               // --x, empty to choose
  std::string y, sigma;                     // --y and --sigma, empty to choose (sigma: none)
};

// What the readers resolve: each entry is a column as the format names it (a header name, a
// 1-based CSV index, an HDF5 path); the --x/--y/--sigma values pass through unchanged unless they
// match exactly one column only case-insensitively (or, in HDF5, by the last part of its path).
struct ColumnChoice {
  std::vector<std::string> x;
  std::string y;
  std::string sigma;               // empty: no weights
  std::vector<std::string> notes;  // for the report, e.g. how to use an uncertainty column
};

// Throws DataError when the choice is ambiguous or a name matches two columns.
ColumnChoice choose_columns(const ColumnRequest& request);

// How a reader is told to take the column called `name` (a --where condition's name): the CSV
// header field as written, or the HDF5 dataset path; matched as columns are (exact, else the
// only case-insensitive match; in HDF5 the last part of the path). Throws UsageError naming
// `option` and listing the columns when none is, or when the file has no header.
std::string column_spec_named(const ColumnRequest& file, const std::string& name, const std::string& option);

// The predictor names models without a formula use: "x", or "x1".."xk".
std::vector<std::string> default_predictor_names(int num_predictors);

// The predictors of a formula whose free names (functions excluded, constants included) are
// formula_names, on the file that `file` describes (its predictor_names are not used):
//   - --x given as names the formula uses: exactly those, in that order;
//   - --x given otherwise, or no name of the formula is a column: none, meaning the formula
//     writes its predictors as x or x1, x2, ... (and must use them);
//   - else the formula's names that are columns, in order of first appearance; every other
//     name is a parameter.
// Throws DataError, listing the columns, when the formula uses no predictor; when every name in
// it is a column (nothing left to fit); when it uses the --y column; when two of its names are
// one column; when it also writes x or x1, x2, ... that are not columns; and when the constant
// pi or e is also a column's name (write exp(1) for e, or name the predictors with --x: with
// --x, a name given there is the column and every other one keeps its meaning).
std::vector<std::string> formula_predictors(const std::vector<std::string>& formula_names,
                                            const ColumnRequest& file);

}  // namespace curvefit
