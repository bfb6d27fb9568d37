#include "core/engine/chunked_objective.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <stdexcept>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>

#include "core/engine/chunk_kernel.h"
#include "core/thread_sanitizer.h"
#include "core/engine/distributed.h"
#include "core/engine/shared_passes.h"
#include "core/data/read_ahead.h"
#include "memory/footprint.h"
#include "memory/memory_manager.h"

namespace curvefit {

namespace {

// Chan, Golub & LeVeque's pairwise combination of means and sums of squared deviations.
void combine_moments(ResponseMoments& a, const ResponseMoments& b) {
  if (b.count == 0) return;
  if (a.count == 0) {
    a = b;
    return;
  }
  const double count = a.count + b.count;
  const double delta = b.mean - a.mean;
  a.mean += delta * (b.count / count);
  a.m2 += b.m2 + delta * delta * (a.count * b.count / count);
  a.count = count;
}

ResponseMoments chunk_moments(const double* y, std::size_t rows) {
  ResponseMoments moments;
  if (rows == 0) return moments;
  // Four partial sums (rows i mod 4) in a fixed order: deterministic, and not one long chain of
  // dependent additions.
  double sum[4] = {0, 0, 0, 0}, m2[4] = {0, 0, 0, 0};
  const std::size_t whole = rows - rows % 4;
  for (std::size_t i = 0; i < whole; i += 4)
    for (std::size_t lane = 0; lane < 4; ++lane) sum[lane] += y[i + lane];
  for (std::size_t i = whole; i < rows; ++i) sum[i - whole] += y[i];
  moments.count = static_cast<double>(rows);
  moments.mean = ((sum[0] + sum[1]) + (sum[2] + sum[3])) / moments.count;
  for (std::size_t i = 0; i < whole; i += 4)
    for (std::size_t lane = 0; lane < 4; ++lane) {
      const double d = y[i + lane] - moments.mean;
      m2[lane] += d * d;
    }
  for (std::size_t i = whole; i < rows; ++i) {
    const double d = y[i] - moments.mean;
    m2[i - whole] += d * d;
  }
  moments.m2 = (m2[0] + m2[1]) + (m2[2] + m2[3]);
  return moments;
}

void add_sums(ResidualSums& a, const ResidualSums& b) {
  a.rho += b.rho;
  a.chi2 += b.chi2;
  a.ss_residual += b.ss_residual;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
struct ChunkedObjective::Impl {
  const Model& model;
  const MemoryDataSource* memory = nullptr;  // in-memory and chunked modes
  DataSource* stream = nullptr;              // streaming mode
  int num_predictors = 1;
  bool has_sigma = false;
  std::size_t columns = 2;                   // data columns: predictors, y, sigma
  std::vector<int> free_index;               // model index of each free parameter
  Eigen::VectorXd fixed_values;
  // The pass's column scales of the free Jacobian (jacobian_column_scales): the fold works on
  // J diag(scale), and R is unscaled afterwards.
  std::vector<double> column_scale;

  // More threads than cores were asked for: allow them (TBB otherwise caps its workers at the
  // core count, and says so on stderr). Results do not depend on the thread count anyway.
  std::unique_ptr<tbb::global_control> allow_threads;
  tbb::task_arena arena;

  // A worker's chunk workspace: [J | f] and the model values (chunked and streaming modes).
  struct Worker {
    PooledBuffer<double> block;
    std::vector<const double*> x;
  };
  tbb::enumerable_thread_specific<Worker> workers;

  // One partial result of the tree.
  struct Slot {
    PooledBuffer<double> factor;             // [R | qtf], n_free x (n_free + 1), column-major
    ResidualSums sums;
    double f_norm2 = 0;
    ResponseMoments moments;
    bool finite = true;
    bool bad_value = false;  // a row nan_policy raise rejects (see check_values)
  };
  std::vector<Slot> slots;
  // The data's values are still to be checked (a mapped file): this pass checks each sub-block
  // while it is in cache, and a complete pass marks them checked.
  bool check_values = false;

  struct Remembered {
    Eigen::VectorXd x;
    ResidualSums sums;
  };
  std::deque<Remembered> remembered;
  std::optional<ResponseMoments> response_moments;

  Impl(const Model& m, int threads)
      : model(m),
        allow_threads(threads > tbb::info::default_concurrency()
                          ? std::make_unique<tbb::global_control>(
                                tbb::global_control::max_allowed_parallelism,
                                static_cast<std::size_t>(threads))
                          : nullptr),
        arena(threads) {}
};

// The input of one chunk: pointers to its rows (in place in RAM, or in a read-ahead buffer).
struct ChunkRows {
  std::size_t rows;
  const double* const* x;
  const double* y;
  const double* sigma;
};

namespace {

constexpr std::size_t kSubBlockRows = ChunkedObjective::kSubBlockRows;

// Column j of the Jacobian is folded times 2^e, the power of two at the free parameter's magnitude
// when that magnitude is extreme (beyond 2^+-64; else, and for zero or non-finite values, 1). A model a e^(-b t) with a = 1e217 at t = 1000 has
// d/da ~ 1e-217, whose squares underflow in the Householder norms, so R would lose that column;
// times |a| it is of order one. Powers of two scale exactly: where nothing under- or overflows the
// fold gives the same bits as without them, and dividing R's columns afterwards is exact too.
constexpr int kUnscaledExponent = 64;  // parameters within 2^-64 .. 2^64 keep scale 1
std::vector<double> jacobian_column_scales(const double* p, const std::vector<int>& free_index) {
  std::vector<double> scale(free_index.size(), 1.0);
  for (std::size_t j = 0; j < free_index.size(); ++j) {
    const double magnitude = std::abs(p[free_index[j]]);
    // Only where the magnitude is extreme: elsewhere the products cannot under- or overflow and
    // the pass is spared the multiplications.
    if (std::isnormal(magnitude) && std::abs(std::ilogb(magnitude)) > kUnscaledExponent)
      scale[j] = std::ldexp(1.0, std::ilogb(magnitude));
  }
  return scale;
}

// The rows of one sub-block of a chunk: the model, the residuals (scaled by a robust loss when
// there is one) and, when linearizing, the fold into the slot's factor. `block` holds
// [J | values] for these rows, leading dimension `rows`: columns 0..n_model-1 the Jacobian,
// column n_model the model values; with fixed parameters the free columns are first moved left,
// and the residual column is written at n_free, so that [J_free | f] is contiguous for the fold.
void process_rows(const ChunkedObjective::Impl& impl, const ChunkedObjectiveOptions& options,
                  const double* const* x, const double* y, const double* sigma, std::size_t rows,
                  const double* p, bool linearize, double* block, ChunkedObjective::Impl::Slot& slot) {
  const std::size_t n_model = impl.model.num_params();
  const std::size_t n_free = impl.free_index.size();
  double* values = block + n_model * rows;
  if (linearize) {
    impl.model.evaluate_with_jacobian(x, rows, p, values, block);
    for (std::size_t j = 0; j < n_free; ++j) {
      const std::size_t source = static_cast<std::size_t>(impl.free_index[j]);
      if (source != j) std::copy_n(block + source * rows, rows, block + j * rows);
      const double scale = impl.column_scale[j];
      if (scale != 1.0)
        for (std::size_t i = 0; i < rows; ++i) block[j * rows + i] *= scale;
    }
  } else {
    impl.model.evaluate(x, rows, p, values);
  }
  double* f = block + n_free * rows;  // may alias `values` (no fixed parameters): read first

  if (options.loss == Loss::linear && !options.scale_rows_by_residual) {
    kernel::LinearSums sums;
    kernel::linear_residuals(values, y, sigma, rows, linearize ? f : nullptr, block, n_free, rows, sums);
    slot.sums.rho += sums.chi2;
    slot.sums.chi2 += sums.chi2;
    slot.sums.ss_residual += sums.ss_residual;
    slot.finite = slot.finite && sums.finite;
    if (linearize) slot.f_norm2 += sums.chi2;
  } else {
    ResidualSums sums;
    double f_norm2 = 0;
    bool finite = true;
    for (std::size_t i = 0; i < rows; ++i) {
      const double difference = values[i] - y[i];
      const double r = sigma ? difference / sigma[i] : difference;
      finite = finite && std::isfinite(r);
      sums.ss_residual += difference * difference;
      sums.chi2 += r * r;
      const LossValue loss = evaluate_loss(options.loss, r * r, options.f_scale);
      sums.rho += loss.rho;
      if (linearize) {
        const RowScale scale = robust_row_scale(r, loss);
        f[i] = r * scale.residual_scale;
        const double row_scale = (sigma ? 1.0 / sigma[i] : 1.0) * scale.jacobian_scale *
                                 (options.scale_rows_by_residual ? f[i] : 1.0);
        f_norm2 += f[i] * f[i];
        for (std::size_t j = 0; j < n_free; ++j) block[j * rows + i] *= row_scale;
      }
    }
    add_sums(slot.sums, sums);
    slot.finite = slot.finite && finite;
    if (linearize) slot.f_norm2 += f_norm2;
  }
  if (linearize && slot.finite)
    kernel::fold_rows_into_factor(slot.factor.data(), static_cast<int>(n_free), block, rows, rows);
}

// Evaluates one chunk at the model parameters p and folds it into `slot`, sub-block by sub-block
// in row order. `block` is the worker's workspace, reused for every sub-block.
void process_chunk(const ChunkedObjective::Impl& impl, const ChunkedObjectiveOptions& options,
                   const ChunkRows& in, const double* p, bool linearize, double* block,
                   ChunkedObjective::Impl::Slot& slot) {
  const std::size_t k = static_cast<std::size_t>(impl.num_predictors);
  const double* x[8];
  std::vector<const double*> many_x(k > 8 ? k : 0);
  const double** xs = k > 8 ? many_x.data() : x;
  const std::atomic<bool>* interrupt = options.interrupt;
  for (std::size_t begin = 0; begin < in.rows && slot.finite; begin += kSubBlockRows) {
    // The slot's partial result is then of no use: the whole pass is discarded.
    if (interrupt && interrupt->load(std::memory_order_relaxed)) break;
    const std::size_t rows = std::min(kSubBlockRows, in.rows - begin);
    for (std::size_t q = 0; q < k; ++q) xs[q] = in.x[q] + begin;
    const double* sigma = in.sigma ? in.sigma + begin : nullptr;
    if (impl.check_values && !rows_valid(xs, k, in.y + begin, sigma, rows)) {
      slot.bad_value = true;
      slot.finite = false;
      break;
    }
    double sigma_of_weight[kSubBlockRows];
    if (sigma && options.sigma_is_weight) {
      for (std::size_t i = 0; i < rows; ++i) sigma_of_weight[i] = 1.0 / std::sqrt(sigma[i]);
      sigma = sigma_of_weight;
    }
    process_rows(impl, options, xs, in.y + begin, sigma, rows, p, linearize, block, slot);
    // The moments of y, needed once: from these rows while they are in cache.
    if (!impl.response_moments) combine_moments(slot.moments, chunk_moments(in.y + begin, rows));
  }
}

}  // namespace


// ---------------------------------------------------------------------------------------------
ChunkedObjective::ChunkedObjective(const Model& model, const MemoryDataSource& data,
                                   const ChunkedObjectiveOptions& options)
    : options_(options) {
  threads_ = options.threads > 0 ? options.threads : tbb::info::default_concurrency();
  impl_ = std::make_unique<Impl>(model, threads_);
  impl_->memory = &data;
  set_up(model, data.num_predictors(), data.has_sigma(), data.rows());
}

ChunkedObjective::ChunkedObjective(const Model& model, DataSource& source,
                                   const ChunkedObjectiveOptions& options, Streaming)
    : options_(options) {
  threads_ = options.threads > 0 ? options.threads : tbb::info::default_concurrency();
  impl_ = std::make_unique<Impl>(model, threads_);
  impl_->stream = &source;
  set_up(model, source.num_predictors(), source.has_sigma(), source.rows());
}

ChunkedObjective::~ChunkedObjective() = default;

void ChunkedObjective::set_up(const Model& model, int num_predictors, bool has_sigma,
                              std::size_t rows) {
  if (model.num_predictors() != num_predictors)
    throw std::invalid_argument("the model takes " + std::to_string(model.num_predictors()) +
                                " predictor(s), the data have " + std::to_string(num_predictors));
  impl_->num_predictors = num_predictors;
  impl_->has_sigma = has_sigma;
  impl_->columns = static_cast<std::size_t>(num_predictors + 1 + (has_sigma ? 1 : 0));
  m_ = rows;
  n_model_ = static_cast<int>(model.num_params());
  if (!options_.fixed.empty() && options_.fixed.size() != static_cast<std::size_t>(n_model_))
    throw std::invalid_argument("the fixed-parameter mask has " +
                                std::to_string(options_.fixed.size()) + " entries, the model " +
                                std::to_string(n_model_) + " parameters");
  for (int j = 0; j < n_model_; ++j)
    if (options_.fixed.empty() || !options_.fixed[static_cast<std::size_t>(j)])
      impl_->free_index.push_back(j);
  n_free_ = static_cast<int>(impl_->free_index.size());
  if (n_free_ == 0) throw std::invalid_argument("every parameter is fixed: nothing to fit");
  impl_->fixed_values = options_.fixed.empty() ? Eigen::VectorXd::Zero(n_model_)
                                               : options_.fixed_values;
  if (impl_->fixed_values.size() != n_model_)
    throw std::invalid_argument("fixed values: expected one per model parameter");
  local_rows_ = rows;
  if (options_.distributed) {
    rank_ = options_.distributed->rank();
    ranks_ = options_.distributed->size();
    m_ = options_.total_rows;
  }
  if (m_ == 0) throw std::invalid_argument("no data rows to fit");
  if (options_.chunk_rows == 0) throw std::invalid_argument("chunk size of 0 rows");

  chunk_rows_ = std::min(options_.chunk_rows, m_);
  layout_ = ChunkLayout(m_, chunk_rows_, options_.file_rows, ranks_);
  num_slots_ = layout_.num_slots();
  const std::size_t expected = layout_.share(rank_).rows;
  if (expected != local_rows_)
    throw std::invalid_argument("this rank's data have " + std::to_string(local_rows_) +
                                " rows, its share of the chunks " + std::to_string(expected));
  impl_->slots.resize(num_slots_);
  for (Impl::Slot& slot : impl_->slots)
    slot.factor = get_memory_manager().allocate<double>(
        footprint::tsqr_factor_bytes(static_cast<std::size_t>(n_free_)) / sizeof(double));
}

Eigen::VectorXd ChunkedObjective::full_params(const Eigen::VectorXd& x) const {
  if (x.size() != n_free_) throw std::invalid_argument("parameter vector of the wrong size");
  Eigen::VectorXd p = impl_->fixed_values;
  for (int j = 0; j < n_free_; ++j) p[impl_->free_index[static_cast<std::size_t>(j)]] = x[j];
  return p;
}

void ChunkedObjective::start_pass() {
  ++passes_;
  const long number = options_.pass_counter ? ++*options_.pass_counter : passes_;
  if (options_.on_pass) options_.on_pass(number);
}

bool ChunkedObjective::interrupt_requested() const {
  // Across ranks a peer's interrupt counts too (told during the pass, Distributed::poll_interrupt).
  if (options_.distributed) return options_.distributed->poll_interrupt();
  return options_.interrupt && options_.interrupt->load(std::memory_order_relaxed);
}

void ChunkedObjective::reset_slots() {
  for (Impl::Slot& slot : impl_->slots) {
    std::fill_n(slot.factor.data(), slot.factor.size(), 0.0);
    slot.sums = {};
    slot.f_norm2 = 0;
    slot.moments = {};
    slot.finite = true;
    slot.bad_value = false;
  }
}

void ChunkedObjective::begin_pass(const double* p) {
  Impl& impl = *impl_;
  start_pass();
  impl.column_scale = jacobian_column_scales(p, impl.free_index);
  reset_slots();
  impl.check_values = impl.memory && !impl.memory->values_checked();
}

// Chunk c of the data, its rows at the given pointers: evaluate and fold into its slot.
// Returns false when the slot is no longer finite (the rest of the pass is then of no use).
bool ChunkedObjective::run_chunk(std::size_t chunk, const double* const* x, const double* y, const double* sigma,
                                 const double* p, bool linearize) {
  Impl& impl = *impl_;
  Impl::Worker& worker = impl.workers.local();
  const ChunkLayout::Chunk place = layout_.chunk(chunk);
  if (!worker.block)
    worker.block = get_memory_manager().allocate<double>(
        worker_workspace_bytes(chunk_rows_, static_cast<std::size_t>(n_model_), impl.columns) / sizeof(double));
  Impl::Slot& slot = impl.slots[place.slot];
  process_chunk(impl, options_, ChunkRows{place.rows, x, y, sigma}, p, linearize, worker.block.data(), slot);
  return slot.finite;
}

void ChunkedObjective::check_same_chunks(const ChunkedObjective& other) const {
  if (impl_->memory != other.impl_->memory || impl_->stream != other.impl_->stream || m_ != other.m_ ||
      chunk_rows_ != other.chunk_rows_ || local_rows_ != other.local_rows_ || !(layout_ == other.layout_))
    throw std::invalid_argument("a shared pass needs objectives over the same data in the same chunks");
}

void ChunkedObjective::evaluate_together(const std::vector<PassRequest*>& requests, const PassHooks& hooks) {
  if (requests.empty()) return;
  ChunkedObjective& lead = *requests.front()->objective;
  const std::size_t count = requests.size();
  if (count > 1 && lead.options_.distributed)
    throw std::invalid_argument("shared passes of several fits do not run across MPI ranks");
  std::vector<Eigen::VectorXd> params;
  for (PassRequest* request : requests) {
    lead.check_same_chunks(*request->objective);
    params.push_back(request->objective->full_params(request->x));
  }
  for (std::size_t i = 0; i < count; ++i) requests[i]->objective->begin_pass(params[i].data());
  if (hooks.on_start) hooks.on_start();
  if (hooks.rows_done) hooks.rows_done->store(0, std::memory_order_relaxed);
  // Per request: a non-finite residual ends its part of the pass; the reading ends when every
  // request's part has ended, or at once on an interrupt.
  const std::unique_ptr<std::atomic<bool>[]> cut_short(new std::atomic<bool>[count]());
  std::atomic<std::size_t> cut_count{0};
  std::atomic<bool> stop_reading{false};
  const ChunkRunner run_chunk = [&](std::size_t chunk, const double* const* x, const double* y,
                                    const double* sigma) {
    if (lead.interrupt_requested()) {
      stop_reading.store(true);
      return;
    }
    for (std::size_t i = 0; i < count; ++i) {
      if (cut_short[i].load(std::memory_order_relaxed)) continue;
      if (!requests[i]->objective->run_chunk(chunk, x, y, sigma, params[i].data(), requests[i]->linearize) &&
          !cut_short[i].exchange(true) && cut_count.fetch_add(1) + 1 == count)
        stop_reading.store(true);
    }
    if (hooks.rows_done)
      hooks.rows_done->fetch_add(lead.layout_.chunk(chunk).rows, std::memory_order_relaxed);
  };
  const auto run_all = [&] {
    if (lead.interrupt_requested()) return;  // not even the read-ahead starts
    if (lead.impl_->memory)
      lead.run_chunks_in_memory(run_chunk, stop_reading);
    else
      lead.run_chunks_streamed(run_chunk, stop_reading);
    const bool interrupted = lead.interrupt_requested();
    for (std::size_t i = 0; i < count; ++i) {
      Impl& impl = *requests[i]->objective->impl_;
      if (!impl.check_values) continue;
      // The first bad row of the data, not of whichever chunk a thread met first: one scan says it.
      for (const Impl::Slot& slot : impl.slots)
        if (slot.bad_value) impl.memory->check_values();
      if (!cut_short[i].load() && !interrupted) impl.memory->mark_values_checked();
    }
  };
  // Across ranks every rank reaches the exchange, also after a failure, a non-finite residual (its
  // slot's `finite` flag then makes the whole pass non-finite on every rank) or its own interrupt;
  // a failure is raised on every rank by agree(), and the interrupt agreed there discards the
  // pass on every rank alike.
  Distributed* world = lead.options_.distributed;
  if (!world)
    run_all();
  else
    world->run_agreed(run_all);
  const bool interrupted = world ? world->agreed_interrupt()->load() : lead.interrupt_requested();
  for (std::size_t i = 0; i < count; ++i)
    requests[i]->objective->end_pass(*requests[i], world || !cut_short[i].load(), interrupted);
}

void ChunkedObjective::run_chunks_in_memory(const ChunkRunner& run_chunk, const std::atomic<bool>& stop) {
  Impl& impl = *impl_;
  const std::size_t k = static_cast<std::size_t>(impl.num_predictors);
  // This rank's slots in parallel; each walks its own chunks of its file (segment) in order:
  // s, s + S, s + 2S, ... counted from the segment's first chunk and slot.
  const ChunkLayout::RankShare& mine = layout_.share(rank_);
  if (mine.slot_begin == mine.slot_end) return;
  const tsan::ForkJoin edges;  // TBB's hand-offs, for ThreadSanitizer
  impl.arena.execute(edges.task([&] {
    tbb::parallel_for(
        tbb::blocked_range<std::size_t>(mine.slot_begin, mine.slot_end, 1),
        edges.task([&](const tbb::blocked_range<std::size_t>& range) {
          Impl::Worker& worker = impl.workers.local();
          worker.x.resize(k);
          for (std::size_t s = range.begin(); s != range.end(); ++s) {
            const ChunkLayout::Segment& segment = layout_.segments()[layout_.segment_of_slot(s)];
            const std::size_t end = segment.first_chunk + segment.chunks;
            for (std::size_t chunk = segment.first_chunk + s - segment.first_slot;
                 chunk < end && !stop.load(std::memory_order_relaxed); chunk += segment.slots) {
              const std::size_t begin = layout_.local_row(rank_, chunk);
              for (std::size_t q = 0; q < k; ++q)
                worker.x[q] = impl.memory->x_column(static_cast<int>(q)) + begin;
              const double* sigma = impl.memory->sigma_column();
              run_chunk(chunk, worker.x.data(), impl.memory->y_column() + begin,
                        sigma ? sigma + begin : nullptr);
            }
          }
        }),
        tbb::simple_partitioner());
  }));
  edges.joined();
}

namespace {

// The read-ahead batches of a streamed pass, shared by its workers. Each worker takes the next
// chunk in row order and works on it inside whichever batch holds it; a batch goes back to the
// reader when its last chunk is done. So no worker waits at a batch's end for the others, as a
// fork and join per batch would make it (about 80 joins a pass at 1e7 rows).
//
// A slot's chunks lie `slots` apart and must be folded one after the other, in order. Batch b may
// therefore be started only when every batch before b - window is done, with window =
// slots / batch_chunks: two chunks of one slot are then never in progress at once. The reader's
// ring bounds the batches held as before.
class StreamedBatches {
 public:
  StreamedBatches(ReadAhead& reader, std::size_t chunk_rows, std::size_t batches, std::size_t window)
      : reader_(reader), chunk_rows_(chunk_rows), batches_(batches), window_(std::max<std::size_t>(1, window)) {}

  // The batch with index `b` (in row order), once it may be started; null after stop(). When the
  // batches are filled in the caller's thread (ReadAhead::consumer_fills), the worker that takes a
  // batch also takes the one after it if it can at once, so that the others find it ready.
  const RowBatch* acquire(std::size_t b) {
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [&] { return stopped_ || (b < done_ + window_ && (b < fetched_ || !fetching_)); });
      if (stopped_) return nullptr;
      if (b < fetched_) {
        const RowBatch* batch = held_[b - done_].batch;
        if (b + 1 == fetched_ && fetched_ < batches_ && fetched_ < done_ + window_ && !fetching_ &&
            reader_.consumer_fills() && reader_.can_take_at_once())
          fetch(lock);
        return batch;
      }
      fetch(lock);
    }
  }

  // Takes the next batch from the reader; the others wait for it meanwhile rather than take it too.
  // If the reader throws, the worker's stop() wakes them.
  void fetch(std::unique_lock<std::mutex>& lock) {
    fetching_ = true;
    lock.unlock();
    const RowBatch* batch = reader_.take();
    lock.lock();
    fetching_ = false;
    if (!batch) throw std::logic_error("streamed pass: the reader ended before the last chunk");
    held_.push_back({batch, (batch->rows + chunk_rows_ - 1) / chunk_rows_});
    ++fetched_;
    changed_.notify_all();
  }

  // One chunk of batch `b` is done.
  void chunk_done(std::size_t b) {
    {
      std::lock_guard lock(mutex_);
      Held& held = held_[b - done_];
      if (--held.chunks_left == 0) reader_.give_back(held.batch);
      while (!held_.empty() && held_.front().chunks_left == 0) {
        held_.pop_front();
        ++done_;
      }
    }
    changed_.notify_all();
  }

  // No more batches: the pass was interrupted or failed. Waiting workers return empty-handed.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    changed_.notify_all();
  }

