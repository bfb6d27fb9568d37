#include "core/data/data_types.h"

namespace curvefit {

std::string format_place_list(PlaceUnit unit, const std::vector<std::size_t>& places, std::size_t total) {
  std::string text = unit == PlaceUnit::line ? "line" : "row";
  text += places.size() == 1 ? " " : "s ";
  for (std::size_t i = 0; i < places.size(); ++i) text += (i ? ", " : "") + std::to_string(places[i]);
  if (total > places.size()) text += ", ...";
  return text;
}

}  // namespace curvefit
