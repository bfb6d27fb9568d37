#include "core/engine/fit_setup.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>

#include <tbb/info.h>
#include <tbb/task_arena.h>

#include "core/data/columns.h"
#include "core/data/hdf5_source.h"
#include "core/data/sharded_source.h"
#include "core/data/row_blocks_source.h"
#include "core/data/spill_source.h"
#include "core/engine/csv_rank_rows.h"
#include "core/engine/distributed.h"
#include "core/engine/subsample.h"
#include "core/model/model_library.h"
#include "core/errors.h"
#include "core/formula/expression.h"
#include "memory/memory_manager.h"
#include "memory/size.h"
#include "memory/system_probe.h"

namespace curvefit {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string data_name(const FitSpec& spec, const std::vector<std::string>& files) {
  if (files.empty()) return "<memory>";
  return describe_data_paths(spec.data_paths.empty() ? std::vector<std::string>{spec.data_path} : spec.data_paths,
                             files);
}

// The caller's arrays checked as nan_policy raise checks a file. first_row: the arrays' row that
// rows start at, for the message.
void check_array_values(const std::vector<const double*>& x, const double* y, const double* sigma,
                        std::size_t rows, std::size_t first_row = 0) {
  check_rows_or_throw(x.data(), x.size(), y, sigma, rows, first_row + 1, "<memory>");
}

// The caller's arrays, used in place (FitSpec::external).
std::unique_ptr<MemoryDataSource> external_source(const FitSpec& spec, int num_predictors) {
  const FitSpec::ExternalArrays& a = spec.external;
  if (static_cast<int>(a.x.size()) != num_predictors)
    throw UsageError("x has " + std::to_string(a.x.size()) + " predictor column(s) but the model has " +
                     std::to_string(num_predictors));
  for (const double* column : a.x)
    if (!column) throw UsageError("x: a predictor array is missing");
  std::vector<std::string> names = a.names;
  if (names.empty()) {
    for (std::size_t k = 0; k < a.x.size(); ++k) names.push_back(a.x.size() == 1 ? "x" : "x" + std::to_string(k + 1));
    names.push_back("y");
    if (a.sigma) names.push_back("sigma");
  }
  // The caller owns the arrays; the source only needs a non-null owner to serve them in place.
  auto source = std::make_unique<MemoryDataSource>(a.x, a.y, a.sigma, a.rows, std::make_shared<int>(0),
                                                   std::move(names), "<memory>");
  // Checked in the fit's first full pass, while the rows are in cache, not in a pass of its own.
  source->defer_value_check([x = a.x, y = a.y, sigma = a.sigma, rows = a.rows] { check_array_values(x, y, sigma, rows); });
  return source;
}

// The arrays a --where condition names (x, x1.., y, sigma, FitSpec::where_columns) in `all`.
std::vector<const double*> where_arrays(const MemoryDataSource& all, const FitSpec& spec, const RowSelection& selection) {
  const std::vector<std::string> predictors = default_predictor_names(all.num_predictors());
  std::vector<const double*> arrays;
  for (const std::string& name : selection.columns) {
    const auto k = std::find(predictors.begin(), predictors.end(), name) - predictors.begin();
    const auto given = std::find_if(spec.where_columns.begin(), spec.where_columns.end(),
                                    [&](const auto& column) { return column.first == name; });
    arrays.push_back(given != spec.where_columns.end()                ? given->second
                     : k < static_cast<std::ptrdiff_t>(predictors.size()) ? all.x_column(static_cast<int>(k))
                     : name == "y"                                       ? all.y_column()
                                                                         : all.sigma_column());
  }
  return arrays;
}

// The rows of the caller's arrays that the selection keeps, copied (arrays have no reader that
// drops rows while reading them); only they are checked as nan_policy raise checks a file.
std::unique_ptr<MemoryDataSource> selected_array_rows(const MemoryDataSource& all, const FitSpec& spec,
                                                      const RowSelection& selection) {
  const auto k = static_cast<std::size_t>(all.num_predictors());
  std::vector<const double*> fit, extra = where_arrays(all, spec, selection);
  for (std::size_t c = 0; c < k; ++c) fit.push_back(all.x_column(static_cast<int>(c)));
  fit.push_back(all.y_column());
  if (all.has_sigma()) fit.push_back(all.sigma_column());
  std::vector<std::vector<double>> x(k);
  std::vector<double> y, sigma;
  constexpr std::size_t kBlock = std::size_t{1} << 16;
  std::vector<unsigned char> keep(kBlock);
  std::vector<const double*> fit_at(fit.size()), extra_at(extra.size()), row(k);
  for (std::size_t begin = 0; begin < all.rows(); begin += kBlock) {
    const std::size_t n = std::min(kBlock, all.rows() - begin);
    for (std::size_t c = 0; c < fit.size(); ++c) fit_at[c] = fit[c] + begin;
    for (std::size_t c = 0; c < extra.size(); ++c) extra_at[c] = extra[c] + begin;
    selection.keep(fit_at.data(), extra_at.data(), n, keep.data());
    for (std::size_t i = 0; i < n; ++i) {
      if (!keep[i]) continue;
      for (std::size_t c = 0; c < k; ++c) row[c] = fit_at[c] + i;
      check_array_values(row, fit_at[k] + i, all.has_sigma() ? fit_at[k + 1] + i : nullptr, 1, begin + i);
      for (std::size_t c = 0; c < k; ++c) x[c].push_back(fit_at[c][i]);
      y.push_back(fit_at[k][i]);
      if (all.has_sigma()) sigma.push_back(fit_at[k + 1][i]);
    }
  }
  if (y.empty()) throw DataError("<memory>: " + no_row_selected(all.rows(), selection));
  auto selected = std::make_unique<MemoryDataSource>(std::move(x), std::move(y), std::move(sigma), all.column_names());
  selected->set_rows_total(all.rows());
  return selected;
}

// The arrays of a FitSpec as a data source (checked as nan_policy raise checks a file); with a
// row selection, the selected rows.
std::unique_ptr<MemoryDataSource> array_source(const FitSpec& spec, int num_predictors, const RowSelection* selection) {
  if (spec.external.y && selection) return selected_array_rows(*external_source(spec, num_predictors), spec, *selection);
  if (spec.external.y) return external_source(spec, num_predictors);
  if (spec.y.empty()) throw UsageError("no data: give a data file or the arrays x and y");
  if (static_cast<int>(spec.x.size()) != num_predictors)
    throw UsageError("x has " + std::to_string(spec.x.size()) +
                     " predictor column(s) but the model has " + std::to_string(num_predictors));
  for (const auto& column : spec.x)
    if (column.size() != spec.y.size()) throw UsageError("x and y have different lengths");
  if (!spec.sigma.empty() && spec.sigma.size() != spec.y.size())
    throw UsageError("sigma and y have different lengths");
  std::vector<const double*> x;
  for (const auto& column : spec.x) x.push_back(column.data());
  const double* sigma = spec.sigma.empty() ? nullptr : spec.sigma.data();
  if (selection) {
    const MemoryDataSource all(x, spec.y.data(), sigma, spec.y.size(), std::make_shared<int>(0),
                               MemoryDataSource(spec.x, spec.y, spec.sigma).column_names(), "<memory>");
    return selected_array_rows(all, spec, *selection);
  }
  check_array_values(x, spec.y.data(), sigma, spec.y.size());
  return std::make_unique<MemoryDataSource>(spec.x, spec.y, spec.sigma);
}

DataInfo array_info(const FitSpec& spec) {
  DataInfo info;
  if (spec.source) {
    info.rows = spec.source->rows();
    info.rows_exact = true;
    info.num_predictors = spec.source->num_predictors();
    info.has_sigma = spec.source->has_sigma();
    return info;
  }
  const bool external = spec.external.y != nullptr;
  info.rows = external ? spec.external.rows : spec.y.size();
  info.rows_exact = true;
  info.num_predictors = static_cast<int>(external ? spec.external.x.size() : spec.x.size());
  info.has_sigma = external ? spec.external.sigma != nullptr : !spec.sigma.empty();
  return info;
}

// FitSpec::source served through PreparedFit's owning pointer without taking ownership.
class BorrowedSource : public DataSource {
 public:
  explicit BorrowedSource(DataSource& source) : source_(source) {}
  std::size_t rows() const override { return source_.rows(); }
  int num_predictors() const override { return source_.num_predictors(); }
  bool has_sigma() const override { return source_.has_sigma(); }
  std::vector<std::string> column_names() const override { return source_.column_names(); }
  std::string description() const override { return source_.description(); }
  void read(std::size_t begin, std::size_t count, double* const* x, double* y, double* sigma) override {
    source_.read(begin, count, x, y, sigma);
  }
  void check_unchanged() const override { source_.check_unchanged(); }

