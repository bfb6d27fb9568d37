// `curvefit inspect FILE...`: what data files hold, before fitting them. CSV: the dialect found,
// the columns with their names and whether they look numeric, and the number of data rows.
// HDF5: every dataset with its type and shape.
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/error_exit.h"
#include "core/data/csv_reader.h"
#include "core/data/data_open.h"
#include "core/errors.h"
#include "core/data/hdf5_source.h"
#include "core/data/sharded_source.h"

namespace curvefit::app {
namespace {

struct InspectOptions {
  std::vector<std::string> paths;
  std::string delimiter;
  std::string decimal;
  bool header = false;
  bool no_header = false;
};

std::string delimiter_name(const CsvDialect& dialect) {
  if (dialect.whitespace) return "runs of whitespace";
  if (dialect.delimiter == '\t') return "tab";
  return std::string("'") + dialect.delimiter + "'";
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (widths.size() <= c) widths.push_back(0);
      widths[c] = std::max(widths[c], row[c].size());
    }
  for (const auto& row : rows) {
    std::string line = " ";
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += " " + row[c];
      if (c + 1 < row.size()) line += std::string(widths[c] - row[c].size() + 1, ' ');
    }
    std::cout << line << "\n";
  }
}

// The CSV file's dialect and columns; returns its number of data rows.
std::size_t inspect_csv(const InspectOptions& inspect, const std::string& path) {
  DataOptions options;
  options.on_notice = print_notice;
  options.delimiter = parse_delimiter_option(inspect.delimiter);
  options.decimal = parse_decimal_option(inspect.decimal);
  if (inspect.header) options.header = true;
  if (inspect.no_header) options.header = false;
  options.y = "1";  // any existing column: inspect selects nothing in particular
  options.x = {"1"};
  CsvReader reader(path, options);
  const CsvDialect& dialect = reader.dialect();
  const std::size_t rows = reader.count_data_lines();
  std::cout << reader.display_name() << ": CSV, delimiter " << delimiter_name(dialect) << ", "
            << (dialect.decimal == ',' ? "decimal comma, " : "")
            << (dialect.has_header ? "header row (line " + std::to_string(dialect.header_line) + ")" : "no header row")
            << ", " << rows << " data row" << (rows == 1 ? "" : "s") << "\n";
  std::vector<std::vector<std::string>> table{{"column", "name", "type"}};
  const auto& sample = reader.first_data_fields();
  for (std::size_t c = 0; c < dialect.field_count; ++c) {
    std::string name = dialect.has_header ? dialect.header[c] : "-";
    std::string type = "-";
    if (c < sample.size()) {
      const std::string& field = sample[c];
      type = field.empty() ? "empty" : (is_csv_number(field, dialect.decimal) ? "numeric" : "text");
    }
    table.push_back({std::to_string(c + 1), name, type});
  }
  print_table(table);
  return rows;
}

// The HDF5 file's datasets; returns its rows: the length every numeric dataset shares (none when
// their lengths differ, as the columns a fit selects are then not known here).
std::optional<std::size_t> inspect_hdf5(const std::string& path) {
  auto datasets = list_hdf5_datasets(path);
  std::cout << path << ": HDF5, " << datasets.size() << " dataset" << (datasets.size() == 1 ? "" : "s") << "\n";
  std::vector<std::vector<std::string>> table{{"dataset", "type", "shape"}};
  for (const auto& dataset : datasets) {
    std::string shape;
    for (std::size_t d = 0; d < dataset.dims.size(); ++d) shape += (d ? " x " : "") + std::to_string(dataset.dims[d]);
    if (dataset.dims.empty()) shape = "scalar";
    table.push_back({dataset.path, dataset.type, shape});
  }
  print_table(table);
  std::optional<std::size_t> rows;
  for (const auto& dataset : datasets) {
    if (!dataset.numeric || dataset.dims.empty()) continue;
    if (rows && *rows != dataset.dims.front()) return std::nullopt;
    rows = static_cast<std::size_t>(dataset.dims.front());
  }
  return rows;
}

// Several files: each one's rows and the total, as a fit of them all would count them.
void print_file_rows(const std::vector<std::string>& paths, const std::vector<std::optional<std::size_t>>& rows) {
  std::vector<std::vector<std::string>> table{{"file", "rows"}};
  std::size_t total = 0;
  bool all_known = true;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    table.push_back({paths[i], rows[i] ? std::to_string(*rows[i]) : "- (datasets of several lengths)"});
    total += rows[i].value_or(0);
    all_known = all_known && rows[i].has_value();
  }
  table.push_back({"total", std::to_string(total) + (all_known ? "" : " (files marked - not counted)")});
  std::cout << paths.size() << " files\n";
  print_table(table);
}

}  // namespace

void register_inspect_command(CLI::App& app, Context& context) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* command = app.add_subcommand("inspect", "Show the columns (CSV) or datasets (HDF5) of data files, "
                                                    "with their types and lengths");
  command->add_option("file", options->paths,
                      "CSV/TSV/text file, HDF5 file, or - for CSV on stdin. Several files or a quoted pattern "
                      "('runs/*.h5'): each file in sorted order, then the rows of each and their total")
      ->required();
  command->footer(
      "Examples:\n  curvefit inspect data/decay.csv\n  curvefit inspect run42.h5\n  curvefit inspect 'runs/*.h5'\n"
      "  cat data.tsv | curvefit inspect -");
  command->add_option("--delimiter", options->delimiter, "CSV delimiter: one character, 'tab' or 'space' (default: detect)");
  command->add_option("--decimal", options->decimal, "CSV decimal separator: . or , (default: detect)");
  auto* header = command->add_flag("--header", options->header, "CSV: the first row is a header");
  command->add_flag("--no-header", options->no_header, "CSV: there is no header row")->excludes(header);
  command->callback([options, &context] {
    const std::vector<std::string> paths = expand_data_paths(options->paths);
    std::vector<std::optional<std::size_t>> rows;
    for (const std::string& path : paths)
      rows.push_back(detect_format(path) == FileFormat::hdf5 ? inspect_hdf5(path)
                                                             : std::optional(inspect_csv(*options, path)));
    if (paths.size() > 1) print_file_rows(paths, rows);
    context.exit_code = kExitConverged;
  });
}

}  // namespace curvefit::app