 private:
  struct Held {
    const RowBatch* batch;
    std::size_t chunks_left;
  };
  ReadAhead& reader_;
  const std::size_t chunk_rows_;
  const std::size_t batches_;
  const std::size_t window_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Held> held_;     // batches [done_, fetched_)
  std::size_t done_ = 0;      // every batch before this one is done
  std::size_t fetched_ = 0;   // batches taken from the reader
  bool fetching_ = false;
  bool stopped_ = false;
};

}  // namespace

void ChunkedObjective::run_chunks_streamed(const ChunkRunner& run_chunk,
                                           const std::atomic<bool>& stop) {
  // Each file (segment) of this rank's rows in turn: its slots fold only its own chunks.
  for (const ChunkLayout::RankPart& part : layout_.share(rank_).parts) {
    if (stop.load(std::memory_order_relaxed)) return;
    run_part_streamed(part, run_chunk, stop);
  }
}

void ChunkedObjective::run_part_streamed(const ChunkLayout::RankPart& part, const ChunkRunner& run_chunk,
                                         const std::atomic<bool>& stop) {
  Impl& impl = *impl_;
  const std::size_t k = static_cast<std::size_t>(impl.num_predictors);
  // Batches of consecutive chunks: the part's consecutive chunks cycle through its own slots, so
  // a batch holds at most a third of them (stream_batch_chunks).
  const std::size_t slots = part.slot_end - part.slot_begin;
  const std::size_t batch_chunks =
      stream_batch_chunks(static_cast<std::size_t>(threads_), slots, chunk_rows_);
  const std::size_t local_chunks = part.local_chunks;
  ReadAhead reader(*impl.stream, part.local_first_row, part.local_first_row + part.rows.rows(),
                   batch_chunks * chunk_rows_);
  StreamedBatches batches(reader, chunk_rows_, (local_chunks + batch_chunks - 1) / batch_chunks,
                          slots / batch_chunks);
  std::atomic<std::size_t> next_chunk{0};
  const tsan::ForkJoin edges;  // TBB's hand-offs, for ThreadSanitizer
  impl.arena.execute(edges.task([&] {
    tbb::parallel_for(
        tbb::blocked_range<int>(0, threads_, 1),
        edges.task([&](const tbb::blocked_range<int>&) {
          Impl::Worker& worker = impl.workers.local();
          worker.x.resize(k);
          try {
            while (!stop.load(std::memory_order_relaxed)) {
              const std::size_t chunk = next_chunk.fetch_add(1);
              if (chunk >= local_chunks) break;
              const std::size_t b = chunk / batch_chunks;
              const RowBatch* batch = batches.acquire(b);
              if (!batch) break;
              const std::size_t offset = (chunk - b * batch_chunks) * chunk_rows_;
              for (std::size_t q = 0; q < k; ++q) worker.x[q] = batch->x[q] + offset;
              run_chunk(layout_.global_chunk(rank_, part.local_first_chunk + chunk), worker.x.data(),
                        batch->y + offset, batch->sigma ? batch->sigma + offset : nullptr);
              batches.chunk_done(b);
            }
          } catch (...) {
            batches.stop();  // the others must not wait for a chunk that will never be done
            throw;
          }
          // Stopped early (interrupted, or every request cut short): its batches will never be
          // done, so nobody may wait for them. The pass's results are not used.
          if (stop.load(std::memory_order_relaxed)) batches.stop();
        }),
        tbb::simple_partitioner());
  }));
  edges.joined();
}

