#pragma once
// The objective of a curve fit over data of any size: cost(x) and linearize(x) computed chunk by
// chunk, in parallel, with a result that does not depend on the number of threads.
//
// Residuals follow scipy's sign convention: f_i = (model(x_i; p) - y_i) / sigma_i, Jacobian rows
// d model / d p / sigma_i; a robust loss then scales each row (robust_row_scale). Each chunk's
// block [J_c | f_c] is folded into an upper-triangular [R | Q^T f] by Householder reflections
// (tall-skinny QR, kernel::fold_rows_into_factor in core/chunk_kernel.h), 256 rows at a time so
// that each sub-block stays in cache; J^T J is never formed.
//
// Determinism. The rows are cut into chunks of `chunk_rows` and the chunks given to slots as
// ChunkLayout (core/engine/chunk_layout.h) says: for one file, chunk c belongs to slot c mod S with
// S = min(kMaxSlots, number of chunks); a dataset of several files (options.file_rows) has the
// chunks of each file (or of each run of small files) in slots of their own. Each slot folds its chunks in increasing order; the partial
// factors (and the partial sums of the cost, ||f||^2, ...) are then combined in a fixed binary tree
// over slot index. Which thread processes which slot changes nothing, so R, Q^T f and the cost are
// bit-identical for 1, 2 or 8 threads. Different chunk sizes give results equal up to rounding.
//
// Across MPI ranks (options.distributed, core/engine/distributed.h): rank r of K owns a run of
// consecutive slots, about 1/K of the chunks (whole files where they balance), and is given only
// their rows (ChunkLayout::patterns). It folds its slots, combines them as far up the tree as its
// own slots reach, and the ranks exchange these subtree roots (a few small factors each); every
// rank then completes the same tree. Chunks, slots and tree do not depend on K, so R, Q^T f and the
// cost are bit-identical for any number of ranks and threads.
//
// Why a file's slots own every S-th chunk rather than a contiguous range of rows: a rank's rows in
// a file are then one contiguous block per round (a large HDF5 hyperslab, streamed in order through
// one read-ahead ring whose batches hold chunks of distinct slots), and a single process reads each
// file exactly in order. The price is that a rank's rows in a file it shares are not one range: a
// text file is split by the byte offsets of every block's first row (core/engine/csv_rank_rows.h).
// Files of their own slots are what lets a rank of a sharded dataset read whole files.
//
// Memory (the planner predicts it with the same functions, memory/footprint.h):
//   - one factor of footprint::tsqr_factor_bytes(n_model) per slot (at most kMaxSlots per file);
//   - one block of worker_workspace_bytes(chunk_rows, n_model, columns) per worker thread: one
//     sub-block of kSubBlockRows rows, reused for every sub-block (the Jacobian is never whole);
//   - streaming: the read-ahead ring, ReadAhead::ring_bytes(batch_chunks * chunk_rows, columns,
//     ReadAhead::kDefaultBuffers) with batch_chunks = stream_batch_chunks(threads, S, chunk_rows, in place).
#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <Eigen/Core>

#include "core/data/data_source.h"
#include "core/data/memory_source.h"
#include "core/engine/chunk_layout.h"
#include "core/model.h"
#include "memory/footprint.h"
#include "solvers/loss.h"
#include "solvers/objective.h"

