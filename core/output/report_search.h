#pragma once
// The parts of the report about a search over several fits: the distinct minima of --starts N and
// the table of several --model ranked by AIC (text and JSON). core/output/report.cpp places them.
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/engine/fit.h"

namespace curvefit {

// [[Starts]]: how the starts were placed, the passes, and each distinct minimum (cost, how many
// starts reached it, status, parameters). Nothing for a single start.
void append_starts(std::ostream& out, const FitResult& r);
// [[Model Comparison]]: one row per model, ranked by AIC. Nothing for a single model.
void append_models(std::ostream& out, const FitResult& r);
// The "starts" object (null for a single start) and the "models" array (null for one model).
nlohmann::ordered_json starts_json(const FitResult& r);
nlohmann::ordered_json models_json(const FitResult& r);

}  // namespace curvefit
