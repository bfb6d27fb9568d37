#pragma once
// How the report writes numbers, shared by its parts (report.cpp, report_search.cpp): %g with
// inf/nan spelled out in text, and null for what JSON cannot hold.
#include <cmath>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace curvefit::report_format {

inline std::string g(double v, int digits = 8) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (std::isnan(v)) return "nan";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*g", digits, v);
  return buffer;
}

// JSON has no inf or NaN: they become null (a reader sees "undetermined").
inline nlohmann::ordered_json number(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

}  // namespace curvefit::report_format
