#include "core/data/data_types.h"

namespace curvefit {

std::string format_place_list(PlaceUnit unit, const std::vector<std::size_t>& places, std::size_t total) {
  std::string text = unit == PlaceUnit::line ? "line" : "row";
  text += places.size() == 1 ? " " : "s ";
  for (std::size_t i = 0; i < places.size(); ++i) text += (i ? ", " : "") + std::to_string(places[i]);
  if (total > places.size()) text += ", ...";
  return text;
}

std::string selected_rows_notice(std::size_t selected, std::size_t total, const RowSelection& selection) {
  return "selected " + std::to_string(selected) + " of " + std::to_string(total) + " rows (" + selection.text + ")";
}

std::string no_row_selected(std::size_t total, const RowSelection& selection) {
  return "no row of the " + std::to_string(total) + " is selected (" + selection.text +
         "); nothing to fit";
}

}  // namespace curvefit
