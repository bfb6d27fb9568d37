// The column rule of columns.h: resolve what the options name, match the rest by name, fill what
// is left by position when that is unambiguous, and otherwise say which options choose.
#include "core/data/columns.h"

#include <algorithm>
#include <cctype>
#include <cstddef>

#include "core/errors.h"

namespace curvefit {
namespace {

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string join(const std::vector<std::string>& items, const char* separator = ", ") {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : separator) + item;
  return text;
}

bool all_digits(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The name a column is matched by: the header field, or the last part of an HDF5 path.
std::string name_of(const ColumnRequest& file, std::size_t column) {
  const std::string& label = file.columns[column];
  if (file.source != ColumnSource::hdf5) return label;
  const std::size_t slash = label.rfind('/');
  return slash == std::string::npos ? label : label.substr(slash + 1);
}

// How the reader is told to take a column: its 1-based CSV position (a header may itself look
// like a number, or repeat), or its HDF5 path.
std::string spec_of(const ColumnRequest& file, std::size_t column) {
  return file.source == ColumnSource::hdf5 ? file.columns[column] : std::to_string(column + 1);
}

// How a column appears in listings.
std::string shown(const ColumnRequest& file, std::size_t column) {
  const std::string& label = file.columns[column];
  return label.empty() ? "(unnamed column " + std::to_string(column + 1) + ")" : label;
}

std::string column_listing(const ColumnRequest& file) {
  std::vector<std::string> names;
  for (std::size_t c = 0; c < file.columns.size(); ++c) names.push_back(shown(file, c));
  return "(columns: " + (names.empty() ? std::string("none") : join(names)) + ")";
}

[[noreturn]] void fail(const ColumnRequest& file, const std::string& what) {
  throw DataError(file.where + ": " + what);
}

bool is_index_column(const ColumnRequest& file, std::size_t column) {
  return column == 0 && file.source == ColumnSource::csv_header &&
         (file.columns[0].empty() || file.columns[0].rfind("Unnamed: ", 0) == 0);
}

bool is_uncertainty_name(const std::string& name) {
  const std::string lower = lowercase(name);
  return lower == "sigma" || lower == "sigma_y" || lower == "dy" || lower == "yerr" || lower == "err";
}

// The one column called `name`: an exact match (in HDF5, the root dataset first), else the only
// case-insensitive one. kNone when none is; a DataError when several are.
std::size_t column_named(const ColumnRequest& file, const std::string& name) {
  if (file.source == ColumnSource::hdf5)  // a dataset at the root wins over namesakes in groups
    for (std::size_t c = 0; c < file.columns.size(); ++c)
      if (file.columns[c] == "/" + name) return c;
  std::vector<std::size_t> exact, folded;
  for (std::size_t c = 0; c < file.columns.size(); ++c) {
    const std::string candidate = name_of(file, c);
    if (candidate == name) exact.push_back(c);
    if (lowercase(candidate) == lowercase(name)) folded.push_back(c);
  }
  const std::vector<std::size_t>& found = exact.empty() ? folded : exact;
  if (found.size() > 1) {
    std::vector<std::string> which;
    for (std::size_t c : found) which.push_back(shown(file, c));
    fail(file, std::to_string(found.size()) + " columns are named '" + name + "' (" + join(which) +
                   "): choose one with --x, --y or --sigma");
  }
  return found.empty() ? kNone : found.front();
}

// An option's value as the reader will resolve it, and the column it denotes (kNone if the
// reader is left to report it, or for a column of a 2-D HDF5 dataset, which is never listed).
struct Resolved {
  std::string spec;
  std::size_t column = kNone;
};

Resolved resolve_option(const ColumnRequest& file, const std::string& spec) {
  if (file.source == ColumnSource::csv_no_header) return {spec, kNone};
  if (file.source == ColumnSource::csv_header && all_digits(spec)) {
    const std::size_t index = std::stoul(spec);
    return {spec, index >= 1 && index <= file.columns.size() ? index - 1 : kNone};
  }
  const std::string path = spec.empty() || spec[0] == '/' ? spec : "/" + spec;
  for (std::size_t c = 0; c < file.columns.size(); ++c)
    if (file.columns[c] == spec || (file.source == ColumnSource::hdf5 && file.columns[c] == path)) return {spec, c};
  if (file.source == ColumnSource::hdf5 && spec.find_first_of("/:") != std::string::npos) return {spec, kNone};
  const std::size_t c = column_named(file, spec);
  return c == kNone ? Resolved{spec, kNone} : Resolved{spec_of(file, c), c};
}

ColumnChoice choose_positionally(const ColumnRequest& file) {
  ColumnChoice choice;
  choice.x = file.x;
  if (choice.x.empty())
    for (std::size_t k = 1; k <= file.predictor_names.size(); ++k) choice.x.push_back(std::to_string(k));
  choice.y = file.y.empty() ? std::to_string(choice.x.size() + 1) : file.y;
  choice.sigma = file.sigma;
  return choice;
}

// A role to fill: the name it is matched by, and where its answer goes.
struct Role {
  std::string name;
  std::string* spec;
};

// Columns no role has taken that could still be data: not an index, an uncertainty or text.
std::vector<std::size_t> remaining_columns(const ColumnRequest& file, const std::vector<bool>& taken) {
  std::vector<std::size_t> remaining;
  for (std::size_t c = 0; c < file.columns.size(); ++c) {
    const bool text = c < file.text.size() && file.text[c];
    if (!taken[c] && !is_index_column(file, c) && !is_uncertainty_name(name_of(file, c)) && !text)
      remaining.push_back(c);
  }
  return remaining;
}

void fill_by_position(const ColumnRequest& file, const std::vector<Role>& open, std::vector<bool>& taken) {
  const std::vector<std::size_t> remaining = remaining_columns(file, taken);
  const bool unambiguous = remaining.size() == open.size() &&
                           (file.source != ColumnSource::hdf5 || open.size() == 1);
  if (unambiguous) {
    for (std::size_t r = 0; r < open.size(); ++r) {
      *open[r].spec = spec_of(file, remaining[r]);
      taken[remaining[r]] = true;
    }
    return;
  }
  std::vector<std::string> missing;
  for (const Role& role : open) missing.push_back(role.name);
  const std::string count = std::to_string(remaining.size());
  const std::string left = remaining.empty() ? "no other column is left"
                           : remaining.size() < open.size() ? "only " + count + " other column(s) remain"
                           : file.source == ColumnSource::hdf5 ? count + " datasets remain, in no order"
                                                               : count + " other columns could be";
  fail(file, "cannot tell which columns to fit: no column is named " + join(missing, " or ") + ", and " + left + " " +
                 column_listing(file) + "; choose with --x NAME, --y NAME (and --sigma NAME for weights)");
}

// The uncertainty-like columns nothing uses, for a note.
void note_unused_uncertainties(const ColumnRequest& file, const std::vector<bool>& taken, ColumnChoice& choice) {
  if (!file.sigma.empty()) return;
  for (std::size_t c = 0; c < file.columns.size(); ++c)
    if (!taken[c] && is_uncertainty_name(name_of(file, c)))
      choice.notes.push_back("column '" + file.columns[c] + "' is not used as weights; --sigma " + file.columns[c] +
                             " weights the fit by 1/" + file.columns[c] + "^2");
}

// "x", "x1", "x2", ...: the names a formula without column names writes its predictors with.
bool is_conventional_predictor(const std::string& name) {
  return name == "x" || (name.size() >= 2 && name[0] == 'x' && name[1] != '0' && all_digits(name.substr(1)));
}

bool is_constant(const std::string& name) { return name == "pi" || name == "e"; }

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The formula must still use a predictor when it has no column names: x or x1, x2, ...
std::vector<std::string> conventional_predictors(const std::vector<std::string>& formula_names,
                                                 const ColumnRequest& file) {
  if (std::any_of(formula_names.begin(), formula_names.end(), is_conventional_predictor)) return {};
  std::vector<std::string> parameters;
  for (const auto& name : formula_names)
    if (!is_constant(name)) parameters.push_back(name);
  const std::string hint = file.source == ColumnSource::csv_no_header
                               ? "write x (or x1, x2, ...) for the file's columns"
                               : "use a column's name, or write x and choose its column with --x " +
                                     column_listing(file);
  fail(file, "the formula uses no predictor: each of its names (" + join(parameters) +
                 ") would be a fitted constant; " + hint);
}

// pi and e are constants; a column of that name makes the formula ambiguous.
void check_constants(const std::vector<std::string>& formula_names, const ColumnRequest& file) {
  for (const auto& name : formula_names)
    if (is_constant(name) && column_named(file, name) != kNone)
      fail(file, "'" + name + "' in the formula is the constant " + name + ", and also a column: write " +
                     (name == "e" ? "exp(1)" : "4*atan(1)") + " for the constant, or name the predictors with --x "
                     "(--x " + name + " means the column)");
}

// A name of the formula that is a column is a predictor; checks that the rest still make sense.
void check_named_predictors(const std::vector<std::string>& formula_names, const std::vector<std::string>& predictors,
                            const std::vector<std::size_t>& predictor_columns, const ColumnRequest& file) {
  for (const auto& name : formula_names) {
    if (is_conventional_predictor(name) && !contains(predictors, name))
      fail(file, "the formula's predictors are its column names (" + join(predictors) + "), but '" + name +
                     "' is not a column " + column_listing(file) +
                     "; name the predictors with --x to make it a parameter");
  }
  for (std::size_t a = 0; a < predictor_columns.size(); ++a)
    for (std::size_t b = 0; b < a; ++b)
      if (predictor_columns[a] == predictor_columns[b])
        fail(file, "'" + predictors[b] + "' and '" + predictors[a] + "' in the formula are the same column '" +
                       file.columns[predictor_columns[a]] + "'");
  const std::size_t names = static_cast<std::size_t>(
      std::count_if(formula_names.begin(), formula_names.end(), [](const std::string& n) { return !is_constant(n); }));
  if (predictors.size() == names)
    fail(file, "every name in the formula is a column (" + join(predictors) +
                   "), so nothing is left to fit; name the predictors with --x and the other names become parameters");
  if (file.y.empty()) return;
  const std::size_t response = resolve_option(file, file.y).column;
  for (std::size_t k = 0; k < predictors.size(); ++k)
    if (response != kNone && predictor_columns[k] == response)
      fail(file, "'" + predictors[k] + "' in the formula is the response column (--y " + file.y +
                     "); a predictor must be another column");
}

}  // namespace

std::vector<std::string> formula_predictors(const std::vector<std::string>& formula_names, const ColumnRequest& file) {
  const auto identifier = [](const std::string& s) {
    return !s.empty() && (std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_') &&
           std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
  };
  if (!file.x.empty()) {
    const bool named = std::all_of(file.x.begin(), file.x.end(), [&](const std::string& x) {
      return identifier(x) && contains(formula_names, x);
    });
    return named ? file.x : conventional_predictors(formula_names, file);
  }
  std::vector<std::string> predictors;
  std::vector<std::size_t> predictor_columns;
  if (file.source != ColumnSource::csv_no_header) {
    check_constants(formula_names, file);
    for (const auto& name : formula_names) {
      const std::size_t c = is_constant(name) ? kNone : column_named(file, name);
      if (c == kNone || is_index_column(file, c)) continue;
      predictors.push_back(name);
      predictor_columns.push_back(c);
    }
  }
  if (predictors.empty()) return conventional_predictors(formula_names, file);
  check_named_predictors(formula_names, predictors, predictor_columns, file);
  return predictors;
}

std::string column_spec_named(const ColumnRequest& file, const std::string& name, const std::string& option) {
  if (file.source == ColumnSource::csv_no_header)
    throw UsageError(option + ": " + file.where + " has no header row, so its columns have no names");
  const std::size_t c = column_named(file, name);
  if (c == kNone)
    throw UsageError(option + ": no column named '" + name + "' in " + file.where + " " + column_listing(file));
  return file.columns[c];
}

std::vector<std::string> default_predictor_names(int num_predictors) {
  if (num_predictors == 1) return {"x"};
  std::vector<std::string> names;
  for (int k = 1; k <= num_predictors; ++k) names.push_back("x" + std::to_string(k));
  return names;
}

ColumnChoice choose_columns(const ColumnRequest& file) {
  if (file.source == ColumnSource::csv_no_header) return choose_positionally(file);
  ColumnChoice choice;
  std::vector<bool> taken(file.columns.size(), false);
  auto take = [&](const std::string& spec, std::string& out) {
    const Resolved resolved = resolve_option(file, spec);
    out = resolved.spec;
    if (resolved.column != kNone) taken[resolved.column] = true;
  };
  // What the options name first, so that matching by name never takes their columns.
  choice.x.resize(file.x.empty() ? file.predictor_names.size() : file.x.size());
  for (std::size_t k = 0; k < file.x.size(); ++k) take(file.x[k], choice.x[k]);
  if (!file.y.empty()) take(file.y, choice.y);
  if (!file.sigma.empty()) take(file.sigma, choice.sigma);

  std::vector<Role> roles;
  if (file.x.empty())
    for (std::size_t k = 0; k < file.predictor_names.size(); ++k) roles.push_back({file.predictor_names[k], &choice.x[k]});
  if (file.y.empty()) roles.push_back({"y", &choice.y});
  std::vector<Role> open;
  for (const Role& role : roles) {
    const std::size_t c = column_named(file, role.name);
    if (c == kNone || taken[c] || is_index_column(file, c)) {
      open.push_back(role);
      continue;
    }
    *role.spec = spec_of(file, c);
    taken[c] = true;
  }
  if (!open.empty()) fill_by_position(file, open, taken);
  note_unused_uncertainties(file, taken, choice);
  return choice;
}

}  // namespace curvefit
