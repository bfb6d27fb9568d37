#pragma once
// One pass over the data for several fits at once (--starts N, several --model): each fit runs its
// own solver on its own thread against a ChunkedObjective whose options name this coordinator.
// Its evaluate() posts the point here and blocks; once every live member has posted (or left),
// the last to arrive runs ONE pass (ChunkedObjective::evaluate_together) that reads each chunk
// once and evaluates it for every posted point, then wakes the members. Each objective folds into
// its own slots in the usual fixed tree, so every member gets the bits it would get alone; the
// members only share the reading.
//
// Members that wait for each other never deadlock: a member that finishes calls leave(), which
// runs the pass the others are waiting for if they were only waiting for it.
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <vector>

#include "core/engine/chunked_objective.h"

namespace curvefit {

class SharedPasses {
 public:
  // `members`: the fits that will post (each calls leave() when done). rows_done and on_pass report
  // the shared passes (not the members' own counts) for a progress display; either may be null.
  SharedPasses(int members, std::atomic<std::size_t>* rows_done, std::function<void(long pass)> on_pass);

  // Called from a member's thread by its objective: blocks until a pass has evaluated x.
  // Rethrows what the pass threw (a data error, say) in every member of that pass.
  Evaluation evaluate(ChunkedObjective& objective, const Eigen::VectorXd& x, bool linearize);
  // A member has finished (or failed): no more points from it.
  void leave();
  // Passes over the data run so far.
  long passes() const { return passes_.load(); }
  // The most points one pass evaluated.
  std::size_t widest_pass() const { return widest_; }

 private:
  // Runs the posted points' pass with the lock released, then wakes their members.
  void run_posted(std::unique_lock<std::mutex>& lock);

  std::mutex mutex_;
  std::condition_variable done_;
  int live_;
  std::vector<ChunkedObjective::PassRequest*> posted_;
  std::vector<std::exception_ptr*> errors_;
  long generation_ = 0;
  std::atomic<long> passes_{0};
  std::size_t widest_ = 0;
  std::atomic<std::size_t>* rows_done_;
  std::function<void(long pass)> on_pass_;
};

}  // namespace curvefit