namespace {

// Slot a absorbs slot b: one node of the tree.
void combine_pair(ChunkedObjective::Impl::Slot& a, const ChunkedObjective::Impl::Slot& b, int n_free,
                  bool linearize) {
  const std::size_t n = static_cast<std::size_t>(n_free);
  if (linearize) kernel::fold_rows_into_factor(a.factor.data(), n_free, b.factor.data(), n, n);
  add_sums(a.sums, b.sums);
  a.f_norm2 += b.f_norm2;
  combine_moments(a.moments, b.moments);
  a.finite = a.finite && b.finite;
}

// A slot's partial result as doubles for the exchange between ranks, and back: the factor [R | Q^T f]
// (n x (n + 1), as stored: the receiver must hold the very same bits), when linearizing, then the
// sums, ||f||^2, the moments of y and the finite flag.
constexpr std::size_t kSlotScalars = 8;
std::size_t factor_doubles(int n_free) {
  return static_cast<std::size_t>(n_free) * static_cast<std::size_t>(n_free + 1);
}
void pack_slot(const ChunkedObjective::Impl::Slot& slot, int n_free, bool linearize, std::vector<double>& out) {
  if (linearize) out.insert(out.end(), slot.factor.data(), slot.factor.data() + factor_doubles(n_free));
  out.insert(out.end(), {slot.sums.rho, slot.sums.chi2, slot.sums.ss_residual, slot.f_norm2,
                         slot.moments.count, slot.moments.mean, slot.moments.m2, slot.finite ? 1.0 : 0.0});
}
const double* unpack_slot(const double* in, int n_free, bool linearize, ChunkedObjective::Impl::Slot& slot) {
  if (linearize) {
    std::copy_n(in, factor_doubles(n_free), slot.factor.data());
    in += factor_doubles(n_free);
  }
  slot.sums = {in[0], in[1], in[2]};
  slot.f_norm2 = in[3];
  slot.moments = {in[4], in[5], in[6]};
  slot.finite = in[7] != 0;
  return in + kSlotScalars;
}

}  // namespace

