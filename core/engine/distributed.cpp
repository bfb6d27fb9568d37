#include "core/engine/distributed.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>

#include "core/errors.h"

#ifdef CURVEFIT_MPI
#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#endif

namespace curvefit {

bool Distributed::on_mpi_thread() const { return std::this_thread::get_id() == mpi_thread_; }

bool Distributed::poll_interrupt() {
  const bool mine = local_interrupt_ && local_interrupt_->load(std::memory_order_relaxed);
  if (on_mpi_thread()) {
    if (mine && !notified_) {
      notify_interrupt();
      notified_ = true;
    }
    if (!peer_interrupted_.load(std::memory_order_relaxed) && interrupt_notice_arrived()) peer_interrupted_ = true;
  }
  return mine || peer_interrupted_.load(std::memory_order_relaxed);
}

void Distributed::agree(std::exception_ptr error) {
  int status = 0;
  std::string message;
  if (error) std::tie(status, message) = classify_exception(error);
  const bool interrupt = local_interrupt_ && local_interrupt_->load();
  const Agreement agreed = exchange_status(status, message, interrupt);
  // A rank that told the others was interrupted, so the interrupt is agreed whenever notices were
  // sent: every rank settles them here, collectively.
  if (agreed.interrupt) settle_interrupt_notices(notified_);
  notified_ = false;
  peer_interrupted_ = false;
  if (agreed.interrupt) agreed_interrupt_ = true;
  if (agreed.status == 0) return;
  failure_agreed_ = true;
  if (error) std::rethrow_exception(error);
  throw RankError(agreed.status, agreed.message);
}

void Distributed::run_agreed(const std::function<void()>& step) {
  std::exception_ptr error;
  try {
    listen_for_interrupt();
    step();
  } catch (...) {
    error = std::current_exception();
  }
  agree(error);
}

bool launched_by_mpi_launcher() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (std::getenv(name)) return true;
  return false;
}

int launched_task_count() {
  int tasks = 1;
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"})
    if (const char* value = std::getenv(name)) tasks = std::max(tasks, std::atoi(value));
  return tasks;
}

bool built_with_mpi() {
#ifdef CURVEFIT_MPI
  return true;
#else
  return false;
#endif
}

namespace {

// One process: every collective is the identity.
class SingleProcess final : public Distributed {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::size_t min_over_ranks(std::size_t value) override { return value; }
  std::vector<double> all_gather(const std::vector<double>& mine, std::vector<int>& counts) override {
    counts.assign(1, static_cast<int>(mine.size()));
    return mine;
  }
  std::vector<std::uint64_t> all_gather_integers(const std::vector<std::uint64_t>& mine,
                                                 std::vector<int>& counts) override {
    counts.assign(1, static_cast<int>(mine.size()));
    return mine;
  }
  void send_to_root(const double*, std::size_t) override {}
  void receive(int, std::vector<double>&) override {}
  void abort(int exit_code) override { std::_Exit(exit_code); }

