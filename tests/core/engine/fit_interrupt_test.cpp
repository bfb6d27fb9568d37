// An interrupt during a pass stops the fit within that pass: the pass evaluates fewer rows than
// the data have, the solver neither judges nor accepts its trial, and the fit ends with
// Status::interrupted at the last accepted point of the uninterrupted fit, bit for bit.
//
// Truth: the same fit run without an interrupt, whose accepted points (SolverOptions::on_state,
// one per accepted step) and their pass numbers are recorded; the model counts the rows it
// evaluates and sets the interrupt flag once a given number of rows of a given pass are done.
#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include "core/engine/engine_test_support.h"
#include "core/engine/fit.h"
#include "core/engine/multistart.h"

namespace curvefit {
namespace {

using testing_support::CountingSource;
using testing_support::ExponentialDecay;
using testing_support::make_decay_data;

constexpr std::size_t kRows = 20000;
constexpr std::size_t kChunk = 1000;  // 20 chunks per pass

// The decay model, counting the rows it evaluates; once armed with r rows it sets `flag` when r
// more rows have been evaluated (in the middle of a chunk when r is not a multiple of it).
class InterruptingModel : public ExponentialDecay {
 public:
  explicit InterruptingModel(std::atomic<bool>& flag) : flag_(flag) {}
  void evaluate(const double* const* x, std::size_t n, const double* p, double* values) const override {
    count(n);
    ExponentialDecay::evaluate(x, n, p, values);
  }
  void evaluate_with_jacobian(const double* const* x, std::size_t n, const double* p, double* values,
                              double* jac) const override {
    count(n);
    ExponentialDecay::evaluate_with_jacobian(x, n, p, values, jac);
  }
  void arm(long rows) { remaining_ = rows; }
  mutable std::atomic<std::size_t> rows{0};

