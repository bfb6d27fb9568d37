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

std::string selected_rows_in_files_notice(std::size_t selected, std::size_t total, const std::vector<Shard>& files,
                                          const RowSelection& selection) {
  std::string text = selected_rows_notice(selected, total, selection);
  constexpr std::size_t kNamed = 3;
  std::size_t empty = 0;
  for (const Shard& file : files) {
    if (file.rows > 0) continue;
    if (empty < kNamed) text += (empty == 0 ? "; none from " : ", ") + file.path;
    ++empty;
  }
  if (empty > kNamed) text += " and " + std::to_string(empty - kNamed) + " more";
  return text;
}

std::string no_rows_in_any_file(const DataOptions& options) {
  if (options.selection) return "no row of any file is selected (" + options.selection->text + "); nothing to fit";
  return "no valid rows remain in any file";
}

std::string no_row_selected(std::size_t total, const RowSelection& selection) {
  return "no row of the " + std::to_string(total) + " is selected (" + selection.text +
         "); nothing to fit";
}

}  // namespace curvefit
