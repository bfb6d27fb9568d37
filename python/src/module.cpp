// The native half of the Python module `curvefit` (python/curvefit/__init__.py is the other): a
// FitSpec filled from a dict of options, fitted by core with the GIL released, and the FitResult
// handed back with core's own report and JSON. Errors become Python exceptions carrying the
// command line's message.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "core/data/csv_reader.h"
#include "core/engine/curve_bands.h"
#include "core/engine/fit_setup.h"
#include "core/errors.h"
#include "core/model/generate.h"
#include "core/model/model_library.h"
#include "core/output/checkpoint_file.h"
#include "core/output/report.h"
#include "core/version.h"
#include "memory/memory_manager.h"
#include "memory/size.h"
#include "memory/system_probe.h"
#include "array_source.h"
#include "python_model.h"

namespace py = pybind11;

namespace curvefit::python {

namespace {

using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

// A finished fit and the model that produced it (for eval).
struct NativeResult {
  FitResult result;
  std::shared_ptr<const Model> model;
  py::object keep_alive;  // the Python model object, when the model is one
};

template <typename T>
T option(const py::dict& o, const char* key, T fallback) {
  if (!o.contains(key) || o[key].is_none()) return fallback;
  try {
    return o[key].cast<T>();
  } catch (const py::cast_error&) {
    throw py::type_error(std::string(key) + ": " + std::string(py::str(py::type::of(o[key]).attr("__name__"))) +
                         " is not a valid value");
  }
}

std::vector<NamedValue> named_values(const py::dict& o, const char* key) {
  std::vector<NamedValue> out;
  for (const auto& [name, value] : option<std::vector<std::pair<std::string, double>>>(o, key, {}))
    out.push_back({name, value});
  return out;
}

std::vector<NamedRange> named_ranges(const py::dict& o, const char* key) {
  std::vector<NamedRange> out;
  for (const auto& [name, lo, hi] : option<std::vector<std::tuple<std::string, double, double>>>(o, key, {}))
    out.push_back({name, lo, hi});
  return out;
}

// x_range (name, lo, hi; name "" for the first predictor) and where, with the arrays the condition
// may name besides x, y and sigma ("where_arrays": name -> contiguous float64 array, kept alive by
// the options dict for the fit).
void fill_selection(const py::dict& o, FitSpec& spec) {
  if (o.contains("x_range") && !o["x_range"].is_none()) {
    const auto [name, lo, hi] = o["x_range"].cast<std::tuple<std::string, double, double>>();
    if (std::isnan(lo) || std::isnan(hi) || lo > hi) throw UsageError("x_range: (lo, hi) with lo <= hi");
    spec.x_range = XRange{name, lo, hi};
  }
  spec.where = option<std::string>(o, "where", "");
  if (!o.contains("where_arrays") || o["where_arrays"].is_none()) return;
  const std::size_t rows = o["y_array"].cast<py::array>().size();
  for (const auto& [name, column] : o["where_arrays"].cast<py::dict>()) {
    const auto array = column.cast<py::array>();
    if (array.ndim() != 1 || !py::isinstance<py::array_t<double>>(array) || !(array.flags() & py::array::c_style))
      throw UsageError("where: column '" + name.cast<std::string>() + "' must be a contiguous float64 array");
    if (static_cast<std::size_t>(array.size()) != rows)
      throw UsageError("where: column '" + name.cast<std::string>() + "' has another length than y");
    spec.where_columns.emplace_back(name.cast<std::string>(), static_cast<const double*>(array.data()));
  }
}

// The data part: a path (or several paths and glob patterns, one dataset) with the CLI's column
// and CSV options, or arrays used in place.
void fill_data(const py::dict& o, FitSpec& spec, std::unique_ptr<ArraySource>& converted) {
  DataOptions& d = spec.data_options;
  d.x = option<std::vector<std::string>>(o, "x", {});
  d.y = option<std::string>(o, "y", "");
  d.sigma = option<std::string>(o, "sigma", "");
  const std::string delimiter = option<std::string>(o, "delimiter", "");
  if (!delimiter.empty()) {
    try {
      d.delimiter = parse_delimiter_option(delimiter);
    } catch (const std::exception& e) {
      throw UsageError(std::string("delimiter: ") + e.what());
    }
  }
  if (o.contains("header") && !o["header"].is_none()) d.header = o["header"].cast<bool>();
  d.skip_invalid = option<bool>(o, "skip_invalid", false);
  d.temp_dir = option<std::string>(o, "temp_dir", "");
  const std::string nan_policy = option<std::string>(o, "nan_policy", "raise");
  if (nan_policy != "raise" && nan_policy != "omit") throw UsageError("nan_policy: must be 'raise' or 'omit'");
  d.nan_policy = nan_policy == "omit" ? NanPolicy::omit : NanPolicy::raise;
  fill_selection(o, spec);
  spec.data_path = option<std::string>(o, "path", "");
  spec.data_paths = option<std::vector<std::string>>(o, "paths", {});
  if (!spec.data_path.empty() || !spec.data_paths.empty()) return;
  // Arrays: contiguous float64 ones are used in place. Any other dtype or stride (the Python layer
  // passes only what ArraySource reads) makes the whole set served by an ArraySource, converted
  // chunk by chunk on every pass; the fit then streams and never copies the data.
  std::vector<py::array> x;
  for (const auto& column : o["x_arrays"].cast<py::list>()) x.push_back(column.cast<py::array>());
  const auto y = o["y_array"].cast<py::array>();
  std::optional<py::array> sigma;
  if (o.contains("sigma_array") && !o["sigma_array"].is_none()) sigma = o["sigma_array"].cast<py::array>();
  const auto names = option<std::vector<std::string>>(o, "names", {});
  const auto in_place = [](const py::array& a) {
    return a.ndim() == 1 && py::isinstance<py::array_t<double>>(a) && (a.flags() & py::array::c_style) != 0;
  };
  bool all_in_place = in_place(y) && (!sigma || in_place(*sigma));
  for (const py::array& column : x) all_in_place = all_in_place && in_place(column);
  if (y.size() == 0) throw DataError("<memory>: no data rows");
  if (!all_in_place) {
    converted = std::make_unique<ArraySource>(x, y, sigma ? &*sigma : nullptr, names);
    spec.source = converted.get();
    return;
  }
  FitSpec::ExternalArrays& a = spec.external;
  a.rows = static_cast<std::size_t>(y.size());
  auto pointer = [&a](const py::array& array) {
    if (static_cast<std::size_t>(array.size()) != a.rows) throw UsageError("x, y and sigma have different lengths");
    return static_cast<const double*>(array.data());
  };
  a.y = pointer(y);
  for (const py::array& column : x) a.x.push_back(pointer(column));
  if (sigma) a.sigma = pointer(*sigma);
  a.names = names;
}

void fill_x_scale(const py::dict& o, FitSpec& spec) {
  if (!o.contains("x_scale") || o["x_scale"].is_none()) return;
  const py::object x_scale = o["x_scale"];
  if (py::isinstance<py::str>(x_scale)) {
    if (x_scale.cast<std::string>() != "jac") throw UsageError("x_scale: 'jac', a number or a dict of numbers");
    spec.x_scale.jac = true;
  } else if (py::isinstance<py::dict>(x_scale)) {
    for (const auto& [name, value] : x_scale.cast<py::dict>())
      spec.x_scale.by_name.push_back({name.cast<std::string>(), value.cast<double>()});
  } else {
    spec.x_scale.all = x_scale.cast<double>();
    if (!(spec.x_scale.all > 0)) throw UsageError("x_scale: scales must be positive and finite");
  }
}

std::size_t memory_limit(const py::dict& o) {
  if (!o.contains("memory_limit") || o["memory_limit"].is_none()) return 0;
  const py::object limit = o["memory_limit"];
  std::size_t bytes = 0;
  if (py::isinstance<py::str>(limit)) {
    try {
      bytes = parse_size(limit.cast<std::string>());
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("memory_limit: ") + e.what());
    }
  } else {
    const double value = limit.cast<double>();
    if (!(value >= 0)) throw UsageError("memory_limit: must be positive");
    bytes = static_cast<std::size_t>(value);
  }
  if (bytes == 0) throw UsageError("memory_limit: must be positive");
  return bytes;
}

// Every option of `curvefit fit`, by the CLI's names with '_' for '-'.
// `converted` receives the reader of arrays that are not contiguous float64 (it must outlive the fit).
FitSpec fit_spec(const py::dict& o, std::unique_ptr<ArraySource>& converted) {
  FitSpec spec;
  fill_data(o, spec, converted);
  spec.model = option<std::string>(o, "model", "");
  spec.p0 = named_values(o, "p0");
  spec.fix = named_values(o, "fix");
  for (const std::string& tie : option<std::vector<std::string>>(o, "ties", {})) spec.ties.push_back(parse_tie(tie, "tie"));
  spec.bounds = named_ranges(o, "bounds");
  spec.natural_bounds = option<bool>(o, "natural_bounds", true);
  spec.method = parse_algorithm(option<std::string>(o, "method", "trf"));
  try {
    spec.loss = parse_loss(option<std::string>(o, "loss", "linear"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("loss: ") + e.what());
  }
  spec.f_scale = option<double>(o, "f_scale", 1.0);
  spec.ftol = option<double>(o, "ftol", spec.ftol);
  spec.xtol = option<double>(o, "xtol", spec.xtol);
  spec.gtol = option<double>(o, "gtol", spec.gtol);
  spec.max_nfev = option<int>(o, "max_nfev", 0);
  fill_x_scale(o, spec);
  spec.absolute_sigma = option<bool>(o, "absolute_sigma", false);
  spec.covariance = parse_covariance_kind(option<std::string>(o, "cov", "standard"));
  spec.sigma_is_weight = option<bool>(o, "sigma_is_weight", false);
  const std::string ci = option<std::string>(o, "ci", "");
  if (!ci.empty()) {
    if (ci != "profile") throw UsageError("ci: 'profile' or None");
    ProfileOptions profile;
    if (o.contains("ci_levels") && !o["ci_levels"].is_none()) {
      std::string levels;
      for (const auto& level : o["ci_levels"].cast<std::vector<double>>()) levels += (levels.empty() ? "" : ",") + std::to_string(level);
      profile.levels = parse_profile_levels(levels);
    }
    profile.rule = parse_profile_rule(option<std::string>(o, "ci_rule", "f-test"));
    spec.profile = profile;
  }
  spec.memory_limit_bytes = memory_limit(o);
  spec.mode = parse_fit_mode(option<std::string>(o, "mode", "auto"));
  spec.chunk_rows = option<std::size_t>(o, "chunk_size", 0);
  spec.threads = option<int>(o, "threads", 0);
  spec.starts = option<int>(o, "starts", 1);
  spec.seed = option<std::uint64_t>(o, "seed", 1);
  return spec;
}

// The Python model of the options, if any ("function", with "jac", "param_names", "bounds").
std::shared_ptr<PythonModel> python_model(const py::dict& o, const FitSpec& spec) {
  if (!o.contains("function") || o["function"].is_none()) return nullptr;
  const auto names = o["param_names"].cast<std::vector<std::string>>();
  std::vector<double> lower(names.size(), -INFINITY), upper(names.size(), INFINITY);
  for (const auto& b : spec.bounds)
    for (std::size_t j = 0; j < names.size(); ++j)
      if (names[j] == b.name) lower[j] = b.lower, upper[j] = b.upper;
  return std::make_shared<PythonModel>(o["function"], option<py::object>(o, "jac", py::none()), names,
                                       option<int>(o, "num_predictors", 1), lower, upper);
}

// checkpoint= and resume= (docs/checkpoint.md): the file rewritten after every accepted step (the
// resume file when none is named), and the checkpoint to continue from.
void attach_checkpoints(const py::dict& o, FitSpec& spec, FitCheckpoint& resume_from) {
  const std::string resume = option<std::string>(o, "resume", "");
  const std::string path = option<std::string>(o, "checkpoint", resume);
  if (path.empty()) return;
  if (spec.data_path.empty()) throw UsageError("checkpoint and resume need the data in a file");
  if (!resume.empty()) {
    resume_from = read_checkpoint(resume);
    spec.resume = &resume_from;
    spec.resume_source = "resume=" + resume;
  }
  spec.on_checkpoint = [path](const FitCheckpoint& checkpoint) { write_checkpoint(path, checkpoint); };
}

// Ctrl-C in the middle of a pass. Python's own SIGINT handler only notes the signal; Python acts
// on it when the fit next calls back (on_iteration), after the pass in progress. While a fit runs
// on the main thread (where Python handles signals), this handler sets the fit's flag at once, so
// that the pass stops at its next chunk, and then calls Python's handler, which still raises
// KeyboardInterrupt. A SIGINT that Python ignores or leaves to the default is not taken over.
class SigintToFlag {
 public:
  explicit SigintToFlag(std::atomic<bool>& flag) {
    const py::module_ threading = py::module_::import("threading");
    if (!threading.attr("current_thread")().is(threading.attr("main_thread")())) return;
    struct sigaction current {};
    if (::sigaction(SIGINT, nullptr, &current) != 0 || !is_function(current)) return;
    std::atomic<bool>* none = nullptr;
    if (!target_.compare_exchange_strong(none, &flag)) return;  // a fit inside a fit keeps the outer one's
    previous_ = current;
    struct sigaction mine {};
    mine.sa_sigaction = &forward;
    mine.sa_flags = SA_SIGINFO | (current.sa_flags & SA_RESTART);
    sigemptyset(&mine.sa_mask);
    installed_ = ::sigaction(SIGINT, &mine, nullptr) == 0;
    if (!installed_) target_ = nullptr;
  }
  ~SigintToFlag() {
    if (!installed_) return;
    ::sigaction(SIGINT, &previous_, nullptr);
    target_ = nullptr;
  }
  SigintToFlag(const SigintToFlag&) = delete;
  SigintToFlag& operator=(const SigintToFlag&) = delete;

 private:
  static bool is_function(const struct sigaction& action) {
    if (action.sa_flags & SA_SIGINFO) return action.sa_sigaction != nullptr;
    return action.sa_handler != SIG_DFL && action.sa_handler != SIG_IGN;
  }
  static void forward(int signal, siginfo_t* info, void* context) {
    if (std::atomic<bool>* flag = target_.load()) flag->store(true);
    if (previous_.sa_flags & SA_SIGINFO)
      previous_.sa_sigaction(signal, info, context);
    else
      previous_.sa_handler(signal);
  }
  static inline std::atomic<std::atomic<bool>*> target_{nullptr};
  static inline struct sigaction previous_ {};
  bool installed_ = false;
};

// Runs the fit with the GIL released. Ctrl-C: SigintToFlag stops the pass in progress, and the
// iteration callback takes the GIL and lets Python run its signal handlers; on KeyboardInterrupt
// the fit stops at its last accepted point, the result says "interrupted" and the Python layer
// raises KeyboardInterrupt with it attached.
NativeResult run_fit(const py::dict& o) {
  std::unique_ptr<ArraySource> converted;
  FitSpec spec = fit_spec(o, converted);
  FitCheckpoint resume_from;
  attach_checkpoints(o, spec, resume_from);
  const std::shared_ptr<PythonModel> own_model = python_model(o, spec);
  if (own_model) {
    if (spec.source) throw UsageError("a Python function model needs contiguous float64 arrays");
    // With a selection the fit reads a copy of the selected rows, which f is called on directly.
    if (!spec.x_range && spec.where.empty()) own_model->set_arrays(spec.external.x, spec.external.rows);
    spec.custom_model = own_model.get();
    spec.threads = 1;  // one Python call at a time: more threads would only queue for the GIL
  }
  std::atomic<bool> interrupt{false};
  std::optional<py::error_already_set> signal_error;
  spec.interrupt = &interrupt;
  // No input file is mapped: a file cut short under a mapping raises SIGBUS, which would kill the
  // interpreter; read, it is a DataError like any other change of the file.
  spec.data_options.map_files = false;
  // The readers' remarks (rows skipped or omitted) join the result's notes, where the report and
  // to_dict() show them; they may come from any thread while the GIL is released.
  std::mutex notices_mutex;
  std::vector<std::string> notices;
  spec.data_options.on_notice = [&](const std::string& line) {
    const std::lock_guard lock(notices_mutex);
    notices.push_back(line);
  };
  if (own_model) own_model->set_interrupt(&interrupt);
  spec.on_iteration = [&](const IterationInfo&, bool) {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) {
      signal_error.emplace();
      interrupt = true;
    }
  };
  NativeResult out;
  std::optional<SigintToFlag> sigint(std::in_place, interrupt);
  try {
    py::gil_scoped_release release;
    PreparedFit prepared = prepare_fit(spec);
    out.result = curvefit::fit(prepared);
    if (own_model)
      own_model->set_arrays({}, 0);  // the arrays may be freed once the fit returns
    else
      out.model = std::move(prepared.setup.model);
  } catch (...) {
    if (own_model)
      if (auto error = own_model->take_error()) throw *error;
    if (signal_error) throw *signal_error;
    throw;
  }
  sigint.reset();
  // A SIGINT that cut the last pass short is still pending in Python: taken here, it is the
  // KeyboardInterrupt the Python layer raises with the result.
  if (interrupt && !signal_error && PyErr_CheckSignals() != 0) signal_error.emplace();
  if (own_model)
    if (auto error = own_model->take_error()) throw *error;
  if (signal_error && !signal_error->matches(PyExc_KeyboardInterrupt)) throw *signal_error;
  out.result.used.peak_rss_bytes = peak_rss_bytes();
  out.result.used.notes.insert(out.result.used.notes.end(), notices.begin(), notices.end());
  if (own_model) {
    out.model = own_model;
    out.result.used.notes.push_back("Jacobian of the Python function: " +
                                    std::string(option<py::object>(o, "jac", py::none()).is_none()
                                                    ? "forward differences (no jac given)"
                                                    : "the given jac"));
  }
  return out;
}

// The predictors' columns of x (a list of one array per predictor) for the fit's model.
std::vector<const double*> predictor_columns(const NativeResult& r, const std::vector<DoubleArray>& x,
                                             const char* what, std::size_t& n) {
  if (static_cast<int>(x.size()) != r.model->num_predictors())
    throw UsageError(std::string(what) + ": the model has " + std::to_string(r.model->num_predictors()) +
                     " predictor(s)");
  n = x.empty() ? 0 : static_cast<std::size_t>(x[0].size());
  std::vector<const double*> columns;
  for (const auto& column : x) {
    if (static_cast<std::size_t>(column.size()) != n)
      throw UsageError(std::string(what) + ": predictors of different lengths");
    columns.push_back(column.data());
  }
  return columns;
}

// `compute(columns, count, out)` over x in blocks, the GIL released unless the model is a Python
// function (which takes it for every call).
template <typename Compute>
py::array_t<double> over_blocks(const NativeResult& r, const std::vector<DoubleArray>& x, const char* what,
                                const Compute& compute) {
  std::size_t n = 0;
  const std::vector<const double*> columns = predictor_columns(r, x, what, n);
  py::array_t<double> values(static_cast<py::ssize_t>(n));
  double* out = values.mutable_data();
  const bool python = dynamic_cast<const PythonModel*>(r.model.get()) != nullptr;
  std::optional<py::gil_scoped_release> release;
  if (!python) release.emplace();
  for (std::size_t begin = 0; begin < n; begin += kModelBlock * 64) {
    const std::size_t count = std::min(kModelBlock * 64, n - begin);
    std::vector<const double*> block;
    for (const double* c : columns) block.push_back(c + begin);
    compute(block.data(), count, out + begin);
  }
  return values;
}

// The fitted curve at x, evaluated by the fit's model.
py::array_t<double> evaluate(const NativeResult& r, const std::vector<DoubleArray>& x) {
  return over_blocks(r, x, "eval", [&](const double* const* xs, std::size_t count, double* out) {
    r.model->evaluate(xs, count, r.result.params.data(), out);
  });
}

// Half-widths of the fitted curve's confidence band at x (core/engine/curve_bands.h).
py::array_t<double> eval_uncertainty(const NativeResult& r, const std::vector<DoubleArray>& x, double level) {
  const CurveBands bands(*r.model, r.result, level);
  return over_blocks(r, x, "eval_uncertainty", [&](const double* const* xs, std::size_t count, double* out) {
    bands.half_widths(xs, count, nullptr, out, nullptr);
  });
}

// What `curvefit fit --json` adds to the fit's own notes: every reason of the plan after the first.
RunInfo json_run_info(const FitResult& result) {
  RunInfo run;
  for (std::size_t i = 1; i < result.used.plan_reasons.size(); ++i) run.notes.push_back(result.used.plan_reasons[i]);
  return run;
}

py::dict plan_dict(const py::dict& o) {
  std::unique_ptr<ArraySource> converted;
  const FitSpec spec = fit_spec(o, converted);
  const FitPlan setup = plan_fit(spec);
  const Plan& plan = setup.plan;
  py::list modes;
  for (const ModePlan& m : plan.modes)
    modes.append(py::dict(py::arg("mode") = std::string(to_string(m.mode)), py::arg("possible") = m.possible,
                          py::arg("fits") = m.fits, py::arg("chunk_rows") = m.chunk_rows,
                          py::arg("predicted_peak_bytes") = m.predicted_peak_bytes, py::arg("reason") = m.reason));
  return py::dict(py::arg("data") = setup.data_name, py::arg("rows") = setup.info.rows,
                  py::arg("rows_exact") = setup.info.rows_exact, py::arg("model") = spec.model,
                  py::arg("formula") = setup.model->formula(), py::arg("params") = setup.model->param_names(),
                  py::arg("free_params") = setup.free_params, py::arg("mode") = std::string(to_string(plan.mode)),
                  py::arg("chunk_rows") = plan.chunk_rows, py::arg("threads") = plan.threads,
                  py::arg("predicted_peak_bytes") = plan.predicted_peak_bytes,
                  py::arg("memory_limit_bytes") = plan.memory_limit_bytes,
                  py::arg("memory_limit_source") = setup.limit_source, py::arg("subsample") = plan.subsample,
                  py::arg("subsample_rows") = plan.subsample_rows, py::arg("expected_passes") = plan.expected_passes,
                  py::arg("modes") = modes, py::arg("reasons") = plan.reasons,
                  py::arg("selection") = setup.data_options.selection ? py::object(py::str(setup.data_options.selection->text))
                                                                      : py::object(py::none()));
}

py::list models_list() {
  py::list out;
  for (const ModelInfo& m : model_library()) {
    py::list bounds;
    for (const ParamBounds& b : m.bounds) bounds.append(py::make_tuple(b.lower, b.upper));
    out.append(py::dict(py::arg("name") = m.name, py::arg("formula") = m.formula, py::arg("params") = m.param_names,
                        py::arg("num_predictors") = m.num_predictors, py::arg("example") = m.example,
                        py::arg("bounds") = bounds, py::arg("x_range") = py::make_tuple(m.x_min, m.x_max),
                        py::arg("description") = m.description));
  }
  return out;
}

py::dict memory_dict() {
  const MemorySnapshot s = SystemProbe().snapshot();
  return py::dict(py::arg("total_bytes") = s.total_bytes, py::arg("available_bytes") = s.available_bytes,
                  py::arg("limit_bytes") = s.limit_bytes, py::arg("limit_source") = s.limit_source,
                  py::arg("process_rss_bytes") = s.process_rss_bytes,
                  py::arg("process_peak_bytes") = s.process_peak_bytes, py::arg("notes") = s.notes);
}

// `curvefit generate`: points of a model with known parameters (default: the built-in's example).
void generate(const std::string& path, const std::string& model_text, const std::string& points,
              const std::string& params, double noise, std::uint64_t seed, std::optional<std::pair<double, double>> x_range) {
  const std::unique_ptr<Model> model = make_model(model_text);
  const ModelInfo* info = find_model(model_text);
  GenerateSpec spec;
  spec.points = parse_point_count(points);
  spec.params = parse_parameter_values(params, model->param_names(), info ? info->example : std::vector<double>{});
  if (!(noise >= 0)) throw UsageError("noise: must be >= 0");
  spec.noise_sd = noise;
  spec.seed = seed;
  if (x_range) {
    std::tie(spec.x_min, spec.x_max) = *x_range;
  } else if (info) {
    spec.x_min = info->x_min;
    spec.x_max = info->x_max;
  }
  spec.model_label = model_text;
  output_format_for(path);
  py::gil_scoped_release release;
  generate_data(*model, spec, path);
}

py::dict model_info(const std::string& model_text, const std::vector<std::string>& x_names) {
  const std::unique_ptr<Model> model = make_model(model_text, formula_predictor_names(model_text, x_names));
  return py::dict(py::arg("params") = model->param_names(), py::arg("num_predictors") = model->num_predictors(),
                  py::arg("formula") = model->formula(), py::arg("builtin") = find_model(model_text) != nullptr);
}

void register_exceptions(py::module_& m) {
  static py::exception<DataError> data_error(m, "DataError", PyExc_ValueError);
  static py::exception<ModelError> model_error(m, "ModelError", PyExc_ValueError);
  static py::exception<MemoryError> memory_error(m, "MemoryError", PyExc_MemoryError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const UsageError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const DataError& e) {
      data_error(e.what());
    } catch (const ModelError& e) {
      model_error(e.what());
    } catch (const MemoryError& e) {
      memory_error(e.what());
    } catch (const std::bad_alloc&) {
      memory_error("out of memory");
    } catch (const IoError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    }
  });
}

}  // namespace

