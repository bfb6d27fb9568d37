#pragma once
// Profile-likelihood confidence intervals (--ci profile), as lmfit's conf_interval computes them.
//
// For each free parameter p_j and each level, the interval is where the profile
//     chi2_j(v) = min over the other parameters of chi2(p with p_j = v)
// stays below chi2_best + delta(level): each side's end is a root of chi2_j(v) - chi2_best - delta,
// and every value of chi2_j is a refit with p_j held at v. The refits use the chunked engine in the
// fit's own mode (so intervals of streamed data are computed by streaming) and warm-start from the
// nearest profile point, shifted along the covariance's conditional direction.
//
// delta: the F-test of lmfit (default), chi2_best * F^-1(level; 1, dof) / dof, which does not
// depend on the scale of sigma; or the plain rule chi2^-1(level; 1 dof), scaled by the reduced
// chi-square unless the sigmas are absolute. With a robust loss, chi2 means 2 * cost (the objective).
#include <vector>

#include "core/engine/fit.h"

namespace curvefit {

struct ProfileOptions {
  std::vector<double> levels = {0.682689492137085852, 0.954499736103641583};  // 1 and 2 sigma
  ProfileRule rule = ProfileRule::f_test;
};

// Parses --ci-levels: comma-separated probabilities as fractions (0.9) or percentages (90, 95.45%).
// Throws UsageError naming the bad entry.
std::vector<double> parse_profile_levels(const std::string& text);
// Parses --ci-rule: "f" / "f-test" or "chi2". Throws UsageError.
ProfileRule parse_profile_rule(const std::string& text);
const char* to_string(ProfileRule rule);

// The intervals around the fit `best` of `request` (the request the fit ran with). Throws what
// fit() throws; a refit that fails leaves that end "not reached".
ProfileResult profile_intervals(const FitRequest& request, const FitResult& best, const ProfileOptions& options);

}  // namespace curvefit
