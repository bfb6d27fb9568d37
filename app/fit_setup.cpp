#include "app/fit_setup.h"

#include <stdexcept>

#include "app/error_exit.h"
#include "core/data/csv_reader.h"
#include "core/engine/param_spec.h"
#include "core/errors.h"
#include "memory/size.h"

namespace curvefit::app {

void add_problem_options(CLI::App& command, ProblemOptions& o, bool required) {
  command.add_option("DATA", o.data,
                     "CSV/TSV file, HDF5 file, or - for CSV on stdin. Several files, or a quoted pattern such as "
                     "'runs/*.h5' (expanded by curvefit), are one dataset: the rows of every file in the order of "
                     "the sorted file names; every file must have the same columns (else exit 3 naming the first "
                     "that differs); a pattern that matches nothing is a usage error (exit 2)")
      ->required(required);
  command.add_option("-m,--model", o.models,
                     "Built-in model name (see `curvefit models`), a formula such as \"a*exp(-b*x)+c\", or built-ins "
                     "combined with formulas, + - * / and parentheses, each with an optional prefix: "
                     "\"gaussian[p1] + gaussian[p2] + linear\" has p1_a, p1_mu, ..., a, b. "
                     "In a formula, names that are columns of DATA are predictors (else x, or x1, x2, ...), "
                     "pi and e are constants, and every other name is a parameter. Operators + - * / ^ (or **), "
                     "< <= > >= == != && || ! (1 or 0); functions: see `curvefit models`. "
                     "fit: several --model are fitted in shared passes and ranked by AIC")
      ->required(required);
  command.add_option("--x", o.x,
                     "Predictor column(s): CSV header name or 1-based index; HDF5 dataset path "
                     "(/group/t, or /table:1 for a column of a 2-D dataset). Default: the columns named like "
                     "the model's predictors (x; x1, x2; a formula's column names), in any case; else the "
                     "columns left when exactly as many remain; else exit 3 listing them")
      ->delimiter(',');
  command.add_option("--y", o.y, "Response column (CSV name or index; HDF5 dataset path). Default: the column named y");
  command.add_option("--sigma", o.sigma,
                     "Column of measurement uncertainties (weights 1/sigma). Never chosen on its own; "
                     "a column named sigma, sigma_y, dy, yerr or err is noted in the report");
  command.add_option("--weights", o.weights,
                     "Column of weights w = 1/sigma^2 (instead of --sigma); w must be positive "
                     "(--nan-policy omit drops rows of weight 0)");
  command.add_option("--delimiter", o.delimiter, "CSV delimiter: , ; tab space (default: detected)");
  command.add_option("--decimal", o.decimal,
                     "CSV decimal separator: . or , (default: '.', or ',' when detected in a ';'-separated file)");
  command.add_flag("--header", o.header, "The first CSV row is a header");
  command.add_flag("--no-header", o.no_header, "The CSV has no header row");
  command.add_flag("--skip-invalid", o.skip_invalid, "Skip CSV rows that do not parse (and say how many)");
  command.add_option("--nan-policy", o.nan_policy,
                     "raise: a missing (empty, NA, N/A, NaN, null) or non-finite x/y, or sigma <= 0, is an error; "
                     "omit: drop those rows")
      ->check(CLI::IsMember({"raise", "omit"}))
      ->capture_default_str();
  command.add_option("--x-range", o.x_range,
                     "Fit only the rows with LO <= x <= HI (gnuplot's fit [LO:HI]): LO:HI, either side may be "
                     "empty (:5, 2:) or inf; the first predictor, or NAME=LO:HI for the predictor NAME (x2, a "
                     "formula's column name, or its --x column)");
  command.add_option("--where", o.where,
                     "Fit only the rows where a condition over the file's columns by name holds, e.g. "
                     "\"temp > 300 && flag == 0\": comparisons, && || !, arithmetic and functions as in a formula; "
                     "the columns need not be fitted ones. A row where it is NaN (a NaN in a column it reads) is "
                     "not selected; --nan-policy judges only the selected rows");
  command.add_option("--fix", o.fix, "Hold parameters at a value, e.g. c=0,d=1");
  command.add_option("--tie", o.ties,
                     "Give a parameter by an expression of the others, e.g. \"p2_sigma = p1_sigma\" (repeatable); "
                     "it is not free, and its value and propagated standard error are reported");
  command.add_option("--method", o.method, "Solver: trf (bounds), lm, dogbox (bounds)")
      ->check(CLI::IsMember({"trf", "lm", "dogbox"}))
      ->capture_default_str();
  command.add_option("--memory-limit", o.memory_limit,
                     "Cap on the peak RSS of the whole process, e.g. 512MB, 4GB, 1.5GiB; MB = 10^6 "
                     "bytes, MiB = 2^20 (default: available memory / 1.2 plus this process's RSS, "
                     "as `curvefit memory` shows)");
  command.add_option("--mode", o.mode,
                     "auto, memory (data loaded once, largest chunks), chunked (data loaded once, the "
                     "largest chunks that fit) or stream (data re-read from the file on every pass)")
      ->check(CLI::IsMember({"auto", "memory", "chunked", "stream"}))
      ->capture_default_str();
  command.add_option("--chunk-size", o.chunk_size, "Rows per chunk (default: chosen by the planner)");
  command.add_option("--threads", o.threads, "Worker threads (default: all cores)");
  command.add_option("--temp-dir", o.temp_dir,
                     "Folder for the binary spill of a streamed CSV (default: $TMPDIR, else /tmp); "
                     "files of killed runs there are removed");
  command.add_flag("--json", o.json, "Print one JSON object on stdout instead of the report");
}

FitSpec problem_spec(const ProblemOptions& o) {
  FitSpec spec;
  if (o.data.size() == 1) spec.data_path = o.data.front();
  else spec.data_paths = o.data;
  if (!o.models.empty()) spec.model = o.models.front();
  if (o.models.size() > 1) spec.more_models.assign(o.models.begin() + 1, o.models.end());
  DataOptions& d = spec.data_options;
  d.x = o.x;
  d.y = o.y;
  d.sigma = o.sigma;
  if (!o.weights.empty()) {
    if (!o.sigma.empty()) throw UsageError("--sigma and --weights: give one of them (w = 1/sigma^2)");
    d.sigma = o.weights;
    spec.sigma_is_weight = true;
  }
  if (!o.delimiter.empty()) {
    try {
      d.delimiter = parse_delimiter_option(o.delimiter);
    } catch (const std::exception& e) {
      throw UsageError(std::string("--delimiter: ") + e.what());
    }
  }
  d.decimal = parse_decimal_option(o.decimal);
  if (o.header && o.no_header) throw UsageError("--header and --no-header contradict each other");
  if (o.header) d.header = true;
  if (o.no_header) d.header = false;
  d.skip_invalid = o.skip_invalid;
  d.temp_dir = o.temp_dir;
  d.on_notice = print_notice;
  d.nan_policy = o.nan_policy == "omit" ? NanPolicy::omit : NanPolicy::raise;
  if (!o.x_range.empty()) spec.x_range = parse_x_range(o.x_range);
  spec.where = o.where;
  if (!o.fix.empty()) spec.fix = parse_named_values(o.fix, "--fix");
  for (const std::string& tie : o.ties) spec.ties.push_back(parse_tie(tie, "--tie"));
  spec.method = parse_algorithm(o.method);
  if (!o.memory_limit.empty()) {
    try {
      spec.memory_limit_bytes = parse_size(o.memory_limit);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--memory-limit: ") + e.what());
    }
    if (spec.memory_limit_bytes == 0) throw UsageError("--memory-limit: must be positive");
  }
  spec.mode = parse_fit_mode(o.mode);
  spec.chunk_rows = o.chunk_size;
  spec.threads = o.threads;
  return spec;
}

}  // namespace curvefit::app