namespace curvefit {

class Distributed;   // core/engine/distributed.h
class SharedPasses;  // core/engine/shared_passes.h

// Sums over the data at one parameter point that the fit statistics need, each accumulated chunk
// by chunk and combined in the same fixed tree as the factors.
struct ResidualSums {
  double rho = 0;             // sum rho(f_i^2): the cost is half of it
  double chi2 = 0;            // sum ((model - y) / sigma)^2, without the robust loss
  double ss_residual = 0;     // sum (model - y)^2, unweighted (for R^2 and RMSE)
};

// Mean and sum of squared deviations of y (for the total sum of squares of R^2), combined with
// Chan et al.'s pairwise update so that it is exact to rounding for any m.
struct ResponseMoments {
  double count = 0;
  double mean = 0;
  double m2 = 0;              // sum (y - mean)^2
};

struct ChunkedObjectiveOptions {
  Loss loss = Loss::linear;
  double f_scale = 1.0;
  // Rows per chunk (>= 1).
  std::size_t chunk_rows = 16384;
  // Worker threads; 0 means TBB's default (all cores).
  int threads = 0;
  // Parameters held at a value: empty, or one entry per model parameter. The objective's own
  // vector x has only the free parameters, in model order; fixed values come from fixed_values.
  std::vector<bool> fixed;
  Eigen::VectorXd fixed_values;  // model-sized; entries of free parameters are ignored
  // Each row of the linearization's Jacobian is multiplied by its residual f_i, so that R is the
  // factor of the rows f_i J_i: the root of the sandwich covariance's meat sum f_i^2 J_i^T J_i
  // (one pass at the solution, for --cov hc0/hc1). The cost and sums are unaffected.
  bool scale_rows_by_residual = false;
  // The data's sigma column holds weights w = 1 / sigma^2 (--weights): each row is weighted by
  // sqrt(w), and fitted chunks hand 1 / sqrt(w) on as their sigma.
  bool sigma_is_weight = false;
  // What prefers_linearization_at_trial_points() answers.
  bool linearize_at_trial_points = false;
  // Counts every pass over the data (evaluate and for_each_chunk_fitted), if not null; shared
  // with the driver so that passes of several objectives on the same data add up.
  std::atomic<long>* pass_counter = nullptr;
  // Rows processed in the current pass, if not null: set to 0 when a pass starts and advanced
  // after every chunk (relaxed), so that a progress display can poll it from another thread.
  std::atomic<std::size_t>* rows_done = nullptr;
  // Called (on the calling thread) when a pass starts, with the pass number (pass_counter's
  // value when it is set, else this objective's own count).
  std::function<void(long pass)> on_pass;
  // A fit over MPI ranks, or null for one process. The data then hold this rank's rows only
  // (ChunkLayout(total_rows, chunk_rows, file_rows, size).share(rank)) and total_rows counts those
  // of every rank.
  // Every pass (evaluate, for_each_chunk_fitted) is collective: every rank makes the same calls.
  Distributed* distributed = nullptr;
  std::size_t total_rows = 0;
  // Rows of each file of a dataset of several files, in order (of every rank; they add up to the
  // rows): each file's chunks (or a run of small files') fold into slots of their own
  // (ChunkLayout). Empty: one file.
  std::vector<std::size_t> file_rows;
  // Stops a pass at the next chunk or sub-block once set (a signal handler's flag), or null: the
  // pass then returns an evaluation marked `interrupted` (cost +inf, not finite), remembers nothing
  // and leaves the data's values unchecked. Across ranks this is the rank's LOCAL flag: the rank
  // skips its remaining chunks but still makes the pass's collectives, and every rank discards
  // the pass when the ranks agree at its end that any of them was interrupted
  // (Distributed::agreed_interrupt). A pass that starts with the flag set reads nothing.
  const std::atomic<bool>* interrupt = nullptr;
  // Several fits over the same data (--starts, several --model), or null: evaluate() then posts
  // its point to this coordinator, which evaluates every posted point in one pass over the data
  // (evaluate_together). Each objective keeps its own slots, so its results are the bits it
  // computes alone.
  SharedPasses* shared = nullptr;
};

// The data of one chunk as the fitted-values pass delivers it.
struct FittedChunk {
  std::size_t begin = 0;                // first row of the chunk
  std::size_t rows = 0;
  const double* const* x = nullptr;     // num_predictors pointers
  const double* y = nullptr;
  const double* sigma = nullptr;        // null without sigma
  const double* fit = nullptr;          // model values at the parameters
};

class ChunkedObjective : public Objective {
 public:
  // Data in RAM, read in place (in-memory and chunked modes). `data` must outlive the objective.
  ChunkedObjective(const Model& model, const MemoryDataSource& data,
                   const ChunkedObjectiveOptions& options);
  // Streaming mode: the data are re-read from `source` on every pass by a read-ahead thread.
  // `source` must outlive the objective and must not be read by anyone else during a pass.
  struct Streaming {};
  ChunkedObjective(const Model& model, DataSource& source, const ChunkedObjectiveOptions& options,
                   Streaming);
  ~ChunkedObjective() override;

