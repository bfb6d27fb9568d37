#include "core/engine/distributed.h"

#include <cstdlib>
#include <memory>
#include <tuple>

#include "core/errors.h"

#ifdef CURVEFIT_MPI
// The C API only: Open MPI's and MPICH's deprecated C++ bindings need a library we do not link.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace curvefit {

void Distributed::agree(std::exception_ptr error) {
  int status = 0;
  std::string message;
  if (error) std::tie(status, message) = classify_exception(error);
  const bool interrupt = local_interrupt_ && local_interrupt_->load();
  const Agreement agreed = exchange_status(status, message, interrupt);
  if (agreed.interrupt) agreed_interrupt_ = true;
  if (agreed.status == 0) return;
  failure_agreed_ = true;
  if (error) std::rethrow_exception(error);
  throw RankError(agreed.status, agreed.message);
}

void Distributed::run_agreed(const std::function<void()>& step) {
  std::exception_ptr error;
  try {
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
  void send_to_root(const std::vector<double>&) override {}
  void receive(int, std::vector<double>&) override {}
  void abort(int exit_code) override { std::_Exit(exit_code); }

 protected:
  Agreement exchange_status(int status, const std::string& message, bool interrupt) override {
    return {status, status ? 0 : -1, message, interrupt};
  }
};

#ifdef CURVEFIT_MPI
// MPI_COMM_WORLD. Errors of MPI itself abort the job (MPI's default handler): a rank that lost
// its peers cannot continue a fit anyway.
class MpiWorld final : public Distributed {
 public:
  MpiWorld() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::size_t min_over_ranks(std::size_t value) override {
    unsigned long long mine = value, smallest = 0;
    MPI_Allreduce(&mine, &smallest, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    return static_cast<std::size_t>(smallest);
  }
  std::vector<double> all_gather(const std::vector<double>& mine, std::vector<int>& counts) override {
    counts.assign(static_cast<std::size_t>(size_), 0);
    const int count = static_cast<int>(mine.size());
    MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
    std::vector<int> offsets(counts.size(), 0);
    for (std::size_t r = 1; r < counts.size(); ++r) offsets[r] = offsets[r - 1] + counts[r - 1];
    std::vector<double> all(static_cast<std::size_t>(offsets.back() + counts.back()));
    MPI_Allgatherv(mine.data(), count, MPI_DOUBLE, all.data(), counts.data(), offsets.data(), MPI_DOUBLE,
                   MPI_COMM_WORLD);
    return all;
  }
  void send_to_root(const std::vector<double>& block) override {
    MPI_Send(block.data(), static_cast<int>(block.size()), MPI_DOUBLE, 0, kBlockTag, MPI_COMM_WORLD);
  }
  void receive(int from, std::vector<double>& block) override {
    MPI_Recv(block.data(), static_cast<int>(block.size()), MPI_DOUBLE, from, kBlockTag, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
  }
  void abort(int exit_code) override { MPI_Abort(MPI_COMM_WORLD, exit_code); }
  std::string library() const override {
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    MPI_Get_library_version(version, &length);
    const std::string text(version, static_cast<std::size_t>(length));
    return text.substr(0, text.find_first_of(",\n"));
  }

 protected:
  Agreement exchange_status(int status, const std::string& message, bool interrupt) override {
    Agreement agreed;
    // One small allreduce in the common case: who failed (lowest rank) and whether anyone was
    // interrupted.
    const int mine[2] = {status ? rank_ : size_, interrupt ? 0 : 1};
    int all[2] = {0, 0};
    MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    const int lowest = all[0];
    agreed.interrupt = all[1] == 0;
    if (lowest == size_) return agreed;
    agreed.failed_rank = lowest;
    int head[2] = {status, static_cast<int>(message.size())};
    MPI_Bcast(head, 2, MPI_INT, lowest, MPI_COMM_WORLD);
    agreed.status = head[0];
    agreed.message = rank_ == lowest ? message : std::string(static_cast<std::size_t>(head[1]), ' ');
    MPI_Bcast(agreed.message.data(), head[1], MPI_CHAR, lowest, MPI_COMM_WORLD);
    return agreed;
  }

 private:
  static constexpr int kBlockTag = 14;
  int rank_ = 0;
  int size_ = 1;
};

bool g_mpi_started = false;
#endif

std::unique_ptr<Distributed>& instance() {
  static std::unique_ptr<Distributed> world = std::make_unique<SingleProcess>();
  return world;
}

}  // namespace

void start_distributed([[maybe_unused]] int* argc, [[maybe_unused]] char*** argv) {
#ifdef CURVEFIT_MPI
  if (g_mpi_started || !launched_by_mpi_launcher()) return;
  // Only the calling thread makes MPI calls (the objective's workers never do).
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  g_mpi_started = true;
  instance() = std::make_unique<MpiWorld>();
#endif
}

void stop_distributed() {
#ifdef CURVEFIT_MPI
  if (!g_mpi_started) return;
  instance() = std::make_unique<SingleProcess>();
  MPI_Finalize();
  g_mpi_started = false;
#endif
}

Distributed& distributed() { return *instance(); }

}  // namespace curvefit
