#include "core/engine/chunked_objective.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <stdexcept>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>

#include "core/engine/chunk_kernel.h"
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
  for (std::size_t begin = 0; begin < in.rows && slot.finite; begin += kSubBlockRows) {
    const std::size_t rows = std::min(kSubBlockRows, in.rows - begin);
    for (std::size_t q = 0; q < k; ++q) xs[q] = in.x[q] + begin;
    const double* sigma = in.sigma ? in.sigma + begin : nullptr;
    if (impl.check_values && !rows_valid(xs, k, in.y + begin, sigma, rows)) {
      slot.bad_value = true;
      slot.finite = false;
      break;
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
  if (m_ == 0) throw std::invalid_argument("no data rows to fit");
  if (options_.chunk_rows == 0) throw std::invalid_argument("chunk size of 0 rows");

  chunk_rows_ = std::min(options_.chunk_rows, m_);
  num_chunks_ = (m_ + chunk_rows_ - 1) / chunk_rows_;
  num_slots_ = std::min(kMaxSlots, num_chunks_);
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

bool ChunkedObjective::run_pass(const double* p, bool linearize) {
  Impl& impl = *impl_;
  start_pass();
  impl.column_scale = jacobian_column_scales(p, impl.free_index);
  if (options_.rows_done) options_.rows_done->store(0, std::memory_order_relaxed);
  reset_slots();
  std::atomic<bool> cut_short{false};
  const std::size_t workspace_doubles =
      worker_workspace_bytes(chunk_rows_, static_cast<std::size_t>(n_model_), impl.columns) / sizeof(double);

  // Chunk c of the data, its rows at the given pointers: evaluate and fold into slot c mod S.
  const ChunkRunner run_chunk = [&](std::size_t chunk, const double* const* x_at_begin, const double* y,
                                    const double* sigma) {
    if (cut_short.load(std::memory_order_relaxed)) return;
    Impl::Worker& worker = impl.workers.local();
    const std::size_t rows = std::min(chunk_rows_, m_ - chunk * chunk_rows_);
    if (!worker.block) worker.block = get_memory_manager().allocate<double>(workspace_doubles);
    Impl::Slot& slot = impl.slots[chunk % num_slots_];
    process_chunk(impl, options_, ChunkRows{rows, x_at_begin, y, sigma}, p, linearize,
                  worker.block.data(), slot);
    if (!slot.finite) cut_short.store(true, std::memory_order_relaxed);
    if (options_.rows_done) options_.rows_done->fetch_add(rows, std::memory_order_relaxed);
  };
  impl.check_values = impl.memory && !impl.memory->values_checked();
  if (impl.memory)
    run_chunks_in_memory(run_chunk);
  else
    run_chunks_streamed(run_chunk, cut_short);
  if (impl.check_values) {
    // The first bad row of the data, not of whichever chunk a thread met first: one scan says it.
    for (const Impl::Slot& slot : impl.slots)
      if (slot.bad_value) impl.memory->check_values();
    if (!cut_short.load()) impl.memory->mark_values_checked();
  }
  if (cut_short.load()) return false;
  combine_slots(linearize);
  if (!impl.response_moments) impl.response_moments = impl.slots[0].moments;
  return true;
}

void ChunkedObjective::run_chunks_in_memory(const ChunkRunner& run_chunk) {
  Impl& impl = *impl_;
  const std::size_t k = static_cast<std::size_t>(impl.num_predictors);
  // Slots in parallel; each walks its own chunks s, s + S, s + 2S, ... in order.
  impl.arena.execute([&] {
    tbb::parallel_for(
        tbb::blocked_range<std::size_t>(0, num_slots_, 1),
        [&](const tbb::blocked_range<std::size_t>& range) {
          Impl::Worker& worker = impl.workers.local();
          worker.x.resize(k);
          for (std::size_t s = range.begin(); s != range.end(); ++s)
            for (std::size_t chunk = s; chunk < num_chunks_; chunk += num_slots_) {
              const std::size_t begin = chunk * chunk_rows_;
              for (std::size_t q = 0; q < k; ++q)
                worker.x[q] = impl.memory->x_column(static_cast<int>(q)) + begin;
              const double* sigma = impl.memory->sigma_column();
              run_chunk(chunk, worker.x.data(), impl.memory->y_column() + begin,
                        sigma ? sigma + begin : nullptr);
            }
        },
        tbb::simple_partitioner());
  });
}

void ChunkedObjective::run_chunks_streamed(const ChunkRunner& run_chunk,
                                           const std::atomic<bool>& cut_short) {
  Impl& impl = *impl_;
  const std::size_t k = static_cast<std::size_t>(impl.num_predictors);
  // Batches of consecutive chunks, at most S of them, so that the chunks of one batch belong to
  // distinct slots and run in parallel; batches come in row order, so every slot still folds its
  // chunks in increasing order.
  const std::size_t batch_chunks = stream_batch_chunks(static_cast<std::size_t>(threads_), num_slots_);
  ReadAhead reader(*impl.stream, 0, m_, batch_chunks * chunk_rows_);
  while (const RowBatch* batch = reader.next()) {
    const std::size_t first_chunk = batch->begin / chunk_rows_;
    const std::size_t chunks = (batch->rows + chunk_rows_ - 1) / chunk_rows_;
    impl.arena.execute([&] {
      tbb::parallel_for(
          tbb::blocked_range<std::size_t>(0, chunks, 1),
          [&](const tbb::blocked_range<std::size_t>& range) {
            Impl::Worker& worker = impl.workers.local();
            worker.x.resize(k);
            for (std::size_t i = range.begin(); i != range.end(); ++i) {
              const std::size_t offset = i * chunk_rows_;
              for (std::size_t q = 0; q < k; ++q) worker.x[q] = batch->x[q] + offset;
              run_chunk(first_chunk + i, worker.x.data(), batch->y + offset,
                        batch->sigma ? batch->sigma + offset : nullptr);
            }
          },
          tbb::simple_partitioner());
    });
    if (cut_short.load()) break;  // the reader is stopped by its destructor
  }
}

void ChunkedObjective::combine_slots(bool linearize) {
  Impl& impl = *impl_;
  const std::size_t n_free = static_cast<std::size_t>(n_free_);
  // Fixed binary tree over slot index: level by level, slot a absorbs slot a + step.
  for (std::size_t step = 1; step < num_slots_; step *= 2) {
    const std::size_t pairs = (num_slots_ - step + 2 * step - 1) / (2 * step);
    impl.arena.execute([&] {
      tbb::parallel_for(std::size_t{0}, pairs, [&](std::size_t pair) {
        Impl::Slot& a = impl.slots[pair * 2 * step];
        Impl::Slot& b = impl.slots[pair * 2 * step + step];
        if (linearize)
          kernel::fold_rows_into_factor(a.factor.data(), n_free_, b.factor.data(), n_free, n_free);
        add_sums(a.sums, b.sums);
        a.f_norm2 += b.f_norm2;
        combine_moments(a.moments, b.moments);
        a.finite = a.finite && b.finite;
      });
    });
  }
}

Evaluation ChunkedObjective::evaluate(const Eigen::VectorXd& x, bool with_linearization) {
  const Eigen::VectorXd p = full_params(x);
  Evaluation result;
  const bool complete = run_pass(p.data(), with_linearization);
  const Impl::Slot& root = impl_->slots[0];
  if (!complete || !root.finite) {
    result.finite = false;
    result.cost = std::numeric_limits<double>::infinity();
    return result;
  }
  result.cost = 0.5 * root.sums.rho;
  if (impl_->remembered.size() == kRememberedPoints) impl_->remembered.pop_front();
  impl_->remembered.push_back({x, root.sums});
  if (!with_linearization) return result;

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
    return result;
  }
  // Without squaring: the squares of a column of 1e-217 underflow.
  lin.col_norms.resize(n);
  for (Eigen::Index j = 0; j < n; ++j) lin.col_norms[j] = lin.R.col(j).stableNorm();
  result.has_linearization = true;
  return result;
}

std::optional<ResidualSums> ChunkedObjective::sums_at(const Eigen::VectorXd& x) const {
  for (auto it = impl_->remembered.rbegin(); it != impl_->remembered.rend(); ++it)
    if (it->x.size() == x.size() && it->x == x) return it->sums;
  return std::nullopt;
}

std::optional<ResponseMoments> ChunkedObjective::response_moments() const {
  return impl_->response_moments;
}

void ChunkedObjective::for_each_chunk_fitted(
    const Eigen::VectorXd& x, const std::function<void(const FittedChunk&)>& consume) {
  const Eigen::VectorXd p = full_params(x);
  start_pass();
  PooledBuffer<double> fit = get_memory_manager().allocate<double>(chunk_rows_);
  const std::size_t k = static_cast<std::size_t>(impl_->num_predictors);
  std::vector<const double*> xs(k);
  auto emit = [&](std::size_t begin, std::size_t rows, const double* y, const double* sigma) {
    impl_->model.evaluate(xs.data(), rows, p.data(), fit.data());
    consume(FittedChunk{begin, rows, xs.data(), y, sigma, fit.data()});
  };
  if (impl_->memory) {
    const MemoryDataSource& data = *impl_->memory;
    for (std::size_t begin = 0; begin < m_; begin += chunk_rows_) {
      for (std::size_t q = 0; q < k; ++q) xs[q] = data.x_column(static_cast<int>(q)) + begin;
      emit(begin, std::min(chunk_rows_, m_ - begin), data.y_column() + begin,
           data.sigma_column() ? data.sigma_column() + begin : nullptr);
    }
    return;
  }
  const std::size_t batch_chunks = stream_batch_chunks(static_cast<std::size_t>(threads_), num_slots_);
  ReadAhead reader(*impl_->stream, 0, m_, batch_chunks * chunk_rows_);
  while (const RowBatch* batch = reader.next()) {
    for (std::size_t offset = 0; offset < batch->rows; offset += chunk_rows_) {
      for (std::size_t q = 0; q < k; ++q) xs[q] = batch->x[q] + offset;
      emit(batch->begin + offset, std::min(chunk_rows_, batch->rows - offset), batch->y + offset,
           batch->sigma ? batch->sigma + offset : nullptr);
    }
  }
}

}  // namespace curvefit