 private:
  DataSource& source_;
};

// FitSpec::custom_model served through the FitPlan's owning pointer without taking ownership.
class BorrowedModel : public Model {
 public:
  explicit BorrowedModel(const Model& model) : model_(model) {}
  const std::vector<std::string>& param_names() const override { return model_.param_names(); }
  int num_predictors() const override { return model_.num_predictors(); }
  std::string formula() const override { return model_.formula(); }
  void evaluate(const double* const* x, std::size_t n, const double* p, double* values) const override {
    model_.evaluate(x, n, p, values);
  }
  void evaluate_with_jacobian(const double* const* x, std::size_t n, const double* p, double* values,
                              double* jac) const override {
    model_.evaluate_with_jacobian(x, n, p, values, jac);
  }

 private:
  const Model& model_;
};

// The memory limit and where it comes from: given (capped at what the process can hold), or
// what the process may still use less the safety margin, plus what it already uses.
std::size_t memory_limit(const FitSpec& spec, std::string& source) {
  std::optional<std::uint64_t> requested;
  if (spec.memory_limit_bytes > 0) requested = spec.memory_limit_bytes;
  const MemoryManager::FitLimit limit = get_memory_manager().fit_limit(requested);
  source = limit.source;
  return static_cast<std::size_t>(limit.bytes);
}

std::size_t count_free_params(const FitSpec& spec, const Model& model) {
  std::vector<bool> fixed(model.num_params(), false);
  for (const auto& f : spec.fix) fixed[param_index(model.param_names(), f.name, "--fix")] = true;
  const auto n_fixed = static_cast<std::size_t>(std::count(fixed.begin(), fixed.end(), true));
  if (n_fixed >= model.num_params())
    throw UsageError("--fix: every parameter is fixed; nothing to fit");
  return model.num_params() - n_fixed;
}

void check_scalar_options(const FitSpec& spec) {
  if (spec.threads < 0) throw UsageError("--threads: must be >= 0");
  if (spec.max_nfev < 0) throw UsageError("--max-nfev: must be >= 0");
  if (!(spec.f_scale > 0) || !std::isfinite(spec.f_scale))
    throw UsageError("--f-scale: must be positive");
}

// The free names of a formula, or none when it does not parse (the real compile reports that).
std::optional<std::vector<std::string>> names_in_formula(const std::string& model) {
  try {
    return formula_names(model);
  } catch (const ModelError&) {
    return std::nullopt;
  }
}

// The formula a model text stands for: a composite's expansion, else the text as given.
std::string formula_text(const std::string& model) {
  if (const auto composite = expand_composite(model)) return composite->formula;
  return model;
}

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

// The tied parameters' names and expressions checked against the model's parameters, then
// substituted into its formula.
std::string apply_ties(const std::string& formula, const std::vector<Tie>& ties,
                       const std::vector<std::string>& predictor_names) {
  const std::vector<std::string> params = formula_parameters(formula, predictor_names);
  std::vector<std::pair<std::string, std::string>> replacements;
  for (const Tie& tie : ties) {
    const std::string option = "--tie " + tie.name;
    param_index(params, tie.name, "--tie");
    for (const auto& [name, expression] : replacements)
      if (name == tie.name) throw UsageError(option + ": tied twice");
    std::vector<std::string> names;
    try {
      names = formula_names(tie.expression);
    } catch (const ModelError& e) {
      throw UsageError(option + ": " + e.what());
    }
    for (const std::string& name : names) {
      if (name == "pi" || name == "e") continue;
      if (std::find(params.begin(), params.end(), name) == params.end() || name == tie.name)
        throw UsageError(option + ": '" + name + "' is not another parameter of the model");
      for (const Tie& other : ties)
        if (other.name == name)
          throw UsageError(option + ": uses the tied parameter '" + name + "'; write it in terms of free parameters");
    }
    try {
      formula_parameters(tie.expression, {});  // the syntax, and at least one parameter
    } catch (const ModelError& e) {
      throw UsageError(option + ": " + e.what() + (names.empty() ? " (a parameter held at a value is --fix)" : ""));
    }
    replacements.emplace_back(tie.name, tie.expression);
  }
  return substitute_names(formula, replacements);
}

// The model a spec names: the front end's own, a built-in, or a formula (a composite expanded,
// ties substituted). Sets builtin, composite and ties.
std::unique_ptr<Model> build_model(const FitSpec& spec, FitPlan& setup) {
  const std::vector<std::string>& predictors = setup.data_options.predictor_names;
  if (spec.custom_model) {
    if (!spec.ties.empty()) throw UsageError("--tie needs a built-in model or a formula, not a model function");
    return std::make_unique<BorrowedModel>(*spec.custom_model);
  }
  setup.builtin = find_model(spec.model);
  setup.composite = expand_composite(spec.model);
  setup.ties = spec.ties;
  if (setup.composite && !predictors.empty())  // columns by name: the components' x must be one
    for (const CompositeComponent& c : setup.composite->components)
      for (int k = 1; k <= c.info->num_predictors; ++k) {
        const std::string x = c.info->num_predictors == 1 ? "x" : "x" + std::to_string(k);
        if (std::find(predictors.begin(), predictors.end(), x) == predictors.end())
          throw ModelError("model: the component " + c.info->name + "'s predictor is " + x +
                           ", which is not among the predictors (" + join(predictors) + "); name it with --x");
      }
  if (spec.ties.empty()) {
    if (setup.composite) return compile_formula(setup.composite->formula, predictors);
    return make_model(spec.model, predictors);
  }
  if (setup.builtin) setup.composite = single_component(*setup.builtin);
  setup.builtin = nullptr;
  const std::string formula = setup.composite ? setup.composite->formula : spec.model;
  make_model(formula, predictors);  // a misspelt model name is reported as such
  return compile_formula(apply_ties(formula, spec.ties, predictors), predictors);
}

}  // namespace

