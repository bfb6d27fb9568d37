#include "core/output/report.h"

#include <boost/math/distributions/students_t.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "core/engine/profile.h"
#include "core/output/report_format.h"
#include "core/output/report_search.h"
#include "core/version.h"
#include "memory/size.h"

namespace curvefit {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string fmt(const char* format, double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, v);
  return buffer;
}
using report_format::g;
using report_format::number;

// Beyond this ratio of standard error to |value| the value is indistinguishable from zero and a
// percentage says nothing (it would print as 40 digits).
constexpr double kLargestRelativeError = 1e3;

// " (1.83%)", or " (n/a)" for a value near zero.
std::string relative_error(double value, double se) {
  const double relative = se / std::abs(value);
  if (!(relative <= kLargestRelativeError)) return " (n/a: value near zero)";
  return " (" + fmt("%.2f", 100.0 * relative) + "%)";
}

// What the standard errors are scaled by. A robust loss weights the Jacobian's rows (as in
// scipy's least_squares) and, without absolute sigma, scales by its own cost per degree of freedom.
std::string covariance_basis(const FitSettings& used) {
  if (used.covariance != CovarianceKind::standard)
    return std::string("standard errors from the ") + (used.covariance == CovarianceKind::hc1 ? "HC1" : "HC0") +
           " sandwich: heteroscedasticity-consistent, sigma's scale not assumed";
  if (used.loss == Loss::linear)
    return used.absolute_sigma ? "standard errors from absolute sigma" : "standard errors scaled by reduced chi-square";
  const std::string weighted = "Jacobian rows weighted by the loss";
  if (used.absolute_sigma) return "standard errors from absolute sigma, " + weighted;
  return "standard errors scaled by sum rho(r^2) / dof of the " + std::string(to_string(used.loss)) +
         " loss, not by reduced chi-square; " + weighted;
}

// Why a parameter has no finite standard error.
std::string undetermined_reason(const FitResult& r) {
  if (r.dof <= 0) return " +/- undetermined (no degrees of freedom: " + std::to_string(r.n_points) +
                         " points for " + std::to_string(r.n_free) + " free parameters)";
  return " +/- undetermined (the data do not constrain it)";
}
}  // namespace

std::string status_name(Status status) {
  switch (status) {
    case Status::gtol:
    case Status::ftol:
    case Status::xtol:
    case Status::ftol_and_xtol: return "converged";
    case Status::max_evaluations: return "max_evaluations";
    case Status::interrupted: return "interrupted";
    case Status::failed: return "failed";
  }
  return "failed";
}

double t_quantile_975(long dof) {
  if (dof <= 0) return kNaN;
  boost::math::students_t distribution(static_cast<double>(dof));
  return boost::math::quantile(distribution, 0.975);
}

