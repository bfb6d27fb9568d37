#include "core/engine/profile.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>

#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/fisher_f.hpp>

#include "core/errors.h"

namespace curvefit {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// Refits stop far tighter than a fit does: the profile's rise above chi2_best is a small
// difference of two large sums when there are many points.
constexpr double kRefitTolerance = 1e-12;
constexpr int kMaxRefitsPerEnd = 40;
// Beyond this many standard errors from the best value the profile is not followed further.
constexpr double kFarthestStderrs = 1e4;
// An end is found when the rise matches the target to this relative precision (in sqrt(rise)).
constexpr double kRiseTolerance = 1e-7;

// How much chi2 rises at the end of an interval of probability `level`.
double rise_at_level(double level, ProfileRule rule, double chi2_best, long dof, bool absolute_sigma) {
  const double dof_d = static_cast<double>(std::max(dof, 1L));
  if (rule == ProfileRule::f_test)
    return chi2_best * boost::math::quantile(boost::math::fisher_f(1.0, dof_d), level) / dof_d;
  const double q = boost::math::quantile(boost::math::chi_squared(1.0), level);
  return absolute_sigma ? q : q * chi2_best / dof_d;
}

// One point of a profile: the held parameter `offset` from the best value (on one side), the rise
// of chi2 above chi2_best there, and the other parameters' best values.
struct ProfilePoint {
  double offset = 0;
  double rise = 0;
  Eigen::VectorXd params;
};

class Profiler {
 public:
  Profiler(const FitRequest& request, const FitResult& best, ProfileResult& out)
      : request_(request), best_(best), out_(out), centre_(best.params), chi2_best_(2 * best.cost) {}

  // Refits from the best point with the refits' tolerance, so that no profile point lies below
  // chi2_best by the fit's own looser convergence.
  void refine_best();
  // The end of parameter j's interval on one side (+1 upper, -1 lower) where chi2 has risen by
  // `target`, continuing from (and adding to) that side's profile points.
  ProfileBound find_end(int j, int side, double target, std::vector<ProfilePoint>& points);
  double chi2_best() const { return chi2_best_; }
  const Eigen::VectorXd& centre() const { return centre_; }
  bool interrupted() const { return request_.solver.interrupt && request_.solver.interrupt->load(); }

 private:
  std::optional<ProfilePoint> refit(int j, int side, double offset, const ProfilePoint& near);
  FitRequest refit_request() const;
  double limit(int j, int side) const;
  double first_step(int j, double target) const;