int ChunkedObjective::node_owner(std::size_t a, std::size_t span) const {
  const std::size_t end = std::min(a + span, num_slots_);
  const int r = layout_.owner_of_slot(a);
  if (r < 0) return -1;
  return end <= layout_.share(r).slot_end ? r : -1;
}

void ChunkedObjective::combine_level(std::size_t step, bool linearize,
                                     const std::function<bool(std::size_t a)>& wanted) {
  Impl& impl = *impl_;
  const std::size_t pairs = (num_slots_ - step + 2 * step - 1) / (2 * step);
  const tsan::ForkJoin edges;  // TBB's hand-offs, for ThreadSanitizer
  impl.arena.execute(edges.task([&] {
    const tbb::blocked_range<std::size_t> all_pairs(0, pairs);
    tbb::parallel_for(all_pairs, edges.task([&](const tbb::blocked_range<std::size_t>& range) {
      for (std::size_t pair = range.begin(); pair != range.end(); ++pair) {
        const std::size_t a = pair * 2 * step;
        if (wanted(a)) combine_pair(impl.slots[a], impl.slots[a + step], n_free_, linearize);
      }
    }));
  }));
  edges.joined();
}

void ChunkedObjective::combine_slots(bool linearize) {
  // Fixed binary tree over slot index: level by level, slot a absorbs slot a + step. First the
  // nodes within this rank's own slots (all of them for one process).
  for (std::size_t step = 1; step < num_slots_; step *= 2)
    combine_level(step, linearize, [&](std::size_t a) { return node_owner(a, 2 * step) == rank_; });
  if (ranks_ == 1) return;
  const auto start = std::chrono::steady_clock::now();
  exchange_subtrees(linearize);
  // Then the nodes that span several ranks, on every rank alike.
  for (std::size_t step = 1; step < num_slots_; step *= 2)
    combine_level(step, linearize, [&](std::size_t a) { return node_owner(a, 2 * step) < 0; });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fastest_exchange_seconds_ = exchanges_ == 0 ? seconds : std::min(fastest_exchange_seconds_, seconds);
  exchange_seconds_ += seconds;
  ++exchanges_;
}

