#pragma once
// Memory sizes as people write them ("512MB", "1.5GiB", "300M", "1e8") and as we print them.
//
// Units: B; KB, MB, GB, TB are decimal (10^3 .. 10^12), as are the bare K, M, G, T; KiB, MiB,
// GiB, TiB are binary (2^10 .. 2^40). Units are case-insensitive ("512mb", "4gib"); a space may
// separate the number from the unit. The number may have a fraction and an exponent ("1.5GiB",
// "2.5e3MB"); the result is rounded to the nearest byte, and a plain number of bytes must be whole.
#include <cstdint>
#include <string>
#include <string_view>

namespace curvefit {

// Parses a size into bytes; throws std::invalid_argument naming the bad text (empty, negative, not
// a number, unknown unit, or larger than 2^64 - 1 bytes).
std::uint64_t parse_size(std::string_view text);

// Parses a count such as a number of points: "100000000" or "1e8". No unit; the value must be a
// whole non-negative number. Throws std::invalid_argument naming the bad text.
std::uint64_t parse_count(std::string_view text);

// The one byte formatter: decimal units (kB = 10^3, MB = 10^6, GB = 10^9, as parse_size reads
// them) with at most two decimals and no trailing zeros: "4 GB", "512 MB", "1.5 MB", "4.19 MB";
// below 1 kB the exact byte count: "512 B".
std::string format_size(std::uint64_t bytes);

}  // namespace curvefit