namespace {

// "jac", one scale per parameter, or 1 (every parameter).
nlohmann::ordered_json x_scale_json(const FitSettings& used) {
  if (used.x_scale_jac) return "jac";
  if (used.x_scale.size() == 0) return 1.0;
  return std::vector<double>(used.x_scale.begin(), used.x_scale.end());
}

// The settings the report does not show elsewhere (FitResult::used).
nlohmann::ordered_json settings_json(const FitSettings& used) {
  return {{"init_source", used.init_source},
          {"ftol", number(used.ftol)},
          {"xtol", number(used.xtol)},
          {"gtol", number(used.gtol)},
          {"max_nfev", used.max_nfev},
          {"x_scale", x_scale_json(used)},
          {"memory_limit_source", used.memory_limit_source}};
}

// The whole command's time when the front end measured it, else reading and fitting.
double wall_time(const FitResult& r, const RunInfo& run) {
  return run.time_s > 0 ? run.time_s : r.used.read_s + r.used.fit_s;
}

// Across ranks, by rank: its rows and the files it read whole or shared (null for one process).
nlohmann::json rank_rows_json(const FitResult& r) {
  if (r.rank_rows.empty()) return nullptr;
  nlohmann::json out = nlohmann::json::array();
  for (const FitResult::RankRows& rank : r.rank_rows)
    out.push_back({{"rows", rank.rows}, {"whole_files", rank.whole_files}, {"shared_files", rank.shared_files}});
  return out;
}

// [[Execution]]: mode, memory, time, and the notes of the fit and of the front end.
void append_execution(std::ostringstream& out, const FitResult& r, const RunInfo& run) {
  out << "[[Execution]]\n";
  out << "    mode               = " << to_string(r.mode);
  if (r.mode != FitMode::memory) out << ", chunks of " << r.chunk_rows << " rows";
  out << ", " << r.threads << (r.threads == 1 ? " thread" : " threads");
  if (r.ranks > 1) out << " on each of " << r.ranks << " MPI ranks (memory: rank 0's)";
  out << "\n";
  if (r.ranks > 1 && r.files > 1) {
    std::size_t whole = 0;
    for (const FitResult::RankRows& rank : r.rank_rows) whole += rank.whole_files;
    out << "    files              = " << whole << " of " << r.files << " read whole by one rank each";
    if (whole < r.files) out << ", " << r.files - whole << " shared among ranks";
    out << "\n";
  }
  out << "    memory             = limit " << format_size(r.used.memory_limit_bytes) << ", predicted peak "
      << format_size(r.used.predicted_peak_bytes) << ", measured peak RSS " << format_size(r.used.peak_rss_bytes)
      << "\n";
  out << "    wall time          = " << fmt("%.3g", wall_time(r, run)) << " s (reading the data "
      << fmt("%.3g", r.used.read_s) << " s, fit " << fmt("%.3g", r.used.fit_s) << " s, outputs "
      << fmt("%.3g", run.output_s) << " s)\n";
  for (const auto& note : r.used.notes) out << "    note: " << note << "\n";
  for (const auto& note : run.notes) out << "    note: " << note << "\n";
}

// One line per parameter (fixed and tied ones marked), with its error and 95% interval.
void append_variables(std::ostream& out, const FitResult& r, double t) {
  out << "[[Variables]] (" << covariance_basis(r.used) << ")\n";
  std::size_t width = 0;
  for (const auto& name : r.names) width = std::max(width, name.size());
  for (const auto& tied : r.tied) width = std::max(width, tied.name.size());
  for (std::size_t j = 0; j < r.names.size(); ++j) {
    const auto J = static_cast<Eigen::Index>(j);
    out << "    " << r.names[j] << ":" << std::string(width - r.names[j].size() + 1, ' ');
    out << g(r.params[J], 10);
    if (r.fixed.size() > j && r.fixed[j]) {
      out << " (fixed)\n";
      continue;
    }
    const double se = r.stderr_.size() > J ? r.stderr_[J] : kNaN;
    if (!std::isfinite(se)) {
      out << undetermined_reason(r);
    } else {
      out << " +/- " << g(se, 6) << relative_error(r.params[J], se);
      if (std::isfinite(t))
        out << "  95% CI [" << g(r.params[J] - t * se, 8) << ", " << g(r.params[J] + t * se, 8) << "]";
    }
    if (r.used.init.size() > J) out << "  (init = " << g(r.used.init[J], 6) << ")";
    if (r.active_mask.size() > J && r.active_mask[J] != 0)
      out << (r.active_mask[J] < 0 ? "  at lower bound" : "  at upper bound");
    out << "\n";
  }
  for (const TiedParameter& tied : r.tied) {
    out << "    " << tied.name << ":" << std::string(width - tied.name.size() + 1, ' ') << g(tied.value, 10);
    if (std::isfinite(tied.stderr_)) out << " +/- " << g(tied.stderr_, 6) << relative_error(tied.value, tied.stderr_);
    else out << " +/- (undetermined)";
    out << "  (tied: " << tied.expression << ")\n";
  }
}

void append_correlations(std::ostream& out, const FitResult& r) {
  // Correlations above 0.5 in magnitude, largest first.
  std::vector<std::tuple<double, std::size_t, std::size_t>> strong;
  for (Eigen::Index i = 0; i < r.correlation.rows(); ++i)
    for (Eigen::Index k = i + 1; k < r.correlation.cols(); ++k)
      if (std::abs(r.correlation(i, k)) > 0.5)
        strong.emplace_back(r.correlation(i, k), static_cast<std::size_t>(i), static_cast<std::size_t>(k));
  std::sort(strong.begin(), strong.end(),
            [](const auto& a, const auto& b) { return std::abs(std::get<0>(a)) > std::abs(std::get<0>(b)); });
  if (!strong.empty()) {
    out << "[[Correlations]] (|correlation| > 0.5)\n";
    for (const auto& [c, i, k] : strong)
      out << "    C(" << r.names[i] << ", " << r.names[k] << ") = " << fmt("%+.4f", c) << "\n";
  }
}

}  // namespace