  const FitRequest& request_;
  const FitResult& best_;
  ProfileResult& out_;
  Eigen::VectorXd centre_;
  double chi2_best_;
};

FitRequest Profiler::refit_request() const {
  FitRequest r = request_;
  r.plan.subsample = false;
  r.on_iteration = nullptr;
  r.on_pass = nullptr;
  r.progress_rows = nullptr;
  r.on_checkpoint = nullptr;  // the checkpoint is the fit's own, not a refit's
  r.resume = nullptr;
  r.solver.ftol = r.solver.xtol = kRefitTolerance;
  r.solver.keep_history = false;
  return r;
}

void Profiler::refine_best() {
  FitRequest r = refit_request();
  r.fixed = best_.fixed;
  r.p0 = best_.params;
  const FitResult refined = fit(r);
  ++out_.refits;
  out_.passes += refined.passes;
  if (refined.status != Status::failed && 2 * refined.cost < chi2_best_) {
    chi2_best_ = 2 * refined.cost;
    centre_ = refined.params;
  }
}

// How far the parameter may move on this side (its bound), from the centre.
double Profiler::limit(int j, int side) const {
  const Eigen::VectorXd& bound = side > 0 ? request_.solver.upper : request_.solver.lower;
  if (bound.size() == 0) return kInf;
  return std::max(0.0, side * (bound[j] - centre_[j]));
}

// The quadratic model's end: chi2 rises by stderr^-2 * offset^2 (times the reduced chi2 the
// standard error carries unless sigma is absolute).
double Profiler::first_step(int j, double target) const {
  const double se = best_.stderr_[j];
  const double scale = request_.absolute_sigma || best_.dof <= 0 ? 1.0 : std::sqrt(chi2_best_ / static_cast<double>(best_.dof));
  const double step = se * std::sqrt(target) / scale;
  if (std::isfinite(step) && step > 0) return step;
  return 1e-3 * std::max(1.0, std::abs(centre_[j]));
}

std::optional<ProfilePoint> Profiler::refit(int j, int side, double offset, const ProfilePoint& near) {
  const double value = centre_[j] + side * offset;
  Eigen::VectorXd start = near.params;
  // Along the fit's covariance the other parameters follow p_j by cov(k, j) / cov(j, j).
  const Eigen::MatrixXd& cov = best_.covariance;
  const double moved = value - near.params[j];
  if (cov.size() > 0 && std::isfinite(cov(j, j)) && cov(j, j) > 0)
    for (Eigen::Index k = 0; k < start.size(); ++k) {
      const double shift = cov(k, j) / cov(j, j) * moved;
      if (k != j && !best_.fixed[static_cast<std::size_t>(k)] && std::isfinite(shift)) start[k] += shift;
    }
  start[j] = value;
  const Eigen::VectorXd& lower = request_.solver.lower;
  const Eigen::VectorXd& upper = request_.solver.upper;
  if (lower.size()) start = start.cwiseMax(lower);
  if (upper.size()) start = start.cwiseMin(upper);

  ProfilePoint point;
  point.offset = offset;
  if (best_.n_free == 1) {  // nothing left to refit: the profile is chi2 itself
    point.params = start;
    point.rise = 2 * cost_at(request_, start) - chi2_best_;
    out_.passes += 1;
  } else {
    FitRequest r = refit_request();
    r.fixed = best_.fixed;
    r.fixed[static_cast<std::size_t>(j)] = true;
    r.p0 = start;
    const FitResult held = fit(r);
    ++out_.refits;
    out_.passes += held.passes;
    if (held.status == Status::failed || !std::isfinite(held.cost)) return std::nullopt;
    point.params = held.params;
    point.rise = 2 * held.cost - chi2_best_;
  }
  return point;
}

double root_of_rise(double target) { return std::sqrt(target); }
double root_of_rise(const ProfilePoint& p) { return std::sqrt(std::max(p.rise, 0.0)); }

// The offset where sqrt(rise) reaches sqrt(target) on the line through a and b (sqrt(rise) of a
// smooth profile is nearly linear in the offset, even where rise is not).
double interpolate(const ProfilePoint& a, const ProfilePoint& b, double target) {
  const double ha = root_of_rise(a), hb = root_of_rise(b);
  if (!(hb > ha)) return 0.5 * (a.offset + b.offset);
  return a.offset + (root_of_rise(target) - ha) * (b.offset - a.offset) / (hb - ha);
}

ProfileBound Profiler::find_end(int j, int side, double target, std::vector<ProfilePoint>& points) {
  const double reach = limit(j, side);
  const double farthest = std::isfinite(best_.stderr_[j]) && best_.stderr_[j] > 0
                              ? kFarthestStderrs * best_.stderr_[j]
                              : kFarthestStderrs * std::max(1.0, std::abs(centre_[j]));
  int same_end_moves = 0;
  bool last_moved_lower = false;
  for (int refits = 0; refits < kMaxRefitsPerEnd && !interrupted(); ++refits) {
    // below: the farthest point under the target; above: the nearest at or over it.
    const ProfilePoint* below = &points.front();
    const ProfilePoint* above = nullptr;
    for (const ProfilePoint& p : points) {
      if (p.rise < target && p.offset >= below->offset) below = &p;
      if (p.rise >= target && (!above || p.offset < above->offset)) above = &p;
    }
    for (const ProfilePoint* p : {below, above})
      if (p && std::abs(root_of_rise(*p) - root_of_rise(target)) <= kRiseTolerance * root_of_rise(target))
        return {centre_[j] + side * p->offset, "crossed"};
    double next = 0;
    if (above) {
      next = interpolate(*below, *above, target);
      // Bisect when the same end keeps moving (regula falsi stalls on a curved profile).
      if (same_end_moves >= 2) next = 0.5 * (below->offset + above->offset);
      if (above->offset - below->offset <= 1e-12 * std::max(1.0, std::abs(centre_[j])))
        return {centre_[j] + side * next, "crossed"};
    } else if (below->offset == 0) {
      next = first_step(j, target);
    } else {
      const double h = root_of_rise(*below);
      next = h > 0 ? below->offset * root_of_rise(target) / h : 4 * below->offset;
      next = std::clamp(next, 1.1 * below->offset, 4 * below->offset);
    }
    if (!above && below->offset >= reach) return {centre_[j] + side * reach, "bound"};
    if (!above && below->offset >= farthest) return {side * kInf, "not reached"};
    next = std::min(next, reach);
    const ProfilePoint& near = std::abs(next - below->offset) <= (above ? std::abs(above->offset - next) : kInf)
                                   ? *below
                                   : *above;
    const std::optional<ProfilePoint> point = refit(j, side, next, near);
    if (!point) return {side * kInf, "not reached"};
    const bool moves_lower = point->rise < target;
    same_end_moves = refits > 0 && moves_lower == last_moved_lower ? same_end_moves + 1 : 0;
    last_moved_lower = moves_lower;
    points.push_back(*point);
  }
  return {side * kInf, "not reached"};
}

}  // namespace