void ChunkedObjective::exchange_subtrees(bool linearize) {
  // Each rank's largest complete nodes (those whose parent spans another rank's slots), in a
  // fixed order that every rank can list for every rank.
  std::vector<std::vector<std::size_t>> roots(static_cast<std::size_t>(ranks_));
  std::size_t top = 1;
  while (top < num_slots_) top *= 2;
  for (std::size_t span = 1; span <= top; span *= 2)
    for (std::size_t a = 0; a < num_slots_; a += span) {
      const int owner = node_owner(a, span);
      if (owner >= 0 && (span == top || node_owner(a - a % (2 * span), 2 * span) != owner))
        roots[static_cast<std::size_t>(owner)].push_back(a);
    }
  std::vector<double> mine;
  for (std::size_t a : roots[static_cast<std::size_t>(rank_)]) pack_slot(impl_->slots[a], n_free_, linearize, mine);
  doubles_sent_ = mine.size();
  most_doubles_sent_ = std::max(most_doubles_sent_, doubles_sent_);
  std::vector<int> counts;
  const std::vector<double> all = options_.distributed->all_gather(mine, counts);
  const double* in = all.data();
  for (std::size_t r = 0; r < roots.size(); ++r)
    for (std::size_t a : roots[r]) {
      if (static_cast<int>(r) == rank_) {
        in += mine.size() / roots[r].size();
        continue;
      }
      in = unpack_slot(in, n_free_, linearize, impl_->slots[a]);
    }
}

