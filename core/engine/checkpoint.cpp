#include "core/engine/checkpoint.h"

#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/engine/fit.h"
#include "core/errors.h"
#include "core/version.h"

namespace curvefit {

namespace {

constexpr std::size_t kIdentityBlockBytes = 64 * 1024;

// FNV-1a, 64 bits, continued over `bytes`.
std::uint64_t fnv1a(std::uint64_t hash, const char* bytes, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    hash ^= static_cast<unsigned char>(bytes[i]);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

double number_from(const nlohmann::json& text) { return exact_value(text.get<std::string>()); }

std::string vector_text(const Eigen::VectorXd& v) {
  std::string text;
  for (Eigen::Index i = 0; i < v.size(); ++i) text += (i ? "," : "") + exact_text(v[i]);
  return text.empty() ? "none" : text;
}

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (std::size_t i = 0; i < items.size(); ++i) text += (i ? "," : "") + items[i];
  return text;
}

std::string x_scale_text(const SolverOptions& solver) {
  if (solver.x_scale.size()) return vector_text(solver.x_scale);
  return uses_jacobian_scaling(solver) ? "jac" : "the method's default";
}

nlohmann::json vector_json(const Eigen::VectorXd& v) {
  nlohmann::json array = nlohmann::json::array();
  for (Eigen::Index i = 0; i < v.size(); ++i) array.push_back(exact_text(v[i]));
  return array;
}

Eigen::VectorXd vector_from(const nlohmann::json& array) {
  Eigen::VectorXd v(static_cast<Eigen::Index>(array.size()));
  for (std::size_t i = 0; i < array.size(); ++i) v[static_cast<Eigen::Index>(i)] = number_from(array[i]);
  return v;
}

nlohmann::json history_json(const std::vector<IterationInfo>& history) {
  nlohmann::json rows = nlohmann::json::array();
  for (const IterationInfo& h : history)
    rows.push_back({h.iteration, exact_text(h.cost), exact_text(h.cost_change), exact_text(h.step_norm),
                    exact_text(h.optimality), exact_text(h.radius), h.nfev, h.njev});
  return rows;
}

std::vector<IterationInfo> history_from(const nlohmann::json& rows) {
  std::vector<IterationInfo> history;
  for (const nlohmann::json& r : rows)
    history.push_back({r.at(0).get<int>(), number_from(r.at(1)), number_from(r.at(2)), number_from(r.at(3)),
                       number_from(r.at(4)), number_from(r.at(5)), r.at(6).get<int>(), r.at(7).get<int>()});
  return history;
}

nlohmann::json solver_json(const SolverState& s) {
  nlohmann::json scalars = nlohmann::json::object(), vectors = nlohmann::json::object();
  for (const auto& [name, value] : s.scalars) scalars[name] = exact_text(value);
  for (const auto& [name, value] : s.vectors) vectors[name] = vector_json(value);
  return {{"start", vector_json(s.start)},
          {"x", vector_json(s.x)},
          {"cost", exact_text(s.cost)},
          {"iteration", s.iteration},
          {"nfev", s.nfev},
          {"njev", s.njev},
          {"status", s.status ? nlohmann::json(static_cast<int>(*s.status)) : nlohmann::json(nullptr)},
          {"history", history_json(s.history)},
          {"scalars", scalars},
          {"vectors", vectors}};
}

SolverState solver_from(const nlohmann::json& j) {
  SolverState s;
  s.start = vector_from(j.at("start"));
  s.x = vector_from(j.at("x"));
  s.cost = number_from(j.at("cost"));
  s.iteration = j.at("iteration").get<int>();
  s.nfev = j.at("nfev").get<int>();
  s.njev = j.at("njev").get<int>();
  if (!j.at("status").is_null()) s.status = static_cast<Status>(j.at("status").get<int>());
  s.history = history_from(j.at("history"));
  for (const auto& [name, value] : j.at("scalars").items()) s.scalars[name] = number_from(value);
  for (const auto& [name, value] : j.at("vectors").items()) s.vectors[name] = vector_from(value);
  return s;
}

constexpr const char* kFormat = "curvefit checkpoint 1";

}  // namespace

std::string exact_text(double value) {
  char buffer[40];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  (void)error;  // 40 characters hold any double
  return std::string(buffer, end);
}

double exact_value(const std::string& text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size())
    throw std::runtime_error("not a number: \"" + text + "\"");
  return value;
}

Fingerprint data_identity(const std::string& path) {
  struct stat info {};
  std::ifstream in(path, std::ios::binary);
  if (::stat(path.c_str(), &info) != 0 || !in) throw IoError(path + ": cannot read: " + std::strerror(errno));
  const auto size = static_cast<std::size_t>(info.st_size);
  std::vector<char> block(std::min(size, kIdentityBlockBytes));
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  in.read(block.data(), static_cast<std::streamsize>(block.size()));
  hash = fnv1a(hash, block.data(), static_cast<std::size_t>(in.gcount()));
  in.seekg(static_cast<std::streamoff>(size - block.size()));
  in.read(block.data(), static_cast<std::streamsize>(block.size()));
  hash = fnv1a(hash, block.data(), static_cast<std::size_t>(in.gcount()));
  char hex[20];
  std::snprintf(hex, sizeof hex, "%016" PRIx64, hash);
  const long long mtime_ns = static_cast<long long>(info.st_mtim.tv_sec) * 1'000'000'000LL + info.st_mtim.tv_nsec;
  return {{"data file", std::filesystem::absolute(path).lexically_normal().string()},
          {"data size", std::to_string(size)},
          {"data modification time (ns)", std::to_string(mtime_ns)},
          {"hash of the data's first and last 64 KiB (FNV-1a)", hex}};
}

