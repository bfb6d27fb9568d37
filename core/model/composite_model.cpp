#include "core/model/composite_model.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <numeric>

#include "core/errors.h"

namespace curvefit {
namespace {

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// The length of the number at the start of `text` as the formula lexer reads it (digits, one
// point, an exponent only when digits follow), so that "2e5" is never taken for a name.
std::size_t number_length(std::string_view text) {
  std::size_t i = 0;
  const auto digits = [&] {
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  };
  digits();
  if (i < text.size() && text[i] == '.') ++i;
  digits();
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    std::size_t j = i + 1;
    if (j < text.size() && (text[j] == '+' || text[j] == '-')) ++j;
    if (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) {
      i = j;
      digits();
    }
  }
  return i;
}

// Copies `text`, handing every name to `on_name` and copying what it returns instead; on_name may
// move `end` (just past the name) to consume more of the text.
std::string rewrite_names(std::string_view text,
                          const std::function<std::string(std::string_view name, std::size_t& end)>& on_name) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      const std::size_t length = std::max<std::size_t>(1, number_length(text.substr(i)));
      out += text.substr(i, length);
      i += length;
    } else if (is_name_start(c)) {
      std::size_t end = i;
      while (end < text.size() && is_name_char(text[end])) ++end;
      out += on_name(text.substr(i, end - i), end);
      i = end;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

std::size_t skip_spaces(std::string_view text, std::size_t i) {
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  return i;
}

// "[prefix]" after a model name, when present: the prefix, with `end` moved past the bracket.
std::string read_prefix(std::string_view text, std::string_view model, std::size_t& end) {
  const std::size_t open = skip_spaces(text, end);
  if (open >= text.size() || text[open] != '[') return {};
  const std::size_t close = text.find(']', open);
  const std::string_view inside = close == std::string_view::npos ? text.substr(open + 1) : text.substr(open + 1, close - open - 1);
  const std::size_t first = skip_spaces(inside, 0);
  std::size_t last = inside.size();
  while (last > first && std::isspace(static_cast<unsigned char>(inside[last - 1]))) --last;
  const std::string prefix(inside.substr(first, last - first));
  const bool valid = !prefix.empty() && is_name_start(prefix[0]) && std::all_of(prefix.begin(), prefix.end(), is_name_char);
  if (close == std::string_view::npos || !valid)
    throw ModelError("model column " + std::to_string(open + 1) + ": " + std::string(model) +
                     "[...] takes a prefix name such as " + std::string(model) + "[p1], found '" +
                     std::string(text.substr(open, close == std::string_view::npos ? text.size() - open : close - open + 1)) + "'");
  end = close + 1;
  return prefix;
}

// The component's library formula with its parameters renamed, in parentheses.
std::string component_formula(const CompositeComponent& component) {
  const ModelInfo& info = *component.info;
  return "(" + rewrite_names(info.formula, [&](std::string_view name, std::size_t&) {
           const auto it = std::find(info.param_names.begin(), info.param_names.end(), name);
           if (it == info.param_names.end()) return std::string(name);
           return component.param_names[static_cast<std::size_t>(it - info.param_names.begin())];
         }) + ")";
}

void check_clashes(const std::vector<CompositeComponent>& components) {
  std::map<std::string, std::size_t> owner;
  for (std::size_t k = 0; k < components.size(); ++k)
    for (const std::string& name : components[k].param_names) {
      const auto [it, inserted] = owner.emplace(name, k);
      if (inserted) continue;
      const std::string first = components[it->second].info->name, second = components[k].info->name;
      throw ModelError("model: " + first + " and " + second + " both have the parameter '" + name +
                       "'; give them prefixes, as " + first + "[p1] + " + second + "[p2]");
    }
}

}  // namespace

