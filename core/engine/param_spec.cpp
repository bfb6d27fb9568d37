#include "core/engine/param_spec.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <string>

#include <fast_float/fast_float.h>

#include "core/errors.h"

namespace curvefit {

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(name, value) for each comma-separated name=value item; `form` names the expected form
// in the error ("name=value", "name=lower:upper").
template <class F>
void for_each_item(std::string_view text, std::string_view option, F f, std::string_view form = "name=value") {
  if (trim(text).empty()) throw UsageError(std::string(option) + ": empty value");
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    const std::string_view item = trim(text.substr(start, comma == std::string_view::npos ? text.npos : comma - start));
    const std::size_t eq = item.find('=');
    if (item.empty() || eq == std::string_view::npos || eq == 0)
      throw UsageError(std::string(option) + ": '" + std::string(item) + "' is not of the form " + std::string(form));
    f(std::string(trim(item.substr(0, eq))), trim(item.substr(eq + 1)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
}
}  // namespace

double parse_number(std::string_view text, std::string_view option) {
  text = trim(text);
  const double inf = std::numeric_limits<double>::infinity();
  if (text == "inf" || text == "+inf" || text == "Inf" || text == "+Inf") return inf;
  if (text == "-inf" || text == "-Inf") return -inf;
  double value = 0;
  const char* first = text.data();
  if (!text.empty() && text.front() == '+') ++first;
  const auto [end, ec] = fast_float::from_chars(first, text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || std::isnan(value))
    throw UsageError(std::string(option) + ": '" + std::string(text) + "' is not a number");
  return value;
}

Tie parse_tie(std::string_view text, std::string_view option) {
  const std::size_t eq = text.find('=');
  const bool comparison = eq != std::string_view::npos && eq + 1 < text.size() && text[eq + 1] == '=';
  const std::string_view name = trim(text.substr(0, eq == std::string_view::npos ? 0 : eq));
  const std::string_view expression = eq == std::string_view::npos ? std::string_view{} : trim(text.substr(eq + 1));
  const bool is_name = !name.empty() && (std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_') &&
                       std::all_of(name.begin(), name.end(), [](char c) {
                         return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                       });
  if (eq == std::string_view::npos || comparison || !is_name || expression.empty())
    throw UsageError(std::string(option) + ": '" + std::string(text) +
                     "' is not of the form NAME = EXPRESSION (e.g. \"p2_sigma = p1_sigma\")");
  return {std::string(name), std::string(expression)};
}

std::vector<NamedValue> parse_named_values(std::string_view text, std::string_view option) {
  std::vector<NamedValue> out;
  for_each_item(text, option, [&](std::string name, std::string_view value) {
    for (const auto& seen : out)
      if (seen.name == name) throw UsageError(std::string(option) + ": '" + name + "' given twice");
    out.push_back({std::move(name), parse_number(value, option)});
  });
  return out;
}

std::vector<NamedRange> parse_named_ranges(std::string_view text, std::string_view option) {
  std::vector<NamedRange> out;
  for_each_item(text, option, [&](std::string name, std::string_view value) {
    const std::size_t colon = value.find(':');
    if (colon == std::string_view::npos)
      throw UsageError(std::string(option) + ": '" + name + "=" + std::string(value) +
                       "' is not of the form name=lower:upper");
    const double lo = parse_number(value.substr(0, colon), option);
    const double hi = parse_number(value.substr(colon + 1), option);
    if (!(lo < hi))
      throw UsageError(std::string(option) + ": the lower bound of '" + name +
                       "' must be less than its upper bound");
    for (const auto& seen : out)
      if (seen.name == name) throw UsageError(std::string(option) + ": '" + name + "' given twice");
    out.push_back({std::move(name), lo, hi});
  }, "name=lower:upper");
  return out;
}

XRange parse_x_range(std::string_view text) {
  constexpr std::string_view option = "--x-range";
  XRange range;
  std::string_view bounds = trim(text);
  const std::size_t eq = bounds.find('=');
  if (eq != std::string_view::npos) {
    range.predictor = std::string(trim(bounds.substr(0, eq)));
    bounds = trim(bounds.substr(eq + 1));
  }
  const std::size_t colon = bounds.find(':');
  if (colon == std::string_view::npos || bounds.find(':', colon + 1) != std::string_view::npos ||
      (eq != std::string_view::npos && range.predictor.empty()))
    throw UsageError(std::string(option) + ": '" + std::string(text) +
                     "' is not of the form LO:HI or NAME=LO:HI (either side may be empty, e.g. 2:8, :5, x2=0:)");
  const std::string_view lo = trim(bounds.substr(0, colon)), hi = trim(bounds.substr(colon + 1));
  if (!lo.empty()) range.lo = parse_number(lo, option);
  if (!hi.empty()) range.hi = parse_number(hi, option);
  if (range.lo > range.hi)
    throw UsageError(std::string(option) + ": '" + std::string(text) + "': the lower end exceeds the upper end");
  return range;
}

std::size_t param_index(const std::vector<std::string>& params, const std::string& name,
                        std::string_view option) {
  for (std::size_t j = 0; j < params.size(); ++j)
    if (params[j] == name) return j;
  std::string list;
  for (const auto& p : params) list += (list.empty() ? "" : ", ") + p;
  throw UsageError(std::string(option) + ": unknown parameter '" + name + "' (the model has " + list + ")");
}

}  // namespace curvefit