  int num_params() const override { return n_free_; }
  std::size_t num_residuals() const override { return m_; }
  Evaluation evaluate(const Eigen::VectorXd& x, bool with_linearization) override;
  bool prefers_linearization_at_trial_points() const override {
    return options_.linearize_at_trial_points;
  }

  // One point to evaluate in a shared pass, and its evaluation once the pass is done.
  struct PassRequest {
    ChunkedObjective* objective = nullptr;
    Eigen::VectorXd x;        // the objective's free vector
    bool linearize = false;
    Evaluation result;
  };
  // What a pass reports beyond each objective's own counts: rows done (reset at the start, advanced
  // once per chunk whatever the number of requests) and a callback at its start.
  struct PassHooks {
    std::atomic<std::size_t>* rows_done = nullptr;
    std::function<void()> on_start;
  };
  // Evaluates every request in ONE pass over the data: each chunk is read once and evaluated (and
  // folded) for every request, into that request's objective's own slots, which are combined in the
  // usual fixed tree. A request's result is therefore bit-identical to its objective's evaluate()
  // alone. The objectives must read the same data (the same MemoryDataSource or DataSource) in
  // the same chunks; several requests are not supported across MPI ranks. Throws
  // std::invalid_argument when they do not match.
  static void evaluate_together(const std::vector<PassRequest*>& requests, const PassHooks& hooks);

  // The model's full parameter vector for the objective's free vector x (fixed values inserted).
  Eigen::VectorXd full_params(const Eigen::VectorXd& x) const;

  // Residual sums of a recent evaluation exactly at x (the last kRememberedPoints are kept), so
  // that the fit statistics at the solution cost no extra pass. nullopt if x was not evaluated.
  std::optional<ResidualSums> sums_at(const Eigen::VectorXd& x) const;
  // Moments of y; known after the first pass (nullopt before).
  std::optional<ResponseMoments> response_moments() const;

  // One pass in row order computing the model at x (free vector) and handing each chunk to
  // `consume` (called from the calling thread, chunks in increasing row order). Across ranks, rank
  // 0 consumes every chunk; an interrupt on any rank ends the pass early on every rank, after which
  // options.distributed->agreed_interrupt() is set and rank 0 has not been handed every chunk.
  void for_each_chunk_fitted(const Eigen::VectorXd& x,
                             const std::function<void(const FittedChunk&)>& consume);

  std::size_t chunk_rows() const { return chunk_rows_; }
  std::size_t num_chunks() const { return layout_.num_chunks(); }
  std::size_t num_slots() const { return num_slots_; }
  const ChunkLayout& layout() const { return layout_; }
  int threads() const { return threads_; }
  // Passes this objective made (evaluate + for_each_chunk_fitted).
  long passes() const { return passes_; }

  static constexpr std::size_t kMaxSlots = ChunkLayout::kMaxSlotsPerSegment;
  // Rows of a chunk processed together: the model block, the residuals and the fold of these rows
  // stay in the L1 cache (256 x (n + 1) doubles is 8 KiB for 3 parameters).
  static constexpr std::size_t kSubBlockRows = 256;
  // Bytes of one worker's workspace (chunked and streaming modes): one sub-block's, whatever the
  // chunk size. The planner predicts with this function.
  static std::size_t worker_workspace_bytes(std::size_t chunk_rows, std::size_t n_model,
                                            std::size_t columns) {
    return footprint::chunk_workspace_bytes(std::min(chunk_rows, kSubBlockRows), n_model, columns);
  }
  // Streaming: chunks per read-ahead batch, about kStreamBatchBytes of each column and at least one
  // chunk per thread. Batches are copied (by position, or through a library) and stay that small:
  // the ring's buffers are fresh memory that the fit's first pass faults in, at up to 4 ms/MB on
  // this project's VMs, and per pass a copy by position costs the same in 1 and 4 MiB batches
  // (bench/RESULTS.md). The workers take the chunks of up to three batches at once (the ring's
  // buffers), but two chunks of one slot must never be in progress together, so a batch holds at
  // most S / 3 chunks. The planner sizes the read-ahead ring with this.
  static constexpr std::size_t kStreamBatchBytes = std::size_t{1} << 20;
  static constexpr std::size_t kStreamBatchesInProgress = 3;
  static std::size_t stream_batch_chunks(std::size_t threads, std::size_t slots, std::size_t chunk_rows) {
    const std::size_t by_size = kStreamBatchBytes / (std::max<std::size_t>(1, chunk_rows) * sizeof(double));
    return std::max<std::size_t>(1, std::min(slots / kStreamBatchesInProgress, std::max(threads, by_size)));
  }
  static constexpr std::size_t kRememberedPoints = 8;
  // Across ranks: doubles this rank sent in the last exchange of subtree roots, and the time
  // spent in exchanges (after the ranks agreed on the pass's status: the reduction itself, not the
  // wait for the slowest rank) and their number. 0 for one process.
  std::size_t doubles_sent_last_pass() const { return doubles_sent_; }
  std::size_t most_doubles_sent() const { return most_doubles_sent_; }
  double exchange_seconds() const { return exchange_seconds_; }
  double fastest_exchange_seconds() const { return fastest_exchange_seconds_; }
  long exchanges() const { return exchanges_; }

