#pragma once
// Minima not missed: --starts N and --model M1 --model M2 fit several problems over the same data
// in shared passes (core/engine/shared_passes.h): each fit runs the unchanged solver on its own
// thread, and one read of each chunk serves every fit that asks for an evaluation. N starts then
// cost about as many passes as the longest of them, not the sum; each start's result is
// bit-identical to a single fit from that start.
//
// Where the starts are (start_points): start 0 is p0 itself (given, or the model's guess); the
// others are a Latin hypercube of N - 1 points, deterministic for a seed (splitmix64):
//   - a free parameter with both bounds finite: stratified uniformly within [lower, upper];
//   - otherwise around p0 in log scale: p0 * 10^u with u stratified in [-1, 1] (the sign of p0
//     kept; u itself when p0 = 0), then clamped into a one-sided bound;
//   - fixed parameters keep their value.
//
// The result is the best start's fit (lowest cost; ties to the lowest start index) with a summary
// of every start and of the distinct minima: two final points are the same minimum when every
// free parameter agrees within 1e-6 relative or 1e-3 of its standard error (at the lower-cost
// point), whichever is larger.
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "core/engine/fit.h"

namespace curvefit {

struct StartsOptions {
  int count = 1;                // N >= 1
  std::uint64_t seed = 1;       // the same seed places the same starts
  int max_concurrency = 0;      // fits at once; 0: as many as the memory limit allows
};

// The N starting points, model-sized; `design` (if not null) describes them in one line.
// Throws UsageError when count < 1.
std::vector<Eigen::VectorXd> start_points(const FitRequest& request, int count, std::uint64_t seed,
                                          std::string* design = nullptr);

// The best of options.count starts (a plain fit(request) when count is 1), with FitResult::starts
// filled and FitResult::passes the passes of all starts together. Not across MPI ranks, nor with
// checkpoints (UsageError).
FitResult fit_starts(const FitRequest& request, const StartsOptions& options);

// Several models over the same data and plan, each with options.count starts, all in shared
// passes. Returns each model's best fit, in the order of `requests`, each with FitResult::models
// filled (every model's row, ranked by AIC, ties and NaN last) and passes those of the whole run.
std::vector<FitResult> fit_models(const std::vector<FitRequest>& requests, const StartsOptions& options);

// The index of the best model in fit_models' results: the lowest AIC (the first of equals).
std::size_t best_model(const std::vector<FitResult>& results);

}  // namespace curvefit
