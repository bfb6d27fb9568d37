#include "core/engine/multistart.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <memory>
#include <numeric>
#include <thread>

#include "core/engine/shared_passes.h"
#include "core/errors.h"

namespace curvefit {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// splitmix64 (Steele, Lea & Flood 2014): portable, so that a seed places the same starts on every
// platform (the standard distributions are not specified bit for bit).
class SplitMix {
 public:
  explicit SplitMix(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)

 private:
  std::uint64_t state_;
};

// A Latin hypercube of `points` points in [0, 1)^dims: in every dimension each of the `points`
// strata holds exactly one point, at a uniform place within it.
std::vector<std::vector<double>> latin_hypercube(int points, int dims, std::uint64_t seed) {
  SplitMix random(seed);
  std::vector<std::vector<double>> design(static_cast<std::size_t>(points), std::vector<double>(static_cast<std::size_t>(dims)));
  std::vector<int> strata(static_cast<std::size_t>(points));
  for (int d = 0; d < dims; ++d) {
    std::iota(strata.begin(), strata.end(), 0);
    for (int i = points - 1; i > 0; --i)  // Fisher-Yates
      std::swap(strata[static_cast<std::size_t>(i)],
                strata[static_cast<std::size_t>(random.next() % static_cast<std::uint64_t>(i + 1))]);
    for (int i = 0; i < points; ++i)
      design[static_cast<std::size_t>(i)][static_cast<std::size_t>(d)] =
          (strata[static_cast<std::size_t>(i)] + random.uniform()) / points;
  }
  return design;
}

bool is_fixed(const FitRequest& request, Eigen::Index j) {
  return !request.fixed.empty() && request.fixed[static_cast<std::size_t>(j)];
}

double bound(const Eigen::VectorXd& bounds, Eigen::Index j, double otherwise) {
  return bounds.size() ? bounds[j] : otherwise;
}

// Members of a shared run: one request per (model, start), and what became of each.
struct Member {
  std::size_t model = 0;
  int start = 0;
  FitRequest request;
  FitResult result;
  std::exception_ptr error;
};

// Runs every member in shared passes, at most `concurrency` at once; the passes of the whole run.
long run_members(std::vector<Member>& members, int concurrency) {
  const FitRequest& first = members.front().request;
  std::unique_ptr<MemoryDataSource> sample;
  if (first.plan.subsample && first.plan.subsample_stride > 1) sample = draw_subsample(first);
  SharedPasses shared(concurrency, first.progress_rows, first.on_pass);
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i; (i = next++) < members.size();) {
      Member& member = members[i];
      FitRequest request = member.request;
      request.shared_passes = &shared;
      request.subsample = sample.get();
      request.progress_rows = nullptr;
      request.on_pass = nullptr;
      if (i > 0) request.on_iteration = nullptr;  // one iteration table, the first fit's
      try {
        member.result = fit(request);
      } catch (...) {
        member.error = std::current_exception();
      }
    }
    shared.leave();
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) threads.emplace_back(work);
  for (std::thread& thread : threads) thread.join();
  return shared.passes();
}

// A start stopped at a point where the model is not finite is a failed start; any other error
// (bad data, an interrupted read, ...) ends the whole run: the first one is rethrown.
void settle_errors(std::vector<Member>& members) {
  std::exception_ptr first;
  for (Member& member : members) {
    if (!member.error) continue;
    try {
      std::rethrow_exception(member.error);
    } catch (const StartNotFinite& error) {
      member.result.status = Status::failed;
      member.result.message = error.what();
      member.result.cost = kInf;
    } catch (...) {
      if (!first) first = member.error;
    }
  }
  if (first) std::rethrow_exception(first);
}

bool same_minimum(const FitResult& a, const Eigen::VectorXd& b) {
  if (a.params.size() != b.size()) return false;
  for (Eigen::Index j = 0; j < b.size(); ++j) {
    const double stderr_ = a.stderr_.size() == b.size() && std::isfinite(a.stderr_[j]) ? a.stderr_[j] : 0.0;
    const double tolerance = std::max(1e-6 * std::max(std::abs(a.params[j]), std::abs(b[j])), 1e-3 * stderr_);
    if (!(std::abs(a.params[j] - b[j]) <= tolerance)) return false;
  }
  return true;
}

