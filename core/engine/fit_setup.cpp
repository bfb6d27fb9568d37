#include "core/engine/fit_setup.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>

#include "core/data/columns.h"
#include "core/data/sharded_source.h"
#include "core/data/row_blocks_source.h"
#include "core/engine/distributed.h"
#include "core/engine/subsample.h"
#include "core/errors.h"
#include "core/formula/expression.h"
#include "memory/memory_manager.h"
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

// The first row of the caller's arrays where x or y is not finite, or sigma not positive and
// finite (for the message; searched only once a fast scan has found one).
std::size_t first_bad_row(const std::vector<const double*>& x, const double* y, const double* sigma,
                          std::size_t rows) {
  for (std::size_t i = 0; i < rows; ++i) {
    bool good = std::isfinite(y[i]) && (!sigma || (sigma[i] > 0 && std::isfinite(sigma[i])));
    for (const double* column : x) good = good && std::isfinite(column[i]);
    if (!good) return i;
  }
  return rows;
}

// The caller's arrays checked as nan_policy raise checks a file: one fast scan per column.
void check_array_values(const std::vector<const double*>& x, const double* y, const double* sigma,
                        std::size_t rows) {
  if (rows_valid(x.data(), x.size(), y, sigma, rows)) return;
  const std::size_t i = first_bad_row(x, y, sigma, rows);
  bool xy_finite = std::isfinite(y[i]);
  for (const double* column : x) xy_finite = xy_finite && std::isfinite(column[i]);
  throw DataError("<memory>: row " + std::to_string(i + 1) +
                  (xy_finite ? ": sigma must be positive and finite" : ": x or y is not finite"));
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

// The arrays of a FitSpec as a data source (checked as nan_policy raise checks a file).
std::unique_ptr<MemoryDataSource> array_source(const FitSpec& spec, int num_predictors) {
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
  check_array_values(x, spec.y.data(), spec.sigma.empty() ? nullptr : spec.sigma.data(), spec.y.size());
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
  r.writes_fitted_csv = spec.writes_fitted_csv;
  setup.plan = make_plan(r);
  d.csv_block_bytes = setup.plan.csv_block_bytes;
  return setup;
}

constexpr const char* kSubsampleReason = "first a fit on a subsample";

// A rank's plan: its share of the rows (about m / K) under its own memory limit; the subsample
// (fitted by every rank alike) stays that of the whole data, as one process would choose it.
void plan_rank_share(FitPlan& setup, int ranks) {
  const Plan whole = setup.plan;
  PlanRequest share = setup.plan_request;
  share.rows = (setup.plan_request.rows + static_cast<std::size_t>(ranks) - 1) / static_cast<std::size_t>(ranks);
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

// Opens the data as the plan says (loaded once, or re-read on every pass) and re-plans with the
// exact row count once the data are part of the process.
void open_data(const FitSpec& spec, PreparedFit& prepared) {
  FitPlan& setup = prepared.setup;
  const auto start = Clock::now();
  if (setup.plan.mode == FitMode::stream) {
    if (spec.source) {
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
    return;
  }
  // A file used in place is checked for NaN/Inf in the fit's first full pass, not in a pass of its own.
  DataOptions load_options = setup.data_options;
  load_options.defer_value_check = true;
  std::vector<Shard> shards;
  std::unique_ptr<MemoryDataSource> loaded = setup.data_files.empty()
                                                 ? array_source(spec, setup.model->num_predictors())
                                                 : load_files(setup.data_files, load_options, &shards);
  if (setup.data_files.size() > 1) setup.info.shards = shards;
  if (spec.external.y) prepared.used.notes.push_back("data used in place: the caller's arrays, not copied");
  if (loaded->external_columns() && !spec.external.y && setup.info.format == FileFormat::hdf5)
    prepared.used.notes.push_back(
        "data used in place: the file's datasets are contiguous doubles, mapped read-only, not "
        "copied");
  prepared.in_memory = loaded.get();
  prepared.data = std::move(loaded);
  if (prepared.data->rows() != setup.plan_request.rows) {
    // The CSV's row count was an estimate: the chosen mode is checked again for the exact count
    // with the same arithmetic (a MemoryError if it no longer fits).
    PlanRequest again = setup.plan_request;
    again.rows = prepared.data->rows();
    again.rows_exact = true;
    again.mode = setup.plan.mode;
    again.csv_block_bytes = setup.plan.csv_block_bytes;
    setup.plan = make_plan(again);
    setup.plan.reasons.front() = "mode " + std::string(to_string(setup.plan.mode)) +
                                 " as planned for about " + std::to_string(setup.plan_request.rows) +
                                 " rows, checked again for the exact " + std::to_string(again.rows);
  }
  prepared.used.read_s = seconds_since(start);
}

// Across ranks: the file opened for reads by row (HDF5 hyperslabs; a CSV's binary spill, which
// each rank makes from the whole text), and this rank's rows through a view of it, loaded into RAM
// unless the plan streams.
void open_rank_data(PreparedFit& prepared, Distributed& world) {
  FitPlan& setup = prepared.setup;
  const auto start = Clock::now();
  world.run_agreed([&] { prepared.all_rows = open_streaming_files(setup.data_files, setup.data_options); });
  world.run_agreed([&] {
    DataSource& all = *prepared.all_rows;
    const RankShare share = ChunkedObjective::rank_share(all.rows(), setup.plan.chunk_rows, world.rank(), world.size());
    auto view = std::make_unique<RowBlocksSource>(all, share.first_row, share.block_rows, share.period_rows);
    if (setup.plan.mode == FitMode::stream) {
      prepared.data = std::move(view);
      return;
    }
    std::unique_ptr<MemoryDataSource> loaded = copy_into_memory(*view, kHdf5LoadSlabRows);
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
  if (across_ranks)
    open_rank_data(prepared, world);
  else
    open_data(spec, prepared);
  const std::size_t rows = prepared.all_rows ? prepared.all_rows->rows() : prepared.data->rows();
  if (rows == 0) throw DataError(prepared.setup.data_name + ": no data rows left to fit");
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
  result.tied = tied_parameters(prepared.setup.ties, result);
  const bool solved = result.status != Status::failed && result.status != Status::interrupted;
  if (prepared.profile && solved) result.profile = profile_intervals(prepared.request, result, *prepared.profile);
  prepared.data->check_unchanged();  // a file written to under the fit gives no result
  result.used.fit_s = seconds_since(start);
  return result;
}

FitResult fit(const FitSpec& spec) {
  PreparedFit prepared = prepare_fit(spec);
  return fit(prepared);
}

}  // namespace curvefit
