#pragma once
// The few collective operations a fit over several processes (MPI ranks) needs, behind one small
// interface: the chunked objective, the fit driver and fit_setup call it; only distributed.cpp
// knows MPI. Without MPI (not built with CURVEFIT_MPI, or not launched by mpirun/srun) the process
// is one rank of one and every operation is local and free.
//
// How a distributed fit stays bit-identical to one process (core/engine/chunked_objective.h): the
// chunks, their slots and the combination tree depend only on m and the chunk size; each rank owns
// a run of consecutive slots holding about 1/K of the chunks and folds their chunks, and the
// partial factors are exchanged so that every rank completes the same tree and runs the same
// solver on the same numbers. No step is broadcast: every rank computes it, which costs an n x n
// solve, less than one message.
//
// Faults: every collective that follows local work first agrees on a status word (agree()), so a
// rank that fails (bad data, memory) ends every rank with its message instead of leaving the others
// waiting in a collective; a Ctrl-C seen by any rank cuts that rank's pass short, is told to the
// other ranks at once (they cut theirs short too), and, agreed at the end of the pass, stops all of
// them at the same iteration.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace curvefit {

class Distributed {
 public:
  virtual ~Distributed() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  bool is_root() const { return rank() == 0; }

  // Every rank calls this at the same point with what its own step raised (null: nothing). If any
  // rank failed, throws on every rank: the failing rank rethrows its own exception, the others a
  // RankError with the lowest failing rank's exit code and message. Also agrees on the interrupt:
  // afterwards agreed_interrupt() is set on every rank when any rank's local flag was set.
  void agree(std::exception_ptr error);
  // Runs `step` on every rank, then agree()s on its outcome.
  void run_agreed(const std::function<void()>& step);
  // Whether an agree() raised a failure: every rank then knows it, and none waits in a collective.
  bool failure_agreed() const { return failure_agreed_; }

  // The flag a signal handler sets on this rank (may be null), and the flag the solvers read: it
  // changes only inside agree(), at the same pass on every rank.
  void set_local_interrupt(const std::atomic<bool>* flag) { local_interrupt_ = flag; }
  const std::atomic<bool>* agreed_interrupt() const { return &agreed_interrupt_; }
  // The local flag: what makes this rank skip the rest of a pass's chunks (the pass is then
  // discarded on every rank through the agreement at its end).
  const std::atomic<bool>* local_interrupt() const { return local_interrupt_; }
  // During a pass, from any thread (it acts only on the thread that started MPI, between chunks):
  // tells the other ranks once when this rank's own flag is set, and notes a peer's notice. True
  // when this rank or a peer was interrupted in this pass: the rest of its chunks can be skipped.
  bool poll_interrupt();

  // The smallest of every rank's value.
  virtual std::size_t min_over_ranks(std::size_t value) = 0;
  // Every rank's `mine` concatenated in rank order, on every rank (`counts` receives each rank's
  // length).
  virtual std::vector<double> all_gather(const std::vector<double>& mine, std::vector<int>& counts) = 0;
  // The same for unsigned integers (byte offsets and row numbers of a CSV split by byte ranges).
  virtual std::vector<std::uint64_t> all_gather_integers(const std::vector<std::uint64_t>& mine,
                                                         std::vector<int>& counts) = 0;
  // Point to point, for the ordered fitted-values pass: `count` doubles to rank 0, received by
  // rank 0 from `from` into `block`, which may be longer than the message.
  virtual void send_to_root(const double* data, std::size_t count) = 0;
  virtual void receive(int from, std::vector<double>& block) = 0;
  // Ends every rank at once with this exit code (for an error met outside an agreement point,
  // where the other ranks may be waiting in a collective).
  virtual void abort(int exit_code) = 0;
  // MPI's library version ("" without MPI).
  virtual std::string library() const { return ""; }

 protected:
  // Collective: the largest of every rank's status and of its interrupt flag, and, when a status
  // is not 0, the lowest such rank's status and message (broadcast).
  struct Agreement {
    int status = 0;            // exit code of the failure, 0 when none
    int failed_rank = -1;
    std::string message;
    bool interrupt = false;
  };
  virtual Agreement exchange_status(int status, const std::string& message, bool interrupt) = 0;
  // The notices of poll_interrupt (nothing for one process): listen for a peer's notice, whether
  // one arrived, send this rank's, and, after an agreed interrupt, take every notice sent.
  virtual void listen_for_interrupt() {}
  virtual bool interrupt_notice_arrived() { return false; }
  virtual void notify_interrupt() {}
  virtual void settle_interrupt_notices(bool notified) { (void)notified; }
  bool on_mpi_thread() const;

 private:
  const std::atomic<bool>* local_interrupt_ = nullptr;
  std::atomic<bool> agreed_interrupt_{false};
  bool failure_agreed_ = false;
  bool notified_ = false;                 // this rank told the others in the current pass
  std::atomic<bool> peer_interrupted_{false};  // a peer's notice arrived in the current pass
  std::thread::id mpi_thread_ = std::this_thread::get_id();  // made on the thread that starts MPI
};

// Whether this process was started by an MPI launcher (mpirun, mpiexec, srun): Open MPI sets
// OMPI_COMM_WORLD_SIZE, PMIx launchers PMIX_RANK, MPICH/Slurm PMI_SIZE.
bool launched_by_mpi_launcher();

// How many tasks the launcher started together (OMPI_COMM_WORLD_SIZE, PMI_SIZE, or Slurm's
// SLURM_STEP_NUM_TASKS, which srun sets for the tasks of a step and sbatch does not set for the
// batch script); 1 when there is no launcher. More tasks than distributed().size() means that
// they do not share one MPI world: `srun --mpi=none`, or a curvefit built without MPI.
int launched_task_count();
// Whether this curvefit was built with CURVEFIT_MPI.
bool built_with_mpi();

// Initialises MPI when the process was launched by an MPI launcher and curvefit was built with
// CURVEFIT_MPI; otherwise does nothing. MPI lives in a module of its own (libcurvefit_mpi.so, next
// to the executable's bin/ in lib/, or where it was installed), loaded only then: a plain
// `curvefit fit` neither loads Open MPI's libraries (5 ms and 1.3 MB of RSS at start-up, which the
// planner would count) nor initialises MPI, whose singleton start spawns a helper daemon and opens
// network interfaces (tenths of a second; it fails where sockets are forbidden). Throws
// std::runtime_error when launched but the module cannot be loaded or MPI not initialised.
void start_distributed(int* argc, char*** argv);
// Finalises MPI if start_distributed initialised it.
void stop_distributed();

// The process's ranks: MPI's world after start_distributed under a launcher, else one rank.
Distributed& distributed();

}  // namespace curvefit