PYBIND11_MODULE(_curvefit, m) {
  m.doc() = "The native engine of curvefit (use the curvefit package, not this module)";
  m.attr("__version__") = version();
  register_exceptions(m);
  py::class_<NativeResult>(m, "NativeResult")
      .def_property_readonly("names", [](const NativeResult& r) { return r.result.names; })
      .def_property_readonly("params", [](const NativeResult& r) { return r.result.params; })
      .def_property_readonly("stderr", [](const NativeResult& r) { return r.result.stderr_; })
      .def_property_readonly("fixed", [](const NativeResult& r) { return r.result.fixed; })
      .def_property_readonly("covariance", [](const NativeResult& r) { return r.result.covariance; })
      .def_property_readonly("correlation", [](const NativeResult& r) { return r.result.correlation; })
      .def_property_readonly("status", [](const NativeResult& r) { return status_name(r.result.status); })
      .def_property_readonly("status_code", [](const NativeResult& r) { return static_cast<int>(r.result.status); })
      .def_property_readonly("message", [](const NativeResult& r) { return r.result.message; })
      .def_property_readonly("success", [](const NativeResult& r) { return r.result.success; })
      .def_property_readonly("nfev", [](const NativeResult& r) { return r.result.nfev; })
      .def_property_readonly("njev", [](const NativeResult& r) { return r.result.njev; })
      .def_property_readonly("num_predictors", [](const NativeResult& r) { return r.model->num_predictors(); })
      .def_property_readonly("function_calls", [](const NativeResult& r) {
        const auto* model = dynamic_cast<const PythonModel*>(r.model.get());
        return model ? model->function_calls() : 0L;
      })
      .def("report", [](const NativeResult& r) { return format_report(r.result); })
      .def("json", [](const NativeResult& r) { return report_json(r.result, json_run_info(r.result)).dump(); })
      .def("evaluate", &evaluate)
      .def("eval_uncertainty", &eval_uncertainty);
  m.def("fit", &run_fit, "Fits as `curvefit fit` does, from a dict of options");
  m.def("plan", &plan_dict, "Plans as `curvefit plan` does, from a dict of options");
  m.def("models", &models_list, "The built-in models");
  m.def("memory", &memory_dict, "What memory this process may use");
  m.def("model_info", &model_info, py::arg("model"), py::arg("x_names") = std::vector<std::string>{});
  m.def("generate", &generate, py::arg("path"), py::arg("model"), py::arg("points"), py::arg("params") = "",
        py::arg("noise") = 0.0, py::arg("seed") = 1, py::arg("x_range") = py::none());
}

}  // namespace curvefit::python