namespace {

// "-0.0123/+0.0150" of an interval's ends from the value, or "bound"/"inf" where it was cut.
std::string profile_end(const ProfileBound& end, double value) {
  if (end.found == "not reached") return end.value < 0 ? "-inf" : "+inf";
  return fmt("%+.4g", end.value - value) + (end.found == "bound" ? " (bound)" : "");
}

// --ci profile: per parameter and level, the interval and its asymmetric ends.
void append_profile(std::ostringstream& out, const FitResult& r) {
  const ProfileResult& p = r.profile;
  if (!p.computed) return;
  out << "[[Profile Confidence Intervals]] (" << (p.rule == ProfileRule::f_test ? "F-test, as lmfit's conf_interval" : "chi-square rule")
      << "; " << p.refits << " refits, " << p.passes << " passes, " << fmt("%.3g", p.seconds) << " s)\n";
  std::size_t width = 0;
  for (const auto& name : r.names) width = std::max(width, name.size());
  for (std::size_t j = 0; j < r.names.size(); ++j) {
    if (p.intervals[j].empty()) continue;
    const double value = r.params[static_cast<Eigen::Index>(j)];
    out << "    " << r.names[j] << ":" << std::string(width - r.names[j].size() + 1, ' ');
    for (const ProfileInterval& i : p.intervals[j])
      out << "  " << fmt("%.2f", 100 * i.level) << "% [" << g(i.lower.value, 8) << ", " << g(i.upper.value, 8) << "] ("
          << profile_end(i.lower, value) << "/" << profile_end(i.upper, value) << ")";
    out << "\n";
  }
}

}  // namespace

std::string format_report(const FitResult& r, const RunInfo& run) {
  std::ostringstream out;
  const double t = t_quantile_975(r.dof);
  append_models(out, r);
  out << "[[Model]]\n";
  out << "    " << r.used.model;
  if (r.used.formula != r.used.model) out << ": y = " << r.used.formula;
  out << "\n    data: " << r.used.data << "\n";
  if (!r.used.y_column.empty()) {
    out << "    columns: x = ";
    for (std::size_t k = 0; k < r.used.x_columns.size(); ++k) out << (k ? ", " : "") << r.used.x_columns[k];
    out << "; y = " << r.used.y_column;
    if (r.used.sigma_is_weight)
      out << "; weights = " << r.used.sigma_column << " (sigma = 1/sqrt(w))\n";
    else
      out << "; sigma = " << (r.used.sigma_column.empty() ? "none" : r.used.sigma_column) << "\n";
  }
  out << "[[Fit Statistics]]\n";
  out << "    status             = " << status_name(r.status) << ": " << r.message << "\n";
  out << "    method             = " << to_string(r.method);
  if (r.used.loss != Loss::linear)
    out << ", loss " << to_string(r.used.loss) << " (f_scale " << g(r.used.f_scale) << ")";
  out << "\n";
  out << "    iterations         = " << r.iterations << "\n";
  out << "    function evals     = " << r.nfev << " (Jacobian evals " << r.njev << ")\n";
  out << "    full data passes   = " << r.passes;
  if (r.subsample_rows > 0)
    out << " (after a fit on a subsample of " << r.subsample_rows << " rows, " << r.subsample_nfev << " evals)";
  out << "\n";
  out << "    data points        = " << r.n_points;
  if (!r.used.selection.empty()) out << " of " << r.used.rows_total << " rows, selected by " << r.used.selection;
  out << "\n";
  out << "    variables          = " << r.n_free;
  if (static_cast<std::size_t>(r.n_free) != r.names.size()) out << " free of " << r.names.size();
  out << "\n";
  out << "    degrees of freedom = " << r.dof << "\n";
  out << "    chi-square         = " << g(r.chi2) << (r.used.has_sigma ? " (weighted by 1/sigma^2)" : "") << "\n";
  out << "    reduced chi-square = " << g(r.reduced_chi2) << "\n";
  // R-squared and RMSE are of the raw residuals fit - y, whatever sigma says.
  const char* unweighted = r.used.has_sigma ? " (unweighted)" : "";
  out << "    R-squared          = " << g(r.r_squared, 10) << unweighted << "\n";
  out << "    RMSE               = " << g(r.rmse) << unweighted << "\n";
  out << "    Akaike info crit   = " << g(r.aic) << "\n";
  out << "    Bayesian info crit = " << g(r.bic) << "\n";
  out << "    optimality         = " << g(r.optimality, 3) << "\n";
  for (const auto& warning : r.warnings) out << "    warning: " << warning << "\n";
  append_starts(out, r);

  append_variables(out, r, t);
  append_correlations(out, r);
  append_profile(out, r);
  append_execution(out, r, run);
  return out.str();
}