Evaluation ChunkedObjective::evaluate(const Eigen::VectorXd& x, bool with_linearization) {
  if (options_.shared) return options_.shared->evaluate(*this, x, with_linearization);
  PassRequest request{this, x, with_linearization, {}};
  evaluate_together({&request}, PassHooks{options_.rows_done, nullptr});
  return request.result;
}

// The slots combined into the request's evaluation; `complete` false: a non-finite residual cut
// the pass short. `interrupted`: the pass is discarded (across ranks after its exchange, which
// every rank makes).
void ChunkedObjective::end_pass(PassRequest& request, bool complete, bool interrupted) {
  Evaluation& result = request.result;
  result = {};
  const bool linearize = request.linearize;
  if (complete) combine_slots(linearize);
  if (interrupted) {
    result.interrupted = true;
    result.finite = false;
    result.cost = std::numeric_limits<double>::infinity();
    return;
  }
  if (complete && !impl_->response_moments && impl_->slots[0].finite)
    impl_->response_moments = impl_->slots[0].moments;
  const Impl::Slot& root = impl_->slots[0];
  // A sum of squares that overflows (finite residuals beyond about 1e154) is no cost either.
  if (!complete || !root.finite || !std::isfinite(root.sums.rho)) {
    result.finite = false;
    result.cost = std::numeric_limits<double>::infinity();
    return;
  }
  result.cost = 0.5 * root.sums.rho;
  if (impl_->remembered.size() == kRememberedPoints) impl_->remembered.pop_front();
  impl_->remembered.push_back({request.x, root.sums});
  if (!linearize) return;

  const Eigen::Index n = n_free_;
  const Eigen::Map<const Eigen::MatrixXd> factor(root.factor.data(), n, n + 1);
  Linearization& lin = result.lin;
  lin.R = factor.leftCols(n).triangularView<Eigen::Upper>();
  for (Eigen::Index j = 0; j < n; ++j) lin.R.col(j) /= impl_->column_scale[static_cast<std::size_t>(j)];
  lin.qtf = factor.col(n);
  lin.f_norm2 = root.f_norm2;
  if (!lin.R.allFinite() || !lin.qtf.allFinite()) {  // a non-finite Jacobian entry
    result.finite = false;
    result.cost = std::numeric_limits<double>::infinity();
    result.lin = {};
    return;
  }
  // Without squaring: the squares of a column of 1e-217 underflow.
  lin.col_norms.resize(n);
  for (Eigen::Index j = 0; j < n; ++j) lin.col_norms[j] = lin.R.col(j).stableNorm();
  result.has_linearization = true;
}