 protected:
  Agreement exchange_status(int status, const std::string& message, bool interrupt) override {
    return {status, status ? 0 : -1, message, interrupt};
  }
};

#ifdef CURVEFIT_MPI
// The functions of the MPI module (core/engine/distributed_mpi.c), looked up once it is loaded.
struct MpiModule {
  int (*start)(int*, char***);
  void (*stop)();
  int (*rank)();
  int (*size)();
  unsigned long long (*min)(unsigned long long);
  void (*min_ints)(const int*, int*, int);
  void (*broadcast)(void*, int, int);
  void (*gather_counts)(int, int*);
  void (*gather_doubles)(const double*, int, double*, const int*, const int*);
  void (*gather_integers)(const unsigned long long*, int, unsigned long long*, const int*, const int*);
  void (*send)(const double*, int, int, int);
  void (*receive)(double*, int, int, int);
  void (*abort)(int);
  void (*library)(char*, int);
  void (*interrupt_listen)();
  int (*interrupt_arrived)();
  void (*interrupt_notify)();
  int (*sum_int)(int);
  void (*interrupt_settle)(int);
  void (*interrupt_stop)();
};

template <class Function>
void find(void* handle, const char* name, Function& function) {
  function = reinterpret_cast<Function>(dlsym(handle, name));
  if (!function) throw std::runtime_error(std::string("the MPI module lacks ") + name);
}

// Next to the executable (build tree: bin/ and lib/), where it was installed, or on the loader's path.
// RTLD_GLOBAL: Open MPI's own plugins, which it loads in turn, need libmpi's symbols.
void* open_module() {
  std::vector<std::string> candidates;
  std::error_code ignored;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ignored);
  if (!exe.empty()) candidates.push_back((exe.parent_path().parent_path() / "lib" / "libcurvefit_mpi.so").string());
  candidates.push_back(CURVEFIT_MPI_MODULE);
  candidates.push_back("libcurvefit_mpi.so");
  std::string errors;
  for (const std::string& path : candidates) {
    if (path.find('/') != std::string::npos && !std::filesystem::exists(path, ignored)) continue;
    if (void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL)) return handle;
    errors += std::string("; ") + dlerror();
  }
  throw std::runtime_error("started by an MPI launcher, but the MPI module libcurvefit_mpi.so cannot be loaded" +
                           (errors.empty() ? std::string(" (not found next to the executable nor in " CURVEFIT_MPI_MODULE ")") : errors));
}

MpiModule load_module() {
  void* handle = open_module();
  MpiModule m{};
  find(handle, "curvefit_mpi_start", m.start);
  find(handle, "curvefit_mpi_stop", m.stop);
  find(handle, "curvefit_mpi_rank", m.rank);
  find(handle, "curvefit_mpi_size", m.size);
  find(handle, "curvefit_mpi_min", m.min);
  find(handle, "curvefit_mpi_min_ints", m.min_ints);
  find(handle, "curvefit_mpi_broadcast", m.broadcast);
  find(handle, "curvefit_mpi_gather_counts", m.gather_counts);
  find(handle, "curvefit_mpi_gather_doubles", m.gather_doubles);
  find(handle, "curvefit_mpi_gather_integers", m.gather_integers);
  find(handle, "curvefit_mpi_send", m.send);
  find(handle, "curvefit_mpi_receive", m.receive);
  find(handle, "curvefit_mpi_abort", m.abort);
  find(handle, "curvefit_mpi_library", m.library);
  find(handle, "curvefit_mpi_interrupt_listen", m.interrupt_listen);
  find(handle, "curvefit_mpi_interrupt_arrived", m.interrupt_arrived);
  find(handle, "curvefit_mpi_interrupt_notify", m.interrupt_notify);
  find(handle, "curvefit_mpi_sum_int", m.sum_int);
  find(handle, "curvefit_mpi_interrupt_settle", m.interrupt_settle);
  find(handle, "curvefit_mpi_interrupt_stop", m.interrupt_stop);
  return m;
}

// MPI_COMM_WORLD. Errors of MPI itself abort the job (MPI's default handler): a rank that lost
// its peers cannot continue a fit anyway.
class MpiWorld final : public Distributed {
 public:
  explicit MpiWorld(const MpiModule& mpi) : mpi_(mpi), rank_(mpi.rank()), size_(mpi.size()) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::size_t min_over_ranks(std::size_t value) override { return static_cast<std::size_t>(mpi_.min(value)); }
  std::vector<double> all_gather(const std::vector<double>& mine, std::vector<int>& counts) override {
    const std::vector<int> offsets = gather_counts(mine.size(), counts);
    std::vector<double> all(static_cast<std::size_t>(offsets.back() + counts.back()));
    mpi_.gather_doubles(mine.data(), static_cast<int>(mine.size()), all.data(), counts.data(), offsets.data());
    return all;
  }
  std::vector<std::uint64_t> all_gather_integers(const std::vector<std::uint64_t>& mine,
                                                 std::vector<int>& counts) override {
    static_assert(sizeof(unsigned long long) == sizeof(std::uint64_t));
    const std::vector<int> offsets = gather_counts(mine.size(), counts);
    std::vector<std::uint64_t> all(static_cast<std::size_t>(offsets.back() + counts.back()));
    mpi_.gather_integers(reinterpret_cast<const unsigned long long*>(mine.data()), static_cast<int>(mine.size()),
                         reinterpret_cast<unsigned long long*>(all.data()), counts.data(), offsets.data());
    return all;
  }
  void send_to_root(const double* data, std::size_t count) override {
    mpi_.send(data, static_cast<int>(count), 0, kBlockTag);
  }
  void receive(int from, std::vector<double>& block) override {
    mpi_.receive(block.data(), static_cast<int>(block.size()), from, kBlockTag);
  }
  void abort(int exit_code) override { mpi_.abort(exit_code); }
  std::string library() const override {
    char version[256];
    mpi_.library(version, sizeof version);
    const std::string text(version);
    return text.substr(0, text.find_first_of(",\n"));
  }