std::optional<CompositeModel> expand_composite(std::string_view text) {
  if (find_model(text)) return std::nullopt;
  CompositeModel model;
  std::string_view previous_name;
  model.formula = rewrite_names(text, [&](std::string_view name, std::size_t& end) {
    const ModelInfo* info = find_model(name);
    const std::size_t next = skip_spaces(text, end);
    const bool called = next < text.size() && text[next] == '(';
    if (!info || called) return std::string(name);
    CompositeComponent component;
    component.info = info;
    component.prefix = read_prefix(text, name, end);
    for (const std::string& p : info->param_names)
      component.param_names.push_back(component.prefix.empty() ? p : component.prefix + "_" + p);
    model.components.push_back(component);
    return component_formula(model.components.back());
  });
  if (model.components.empty()) {
    if (const std::size_t bracket = text.find('['); bracket != std::string_view::npos)
      throw ModelError("model column " + std::to_string(bracket + 1) +
                       ": '[' follows only a built-in model name, as gaussian[p1]");
    return std::nullopt;
  }
  check_clashes(model.components);
  return model;
}

CompositeModel single_component(const ModelInfo& info) {
  return CompositeModel{info.formula, {CompositeComponent{&info, "", info.param_names}}};
}

std::string substitute_names(std::string_view formula,
                             const std::vector<std::pair<std::string, std::string>>& replacements) {
  return rewrite_names(formula, [&](std::string_view name, std::size_t&) {
    for (const auto& [from, to] : replacements)
      if (name == from) return "(" + to + ")";
    return std::string(name);
  });
}

std::vector<ParamBounds> CompositeModel::bounds(const std::vector<std::string>& params) const {
  std::vector<ParamBounds> result(params.size());
  for (const CompositeComponent& c : components)
    for (std::size_t j = 0; j < c.param_names.size(); ++j) {
      const auto it = std::find(params.begin(), params.end(), c.param_names[j]);
      if (it != params.end()) result[static_cast<std::size_t>(it - params.begin())] = c.info->bounds[j];
    }
  return result;
}

}  // namespace curvefit

namespace curvefit {
namespace {

using Vector = std::vector<double>;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool is_baseline(const ModelInfo& info) {
  return info.name == "linear" || info.name == "quadratic" || info.name.starts_with("polynomial");
}
bool is_peak(const ModelInfo& info) {
  static const char* const kPeaks[] = {"gaussian", "gaussian_offset", "lorentzian", "voigt", "pseudo_voigt",
                                       "log_normal", "exp_modified_gaussian"};
  return std::find(std::begin(kPeaks), std::end(kPeaks), info.name) != std::end(kPeaks);
}

// The points of `s` whose index passes `keep`, with y replaced by `rest`.
GuessSample select_points(const GuessSample& s, const Vector& rest, const std::function<bool(std::size_t)>& keep) {
  GuessSample out;
  for (std::size_t i = 0; i < s.y.size(); ++i) {
    if (!keep(i)) continue;
    out.x.push_back(s.x[i]);
    if (!s.x2.empty()) out.x2.push_back(s.x2[i]);
    out.y.push_back(rest[i]);
  }
  return out;
}

// rest -= the component at p, over the sample's points.
void subtract(const ModelInfo& info, const Vector& p, const GuessSample& s, Vector& rest) {
  Vector values(kModelBlock);
  for (std::size_t begin = 0; begin < s.y.size(); begin += kModelBlock) {
    const std::size_t count = std::min(kModelBlock, s.y.size() - begin);
    const double* xs[2] = {s.x.data() + begin, s.x2.empty() ? nullptr : s.x2.data() + begin};
    info.evaluate_block(xs, count, p.data(), values.data(), nullptr, count);
    for (std::size_t i = 0; i < count; ++i)
      if (std::isfinite(values[i])) rest[begin + i] -= values[i];
  }
}

// Up to `count` peak locations of y over sorted x, left to right: the highest local maxima of a
// moving average, at least a window apart; evenly spaced positions fill in when fewer stand out.
Vector peak_locations(const Vector& x, const Vector& y, std::size_t count) {
  const std::size_t n = y.size(), half = std::max<std::size_t>(1, n / 200), window = std::max<std::size_t>(2, n / 50);
  Vector prefix(n + 1, 0.0), smooth(n);
  for (std::size_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + y[i];
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t lo = i >= half ? i - half : 0, hi = std::min(n, i + half + 1);
    smooth[i] = (prefix[hi] - prefix[lo]) / static_cast<double>(hi - lo);
  }
  std::vector<std::size_t> maxima;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t lo = i >= window ? i - window : 0, hi = std::min(n, i + window + 1);
    if (smooth[i] > 0 && smooth[i] == *std::max_element(smooth.begin() + static_cast<std::ptrdiff_t>(lo),
                                                        smooth.begin() + static_cast<std::ptrdiff_t>(hi)))
      if (maxima.empty() || i - maxima.back() > window) maxima.push_back(i);
  }
  std::stable_sort(maxima.begin(), maxima.end(), [&](std::size_t l, std::size_t r) { return smooth[l] > smooth[r]; });
  maxima.resize(std::min(maxima.size(), count));
  Vector locations;
  for (std::size_t i : maxima) locations.push_back(x[i]);
  for (std::size_t k = locations.size(); k < count; ++k)  // evenly spaced where nothing stands out
    locations.push_back(x.front() + (x.back() - x.front()) * (static_cast<double>(k) + 0.5) / static_cast<double>(count));
  std::sort(locations.begin(), locations.end());
  return locations;
}

}  // namespace

