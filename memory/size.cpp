#include "memory/size.h"

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <system_error>

namespace curvefit {

namespace {

struct Unit {
  std::string_view name;  // lower case
  double multiplier;
};

// Matched against the whole suffix after the number; "" is a plain number of bytes.
constexpr std::array<Unit, 14> kUnits{{
    {"b", 1.0},
    {"k", 1e3},
    {"kb", 1e3},
    {"m", 1e6},
    {"mb", 1e6},
    {"g", 1e9},
    {"gb", 1e9},
    {"t", 1e12},
    {"tb", 1e12},
    {"kib", 1024.0},
    {"mib", 1048576.0},
    {"gib", 1073741824.0},
    {"tib", 1099511627776.0},
    {"", 1.0},
}};

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return text;
}

[[noreturn]] void fail(std::string_view what, std::string_view text, std::string_view why) {
  throw std::invalid_argument("invalid " + std::string(what) + " '" + std::string(text) +
                              "': " + std::string(why));
}

// Splits "1.5GiB" into 1.5 and "GiB"; the number must start with a digit or '.', which rules out
// "inf", "nan", signs and hex.
double leading_number(std::string_view what, std::string_view original, std::string_view text,
                      std::string_view& rest) {
  if (text.empty()) fail(what, original, "empty");
  if (text.front() == '-') fail(what, original, "must not be negative");
  if (!std::isdigit(static_cast<unsigned char>(text.front())) && text.front() != '.')
    fail(what, original, "does not start with a number");
  double value = 0.0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc::result_out_of_range) fail(what, original, "number out of range");
  if (error != std::errc{}) fail(what, original, "does not start with a number");
  rest = trim(std::string_view(end, static_cast<std::size_t>(text.data() + text.size() - end)));
  return value;
}

// 2^64 as a double: anything at or above it does not fit in std::uint64_t.
constexpr double kTwoTo64 = 18446744073709551616.0;

}  // namespace

std::uint64_t parse_size(std::string_view original) {
  const std::string_view text = trim(original);
  std::string_view suffix;
  const double number = leading_number("size", original, text, suffix);
  std::string unit;
  for (char c : suffix) unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const Unit& candidate : kUnits) {
    if (candidate.name != unit) continue;
    const double bytes = number * candidate.multiplier;
    if (!(bytes < kTwoTo64)) fail("size", original, "larger than 2^64 bytes");
    if (candidate.multiplier == 1.0 && bytes != std::floor(bytes))
      fail("size", original, "not a whole number of bytes");
    return static_cast<std::uint64_t>(std::round(bytes));
  }
  fail("size", original,
       "unknown unit '" + std::string(suffix) +
           "' (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB or K, M, G, T)");
}

std::uint64_t parse_count(std::string_view original) {
  const std::string_view text = trim(original);
  // Plain digits are parsed exactly: integers above 2^53 would lose digits through a double.
  std::uint64_t exact = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), exact);
  if (!text.empty() && text.front() != '-' && end == text.data() + text.size()) {
    if (error == std::errc::result_out_of_range) fail("count", original, "larger than 2^64 - 1");
    if (error == std::errc{}) return exact;
  }
  std::string_view rest;
  const double number = leading_number("count", original, text, rest);
  if (!rest.empty())
    fail("count", original, "unexpected '" + std::string(rest) + "' after the number");
  if (!(number < kTwoTo64)) fail("count", original, "larger than 2^64 - 1");
  if (number != std::floor(number)) fail("count", original, "not a whole number");
  return static_cast<std::uint64_t>(number);
}

std::string format_size(std::uint64_t bytes) {
  static constexpr std::array<const char*, 6> kNames{"B", "kB", "MB", "GB", "TB", "PB"};
  if (bytes < 1000) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1000.0 && unit + 1 < kNames.size()) {
    value /= 1000.0;
    ++unit;
  }
  // 999.995 kB would print as "1000.00 kB"; move it to the next unit instead.
  if (value >= 999.995 && unit + 1 < kNames.size()) {
    value /= 1000.0;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", value);
  // "512 MB" and "1.5 GB", not "512.00 MB": trailing zeros of the fraction say nothing.
  std::string text = buffer;
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text + " " + kNames[unit];
}

}  // namespace curvefit
