// Fuzzes the option parsers people type: --memory-limit sizes and counts (memory/size.h) and the
// parameter specs of --p0, --fix, --bounds (core/engine/param_spec.h).
//
// Input: one byte choosing the parser, then the text. Each parser returns a value or throws its
// documented error (std::invalid_argument for sizes, UsageError with a one-line message for
// specs). Oracles: a size or count printed as a plain number parses back to itself; ranges have
// lower < upper and no NaN; names are never empty; parse_number never returns NaN.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/engine/param_spec.h"
#include "core/errors.h"
#include "memory/size.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

void fuzz_size(std::string_view text, bool count) {
  std::uint64_t bytes = 0;
  try {
    bytes = count ? curvefit::parse_count(text) : curvefit::parse_size(text);
  } catch (const std::invalid_argument&) {  // the command line reports it as a UsageError
    return;
  }
  const std::string plain = std::to_string(bytes);
  FUZZ_CHECK((count ? curvefit::parse_count(plain) : curvefit::parse_size(plain)) == bytes);
  FUZZ_CHECK(!curvefit::format_size(bytes).empty());
}

void fuzz_spec(std::string_view text, int which) {
  try {
    if (which == 0) {
      for (const auto& v : curvefit::parse_named_values(text, "--p0")) {
        FUZZ_CHECK(!v.name.empty());
        FUZZ_CHECK(!std::isnan(v.value));
      }
    } else if (which == 1) {
      for (const auto& r : curvefit::parse_named_ranges(text, "--bounds")) {
        FUZZ_CHECK(!r.name.empty());
        FUZZ_CHECK(r.lower < r.upper);
      }
    } else {
      FUZZ_CHECK(!std::isnan(curvefit::parse_number(text, "--tol")));
    }
  } catch (const curvefit::UsageError& e) {
    FUZZ_CHECK(std::string(e.what()).find('\n') == std::string::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 5) {
    case 0: fuzz_size(text, false); break;
    case 1: fuzz_size(text, true); break;
    default: fuzz_spec(text, data[0] % 5 - 2); break;
  }
  return 0;
}