  struct Impl;  // defined in the .cpp; public so that the per-chunk helper there can name it

 private:
  void set_up(const Model& model, int num_predictors, bool has_sigma, std::size_t rows);
  void start_pass();  // counts the pass and announces it
  // A pass in three steps, for one or several objectives: prepare the slots for the model
  // parameters p, evaluate (and fold) one chunk, and combine the slots into the evaluation.
  void begin_pass(const double* p);
  bool run_chunk(std::size_t chunk, const double* const* x, const double* y, const double* sigma,
                 const double* p, bool linearize);
  void end_pass(PassRequest& request, bool complete, bool interrupted);
  // Whether options.interrupt is set.
  bool interrupt_requested() const;
  // Throws std::invalid_argument unless `other` reads the same rows in the same chunks.
  void check_same_chunks(const ChunkedObjective& other) const;
  void reset_slots();
  // Evaluates (and folds) chunk c whose rows start at the given pointers.
  using ChunkRunner = std::function<void(std::size_t chunk, const double* const* x, const double* y,
                                         const double* sigma)>;
  void run_chunks_in_memory(const ChunkRunner& run_chunk, const std::atomic<bool>& stop);
  void run_chunks_streamed(const ChunkRunner& run_chunk, const std::atomic<bool>& stop);
  void run_part_streamed(const ChunkLayout::RankPart& part, const ChunkRunner& run_chunk,
                         const std::atomic<bool>& stop);
  // Combines the S partial results into slot 0 in the fixed tree over slot index: node (a, span)
  // covers slots [a, min(a + span, S)) and is held in slot a. Across ranks: first the nodes within
  // this rank's slots, then the exchange, then the nodes that span several ranks.
  void combine_slots(bool linearize);
  void combine_level(std::size_t step, bool linearize, const std::function<bool(std::size_t a)>& wanted);
  void exchange_subtrees(bool linearize);
  // The rank whose slots contain node (a, span) whole, or -1 when it spans several ranks.
  int node_owner(std::size_t a, std::size_t span) const;
  void for_each_chunk_fitted_ordered(const Eigen::VectorXd& p,
                                     const std::function<void(const FittedChunk&)>& consume);

  std::unique_ptr<Impl> impl_;
  ChunkedObjectiveOptions options_;
  std::size_t m_ = 0;
  int n_model_ = 0;
  int n_free_ = 0;
  std::size_t chunk_rows_ = 0;
  ChunkLayout layout_;
  std::size_t num_slots_ = 0;
  std::size_t local_rows_ = 0;
  int rank_ = 0;
  int ranks_ = 1;
  std::size_t doubles_sent_ = 0;
  std::size_t most_doubles_sent_ = 0;
  double exchange_seconds_ = 0;
  double fastest_exchange_seconds_ = 0;
  long exchanges_ = 0;
  int threads_ = 1;
  long passes_ = 0;
};

}  // namespace curvefit