std::optional<ResidualSums> ChunkedObjective::sums_at(const Eigen::VectorXd& x) const {
  for (auto it = impl_->remembered.rbegin(); it != impl_->remembered.rend(); ++it)
    if (it->x.size() == x.size() && it->x == x) return it->sums;
  return std::nullopt;
}

std::optional<ResponseMoments> ChunkedObjective::response_moments() const {
  return impl_->response_moments;
}

namespace {

// This rank's chunks in increasing order, each in RAM or in a read-ahead batch (one reader per file
// of its rows: chunks start at multiples of the chunk size within each).
class LocalChunks {
 public:
  LocalChunks(const MemoryDataSource* memory, DataSource* stream, const ChunkLayout& layout, int rank,
              std::size_t threads)
      : memory_(memory), stream_(stream), layout_(layout), rank_(rank), threads_(threads),
        x_(static_cast<std::size_t>(memory ? memory->num_predictors() : stream->num_predictors())) {}
  // The next chunk's rows (x pointers in x(), y, sigma); its row count is the caller's to know.
  void next(std::size_t rows, const double*& y, const double*& sigma) {
    if (memory_) {
      for (std::size_t q = 0; q < x_.size(); ++q) x_[q] = memory_->x_column(static_cast<int>(q)) + begin_;
      y = memory_->y_column() + begin_;
      sigma = memory_->sigma_column() ? memory_->sigma_column() + begin_ : nullptr;
      begin_ += rows;
      return;
    }
    if (!batch_ || offset_ >= batch_->rows) {
      if (!reader_ || !(batch_ = reader_->next())) {
        const ChunkLayout::RankPart& part = layout_.share(rank_).parts.at(part_++);
        const std::size_t batch_chunks = ChunkedObjective::stream_batch_chunks(
            threads_, part.slot_end - part.slot_begin, layout_.chunk_rows());
        reader_.reset();
        reader_ = std::make_unique<ReadAhead>(*stream_, part.local_first_row,
                                              part.local_first_row + part.rows.rows(),
                                              batch_chunks * layout_.chunk_rows());
        batch_ = reader_->next();
      }
      offset_ = 0;
    }
    for (std::size_t q = 0; q < x_.size(); ++q) x_[q] = batch_->x[q] + offset_;
    y = batch_->y + offset_;
    sigma = batch_->sigma ? batch_->sigma + offset_ : nullptr;
    offset_ += rows;
  }
  const double* const* x() const { return x_.data(); }

 private:
  const MemoryDataSource* memory_;
  DataSource* stream_;
  const ChunkLayout& layout_;
  int rank_;
  std::size_t threads_;
  std::vector<const double*> x_;
  std::unique_ptr<ReadAhead> reader_;
  std::size_t part_ = 0;
  const RowBatch* batch_ = nullptr;
  std::size_t offset_ = 0, begin_ = 0;
};

}  // namespace

