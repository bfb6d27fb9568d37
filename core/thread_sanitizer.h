#pragma once
// The hand-offs TBB makes between threads, told to ThreadSanitizer.
//
// Debian's libtbb is not built with ThreadSanitizer: the synchronisation by which TBB gives a task
// to a worker, passes a pipeline's token from one filter to the next, and lets the caller of a
// parallel algorithm learn that every task has finished, happens inside libtbb.so where TSan
// cannot see it. Our code states those edges itself (__tsan_release on a tag before the hand-off,
// __tsan_acquire on the same tag after it), so that TSan checks every access of ours without
// suppressions. In any other build these are empty inline functions and the wrappers return the
// body itself.
//
//   tsan::ForkJoin edges;                                  // caller, before the algorithm
//   tbb::parallel_for(range, edges.task([&](auto& r) { ... }));
//   edges.joined();                                        // caller, after it returned
#include <utility>

#if defined(__SANITIZE_THREAD__)
#define CURVEFIT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CURVEFIT_TSAN 1
#endif
#endif

#ifdef CURVEFIT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace curvefit::tsan {

// What this thread did before release(tag) happens before what another thread does after a later
// acquire(tag).
inline void release([[maybe_unused]] const void* tag) {
#ifdef CURVEFIT_TSAN
  __tsan_release(const_cast<void*>(tag));
#endif
}
inline void acquire([[maybe_unused]] const void* tag) {
#ifdef CURVEFIT_TSAN
  __tsan_acquire(const_cast<void*>(tag));
#endif
}

// `body` wrapped so that it acquires `before` on entry and releases `after` on exit (also when it
// throws). The tags may be equal (successive calls of a serial filter) or not (fork and join).
template <typename Body>
auto between(const void* before, const void* after, Body body) {
#ifdef CURVEFIT_TSAN
  return [before, after, body](auto&&... args) -> decltype(auto) {
    acquire(before);
    struct ReleaseOnExit {
      const void* tag;
      ~ReleaseOnExit() { release(tag); }
    } on_exit{after};
    return body(std::forward<decltype(args)>(args)...);
  };
#else
  (void)before, (void)after;
  return body;
#endif
}

// The fork and join edges of one parallel algorithm: the caller's work before it happens before
// every task, and every task before the caller's work after joined(). Tasks are not ordered among
// themselves.
class ForkJoin {
 public:
  ForkJoin() { release(&fork_); }
  // Also when the algorithm throws (TBB has waited for every task before it rethrows).
  ~ForkJoin() { joined(); }
  ForkJoin(const ForkJoin&) = delete;
  ForkJoin& operator=(const ForkJoin&) = delete;
  template <typename Body>
  auto task(Body body) const {
    return between(&fork_, &join_, std::move(body));
  }
  void joined() const { acquire(&join_); }

 private:
  char fork_ = 0, join_ = 0;
};

}  // namespace curvefit::tsan