Fingerprint problem_fingerprint(const FitRequest& request, std::size_t chunk_rows, const std::string& trial_jacobians) {
  Fingerprint f;
  const std::string& data = request.settings.data;
  struct stat info {};
  if (!data.empty() && ::stat(data.c_str(), &info) == 0 && S_ISREG(info.st_mode))
    f = data_identity(data);
  else
    f.push_back({"data", data.empty() ? request.data->description() : data});
  const SolverOptions& s = request.solver;
  std::vector<std::string> fixed;
  for (bool flag : request.fixed) fixed.push_back(flag ? "fixed" : "free");
  f.insert(f.end(), {{"curvefit version", version()},
                     {"rows", std::to_string(request.data->rows())},
                     {"columns", join(request.data->column_names())},
                     {"rows selected by", request.settings.selection.empty() ? "every row" : request.settings.selection},
                     {"sigma column holds", request.sigma_is_weight ? "weights 1/sigma^2" : "sigma"},
                     {"model", request.settings.model},
                     {"formula", request.model->formula()},
                     {"method", std::string(to_string(s.method))},
                     {"loss", std::string(to_string(request.loss))},
                     {"f_scale", exact_text(request.f_scale)},
                     {"ftol", exact_text(s.ftol)},
                     {"xtol", exact_text(s.xtol)},
                     {"gtol", exact_text(s.gtol)},
                     {"max_nfev", std::to_string(s.max_nfev)},
                     {"x_scale", x_scale_text(s)},
                     {"lower bounds", vector_text(s.lower)},
                     {"upper bounds", vector_text(s.upper)},
                     {"fixed parameters", fixed.empty() ? "none" : join(fixed)},
                     {"p0", vector_text(request.p0)},
                     {"absolute_sigma", request.absolute_sigma ? "yes" : "no"},
                     {"covariance rcond", exact_text(s.covariance_rcond)},
                     {"lm initial radius factor", exact_text(s.initial_radius_factor)},
                     {"dogbox radius rule", std::to_string(static_cast<int>(s.dogbox_radius_rule))},
                     {"subsample stride", std::to_string(request.plan.subsample ? request.plan.subsample_stride : 1)},
                     {"chunk rows", std::to_string(chunk_rows)},
                     {"Jacobian evaluated at trial points", trial_jacobians}});
  return f;
}

void check_same_problem(const Fingerprint& saved, const Fingerprint& current, const std::string& file) {
  for (const FingerprintEntry& now : current) {
    std::string was = "(not recorded)";
    for (const FingerprintEntry& entry : saved)
      if (entry.name == now.name) was = entry.value;
    if (was != now.value)
      throw UsageError(file + ": the checkpoint is of another problem: " + now.name + " is " + was +
                       " there, " + now.value + " here");
  }
}

nlohmann::json checkpoint_to_json(const FitCheckpoint& c) {
  nlohmann::json problem = nlohmann::json::array();
  for (const FingerprintEntry& e : c.problem) problem.push_back({e.name, e.value});
  return {{"format", kFormat},
          {"problem", problem},
          {"mode", std::string(to_string(c.mode))},
          {"chunk_rows", c.chunk_rows},
          {"stage", c.stage == FitStage::full ? "full" : "subsample"},
          {"subsample", {{"nfev", c.subsample_nfev}, {"rows", c.subsample_rows}, {"start", vector_json(c.subsample_start)}}},
          {"passes", c.passes},
          {"solver", solver_json(c.solver)}};
}

FitCheckpoint checkpoint_from_json(const nlohmann::json& j) {
  if (!j.is_object() || j.value("format", std::string()) != kFormat)
    throw std::runtime_error(std::string("not a checkpoint of this format (\"") + kFormat + "\")");
  FitCheckpoint c;
  for (const nlohmann::json& e : j.at("problem"))
    c.problem.push_back({e.at(0).get<std::string>(), e.at(1).get<std::string>()});
  c.mode = parse_fit_mode(j.at("mode").get<std::string>());
  c.chunk_rows = j.at("chunk_rows").get<std::size_t>();
  const std::string stage = j.at("stage").get<std::string>();
  if (stage != "full" && stage != "subsample") throw std::runtime_error("unknown stage " + stage);
  c.stage = stage == "full" ? FitStage::full : FitStage::subsample;
  c.subsample_nfev = j.at("subsample").at("nfev").get<int>();
  c.subsample_rows = j.at("subsample").at("rows").get<std::size_t>();
  c.subsample_start = vector_from(j.at("subsample").at("start"));
  c.passes = j.at("passes").get<long>();
  c.solver = solver_from(j.at("solver"));
  return c;
}

}  // namespace curvefit