Vector CompositeModel::guess(const std::vector<std::string>& params, const double* const* x, const double* y,
                             std::size_t n) const {
  const int predictors = std::any_of(components.begin(), components.end(),
                                     [](const CompositeComponent& c) { return c.info->num_predictors == 2; }) ? 2 : 1;
  const GuessSample sample = draw_guess_sample(predictors, x, y, n);
  if (sample.y.size() < params.size())
    throw ModelError("model: too few finite points (" + std::to_string(sample.y.size()) + ") to guess " +
                     std::to_string(params.size()) + " parameters");
  Vector rest = sample.y, result(params.size(), kNaN);
  // A component's guess from the points `s`: stored under its names, then taken out of `rest`.
  const auto take = [&](const CompositeComponent& c, const GuessSample& s) {
    Vector p = s.y.size() >= std::max<std::size_t>(5, c.param_names.size()) ? c.info->guess(s) : c.info->example;
    move_inside_bounds(*c.info, p);
    for (std::size_t j = 0; j < p.size(); ++j) {
      const auto it = std::find(params.begin(), params.end(), c.param_names[j]);
      if (it != params.end() && std::isnan(result[static_cast<std::size_t>(it - params.begin())]))
        result[static_cast<std::size_t>(it - params.begin())] = p[j];
    }
    subtract(*c.info, p, sample, rest);
  };
  const std::size_t m = sample.y.size(), edge = std::max<std::size_t>(2, m * 15 / 100);
  for (const CompositeComponent& c : components)
    if (is_baseline(*c.info)) take(c, select_points(sample, rest, [&](std::size_t i) { return i < edge || i + edge >= m; }));
  std::vector<const CompositeComponent*> peaks;
  for (const CompositeComponent& c : components)
    if (is_peak(*c.info) && predictors == 1) peaks.push_back(&c);
  const Vector at = peaks.empty() ? Vector{} : peak_locations(sample.x, rest, peaks.size());
  const Vector peak_rest = rest;  // each peak is guessed from the same remainder, in its window
  for (std::size_t k = 0; k < peaks.size(); ++k) {
    const double lo = k == 0 ? -std::numeric_limits<double>::infinity() : 0.5 * (at[k - 1] + at[k]);
    const double hi = k + 1 == peaks.size() ? std::numeric_limits<double>::infinity() : 0.5 * (at[k] + at[k + 1]);
    take(*peaks[k], select_points(sample, peak_rest, [&](std::size_t i) { return sample.x[i] >= lo && sample.x[i] < hi; }));
  }
  for (const CompositeComponent& c : components)
    if (!is_baseline(*c.info) && !(is_peak(*c.info) && predictors == 1))
      take(c, select_points(sample, rest, [](std::size_t) { return true; }));
  return result;
}

}  // namespace curvefit