std::vector<std::string> formula_predictor_names(const std::string& model_text,
                                                 const std::vector<std::string>& x_names) {
  if (x_names.empty() || find_model(model_text)) return {};
  const std::string model = formula_text(model_text);
  const auto names = names_in_formula(model);
  if (!names) return {};
  for (const auto& x : x_names)
    if (std::find(names->begin(), names->end(), x) == names->end()) return {};
  return x_names;
}

std::vector<std::string> data_files(const FitSpec& spec) {
  if (!spec.data_paths.empty()) return expand_data_paths(spec.data_paths);
  if (!spec.data_path.empty()) return expand_data_paths({spec.data_path});
  return {};
}

namespace {

// The formula's predictors among the columns of the first file (all files have the same ones).
std::vector<std::string> formula_predictors_in_files(const FitSpec& spec, const std::vector<std::string>& files) {
  if (files.empty()) return formula_predictor_names(spec.model, spec.data_options.x);
  const std::string model = formula_text(spec.model);
  const bool bare_word = std::all_of(model.begin(), model.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
  // A bare word is a model name (make_model names a misspelt one).
  if (find_model(model) || bare_word) return {};
  const auto names = names_in_formula(model);
  if (!names) return {};
  return formula_predictors(*names, describe_columns(files.front(), spec.data_options));
}

}  // namespace

std::vector<std::string> formula_predictor_names(const FitSpec& spec) {
  return formula_predictors_in_files(spec, data_files(spec));
}

namespace {

// The test a row selection applies to a block of rows: the x range on one predictor, then the
// condition over the selection's columns (a row is kept where it is neither 0 nor NaN).
struct RowTest {
  int predictor = -1;  // -1: no x range
  double lo = 0, hi = 0;
  std::shared_ptr<const Model> condition;