bool reached(const FitResult& r) {
  return std::isfinite(r.cost) && r.status != Status::failed && r.params.size() > 0 && r.params.allFinite();
}

// One model's starts (members[first, first + count)) summarised into its best fit.
FitResult summarise_starts(std::vector<Member>& members, std::size_t first, int count, const StartsOptions& options,
                           const std::string& design, int concurrency, long passes) {
  std::vector<int> order;  // reached starts by cost, ties to the lower start
  for (int s = 0; s < count; ++s)
    if (reached(members[first + static_cast<std::size_t>(s)].result)) order.push_back(s);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return members[first + static_cast<std::size_t>(a)].result.cost <
           members[first + static_cast<std::size_t>(b)].result.cost;
  });
  if (order.empty()) {
    // No start got anywhere: the fit from p0 alone says why (it names the row), or fails as it would.
    FitResult alone = fit(members[first].request);
    alone.starts.count = count;
    return alone;
  }
  StartsSummary summary;
  summary.count = count;
  summary.seed = options.seed;
  summary.design = design;
  summary.concurrency = concurrency;
  summary.passes = passes;
  summary.best = order.front();
  for (int s = 0; s < count; ++s) {
    const Member& member = members[first + static_cast<std::size_t>(s)];
    const FitResult& r = member.result;
    StartRun run{s, member.request.p0, r.params, r.cost, r.status, r.message, r.nfev, r.passes, -1};
    if (!reached(r)) run.cost = kInf;
    summary.separate_passes += r.passes;
    summary.runs.push_back(run);
  }
  for (int s : order) {
    const FitResult& r = members[first + static_cast<std::size_t>(s)].result;
    std::size_t k = 0;
    while (k < summary.minima.size() &&
           !same_minimum(members[first + static_cast<std::size_t>(summary.minima[k].starts.front())].result, r.params))
      ++k;
    if (k == summary.minima.size()) summary.minima.push_back({r.cost, r.params, {}, r.status});
    summary.minima[k].starts.push_back(s);
    summary.runs[static_cast<std::size_t>(s)].minimum = static_cast<int>(k);
  }
  for (Minimum& minimum : summary.minima) std::sort(minimum.starts.begin(), minimum.starts.end());
  FitResult best = members[first + static_cast<std::size_t>(summary.best)].result;
  best.passes = passes;
  best.starts = std::move(summary);
  return best;
}

void check_shareable(const FitRequest& request, const StartsOptions& options) {
  if (options.count < 1) throw UsageError("--starts: must be at least 1, got " + std::to_string(options.count));
  if (request.distributed)
    throw UsageError("--starts and several --model run in one process, not across MPI ranks");
  if (request.on_checkpoint || request.resume)
    throw UsageError("--checkpoint and --resume take a single fit, not --starts or several --model");
}

int concurrency_for(const std::vector<Member>& members, const StartsOptions& options) {
  std::size_t member_bytes = 0;
  for (const Member& member : members) {
    const FitRequest& r = member.request;
    const std::size_t n_model = r.model->num_params();
    std::size_t n_free = 0;
    for (std::size_t j = 0; j < n_model; ++j) n_free += r.fixed.empty() || !r.fixed[j] ? 1 : 0;
    const std::size_t columns = static_cast<std::size_t>(r.data->num_predictors()) + 1 + (r.data->has_sigma() ? 1 : 0);
    member_bytes = std::max(member_bytes, predict_member_bytes(r.data->rows(), r.plan.chunk_rows, n_model, n_free,
                                                               columns, r.plan.threads, r.solver.method));
  }
  const int members_count = static_cast<int>(members.size());
  int concurrency = concurrent_members(members.front().request.plan, member_bytes, members_count);
  if (options.max_concurrency > 0) concurrency = std::min(concurrency, options.max_concurrency);
  return std::max(1, concurrency);
}

}  // namespace