 protected:
  Agreement exchange_status(int status, const std::string& message, bool interrupt) override {
    Agreement agreed;
    // One small allreduce in the common case: who failed (lowest rank) and whether anyone was
    // interrupted.
    const int mine[2] = {status ? rank_ : size_, interrupt ? 0 : 1};
    int all[2] = {0, 0};
    mpi_.min_ints(mine, all, 2);
    const int lowest = all[0];
    agreed.interrupt = all[1] == 0;
    if (lowest == size_) return agreed;
    agreed.failed_rank = lowest;
    int head[2] = {status, static_cast<int>(message.size())};
    mpi_.broadcast(head, static_cast<int>(sizeof head), lowest);
    agreed.status = head[0];
    agreed.message = rank_ == lowest ? message : std::string(static_cast<std::size_t>(head[1]), ' ');
    mpi_.broadcast(agreed.message.data(), head[1], lowest);
    return agreed;
  }
  void listen_for_interrupt() override {
    if (on_mpi_thread()) mpi_.interrupt_listen();
  }
  bool interrupt_notice_arrived() override { return mpi_.interrupt_arrived() != 0; }
  void notify_interrupt() override { mpi_.interrupt_notify(); }
  // Every rank learns how many ranks sent notices, and takes those sent to it.
  void settle_interrupt_notices(bool notified) override {
    const int senders = mpi_.sum_int(notified ? 1 : 0);
    mpi_.interrupt_settle(senders - (notified ? 1 : 0));
  }

 private:
  // Every rank's count of items, and where each rank's items start in the concatenation.
  std::vector<int> gather_counts(std::size_t mine, std::vector<int>& counts) {
    counts.assign(static_cast<std::size_t>(size_), 0);
    mpi_.gather_counts(static_cast<int>(mine), counts.data());
    std::vector<int> offsets(counts.size(), 0);
    for (std::size_t r = 1; r < counts.size(); ++r) offsets[r] = offsets[r - 1] + counts[r - 1];
    return offsets;
  }

  static constexpr int kBlockTag = 14;
  MpiModule mpi_;
  int rank_ = 0;
  int size_ = 1;
};

std::optional<MpiModule> g_mpi;
#endif

std::unique_ptr<Distributed>& instance() {
  static std::unique_ptr<Distributed> world = std::make_unique<SingleProcess>();
  return world;
}

}  // namespace

void start_distributed([[maybe_unused]] int* argc, [[maybe_unused]] char*** argv) {
#ifdef CURVEFIT_MPI
  if (g_mpi || !launched_by_mpi_launcher()) return;
  const MpiModule mpi = load_module();
  if (mpi.start(argc, argv) != 0) throw std::runtime_error("MPI_Init_thread failed");
  g_mpi = mpi;
  instance() = std::make_unique<MpiWorld>(mpi);
#endif
}

void stop_distributed() {
#ifdef CURVEFIT_MPI
  if (!g_mpi) return;
  instance() = std::make_unique<SingleProcess>();
  g_mpi->interrupt_stop();
  g_mpi->stop();
  g_mpi.reset();
#endif
}

Distributed& distributed() { return *instance(); }

}  // namespace curvefit