namespace {

// One entry per parameter: value, standard error, 95% interval, start used, bounds, active.
nlohmann::ordered_json params_json(const FitResult& r) {
  using json = nlohmann::ordered_json;
  const double t = t_quantile_975(r.dof);
  json params = json::array();
  for (std::size_t j = 0; j < r.names.size(); ++j) {
    const auto J = static_cast<Eigen::Index>(j);
    const double se = r.stderr_.size() > J ? r.stderr_[J] : kNaN;
    const bool fixed = r.fixed.size() > j && r.fixed[j];
    json p = {{"name", r.names[j]}, {"value", number(r.params[J])}, {"stderr", number(se)}, {"fixed", fixed}};
    if (!fixed && std::isfinite(se) && std::isfinite(t))
      p["ci95"] = {number(r.params[J] - t * se), number(r.params[J] + t * se)};
    else
      p["ci95"] = nullptr;
    if (r.used.init.size() > J) p["init"] = number(r.used.init[J]);
    if (r.used.lower.size() > J) p["bounds"] = {number(r.used.lower[J]), number(r.used.upper[J])};  // null: none
    if (r.active_mask.size() > J) p["active"] = r.active_mask[J];
    p["tied"] = nullptr;
    params.push_back(std::move(p));
  }
  // Tied parameters follow the model's: not free, their expression under "tied".
  for (const TiedParameter& tied : r.tied) {
    json p = {{"name", tied.name}, {"value", number(tied.value)}, {"stderr", number(tied.stderr_)}, {"fixed", false}};
    if (std::isfinite(tied.stderr_) && std::isfinite(t))
      p["ci95"] = {number(tied.value - t * tied.stderr_), number(tied.value + t * tied.stderr_)};
    else
      p["ci95"] = nullptr;
    p["tied"] = tied.expression;
    params.push_back(std::move(p));
  }
  return params;
}

// --ci profile: the rule and cost, and per parameter name its intervals (null when not asked).
nlohmann::ordered_json profile_json(const FitResult& r) {
  using json = nlohmann::ordered_json;
  const ProfileResult& p = r.profile;
  if (!p.computed) return nullptr;
  json params = json::object();
  for (std::size_t j = 0; j < r.names.size(); ++j) {
    if (p.intervals[j].empty()) continue;
    json intervals = json::array();
    for (const ProfileInterval& i : p.intervals[j])
      intervals.push_back({{"level", i.level}, {"lower", number(i.lower.value)}, {"upper", number(i.upper.value)},
                           {"lower_found", i.lower.found}, {"upper_found", i.upper.found}});
    params[r.names[j]] = std::move(intervals);
  }
  return {{"rule", to_string(p.rule)}, {"levels", p.levels}, {"refits", p.refits},
          {"passes", p.passes}, {"time_s", p.seconds}, {"params", std::move(params)}};
}

nlohmann::ordered_json matrix_json(const Eigen::MatrixXd& m) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    nlohmann::ordered_json row = nlohmann::ordered_json::array();
    for (Eigen::Index k = 0; k < m.cols(); ++k) row.push_back(number(m(i, k)));
    rows.push_back(std::move(row));
  }
  return rows;
}

