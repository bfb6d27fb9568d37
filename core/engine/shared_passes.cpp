#include "core/engine/shared_passes.h"

#include <utility>

namespace curvefit {

SharedPasses::SharedPasses(int members, std::atomic<std::size_t>* rows_done, std::function<void(long pass)> on_pass)
    : live_(members), rows_done_(rows_done), on_pass_(std::move(on_pass)) {}

Evaluation SharedPasses::evaluate(ChunkedObjective& objective, const Eigen::VectorXd& x, bool linearize) {
  ChunkedObjective::PassRequest request{&objective, x, linearize, {}};
  std::exception_ptr error;
  std::unique_lock lock(mutex_);
  posted_.push_back(&request);
  errors_.push_back(&error);
  const long generation = generation_;
  if (static_cast<int>(posted_.size()) >= live_)
    run_posted(lock);
  else
    done_.wait(lock, [&] { return generation_ != generation; });
  if (error) std::rethrow_exception(error);
  return std::move(request.result);
}

void SharedPasses::leave() {
  std::unique_lock lock(mutex_);
  --live_;
  if (!posted_.empty() && static_cast<int>(posted_.size()) >= live_) run_posted(lock);
}

void SharedPasses::run_posted(std::unique_lock<std::mutex>& lock) {
  std::vector<ChunkedObjective::PassRequest*> requests;
  std::vector<std::exception_ptr*> errors;
  requests.swap(posted_);
  errors.swap(errors_);
  widest_ = std::max(widest_, requests.size());
  // Every live member is waiting for this pass: nobody posts until it is done.
  lock.unlock();
  const long pass = ++passes_;
  ChunkedObjective::PassHooks hooks{rows_done_, nullptr};
  if (on_pass_) hooks.on_start = [&] { on_pass_(pass); };
  try {
    ChunkedObjective::evaluate_together(requests, hooks);
  } catch (...) {
    for (std::exception_ptr* error : errors) *error = std::current_exception();
  }
  lock.lock();
  ++generation_;
  done_.notify_all();
}

}  // namespace curvefit