  void operator()(const double* const* fit, const double* const* extra, std::size_t n, unsigned char* keep) const {
    if (predictor >= 0) {
      const double* x = fit[predictor];
      for (std::size_t i = 0; i < n; ++i) keep[i] = x[i] >= lo && x[i] <= hi;
    } else {
      std::fill_n(keep, n, static_cast<unsigned char>(1));
    }
    if (!condition) return;
    thread_local std::vector<double> values;
    values.resize(n);
    condition->evaluate(extra, n, nullptr, values.data());
    for (std::size_t i = 0; i < n; ++i) keep[i] &= values[i] != 0 && values[i] == values[i];
  }
};

// The names a predictor answers to in --x-range: its --x column, and the model's name for it.
int x_range_predictor(const XRange& range, const DataOptions& d) {
  const std::vector<std::string> model_names =
      d.predictor_names.empty() ? default_predictor_names(d.num_predictors) : d.predictor_names;
  if (range.predictor.empty()) return 0;
  for (int k = 0; k < d.num_predictors; ++k) {
    const auto K = static_cast<std::size_t>(k);
    if (range.predictor == model_names[K] || (K < d.x.size() && range.predictor == d.x[K])) return k;
  }
  std::string names = join(model_names);
  if (!d.x.empty()) names += " (columns " + join(d.x) + ")";
  throw UsageError("--x-range: '" + range.predictor + "' is not a predictor of the model; its predictors are " + names);
}

std::string range_text(double value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

// What a --where condition's names denote: the readers' column specs for files, the names
// themselves for arrays (x, x1.., y, sigma, FitSpec::where_columns). UsageError for an unknown one.
std::vector<std::string> where_columns(const FitSpec& spec, const FitPlan& setup, const std::vector<std::string>& names) {
  std::vector<std::string> columns;
  if (!setup.data_files.empty()) {
    const ColumnRequest file = describe_columns(setup.data_files.front(), setup.data_options);
    for (const std::string& name : names) columns.push_back(column_spec_named(file, name, "--where"));
    return columns;
  }
  std::vector<std::string> known = default_predictor_names(setup.data_options.num_predictors);
  known.push_back("y");
  if (setup.info.has_sigma) known.push_back("sigma");
  for (const auto& [name, values] : spec.where_columns) known.push_back(name);
  for (const std::string& name : names)
    if (std::find(known.begin(), known.end(), name) == known.end())
      throw UsageError("--where: no column named '" + name + "' (columns: " + join(known) + ")");
  return names;
}

// The row selection of --x-range and --where (null when neither is given).
std::shared_ptr<const RowSelection> row_selection(const FitSpec& spec, const FitPlan& setup) {
  if (!spec.x_range && spec.where.empty()) return nullptr;
  auto selection = std::make_shared<RowSelection>();
  RowTest test;
  std::vector<std::string> parts;
  if (spec.x_range) {
    const DataOptions& d = setup.data_options;
    test.predictor = x_range_predictor(*spec.x_range, d);
    test.lo = spec.x_range->lo;
    test.hi = spec.x_range->hi;
    const auto k = static_cast<std::size_t>(test.predictor);
    std::string name = k < setup.info.column_names.size() ? setup.info.column_names[k]
                                                           : default_predictor_names(d.num_predictors)[k];
    name = name.substr(name.rfind('/') + 1);  // an HDF5 dataset by its name
    const bool low = std::isfinite(test.lo), high = std::isfinite(test.hi);
    parts.push_back(low && high ? range_text(test.lo) + " <= " + name + " <= " + range_text(test.hi)
                    : low       ? name + " >= " + range_text(test.lo)
                    : high      ? name + " <= " + range_text(test.hi)
                                : name + " not NaN");
  }
  if (!spec.where.empty()) {
    std::vector<std::string> names;
    try {
      for (const std::string& name : formula_names(spec.where))
        if (name != "pi" && name != "e") names.push_back(name);
      if (names.empty()) throw UsageError("--where: '" + spec.where + "' names no column");
      selection->columns = where_columns(spec, setup, names);
      test.condition = compile_condition(spec.where, names);
    } catch (const ModelError& e) {
      const std::string what = e.what();  // its first line: the caret display does not fit on one
      throw UsageError("--where \"" + spec.where + "\": " + what.substr(0, what.find('\n')));
    }
    parts.push_back(spec.where);
  }
  for (const std::string& part : parts) selection->text += (selection->text.empty() ? "" : ", ") + part;
  selection->keep = test;
  return selection;
}

FitPlan plan_one_process(const FitSpec& spec) {
  check_scalar_options(spec);
  FitPlan setup;
  DataOptions& d = setup.data_options;
  d = spec.data_options;
  setup.data_files = data_files(spec);
  if (!spec.custom_model) d.predictor_names = formula_predictors_in_files(spec, setup.data_files);
  setup.model = build_model(spec, setup);
  const Model& model = *setup.model;
  setup.data_name = data_name(spec, setup.data_files);
  d.num_predictors = model.num_predictors();
  if (!d.x.empty() && static_cast<int>(d.x.size()) != model.num_predictors())
    throw UsageError("--x names " + std::to_string(d.x.size()) + " column(s) but the model has " +
                     std::to_string(model.num_predictors()) + " predictor(s)");
  setup.info = setup.data_files.empty() ? array_info(spec) : probe_files(setup.data_files, d);
  if (setup.info.rows == 0) throw DataError(setup.data_name + ": no data rows");
  d.selection = row_selection(spec, setup);
  if (d.selection) setup.info.rows_exact = false;  // an upper bound until the rows are read
  setup.free_params = count_free_params(spec, model);

  PlanRequest& r = setup.plan_request;
  r.rows = setup.info.rows;
  r.rows_exact = setup.info.rows_exact;
  r.columns = static_cast<std::size_t>(model.num_predictors()) + 1 + (setup.info.has_sigma ? 1 : 0);
  r.model_params = model.num_params();
  r.free_params = setup.free_params;
  r.method = spec.method;
  r.memory_limit_bytes = memory_limit(spec, setup.limit_source);
  r.limit_source = setup.limit_source;
  r.baseline_rss_bytes = current_rss_bytes();
  r.threads = spec.threads;
  r.location = spec.source                             ? DataLocation::converted_arrays
               : setup.data_files.empty()              ? DataLocation::in_memory
               : setup.info.format == FileFormat::hdf5 ? DataLocation::hdf5_file
                                                       : DataLocation::csv_file;
  // A resumed fit runs with its checkpoint's plan unless told otherwise (the chunk size changes
  // the bits; checkpoint.h).
  r.mode = spec.resume && spec.mode == FitMode::automatic ? spec.resume->mode : spec.mode;
  r.chunk_rows = spec.resume && spec.chunk_rows == 0 ? spec.resume->chunk_rows : spec.chunk_rows;
  r.file_bytes = r.location == DataLocation::csv_file ? setup.info.file_bytes : 0;
  r.files = std::max<std::size_t>(1, setup.data_files.size());
  r.writes_fitted_csv = spec.writes_fitted_csv;
  r.selection_columns = d.selection ? d.selection->columns.size() : 0;
  r.drops_rows = d.selection || d.nan_policy == NanPolicy::omit;
  setup.plan = make_plan(r);
  d.csv_block_bytes = setup.plan.csv_block_bytes;
  d.csv_map_text = setup.plan.csv_text_mapped;
  return setup;
}

constexpr const char* kSubsampleReason = "first a fit on a subsample";

// A rank's plan: its share of the rows (about m / K) under its own memory limit; the subsample
// (fitted by every rank alike) stays that of the whole data, as one process would choose it.
void plan_rank_share(FitPlan& setup, int ranks) {
  const Plan whole = setup.plan;
  PlanRequest share = setup.plan_request;
  share.rows = (setup.plan_request.rows + static_cast<std::size_t>(ranks) - 1) / static_cast<std::size_t>(ranks);
  // The text of those rows: the parse's blocks hold as many rows per byte as the whole file's.
  share.file_bytes = (setup.plan_request.file_bytes + static_cast<std::size_t>(ranks) - 1) / static_cast<std::size_t>(ranks);
  Plan plan = make_plan(share);
  // The chunk size one process would use, unless this rank's memory needs a smaller one: a forced
  // size, the memory mode's, or a chunk as large as the share (capped by the share's rows, not by
  // memory) are those of the whole data.
  if (share.chunk_rows > 0 || plan.mode == FitMode::memory || plan.chunk_rows >= share.rows)
    plan.chunk_rows = whole.chunk_rows;
  plan.subsample = whole.subsample;
  plan.subsample_rows = whole.subsample_rows;
  plan.subsample_stride = whole.subsample_stride;
  std::erase_if(plan.reasons, [](const std::string& line) { return line.rfind(kSubsampleReason, 0) == 0; });
  for (const std::string& line : whole.reasons)
    if (line.rfind(kSubsampleReason, 0) == 0) plan.reasons.push_back(line);
  plan.reasons.push_back("per rank: " + std::to_string(ranks) + " MPI ranks, about " + std::to_string(share.rows) +
                         " of the " + std::to_string(setup.plan_request.rows) + " rows each");
  setup.plan = plan;
}

}  // namespace

FitPlan plan_fit(const FitSpec& spec) {
  Distributed& world = distributed();
  if (world.size() == 1 || spec.data_path.empty()) return plan_one_process(spec);
  FitPlan setup;
  world.run_agreed([&] {
    setup = plan_one_process(spec);
    plan_rank_share(setup, world.size());
  });
  // One chunk size for every rank (chunks, slots and tree must be the same everywhere).
  const std::size_t chunk = world.min_over_ranks(setup.plan.chunk_rows);
  if (chunk != setup.plan.chunk_rows) {
    setup.plan.chunk_rows = chunk;
    setup.plan.reasons.push_back("chunk size " + std::to_string(chunk) + " rows: the smallest another rank's plan allows");
  }
  return setup;
}

namespace {

// The chosen mode checked again with the same arithmetic for the exact row count (the CSV's
// count was an estimate; a row selection's an upper bound) and the bytes a streamed source's index
// of kept rows holds: a MemoryError if it no longer fits. rows_read: the rows the load parsed, of
// which `rows` were kept (a CSV's parse blocks hold the text of all of them).
void plan_again(FitPlan& setup, std::size_t rows, std::size_t rows_read, std::size_t index_bytes) {
  PlanRequest again = setup.plan_request;
  again.rows = rows;
  again.rows_exact = true;
  again.file_rows = rows_read;
  again.mode = setup.plan.mode;
  again.csv_block_bytes = setup.plan.csv_block_bytes;
  again.row_index_bytes = index_bytes;
  setup.plan = make_plan(again);
  setup.plan.reasons.front() = "mode " + std::string(to_string(setup.plan.mode)) + " as planned for about " +
                               std::to_string(setup.plan_request.rows) + " rows, checked again for the exact " +
                               std::to_string(again.rows) +
                               (index_bytes > 0 ? " and an index of the rows used of " + format_size(index_bytes) : "");
}

// Opens the data as the plan says (loaded once, or re-read on every pass) and re-plans with the
// exact row count once the data are part of the process.
void open_data(const FitSpec& spec, PreparedFit& prepared) {
  FitPlan& setup = prepared.setup;
  const auto start = Clock::now();
  if (setup.plan.mode == FitMode::stream) {
    if (spec.source) {
      if (setup.data_options.selection)
        throw UsageError("--x-range and --where need float64 arrays or a data file, not data converted chunk by chunk");
      if (spec.source->num_predictors() != setup.model->num_predictors())
        throw UsageError("x has " + std::to_string(spec.source->num_predictors()) +
                         " predictor column(s) but the model has " +
                         std::to_string(setup.model->num_predictors()));
      prepared.data = std::make_unique<BorrowedSource>(*spec.source);
      prepared.used.notes.push_back("data converted chunk by chunk on every pass (not float64 or not contiguous), "
                                    "never copied whole");
      return;
    }
    prepared.data = open_streaming_files(setup.data_files, setup.data_options);
    if (const auto* sharded = dynamic_cast<const ShardedDataSource*>(prepared.data.get()))
      setup.info.shards = sharded->shards();
    const auto* hdf5 = dynamic_cast<const Hdf5DataSource*>(prepared.data.get());
    const std::size_t index_bytes = hdf5 ? hdf5->index_bytes() : 0;
    if (setup.data_options.selection || index_bytes > 0)
      plan_again(setup, prepared.data->rows(), prepared.data->rows_total(), index_bytes);
    return;
  }
  // A file used in place is checked for NaN/Inf in the fit's first full pass, not in a pass of its own.
  DataOptions load_options = setup.data_options;
  load_options.defer_value_check = true;
  std::vector<Shard> shards;
  std::unique_ptr<MemoryDataSource> loaded = setup.data_files.empty()
                                                 ? array_source(spec, setup.model->num_predictors(),
                                                                setup.data_options.selection.get())
                                                 : load_files(setup.data_files, load_options, &shards);
  if (setup.data_files.size() > 1) setup.info.shards = shards;
  if (spec.external.y) prepared.used.notes.push_back("data used in place: the caller's arrays, not copied");
  if (loaded->external_columns() && !spec.external.y && setup.info.format == FileFormat::hdf5)
    prepared.used.notes.push_back(
        "data used in place: the file's datasets are contiguous doubles, mapped read-only, not "
        "copied");
  prepared.in_memory = loaded.get();
  prepared.data = std::move(loaded);
  if (prepared.data->rows() != setup.plan_request.rows)
    plan_again(setup, prepared.data->rows(), prepared.data->rows_total(), 0);
  prepared.used.read_s = seconds_since(start);
}

// Whether the initial guess reads the data: a parameter of a built-in model (or composite)
// neither given nor fixed.
bool guesses_from_data(const FitSpec& spec, const FitPlan& setup) {
  if (!setup.builtin && !setup.composite) return false;
  for (const std::string& name : setup.model->param_names()) {
    auto named = [&](const NamedValue& v) { return v.name == name; };
    if (std::none_of(spec.p0.begin(), spec.p0.end(), named) && std::none_of(spec.fix.begin(), spec.fix.end(), named))
      return true;
  }
  return false;
}

// The blocks of rows that the initial guess (starting_point) and the subsample fit (fit.cpp) read
// from every row of m, as they will ask for them.
std::vector<std::pair<std::size_t, std::size_t>> sample_places(const FitSpec& spec, const FitPlan& setup,
                                                               std::size_t m) {
  std::vector<std::pair<std::size_t, std::size_t>> places;
  if (guesses_from_data(spec, setup)) {
    const bool in_memory = setup.plan.mode != FitMode::stream;
    places = sample_blocks(m, kGuessSamplePoints, in_memory ? 1 : kSubsampleBlockRows);
  }
  const std::size_t stride = setup.plan.subsample_stride;
  if (setup.plan.subsample && stride > 1) {
    const auto subsample = sample_blocks(m, (m + stride - 1) / stride);
    places.insert(places.end(), subsample.begin(), subsample.end());
  }
  return places;
}

// Across ranks, once a line scan has counted a CSV's rows: the plan made again for the exact count,
// as one process makes it once its CSV is loaded (open_data; not when it streams), so that the
// ranks use its chunk size and subsample; then each rank's share as plan_fit makes it. Collective;
// returns the chunk size.
std::size_t plan_for_exact_rows(FitPlan& setup, std::size_t m, Distributed& world) {
  if (setup.plan_request.rows_exact && setup.plan_request.rows == m) return setup.plan.chunk_rows;
  world.run_agreed([&] {
    const Plan estimated = make_plan(setup.plan_request);
    if (estimated.mode == FitMode::stream) return;
    PlanRequest again = setup.plan_request;
    again.rows = m;
    again.rows_exact = true;
    again.mode = estimated.mode;
    again.csv_block_bytes = estimated.csv_block_bytes;
    setup.plan = make_plan(again);
    setup.plan_request.rows = m;
    setup.plan_request.rows_exact = true;
    plan_rank_share(setup, world.size());
  });
  setup.plan.chunk_rows = world.min_over_ranks(setup.plan.chunk_rows);
  return setup.plan.chunk_rows;
}

// Data shared out among the ranks by byte ranges (csv_rank_rows.h): a single CSV file, or a dataset
// of several files with CSV among them; null, with a note saying why, when that cannot be exact
// (every rank then parses every CSV file whole, into a binary spill of its own).
std::unique_ptr<DataSource> open_csv_shares(const FitSpec& spec, PreparedFit& prepared, Distributed& world) {
  const FitPlan& setup = prepared.setup;
  const ChunkRowsFor chunk_rows = [&](std::size_t m) { return plan_for_exact_rows(prepared.setup, m, world); };
  const SamplePlaces samples = [&](std::size_t m) { return sample_places(spec, setup, m); };
  if (setup.data_files.size() == 1) {
    if (setup.info.format != FileFormat::csv) return nullptr;
    CsvRankRows split = open_csv_by_byte_ranges(setup.data_files.front(), setup.data_options, world, chunk_rows, samples);
    if (!split.rows) {
      prepared.used.notes.push_back("every rank reads the whole CSV (through a binary spill), not its byte range: " +
                                    split.refused);
      return nullptr;
    }
    prepared.csv_shares = {split.rows.get()};
    return std::move(split.rows);
  }
  ShardEstimate estimate;  // the probe's rows of each file (an estimate for CSV) and the planned chunk size
  for (const Shard& shard : setup.info.shards) estimate.rows.push_back(shard.rows);
  estimate.chunk_rows = setup.plan.chunk_rows;
  ShardedRankRows split =
      open_shards_by_byte_ranges(setup.data_files, setup.data_options, world, chunk_rows, samples, estimate);
  if (!split.rows && split.refused.empty()) return nullptr;  // no CSV file: HDF5 files are read by rows as they are
  if (!split.rows) {
    prepared.used.notes.push_back("every rank parses every CSV file of the dataset whole (through a binary spill), "
                                  "not its byte ranges: " + split.refused);
    return nullptr;
  }
  prepared.csv_shares = split.csv;
  return std::move(split.rows);
}

// Rows of each file of a dataset of several files (ChunkedObjectiveOptions::file_rows): across
// ranks from the source of every row, in one process from where the load or the stream put them.
std::vector<std::size_t> file_rows(const PreparedFit& prepared) {
  std::vector<Shard> shards;
  if (prepared.all_rows) {
    if (const auto* sharded = dynamic_cast<const ShardedDataSource*>(prepared.all_rows.get())) shards = sharded->shards();
  } else if (prepared.setup.data_files.size() > 1) {
    shards = prepared.setup.info.shards;
  }
  std::vector<std::size_t> rows;
  for (const Shard& shard : shards) rows.push_back(shard.rows);
  return rows;
}

// Across ranks: the data opened for reads by row (HDF5 hyperslabs; CSV files split by byte ranges,
// or else their binary spill, which each rank makes from the whole text), and this rank's rows
// through a view of it, loaded into RAM unless the plan streams (rows read from CSV text then go to
// a spill of their own, so that no pass parses text).
void open_rank_data(const FitSpec& spec, PreparedFit& prepared, Distributed& world) {
  FitPlan& setup = prepared.setup;
  const auto start = Clock::now();
  std::unique_ptr<DataSource> split = open_csv_shares(spec, prepared, world);
  const bool by_byte_ranges = split != nullptr;
  if (split) prepared.all_rows = std::move(split);
  else world.run_agreed([&] { prepared.all_rows = open_streaming_files(setup.data_files, setup.data_options); });
  world.run_agreed([&] {
    DataSource& all = *prepared.all_rows;
    const ChunkLayout layout(all.rows(), setup.plan.chunk_rows, file_rows(prepared), world.size());
    auto view = std::make_unique<RowBlocksSource>(all, layout.patterns(world.rank()));
    if (setup.plan.mode == FitMode::stream && by_byte_ranges) {
      const std::vector<std::pair<std::size_t, std::size_t>> blocks = layout.blocks(world.rank());
      auto* csv = dynamic_cast<CsvRowsSource*>(&all);
      prepared.data = csv ? std::make_unique<SpillDataSource>(*csv, blocks, setup.data_options.temp_dir)
                          : std::make_unique<SpillDataSource>(all, blocks, setup.data_options.temp_dir);
      return;
    }
    if (setup.plan.mode == FitMode::stream) {
      prepared.data = std::move(view);
      return;
    }
    // CSV blocks are read whole (each one parse between two known offsets), a file's by slabs.
    std::unique_ptr<MemoryDataSource> loaded =
        by_byte_ranges ? copy_into_memory(*view, view->view_blocks()) : copy_into_memory(*view, kHdf5LoadSlabRows);
    prepared.in_memory = loaded.get();
    prepared.data = std::move(loaded);
    prepared.used.read_s = seconds_since(start);
  });
}

// The built-in model's guess (or each component's) from one deterministic sample of the data:
// single rows spread over the whole data when they are in RAM, blocks of rows from a file (a few
// reads, not a pass). NaN for a composite's parameters that no component owns.
std::vector<double> guess_from_data(const FitPlan& setup, DataSource& data, bool in_memory) {
  const std::unique_ptr<MemoryDataSource> sample =
      sample_rows(data, kGuessSamplePoints, in_memory ? 1 : kSubsampleBlockRows);
  const double* xs[2] = {sample->x_column(0),
                         sample->num_predictors() > 1 ? sample->x_column(1) : nullptr};
  if (setup.composite)
    return setup.composite->guess(setup.model->param_names(), xs, sample->y_column(), sample->rows());
  return guess_parameters(*setup.builtin, xs, sample->y_column(), sample->rows());
}

// The starting point: --p0, --fix (which overrides --p0), else the guess, else 1. Sets `given`
// and `fixed` per parameter.
Eigen::VectorXd starting_point(const FitSpec& spec, PreparedFit& prepared, std::vector<bool>& given,
                               std::vector<bool>& fixed) {
  const Model& model = *prepared.setup.model;
  const std::size_t n = model.num_params();
  Eigen::VectorXd p0 = Eigen::VectorXd::Ones(static_cast<Eigen::Index>(n));
  given.assign(n, false);
  fixed.assign(n, false);
  for (const auto& v : spec.p0) {
    const std::size_t j = param_index(model.param_names(), v.name, "--p0");
    p0[static_cast<Eigen::Index>(j)] = v.value;
    given[j] = true;
  }
  for (const auto& v : spec.fix) {
    const std::size_t j = param_index(model.param_names(), v.name, "--fix");
    if (given[j] && p0[static_cast<Eigen::Index>(j)] != v.value)
      prepared.used.notes.push_back("--fix " + v.name + " overrides --p0 " + v.name);
    p0[static_cast<Eigen::Index>(j)] = v.value;
    given[j] = fixed[j] = true;
  }
  std::string missing;
  for (std::size_t j = 0; j < n; ++j)
    if (!given[j]) missing += (missing.empty() ? "" : ", ") + model.param_names()[j];
  if (missing.empty()) {
    prepared.used.init_source = "given";
  } else if (prepared.setup.builtin || prepared.setup.composite) {
    DataSource& all = prepared.all_rows ? *prepared.all_rows : *prepared.data;
    const std::vector<double> guess = guess_from_data(prepared.setup, all, prepared.in_memory != nullptr);
    std::string unguessed;
    for (std::size_t j = 0; j < n; ++j) {
      if (given[j]) continue;
      const bool guessed = !std::isnan(guess[j]);
      p0[static_cast<Eigen::Index>(j)] = guessed ? guess[j] : 1.0;
      if (!guessed) unguessed += (unguessed.empty() ? "" : ", ") + model.param_names()[j];
    }
    prepared.used.init_source = "guess from the data";
    if (!unguessed.empty())
      prepared.used.notes.push_back("no --p0 for " + unguessed + ": starting at 1 (no component guesses them)");
  } else {
    prepared.used.init_source = "1 for every parameter not given";
    prepared.used.notes.push_back("no --p0 for " + missing +
                                  ": starting at 1 (a formula has no initial guess)");
  }
  return p0;
}

// The natural bounds of the model's parameters (a built-in's, or its components'); empty when it
// has none.
std::vector<ParamBounds> natural_bounds(const FitPlan& setup) {
  if (setup.builtin) return setup.builtin->bounds;
  if (setup.composite) return setup.composite->bounds(setup.model->param_names());
  return {};
}

// lm takes no bounds: say which natural ones go unapplied rather than drop them silently.
void note_unapplied_natural_bounds(const std::vector<ParamBounds>& bounds, const std::vector<std::string>& names,
                                   const std::string& model, std::vector<std::string>& notes) {
  std::string unapplied;
  for (std::size_t j = 0; j < bounds.size(); ++j) {
    const ParamBounds& b = bounds[j];
    if (std::isinf(b.lower) && std::isinf(b.upper)) continue;
    std::ostringstream text;
    text << names[j] << " in [" << b.lower << ", " << b.upper << "]";
    unapplied += (unapplied.empty() ? "" : ", ") + text.str();
  }
  if (!unapplied.empty())
    notes.push_back("--method lm does not apply " + model + "'s natural bounds (" + unapplied +
                    "); trf and dogbox do");
}

// Bounds: the built-in model's natural ones unless turned off (or lm), then --bounds. A guessed
// start outside them is clamped; a given one is an error.
void apply_bounds(const FitSpec& spec, PreparedFit& prepared, const std::vector<bool>& given) {
  const Model& model = *prepared.setup.model;
  const std::vector<ParamBounds> natural = natural_bounds(prepared.setup);
  const auto n = static_cast<Eigen::Index>(model.num_params());
  const double inf = std::numeric_limits<double>::infinity();
  Eigen::VectorXd lower = Eigen::VectorXd::Constant(n, -inf),
                  upper = Eigen::VectorXd::Constant(n, inf);
  if (!natural.empty() && spec.natural_bounds && spec.method != Algorithm::lm)
    for (Eigen::Index j = 0; j < n; ++j) {
      lower[j] = natural[static_cast<std::size_t>(j)].lower;
      upper[j] = natural[static_cast<std::size_t>(j)].upper;
    }
  for (const auto& b : spec.bounds) {
    const auto j = static_cast<Eigen::Index>(param_index(model.param_names(), b.name, "--bounds"));
    lower[j] = b.lower;
    upper[j] = b.upper;
  }
  if (!natural.empty() && spec.natural_bounds && spec.method == Algorithm::lm)
    note_unapplied_natural_bounds(natural, model.param_names(), spec.model, prepared.used.notes);
  const bool bounded = (lower.array() > -inf).any() || (upper.array() < inf).any();
  if (bounded && spec.method == Algorithm::lm)
    throw UsageError("--method lm does not support bounds; use trf or dogbox");
  Eigen::VectorXd& p0 = prepared.request.p0;
  for (Eigen::Index j = 0; j < n; ++j) {
    const auto J = static_cast<std::size_t>(j);
    if (prepared.request.fixed[J] || (p0[j] >= lower[j] && p0[j] <= upper[j])) continue;
    if (given[J])
      throw UsageError("--p0 " + model.param_names()[J] + " = " + std::to_string(p0[j]) +
                       " lies outside its bounds [" + std::to_string(lower[j]) + ", " +
                       std::to_string(upper[j]) + "]");
    p0[j] = std::clamp(p0[j], lower[j], upper[j]);
  }
  if (bounded) {
    prepared.request.solver.lower = lower;
    prepared.request.solver.upper = upper;
  }
}

void apply_x_scale(const XScaleSpec& x_scale, const Model& model, SolverOptions& solver) {
  if (x_scale.jac) {
    solver.x_scale_jac = true;
    return;
  }
  if (x_scale.all == 0 && x_scale.by_name.empty()) return;
  Eigen::VectorXd scale = Eigen::VectorXd::Ones(static_cast<Eigen::Index>(model.num_params()));
  if (x_scale.all != 0) scale.setConstant(x_scale.all);
  for (const auto& v : x_scale.by_name)
    scale[static_cast<Eigen::Index>(param_index(model.param_names(), v.name, "--x-scale"))] =
        v.value;
  if (!(scale.array() > 0).all() || !scale.allFinite())
    throw UsageError("--x-scale: scales must be positive and finite");
  solver.x_scale = scale;
  solver.x_scale_jac = false;
}

void build_request(const FitSpec& spec, PreparedFit& prepared) {
  FitRequest& request = prepared.request;
  const Model& model = *prepared.setup.model;
  request.model = &model;
  request.data = prepared.data.get();
  request.absolute_sigma = spec.absolute_sigma;
  request.covariance = spec.covariance;
  request.sigma_is_weight = spec.sigma_is_weight;
  std::vector<bool> given;
  request.p0 = starting_point(spec, prepared, given, request.fixed);
  apply_bounds(spec, prepared, given);
  request.solver.method = spec.method;
  request.solver.ftol = spec.ftol;
  request.solver.xtol = spec.xtol;
  request.solver.gtol = spec.gtol;
  request.solver.max_nfev = spec.max_nfev;
  request.solver.interrupt = spec.interrupt;
  apply_x_scale(spec.x_scale, model, request.solver);
  request.loss = spec.loss;
  request.f_scale = spec.f_scale;
  request.plan = prepared.setup.plan;
  request.file_rows = file_rows(prepared);
  if (prepared.all_rows) {
    Distributed& world = distributed();
    request.distributed = &world;
    request.sample_data = prepared.all_rows.get();
    request.total_rows = prepared.all_rows->rows();
    // The solvers stop on the flag every rank agrees on at each pass, never on a local one.
    world.set_local_interrupt(spec.interrupt);
    request.solver.interrupt = world.agreed_interrupt();
  }
  request.on_iteration = spec.on_iteration;
  request.on_pass = spec.on_pass;
  request.progress_rows = spec.progress_rows;
  if ((spec.on_checkpoint || spec.resume) && prepared.setup.data_files.size() != 1)
    throw UsageError("--checkpoint and --resume take one data file (the checkpoint records its identity)");
  request.on_checkpoint = spec.on_checkpoint;
  request.resume = spec.resume;
  request.resume_source = spec.resume_source;
}

}  // namespace

namespace {


PreparedFit prepare_one_model(const FitSpec& spec) {
  PreparedFit prepared;
  prepared.setup = plan_fit(spec);
  Distributed& world = distributed();
  const bool across_ranks = world.size() > 1 && !spec.data_path.empty();
  // Reading the data (the CSV parse's workers) obeys --threads like the fit does: a run told to
  // use one core uses one core throughout. More threads than cores would not parse faster, and
  // the plan counts the parse's buffers for at most one block per core (CsvParseTuning).
  const int cores = tbb::info::default_concurrency();
  tbb::task_arena reading(spec.threads > 0 ? std::min(spec.threads, cores) : cores);
  reading.execute([&] {
    if (across_ranks)
      open_rank_data(spec, prepared, world);
    else
      open_data(spec, prepared);
  });
  const std::size_t rows = prepared.all_rows ? prepared.all_rows->rows() : prepared.data->rows();
  if (rows == 0) throw DataError(prepared.setup.data_name + ": no data rows left to fit");
  const RowSelection* selection = prepared.setup.data_options.selection.get();
  if (selection && rows < prepared.setup.free_params)
    throw DataError(prepared.setup.data_name + ": only " + std::to_string(rows) + " row" + (rows == 1 ? "" : "s") +
                    " selected (" + selection->text + ") for " + std::to_string(prepared.setup.free_params) +
                    " free parameters");
  prepared.used.selection = selection ? selection->text : "";
  prepared.used.rows_total = prepared.all_rows ? prepared.all_rows->rows_total() : prepared.data->rows_total();
  prepared.used.notes.insert(prepared.used.notes.end(), prepared.setup.info.notes.begin(),
                             prepared.setup.info.notes.end());
  if (rows < prepared.setup.model->num_params())
    prepared.used.notes.push_back(
        "fewer data points than parameters: some parameters are undetermined");
  if (across_ranks)
    world.run_agreed([&] { build_request(spec, prepared); });
  else
    build_request(spec, prepared);
  prepared.profile = spec.profile;
  // The parser's blocks and the guess's sample go back to the system before the fit allocates:
  // the plan counts loading and fitting as phases that do not overlap.
  get_memory_manager().clear_pool();
  FitSettings& used = prepared.used;
  used.data = prepared.setup.data_name;
  used.model = spec.model;
  used.memory_limit_source = prepared.setup.limit_source;
  const Plan& plan = prepared.setup.plan;
  const std::string& source = prepared.setup.limit_source;
  used.notes.insert(used.notes.begin(),
                    source == "given" ? "memory limit as given" : "memory limit from " + source);
  if (!plan.reasons.empty()) used.notes.insert(used.notes.begin() + 1, plan.reasons.front());
  return prepared;
}


// The parameter names of a model text on the spec's data.
std::vector<std::string> model_param_names(const FitSpec& spec, const std::string& text) {
  FitSpec one = spec;
  one.model = text;
  FitPlan scratch;
  scratch.data_options.predictor_names = formula_predictor_names(one);
  return build_model(one, scratch)->param_names();
}

// The spec of each model of several --model: the names of --p0, --fix, --bounds and --x-scale
// kept for the models that have them. A name no model has is a usage error.
std::vector<FitSpec> model_specs(const FitSpec& spec) {
  if (spec.more_models.empty()) return {spec};
  if (!spec.ties.empty()) throw UsageError("--tie takes one --model");
  if (spec.custom_model) throw UsageError("several models need model names or formulas");
  std::vector<std::string> texts{spec.model};
  texts.insert(texts.end(), spec.more_models.begin(), spec.more_models.end());
  std::vector<std::vector<std::string>> names;
  for (const std::string& text : texts) names.push_back(model_param_names(spec, text));
  auto has = [&](std::size_t k, const std::string& name) {
    return std::find(names[k].begin(), names[k].end(), name) != names[k].end();
  };
  auto check = [&](const std::string& name, const char* option) {
    for (std::size_t k = 0; k < texts.size(); ++k)
      if (has(k, name)) return;
    throw UsageError(std::string(option) + " " + name + ": none of the models has a parameter '" + name + "'");
  };
  for (const auto& v : spec.p0) check(v.name, "--p0");
  for (const auto& v : spec.fix) check(v.name, "--fix");
  for (const auto& v : spec.bounds) check(v.name, "--bounds");
  for (const auto& v : spec.x_scale.by_name) check(v.name, "--x-scale");
  std::vector<FitSpec> specs;
  for (std::size_t k = 0; k < texts.size(); ++k) {
    FitSpec one = spec;
    one.model = texts[k];
    one.more_models.clear();
    std::erase_if(one.p0, [&](const NamedValue& v) { return !has(k, v.name); });
    std::erase_if(one.fix, [&](const NamedValue& v) { return !has(k, v.name); });
    std::erase_if(one.bounds, [&](const NamedRange& v) { return !has(k, v.name); });
    std::erase_if(one.x_scale.by_name, [&](const NamedValue& v) { return !has(k, v.name); });
    specs.push_back(std::move(one));
  }
  return specs;
}

// Another model of several --model on the first one's data and plan (the same chunks, so that
// their passes are shared).
PreparedFit::OtherModel prepare_other_model(const FitSpec& spec, PreparedFit& first) {
  PreparedFit scratch;
  scratch.setup.data_options = first.setup.data_options;
  scratch.setup.data_files = first.setup.data_files;
  scratch.setup.data_name = first.setup.data_name;
  scratch.setup.info = first.setup.info;
  scratch.setup.model = build_model(spec, scratch.setup);
  if (scratch.setup.model->num_predictors() != first.setup.model->num_predictors())
    throw UsageError("--model " + spec.model + " takes " + std::to_string(scratch.setup.model->num_predictors()) +
                     " predictor(s), --model " + first.setup.model->formula() + " " +
                     std::to_string(first.setup.model->num_predictors()) + ": several models share the predictors");
  scratch.setup.free_params = count_free_params(spec, *scratch.setup.model);
  scratch.setup.plan = first.setup.plan;
  scratch.setup.limit_source = first.setup.limit_source;
  // build_request reads the data (the guess): lend them, and take them back whatever happens.
  scratch.data = std::move(first.data);
  scratch.all_rows = std::move(first.all_rows);
  scratch.in_memory = first.in_memory;
  try {
    build_request(spec, scratch);
  } catch (...) {
    first.data = std::move(scratch.data);
    first.all_rows = std::move(scratch.all_rows);
    throw;
  }
  first.data = std::move(scratch.data);
  first.all_rows = std::move(scratch.all_rows);
  PreparedFit::OtherModel other{std::move(scratch.setup), std::move(scratch.request), first.used};
  other.used.model = spec.model;
  other.used.init_source = scratch.used.init_source;
  other.used.notes.insert(other.used.notes.end(), scratch.used.notes.begin(), scratch.used.notes.end());
  return other;
}

}  // namespace

PreparedFit prepare_fit(const FitSpec& spec) {
  if (spec.starts < 1) throw UsageError("--starts: must be at least 1, got " + std::to_string(spec.starts));
  if ((spec.starts > 1 || !spec.more_models.empty()) && distributed().size() > 1 && !spec.data_path.empty())
    throw UsageError("--starts and several --model run in one process, not across MPI ranks");
  const std::vector<FitSpec> specs = model_specs(spec);
  PreparedFit prepared = prepare_one_model(specs.front());
  prepared.starts.count = spec.starts;
  prepared.starts.seed = spec.seed;
  for (std::size_t k = 1; k < specs.size(); ++k) prepared.more.push_back(prepare_other_model(specs[k], prepared));
  return prepared;
}

namespace {

// Each tie's expression and its standard error at the fitted parameters (the delta method).
std::vector<TiedParameter> tied_parameters(const std::vector<Tie>& ties, const FitResult& r) {
  std::vector<TiedParameter> tied;
  for (const Tie& tie : ties) {
    const std::unique_ptr<Model> expression = compile_formula(tie.expression);
    const std::size_t k = expression->num_params();
    std::vector<std::size_t> index(k);
    std::vector<double> p(k), gradient(k);
    for (std::size_t j = 0; j < k; ++j) {
      index[j] = param_index(r.names, expression->param_names()[j], "--tie");
      p[j] = r.params[static_cast<Eigen::Index>(index[j])];
    }
    const double x = 0;  // the expression uses no predictor
    const double* xs[] = {&x};
    TiedParameter t{tie.name, tie.expression};
    expression->evaluate_with_jacobian(xs, 1, p.data(), &t.value, gradient.data());
    if (r.covariance.rows() == static_cast<Eigen::Index>(r.names.size())) {
      double variance = 0;  // only the terms with a gradient: 0 * inf (undetermined) is no term
      for (std::size_t i = 0; i < k; ++i)
        for (std::size_t j = 0; j < k; ++j)
          if (gradient[i] != 0 && gradient[j] != 0)
            variance += gradient[i] * gradient[j] *
                        r.covariance(static_cast<Eigen::Index>(index[i]), static_cast<Eigen::Index>(index[j]));
      t.stderr_ = std::sqrt(variance);
    }
    tied.push_back(std::move(t));
  }
  return tied;
}

// Collective: what each rank read of a CSV split by byte ranges, for the report.
std::string bytes_read_by_ranks(const std::vector<const CsvRowsSource*>& csv) {
  std::uint64_t read = 0, file_bytes = 0;
  for (const CsvRowsSource* file : csv) read += file->bytes_read(), file_bytes += file->file_bytes();
  std::vector<int> counts;
  const std::vector<std::uint64_t> bytes = distributed().all_gather_integers({read}, counts);
  std::string list;
  for (std::uint64_t b : bytes) list += (list.empty() ? "" : " ") + std::to_string(b);
  return "CSV split by byte ranges at line boundaries: bytes read per rank " + list + " of the " +
         (csv.size() == 1 ? "file's " : std::to_string(csv.size()) + " CSV files' ") + std::to_string(file_bytes) +
         " (besides the head every rank reads to detect the dialect)";
}

}  // namespace

namespace {

// Several --model: every model in shared passes; the best one is swapped into `prepared`.
FitResult fit_several_models(PreparedFit& prepared) {
  std::vector<FitRequest> requests{prepared.request};
  for (PreparedFit::OtherModel& other : prepared.more) {
    other.request.settings = other.used;
    requests.push_back(other.request);
  }
  std::vector<FitResult> results = fit_models(requests, prepared.starts);
  const std::size_t best = best_model(results);
  if (best > 0) {
    PreparedFit::OtherModel& winner = prepared.more[best - 1];
    std::swap(prepared.setup, winner.setup);
    std::swap(prepared.request, winner.request);
    std::swap(prepared.used, winner.used);
  }
  return std::move(results[best]);
}

}  // namespace

FitResult fit(PreparedFit& prepared) {
  const auto start = Clock::now();
  prepared.request.settings = prepared.used;
  FitResult result = prepared.more.empty() ? fit_starts(prepared.request, prepared.starts)
                                           : fit_several_models(prepared);
  if (!prepared.csv_shares.empty()) result.used.notes.push_back(bytes_read_by_ranks(prepared.csv_shares));
  result.tied = tied_parameters(prepared.setup.ties, result);
  const bool solved = result.status != Status::failed && result.status != Status::interrupted;
  if (prepared.profile && solved) result.profile = profile_intervals(prepared.request, result, *prepared.profile);
  prepared.data->check_unchanged();  // a file written to under the fit gives no result
  if (!prepared.csv_shares.empty())
    distributed().run_agreed([&] {
      for (const CsvRowsSource* file : prepared.csv_shares) file->check_unchanged();
    });
  result.used.fit_s = seconds_since(start);
  return result;
}

FitResult fit(const FitSpec& spec) {
  PreparedFit prepared = prepare_fit(spec);
  return fit(prepared);
}

}  // namespace curvefit