 private:
  void count(std::size_t n) const {
    rows += n;
    if (remaining_.load() > 0 && remaining_.fetch_sub(static_cast<long>(n)) <= static_cast<long>(n)) flag_ = true;
  }
  std::atomic<bool>& flag_;
  mutable std::atomic<long> remaining_{0};
};

// One accepted point of a run: the pass after which it was accepted, and its x and iteration.
struct Accepted {
  long pass = 0;
  Eigen::VectorXd x;
  int iteration = 0;
};

struct Recorder {
  std::mutex mutex;
  long pass = 0;
  std::size_t rows_at_pass_start = 0;
  std::vector<Accepted> accepted;
};

FitRequest make_request(const Model& model, DataSource& data, FitMode mode, Algorithm method) {
  FitRequest request = testing_support::decay_fit_request(model, data, mode, kChunk);
  request.solver.method = method;
  return request;
}

// Records every accepted point and the pass it follows; on_pass arms the model at pass `arm_pass`
// (0: never) to interrupt after 3.5 chunks of it.
void instrument(FitRequest& request, InterruptingModel& model, Recorder& recorder, long arm_pass) {
  request.on_pass = [&model, &recorder, arm_pass](long pass) {
    const std::lock_guard lock(recorder.mutex);
    recorder.pass = pass;
    recorder.rows_at_pass_start = model.rows.load();
    if (pass == arm_pass) model.arm(static_cast<long>(3 * kChunk + kChunk / 2));
  };
  request.solver.on_state = [&recorder](const SolverState& state) {
    const std::lock_guard lock(recorder.mutex);
    recorder.accepted.push_back({recorder.pass, state.x, state.iteration});
  };
}

// The last point the uninterrupted run had accepted before pass `pass` started.
const Accepted& last_before(const std::vector<Accepted>& accepted, long pass) {
  const Accepted* last = nullptr;
  for (const Accepted& a : accepted)
    if (a.pass < pass) last = &a;
  EXPECT_NE(last, nullptr);
  return *last;
}

struct Case {
  FitMode mode;
  Algorithm method;
};

class InterruptMidPass : public ::testing::TestWithParam<Case> {};

TEST_P(InterruptMidPass, EndsAtTheLastAcceptedPointWithoutFinishingThePass) {
  const Case c = GetParam();
  MemoryDataSource data = make_decay_data(kRows, true);
  CountingSource source(data);
  DataSource& input = c.mode == FitMode::stream ? static_cast<DataSource&>(source) : data;
  std::atomic<bool> flag{false};

  InterruptingModel model(flag);
  Recorder whole;
  FitRequest request = make_request(model, input, c.mode, c.method);
  request.solver.interrupt = &flag;
  instrument(request, model, whole, 0);
  const FitResult uninterrupted = fit(request);
  ASSERT_TRUE(uninterrupted.success) << uninterrupted.message;
  ASSERT_GE(whole.pass, 6) << "too few passes to interrupt the fifth";

  constexpr long kInterruptedPass = 5;
  InterruptingModel cut_model(flag);
  Recorder cut;
  FitRequest cut_request = make_request(cut_model, input, c.mode, c.method);
  cut_request.solver.interrupt = &flag;
  instrument(cut_request, cut_model, cut, kInterruptedPass);
  const FitResult interrupted = fit(cut_request);

  EXPECT_EQ(interrupted.status, Status::interrupted);
  EXPECT_FALSE(interrupted.success);
  EXPECT_EQ(cut.pass, kInterruptedPass) << "no pass may follow the interrupted one";
  const std::size_t rows_in_pass = cut_model.rows.load() - cut.rows_at_pass_start;
  EXPECT_LT(rows_in_pass, kRows) << "the interrupted pass went on to the end of the data";
  const Accepted& expected = last_before(whole.accepted, kInterruptedPass);
  ASSERT_EQ(interrupted.params.size(), expected.x.size());
  for (Eigen::Index j = 0; j < expected.x.size(); ++j) EXPECT_EQ(interrupted.params[j], expected.x[j]) << j;
  EXPECT_EQ(interrupted.iterations, expected.iteration);
  // Its report is that point's: the accepted points of both runs agree up to it, and the
  // covariance comes from its linearization.
  ASSERT_EQ(cut.accepted.size(), static_cast<std::size_t>(expected.iteration) + 1);
  EXPECT_TRUE(interrupted.stderr_.allFinite());
  EXPECT_TRUE(std::isfinite(interrupted.chi2));
}

INSTANTIATE_TEST_SUITE_P(
    ModesAndMethods, InterruptMidPass,
    ::testing::Values(Case{FitMode::memory, Algorithm::trf}, Case{FitMode::chunked, Algorithm::trf},
                      Case{FitMode::stream, Algorithm::trf}, Case{FitMode::memory, Algorithm::lm},
                      Case{FitMode::chunked, Algorithm::lm}, Case{FitMode::stream, Algorithm::lm},
                      Case{FitMode::memory, Algorithm::dogbox}, Case{FitMode::chunked, Algorithm::dogbox},
                      Case{FitMode::stream, Algorithm::dogbox}));

// The first pass of the fit interrupted: no point was ever complete, the fit says so and reports
// the start.
TEST(FitInterrupt, DuringTheFirstPassThereIsNoBestPoint) {
  MemoryDataSource data = make_decay_data(kRows, true);
  CountingSource source(data);
  std::atomic<bool> flag{false};
  InterruptingModel model(flag);
  Recorder recorder;
  FitRequest request = make_request(model, source, FitMode::stream, Algorithm::trf);
  request.solver.interrupt = &flag;
  request.covariance = CovarianceKind::hc1;
  instrument(request, model, recorder, 1);
  const FitResult result = fit(request);
  EXPECT_EQ(result.status, Status::interrupted);
  EXPECT_NE(result.message.find("no best point"), std::string::npos) << result.message;
  EXPECT_EQ(result.params, request.p0);
  EXPECT_EQ(recorder.pass, 1);
  EXPECT_LT(model.rows.load(), kRows);
  EXPECT_TRUE(recorder.accepted.empty());
  EXPECT_FALSE(std::isfinite(result.cost));
  EXPECT_TRUE(result.stderr_.array().isNaN().all());
}

// --cov robust needs one more pass at the solution: after an interrupt none is made, and the
// standard errors are not given under the sandwich's name.
TEST(FitInterrupt, RobustCovarianceIsWithheldNotReplacedByTheStandardOne) {
  MemoryDataSource data = make_decay_data(kRows, true);
  std::atomic<bool> flag{false};
  InterruptingModel model(flag);
  Recorder recorder;
  FitRequest request = make_request(model, data, FitMode::chunked, Algorithm::trf);
  request.solver.interrupt = &flag;
  request.covariance = CovarianceKind::hc1;
  instrument(request, model, recorder, 4);
  const FitResult result = fit(request);
  EXPECT_EQ(result.status, Status::interrupted);
  EXPECT_EQ(recorder.pass, 4);
  EXPECT_TRUE(result.params.allFinite());
  EXPECT_TRUE(result.stderr_.array().isNaN().all()) << result.stderr_.transpose();
}

// The subsample fit interrupted in its fourth pass: it ends at its last accepted point, and the
// full fit reads nothing.
TEST(FitInterrupt, DuringTheSubsampleFit) {
  MemoryDataSource data = make_decay_data(kRows, true);
  std::atomic<bool> flag{false};
  constexpr std::size_t kStride = 37;
  const std::size_t sample_rows = (kRows + kStride - 1) / kStride;

  // The subsample's passes have no on_pass: its passes are counted in rows.
  auto run = [&](InterruptingModel& model, std::vector<std::pair<std::size_t, Accepted>>& accepted) {
    FitRequest request = make_request(model, data, FitMode::chunked, Algorithm::trf);
    request.plan.subsample = true;
    request.plan.subsample_stride = kStride;
    request.solver.interrupt = &flag;
    request.solver.on_state = [&](const SolverState& state) {
      accepted.push_back({model.rows.load(), {0, state.x, state.iteration}});
    };
    return fit(request);
  };
  InterruptingModel model(flag);
  std::vector<std::pair<std::size_t, Accepted>> whole;
  const FitResult uninterrupted = run(model, whole);
  ASSERT_TRUE(uninterrupted.success) << uninterrupted.message;
  ASSERT_EQ(uninterrupted.subsample_rows, sample_rows);
  ASSERT_GE(uninterrupted.subsample_nfev, 5);

  InterruptingModel cut_model(flag);
  const std::size_t trigger = 3 * sample_rows + sample_rows / 4;  // in the subsample's fourth pass
  cut_model.arm(static_cast<long>(trigger));
  std::vector<std::pair<std::size_t, Accepted>> cut;
  const FitResult interrupted = run(cut_model, cut);
  EXPECT_EQ(interrupted.status, Status::interrupted);
  EXPECT_LT(cut_model.rows.load(), 4 * sample_rows) << "the interrupted pass went on to the end of the subsample";
  const Accepted* expected = nullptr;
  for (const auto& [rows, a] : whole)
    if (rows < trigger) expected = &a;
  ASSERT_NE(expected, nullptr);
  for (Eigen::Index j = 0; j < expected->x.size(); ++j) EXPECT_EQ(interrupted.params[j], expected->x[j]) << j;
  bool noted = false;
  for (const std::string& note : interrupted.used.notes) noted = noted || note.find("subsample fit") != std::string::npos;
  EXPECT_TRUE(noted);
}

// --starts: the shared pass is cut short for every start, and each start ends at the last point
// its own fit (alone: the shared passes give its bits) had accepted before that pass.
TEST(FitInterrupt, SharedPassesOfSeveralStarts) {
  MemoryDataSource data = make_decay_data(kRows, true);
  std::atomic<bool> flag{false};
  StartsOptions starts;
  starts.count = 3;
  starts.max_concurrency = 3;
  InterruptingModel model(flag);
  Recorder shared;
  FitRequest request = make_request(model, data, FitMode::chunked, Algorithm::trf);
  request.solver.interrupt = &flag;
  constexpr long kInterruptedPass = 4;
  instrument(request, model, shared, kInterruptedPass);
  request.solver.on_state = nullptr;
  const FitResult result = fit_starts(request, starts);
  EXPECT_EQ(result.status, Status::interrupted);
  EXPECT_EQ(shared.pass, kInterruptedPass);
  EXPECT_LT(model.rows.load() - shared.rows_at_pass_start, 3 * kRows);
  ASSERT_EQ(result.starts.runs.size(), 3u);

  const std::vector<Eigen::VectorXd> points = start_points(request, starts.count, starts.seed);
  int compared = 0;
  for (int s = 0; s < starts.count; ++s) {
    const StartRun& run = result.starts.runs[static_cast<std::size_t>(s)];
    InterruptingModel alone_model(flag);
    Recorder alone;
    FitRequest alone_request = make_request(alone_model, data, FitMode::chunked, Algorithm::trf);
    alone_request.p0 = points[static_cast<std::size_t>(s)];
    instrument(alone_request, alone_model, alone, 0);
    flag = false;
    try {
      fit(alone_request);
    } catch (const StartNotFinite&) {
      continue;  // a start where the model is not finite fails at once
    }
    if (alone.pass < kInterruptedPass) continue;  // ended before the interrupt
    EXPECT_EQ(run.status, Status::interrupted) << s;
    ++compared;
    const Accepted& expected = last_before(alone.accepted, kInterruptedPass);
    for (Eigen::Index j = 0; j < expected.x.size(); ++j) EXPECT_EQ(run.params[j], expected.x[j]) << s << " " << j;
  }
  EXPECT_GE(compared, 2);
}

}  // namespace
}  // namespace curvefit