void ChunkedObjective::for_each_chunk_fitted(
    const Eigen::VectorXd& x, const std::function<void(const FittedChunk&)>& given_consume) {
  const Eigen::VectorXd p = full_params(x);
  // Weights reach the consumer as the sigma they stand for, 1 / sqrt(w).
  std::vector<double> sigma_of_weight;
  const std::function<void(const FittedChunk&)> consume =
      !options_.sigma_is_weight ? given_consume : [&](const FittedChunk& chunk) {
        if (!chunk.sigma) return given_consume(chunk);
        sigma_of_weight.resize(chunk.rows);
        for (std::size_t i = 0; i < chunk.rows; ++i) sigma_of_weight[i] = 1.0 / std::sqrt(chunk.sigma[i]);
        FittedChunk converted = chunk;
        converted.sigma = sigma_of_weight.data();
        given_consume(converted);
      };
  start_pass();
  if (options_.distributed) {
    for_each_chunk_fitted_ordered(p, consume);
    return;
  }
  // The layout's chunks in row order (each file's own, so that the values are computed in the same
  // blocks as across ranks, where rank 0 consumes them).
  PooledBuffer<double> fit = get_memory_manager().allocate<double>(chunk_rows_);
  LocalChunks local(impl_->memory, impl_->stream, layout_, rank_, static_cast<std::size_t>(threads_));
  for (std::size_t c = 0; c < layout_.num_chunks(); ++c) {
    const ChunkLayout::Chunk place = layout_.chunk(c);
    const double* y = nullptr;
    const double* sigma = nullptr;
    local.next(place.rows, y, sigma);
    impl_->model.evaluate(local.x(), place.rows, p.data(), fit.data());
    consume(FittedChunk{place.begin, place.rows, local.x(), y, sigma, fit.data()});
  }
}

// Across ranks: rank 0 walks every chunk in row order; a chunk of another rank comes from that
// rank as one message [status, x..., y, sigma, fit] (one chunk in flight: memory stays bounded).
// A rank that has failed, or knows of an interrupt (its own flag or a peer's notice), sends the
// status word alone for each of its remaining chunks: the exchange stays in step, but nothing more
// is read, evaluated or consumed. The agreement at the end raises the failure on every rank, or
// sets the agreed interrupt on every rank (the caller then discards what it consumed).
void ChunkedObjective::for_each_chunk_fitted_ordered(const Eigen::VectorXd& p,
                                                     const std::function<void(const FittedChunk&)>& consume) {
  constexpr double kRows = 0, kFailed = 1, kInterrupted = 2;  // the status word
  Distributed& world = *options_.distributed;
  const std::size_t k = static_cast<std::size_t>(impl_->num_predictors);
  const std::size_t columns = impl_->columns + 1;  // x..., y, sigma, fit
  std::vector<double> block(1 + columns * chunk_rows_);
  std::vector<const double*> xs(k);
  // Fills block[1...] with one chunk of this rank's rows and their fitted values.
  auto read_chunk = [&](LocalChunks& local, std::size_t rows) {
    const double* y = nullptr;
    const double* sigma = nullptr;
    local.next(rows, y, sigma);
    double* rows_out = block.data() + 1;
    for (std::size_t q = 0; q < k; ++q) std::copy_n(local.x()[q], rows, rows_out + q * rows);
    std::copy_n(y, rows, rows_out + k * rows);
    if (sigma) std::copy_n(sigma, rows, rows_out + (k + 1) * rows);
    for (std::size_t q = 0; q < k; ++q) xs[q] = rows_out + q * rows;
    impl_->model.evaluate(xs.data(), rows, p.data(), rows_out + (columns - 1) * rows);
  };
  world.run_agreed([&] {
    std::exception_ptr error;
    std::unique_ptr<LocalChunks> local;
    try {
      local = std::make_unique<LocalChunks>(impl_->memory, impl_->stream, layout_, rank_,
                                            static_cast<std::size_t>(threads_));
    } catch (...) {
      error = std::current_exception();
    }
    bool peer_failed = false, stopped = false;
    for (std::size_t c = 0; c < layout_.num_chunks(); ++c) {
      const ChunkLayout::Chunk place = layout_.chunk(c);
      const int from = layout_.owner_of_slot(place.slot);
      if (from != rank_ && rank_ != 0) continue;
      const std::size_t rows = place.rows;
      stopped = stopped || world.poll_interrupt();
      if (from == rank_) {
        block[0] = error ? kFailed : stopped ? kInterrupted : kRows;
        if (block[0] == kRows) {
          try {
            read_chunk(*local, rows);
          } catch (...) {
            error = std::current_exception();
            block[0] = kFailed;
          }
        }
        if (rank_ != 0) {
          world.send_to_root(block.data(), block[0] == kRows ? 1 + columns * rows : 1);
          continue;
        }
      } else {
        world.receive(from, block);
      }
      peer_failed = peer_failed || block[0] == kFailed;
      stopped = stopped || block[0] == kInterrupted;
      if (error || peer_failed || stopped) continue;  // the agreement below reports it
      const double* rows_in = block.data() + 1;
      for (std::size_t q = 0; q < k; ++q) xs[q] = rows_in + q * rows;
      const double* y = rows_in + k * rows;
      const double* sigma = impl_->has_sigma ? y + rows : nullptr;
      try {
        consume(FittedChunk{place.begin, rows, xs.data(), y, sigma, rows_in + (columns - 1) * rows});
      } catch (...) {
        error = std::current_exception();
      }
    }
    if (error) std::rethrow_exception(error);
  });
}

}  // namespace curvefit
