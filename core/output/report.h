#pragma once
// What a user reads after a fit: the readable report (in the manner of lmfit's fit_report) and the
// JSON object. Both are built from the FitResult and a few facts about the run.
#include <cstddef>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "core/engine/fit.h"

namespace curvefit {

struct RunInfo {
  std::string data;            // where the data came from
  std::string model;           // model name as typed (library name or formula)
  std::string formula;         // the model's formula
  Eigen::VectorXd p0;          // starting point (model-sized)
  std::string p0_source;       // "given", "guess from the data", "1 for every parameter"
  Loss loss = Loss::linear;
  double f_scale = 1.0;
  bool absolute_sigma = false;
  bool has_sigma = false;
  std::vector<std::string> x_columns;  // the columns used: predictors, response, sigma ("" = none)
  std::string y_column;
  std::string sigma_column;
  std::size_t memory_limit_bytes = 0;
  std::size_t predicted_peak_bytes = 0;
  std::size_t peak_rss_bytes = 0;
  double time_s = 0;            // the whole command
  double read_s = 0;            // reading the data into RAM (0 when streamed: reading is in fit_s)
  double fit_s = 0;             // the fit: subsample stage, full fit, statistics
  double output_s = 0;          // writing --output and --plot
  std::vector<std::string> notes;  // plan reasons and other remarks
};

// "converged", "max_evaluations", "interrupted" or "failed".
std::string status_name(Status status);

// Two-sided 95% confidence half-width multiplier: Student t quantile at 0.975 with dof degrees of
// freedom (normal quantile when dof is huge; NaN when dof <= 0).
double t_quantile_975(long dof);

std::string format_report(const FitResult& result, const RunInfo& run);
nlohmann::ordered_json report_json(const FitResult& result, const RunInfo& run);

}  // namespace curvefit