std::vector<Eigen::VectorXd> start_points(const FitRequest& request, int count, std::uint64_t seed,
                                          std::string* design) {
  if (count < 1) throw UsageError("--starts: must be at least 1, got " + std::to_string(count));
  const Eigen::Index n = request.p0.size();
  std::vector<Eigen::VectorXd> points{request.p0};
  const std::vector<std::vector<double>> cube = latin_hypercube(count - 1, static_cast<int>(n), seed);
  int within_bounds = 0, around_p0 = 0;
  for (Eigen::Index j = 0; j < n; ++j) {
    if (is_fixed(request, j)) continue;
    const bool bounded = std::isfinite(bound(request.solver.lower, j, -kInf)) &&
                         std::isfinite(bound(request.solver.upper, j, kInf));
    ++(bounded ? within_bounds : around_p0);
  }
  for (const std::vector<double>& t : cube) {
    Eigen::VectorXd p = request.p0;
    for (Eigen::Index j = 0; j < n; ++j) {
      if (is_fixed(request, j)) continue;
      const double lower = bound(request.solver.lower, j, -kInf), upper = bound(request.solver.upper, j, kInf);
      const double u = t[static_cast<std::size_t>(j)];
      if (std::isfinite(lower) && std::isfinite(upper)) {
        p[j] = lower + (upper - lower) * u;
      } else {
        const double exponent = 2 * u - 1;
        p[j] = request.p0[j] == 0 ? exponent : request.p0[j] * std::pow(10.0, exponent);
        p[j] = std::clamp(p[j], lower, upper);
      }
    }
    points.push_back(p);
  }
  if (design)
    *design = "start 0 at p0; " + std::to_string(count - 1) + " in a Latin hypercube (seed " + std::to_string(seed) +
              "): " + std::to_string(within_bounds) + " parameter(s) within their bounds, " +
              std::to_string(around_p0) + " at p0 * 10^[-1, 1]";
  return points;
}

std::vector<FitResult> fit_models(const std::vector<FitRequest>& requests, const StartsOptions& options) {
  if (requests.empty()) throw UsageError("no model to fit");
  for (const FitRequest& request : requests) check_shareable(request, options);
  std::vector<Member> members;
  std::vector<std::string> designs;
  for (std::size_t k = 0; k < requests.size(); ++k) {
    designs.emplace_back();
    const std::vector<Eigen::VectorXd> points = start_points(requests[k], options.count, options.seed, &designs.back());
    for (int s = 0; s < options.count; ++s) {
      Member member{k, s, requests[k], {}, nullptr};
      member.request.p0 = points[static_cast<std::size_t>(s)];
      members.push_back(std::move(member));
    }
  }
  const int concurrency = concurrency_for(members, options);
  const long passes = run_members(members, concurrency);
  settle_errors(members);
  std::vector<FitResult> results;
  for (std::size_t k = 0; k < requests.size(); ++k)
    results.push_back(summarise_starts(members, k * static_cast<std::size_t>(options.count), options.count, options,
                                       designs[k], concurrency, passes));
  for (FitResult& r : results) {
    if (options.count == 1) r.starts = StartsSummary{};
    if (static_cast<std::size_t>(concurrency) < members.size())
      r.used.notes.push_back("the memory limit holds " + std::to_string(concurrency) + " of the " +
                             std::to_string(members.size()) + " fits at once: they ran in waves");
  }
  if (requests.size() == 1) return results;
  std::vector<ModelComparison> table;
  for (std::size_t k = 0; k < results.size(); ++k) {
    const FitResult& r = results[k];
    long alone = 0;
    for (const Member& member : members)
      if (member.model == k) alone += member.result.passes;
    table.push_back({r.used.model, r.used.formula, r.n_free, r.cost, r.chi2, r.reduced_chi2, r.r_squared, r.aic,
                     r.bic, r.status, alone});
  }
  std::stable_sort(table.begin(), table.end(), [](const ModelComparison& a, const ModelComparison& b) {
    return !std::isnan(a.aic) && (std::isnan(b.aic) || a.aic < b.aic);
  });
  for (FitResult& r : results) r.models = table;
  return results;
}

std::size_t best_model(const std::vector<FitResult>& results) {
  std::size_t best = 0;
  for (std::size_t k = 1; k < results.size(); ++k)
    if (!std::isnan(results[k].aic) && (std::isnan(results[best].aic) || results[k].aic < results[best].aic)) best = k;
  return best;
}

FitResult fit_starts(const FitRequest& request, const StartsOptions& options) {
  if (options.count < 1) throw UsageError("--starts: must be at least 1, got " + std::to_string(options.count));
  if (options.count == 1) return fit(request);
  return fit_models({request}, options).front();
}

}  // namespace curvefit
