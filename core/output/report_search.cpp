#include "core/output/report_search.h"

#include <cmath>
#include <cstdio>
#include <string>

#include "core/output/report.h"
#include "core/output/report_format.h"

namespace curvefit {

namespace {

using report_format::g;
using report_format::number;

nlohmann::ordered_json named(const std::vector<std::string>& names, const Eigen::VectorXd& values) {
  nlohmann::ordered_json object = nlohmann::ordered_json::object();
  for (std::size_t j = 0; j < names.size() && static_cast<Eigen::Index>(j) < values.size(); ++j)
    object[names[j]] = number(values[static_cast<Eigen::Index>(j)]);
  return object;
}

}  // namespace

void append_starts(std::ostream& out, const FitResult& r) {
  const StartsSummary& s = r.starts;
  if (s.count <= 1 || s.runs.empty()) return;
  out << "[[Starts]]\n";
  out << "    starts             = " << s.count << " (" << s.design << ")\n";
  out << "    best               = start " << s.best << "\n";
  out << "    shared passes      = " << s.passes << " (the starts one by one: " << s.separate_passes << "; "
      << s.concurrency << " at a time)\n";
  out << "    distinct minima    = " << s.minima.size() << "\n";
  for (std::size_t k = 0; k < s.minima.size(); ++k) {
    const Minimum& m = s.minima[k];
    out << "    #" << k + 1 << "  cost " << g(m.cost) << ", " << m.starts.size() << " start" << (m.starts.size() == 1 ? "" : "s")
        << ", " << status_name(m.status) << ":";
    for (std::size_t j = 0; j < r.names.size() && static_cast<Eigen::Index>(j) < m.params.size(); ++j)
      out << " " << r.names[j] << "=" << g(m.params[static_cast<Eigen::Index>(j)], 7);
    out << "\n";
  }
  int failed = 0;
  for (const StartRun& run : s.runs) failed += run.minimum < 0 ? 1 : 0;
  if (failed > 0) out << "    failed starts      = " << failed << "\n";
}

void append_models(std::ostream& out, const FitResult& r) {
  if (r.models.size() <= 1) return;
  char line[400];
  out << "[[Model Comparison]] (ranked by AIC; the report below is the best model's)\n";
  std::snprintf(line, sizeof line, "    %-4s %-24s %5s %14s %14s %14s %14s %12s  %s\n", "rank", "model", "nvars", "AIC",
                "BIC", "chi-square", "reduced chi2", "R-squared", "status");
  out << line;
  for (std::size_t k = 0; k < r.models.size(); ++k) {
    const ModelComparison& m = r.models[k];
    std::snprintf(line, sizeof line, "    %-4zu %-24s %5d %14s %14s %14s %14s %12s  %s\n", k + 1, m.model.c_str(), m.n_free,
                  g(m.aic, 9).c_str(), g(m.bic, 9).c_str(), g(m.chi2, 9).c_str(), g(m.reduced_chi2, 9).c_str(),
                  g(m.r_squared, 7).c_str(), status_name(m.status).c_str());
    out << line;
  }
}

nlohmann::ordered_json starts_json(const FitResult& r) {
  using json = nlohmann::ordered_json;
  const StartsSummary& s = r.starts;
  if (s.count <= 1 || s.runs.empty()) return nullptr;
  json minima = json::array();
  for (const Minimum& m : s.minima)
    minima.push_back({{"cost", number(m.cost)},
                      {"count", m.starts.size()},
                      {"starts", m.starts},
                      {"status", status_name(m.status)},
                      {"params", named(r.names, m.params)}});
  json runs = json::array();
  for (const StartRun& run : s.runs)
    runs.push_back({{"start", run.start},
                    {"init", named(r.names, run.init)},
                    {"params", named(r.names, run.params)},
                    {"cost", number(run.cost)},
                    {"status", status_name(run.status)},
                    {"message", run.message},
                    {"nfev", run.nfev},
                    {"passes", run.passes},
                    {"minimum", run.minimum < 0 ? json(nullptr) : json(run.minimum)}});
  return json{{"count", s.count},
              {"seed", s.seed},
              {"design", s.design},
              {"concurrency", s.concurrency},
              {"best", s.best},
              {"passes", s.passes},
              {"separate_passes", s.separate_passes},
              {"minima", std::move(minima)},
              {"runs", std::move(runs)}};
}

nlohmann::ordered_json models_json(const FitResult& r) {
  using json = nlohmann::ordered_json;
  if (r.models.size() <= 1) return nullptr;
  json models = json::array();
  for (std::size_t k = 0; k < r.models.size(); ++k) {
    const ModelComparison& m = r.models[k];
    models.push_back({{"rank", k + 1},
                      {"model", m.model},
                      {"formula", m.formula},
                      {"n_free", m.n_free},
                      {"aic", number(m.aic)},
                      {"bic", number(m.bic)},
                      {"chi2", number(m.chi2)},
                      {"reduced_chi2", number(m.reduced_chi2)},
                      {"r_squared", number(m.r_squared)},
                      {"cost", number(m.cost)},
                      {"status", status_name(m.status)},
                      {"passes_alone", m.passes}});
  }
  return models;
}

}  // namespace curvefit