std::vector<double> parse_profile_levels(const std::string& text) {
  std::vector<double> levels;
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    std::string number = item;
    const bool percent = !number.empty() && number.back() == '%';
    if (percent) number.pop_back();
    double value = 0;
    std::size_t used = 0;
    try {
      value = std::stod(number, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != number.size()) throw UsageError("--ci-levels: '" + item + "' is not a number");
    if (percent || value >= 1) value /= 100;
    if (!(value > 0 && value < 1))
      throw UsageError("--ci-levels: '" + item + "' is not a probability (0 < level < 1, or a percentage)");
    levels.push_back(value);
  }
  if (levels.empty()) throw UsageError("--ci-levels: no level given");
  std::sort(levels.begin(), levels.end());
  return levels;
}

ProfileRule parse_profile_rule(const std::string& text) {
  if (text == "f" || text == "f-test") return ProfileRule::f_test;
  if (text == "chi2") return ProfileRule::chi2;
  throw UsageError("--ci-rule: '" + text + "' is not f-test or chi2");
}

const char* to_string(ProfileRule rule) { return rule == ProfileRule::f_test ? "f-test" : "chi2"; }

ProfileResult profile_intervals(const FitRequest& request, const FitResult& best, const ProfileOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  ProfileResult out;
  out.rule = options.rule;
  out.levels = options.levels;
  std::sort(out.levels.begin(), out.levels.end());
  out.intervals.resize(best.names.size());
  Profiler profiler(request, best, out);
  profiler.refine_best();
  for (std::size_t j = 0; j < best.names.size() && !profiler.interrupted(); ++j) {
    if (best.fixed[j]) continue;
    for (int side : {-1, +1}) {
      std::vector<ProfilePoint> points{{0.0, 0.0, profiler.centre()}};
      for (std::size_t l = 0; l < out.levels.size(); ++l) {
        const double target = rise_at_level(out.levels[l], options.rule, profiler.chi2_best(), best.dof,
                                            request.absolute_sigma);
        if (side < 0) out.intervals[j].push_back(ProfileInterval{out.levels[l], {}, {}});
        ProfileInterval& interval = out.intervals[j][l];
        (side < 0 ? interval.lower : interval.upper) = profiler.find_end(static_cast<int>(j), side, target, points);
      }
    }
  }
  out.computed = !profiler.interrupted();
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace curvefit
