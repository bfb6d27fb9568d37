#pragma once
// What a user reads after a fit: the readable report (in the manner of lmfit's fit_report) and the
// JSON object. Both are built from the FitResult (its `used` settings included) and the front end's
// own timings.
#include <cstddef>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "core/engine/fit.h"

namespace curvefit {

// What only the front end knows: the whole command's time and its outputs. Everything about the
// fit itself (data, model, loss, init, memory, timings of reading and fitting) is in
// FitResult::used.
struct RunInfo {
  double time_s = 0;            // the whole command (0: reading + fitting)
  double output_s = 0;          // writing --output and --plot
  std::vector<std::string> notes;  // remarks of the front end, after the fit's own
};

// "converged", "max_evaluations", "interrupted" or "failed".
std::string status_name(Status status);

// Two-sided 95% confidence half-width multiplier: Student t quantile at 0.975 with dof degrees of
// freedom (normal quantile when dof is huge; NaN when dof <= 0).
double t_quantile_975(long dof);

std::string format_report(const FitResult& result, const RunInfo& run = {});
nlohmann::ordered_json report_json(const FitResult& result, const RunInfo& run = {});

}  // namespace curvefit
