#include "solvers/algorithm.h"

#include <stdexcept>
#include <string>

namespace curvefit {

std::string_view to_string(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::trf: return "trf";
    case Algorithm::lm: return "lm";
    case Algorithm::dogbox: return "dogbox";
  }
  return "?";
}

Algorithm parse_algorithm(std::string_view text) {
  if (text == "trf") return Algorithm::trf;
  if (text == "lm") return Algorithm::lm;
  if (text == "dogbox") return Algorithm::dogbox;
  throw std::invalid_argument("unknown method '" + std::string(text) +
                              "' (expected trf, lm or dogbox)");
}

}  // namespace curvefit