nlohmann::ordered_json history_json(const FitResult& r) {
  nlohmann::ordered_json history = nlohmann::ordered_json::array();
  for (const auto& h : r.history)
    history.push_back({{"iteration", h.iteration}, {"cost", number(h.cost)}, {"cost_change", number(h.cost_change)},
                       {"step_norm", number(h.step_norm)}, {"optimality", number(h.optimality)},
                       {"radius", number(h.radius)}, {"nfev", h.nfev}, {"njev", h.njev}});
  return history;
}

}  // namespace

nlohmann::ordered_json report_json(const FitResult& r, const RunInfo& run) {
  using json = nlohmann::ordered_json;
  std::vector<std::string> notes = r.used.notes;
  notes.insert(notes.end(), run.notes.begin(), run.notes.end());
  json report = json{
      {"curvefit_version", version()},
      {"status", status_name(r.status)},
      {"success", r.success},
      {"message", r.message},
      {"method", std::string(to_string(r.method))},
      {"mode", std::string(to_string(r.mode))},
      {"model", r.used.model},
      {"formula", r.used.formula},
      {"data", r.used.data},
      {"columns", json{{"x", r.used.x_columns},
                       {"y", r.used.y_column},
                       {"sigma", r.used.sigma_column.empty() || r.used.sigma_is_weight ? json(nullptr)
                                                                                        : json(r.used.sigma_column)},
                       {"weights", r.used.sigma_is_weight ? json(r.used.sigma_column) : json(nullptr)}}},
      {"loss", std::string(to_string(r.used.loss))},
      {"f_scale", number(r.used.f_scale)},
      {"absolute_sigma", r.used.absolute_sigma},
      {"covariance_kind", to_string(r.used.covariance)},
      {"params", params_json(r)},
      {"covariance", matrix_json(r.covariance)},
      {"correlation", matrix_json(r.correlation)},
      {"profile", profile_json(r)},
      {"cost", number(r.cost)},
      {"chi2", number(r.chi2)},
      {"reduced_chi2", number(r.reduced_chi2)},
      {"r_squared", number(r.r_squared)},
      {"rmse", number(r.rmse)},
      {"aic", number(r.aic)},
      {"bic", number(r.bic)},
      {"dof", r.dof},
      {"n_points", r.n_points},
      {"rows_used", r.n_points},
      {"rows_total", r.used.rows_total > 0 ? r.used.rows_total : static_cast<std::size_t>(r.n_points)},
      {"selection", r.used.selection.empty() ? json(nullptr) : json(r.used.selection)},
      {"n_free", r.n_free},
      {"nfev", r.nfev},
      {"njev", r.njev},
      {"iterations", r.iterations},
      {"passes", r.passes},
      {"subsample_rows", r.subsample_rows},
      {"optimality", number(r.optimality)},
      {"chunk_rows", r.chunk_rows},
      {"threads", r.threads},
      {"ranks", r.ranks},
      {"rank_rows", rank_rows_json(r)},
      {"exchange",
       {{"count", r.exchanges},
        {"seconds", r.exchange_s},
        {"fastest_seconds", r.fastest_exchange_s},
        {"bytes_sent", r.exchange_bytes}}},
      {"memory",
       {{"limit_bytes", r.used.memory_limit_bytes},
        {"predicted_peak_bytes", r.used.predicted_peak_bytes},
        {"peak_rss_bytes", r.used.peak_rss_bytes}}},
      {"time_s", wall_time(r, run)},
      {"timing", {{"read_s", r.used.read_s}, {"fit_s", r.used.fit_s}, {"output_s", run.output_s}}},
      {"warnings", r.warnings},
      {"history", history_json(r)},
      {"settings", settings_json(r.used)},
      {"notes", notes},
  };
  if (r.starts.count > 1) report["starts"] = starts_json(r);
  if (r.models.size() > 1) report["models"] = models_json(r);
  return report;
}

}  // namespace curvefit
