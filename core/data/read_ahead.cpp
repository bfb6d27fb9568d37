#include "core/data/read_ahead.h"

#include <algorithm>
#include <stdexcept>

#include "memory/footprint.h"

namespace curvefit {

namespace {
std::size_t columns_of(const DataSource& source) {
  return static_cast<std::size_t>(source.num_predictors() + 1 + (source.has_sigma() ? 1 : 0));
}
}  // namespace

std::size_t ReadAhead::ring_bytes(std::size_t batch_rows, std::size_t columns, int buffers) {
  return static_cast<std::size_t>(buffers) * footprint::data_bytes(batch_rows, columns);
}

ReadAhead::ReadAhead(DataSource& source, std::size_t begin, std::size_t end,
                     std::size_t batch_rows, int buffers, MemoryManager& manager)
    : source_(source),
      begin_(begin),
      end_(std::max(begin, end)),
      batch_rows_(batch_rows),
      num_predictors_(source.num_predictors()),
      has_sigma_(source.has_sigma()) {
  if (batch_rows == 0) throw std::invalid_argument("read-ahead batch of 0 rows");
  if (buffers < 1) throw std::invalid_argument("read-ahead needs at least one buffer");
  if (end_ > source.rows()) throw std::out_of_range("read-ahead range beyond the data");
  const std::size_t columns = columns_of(source);
  buffers_.resize(static_cast<std::size_t>(buffers));
  for (std::size_t b = 0; b < buffers_.size(); ++b) {
    Buffer& buffer = buffers_[b];
    buffer.storage = manager.allocate<double>(batch_rows, columns);
    double* base = buffer.storage.data();
    buffer.batch.x.resize(static_cast<std::size_t>(num_predictors_));
    for (int k = 0; k < num_predictors_; ++k)
      buffer.batch.x[static_cast<std::size_t>(k)] = base + static_cast<std::size_t>(k) * batch_rows;
    buffer.batch.y = base + static_cast<std::size_t>(num_predictors_) * batch_rows;
    buffer.batch.sigma = has_sigma_ ? buffer.batch.y + batch_rows : nullptr;
    free_.push_back(static_cast<int>(b));
  }
  // A source that copies its rows by position needs no thread: copying a batch out of the page
  // cache is cheap next to computing on it, and done by the consumer it costs no thread hand-off,
  // no wake-up and no third thread competing with the workers for the cores.
  if (begin_ < end_ && source_.reads_by_position()) {
    consumer_fills_ = true;
    next_row_ = begin_;
    return;
  }
  reader_ = std::thread([this] { reader_loop(); });
}

ReadAhead::~ReadAhead() { stop_reader(); }

void ReadAhead::stop_reader() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (reader_.joinable()) reader_.join();
}

// The batch of rows [row, row + count), copied into the buffer's storage.
void ReadAhead::fill(Buffer& buffer, std::size_t row, std::size_t count, std::vector<double*>& x) {
  // The batch's column pointers, set once by the constructor, point into the same storage.
  double* base = buffer.storage.data();
  for (std::size_t k = 0; k < x.size(); ++k) x[k] = base + k * batch_rows_;
  double* y = base + x.size() * batch_rows_;
  source_.read(row, count, x.data(), y, has_sigma_ ? y + batch_rows_ : nullptr);
}

void ReadAhead::reader_loop() {
  std::vector<double*> x(static_cast<std::size_t>(num_predictors_));
  for (std::size_t row = begin_; row < end_;) {
    int index;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [this] { return stopping_ || !free_.empty(); });
      if (stopping_) break;
      index = free_.front();
      free_.pop_front();
    }
    Buffer& buffer = buffers_[static_cast<std::size_t>(index)];
    const std::size_t count = std::min(batch_rows_, end_ - row);
    try {
      fill(buffer, row, count, x);
    } catch (...) {
      std::lock_guard lock(mutex_);
      error_ = std::current_exception();
      reader_done_ = true;
      changed_.notify_all();
      return;
    }
    buffer.batch.begin = row;
    buffer.batch.rows = count;
    row += count;
    {
      std::lock_guard lock(mutex_);
      filled_.push_back(index);
    }
    changed_.notify_all();
  }
  std::lock_guard lock(mutex_);
  reader_done_ = true;
  changed_.notify_all();
}

const RowBatch* ReadAhead::next() {
  if (held_ >= 0) give_back(&buffers_[static_cast<std::size_t>(held_)].batch);
  const RowBatch* batch = take();
  held_ = batch ? index_of(batch) : -1;
  return batch;
}

int ReadAhead::index_of(const RowBatch* batch) const {
  for (std::size_t b = 0; b < buffers_.size(); ++b)
    if (&buffers_[b].batch == batch) return static_cast<int>(b);
  throw std::invalid_argument("read-ahead: a batch this reader did not deliver");
}

void ReadAhead::give_back(const RowBatch* batch) {
  const int index = index_of(batch);
  {
    std::lock_guard lock(mutex_);
    free_.push_back(index);
  }
  changed_.notify_all();
}

const RowBatch* ReadAhead::take() {
  if (consumer_fills_) return take_and_fill();
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return !filled_.empty() || reader_done_; });
  // Batches read before a failure are still delivered; the error comes where its batch would.
  if (!filled_.empty()) {
    const int index = filled_.front();
    filled_.pop_front();
    return &buffers_[static_cast<std::size_t>(index)].batch;
  }
  if (error_) std::rethrow_exception(error_);
  return nullptr;
}

bool ReadAhead::can_take_at_once() {
  std::lock_guard lock(mutex_);
  return consumer_fills_ ? !free_.empty() : !filled_.empty();
}

// The next batch, read by the caller (consumer_fills_: no reader thread). Waits for a free buffer.
const RowBatch* ReadAhead::take_and_fill() {
  int index;
  {
    std::unique_lock lock(mutex_);
    if (error_) std::rethrow_exception(error_);
    if (next_row_ >= end_) return nullptr;
    changed_.wait(lock, [this] { return !free_.empty(); });
    index = free_.front();
    free_.pop_front();
  }
  Buffer& buffer = buffers_[static_cast<std::size_t>(index)];
  const std::size_t row = next_row_;
  const std::size_t count = std::min(batch_rows_, end_ - row);
  std::vector<double*> x(static_cast<std::size_t>(num_predictors_));
  try {
    fill(buffer, row, count, x);
  } catch (...) {
    std::lock_guard lock(mutex_);
    error_ = std::current_exception();  // the stream stays failed
    free_.push_back(index);
    throw;
  }
  buffer.batch.begin = row;
  buffer.batch.rows = count;
  next_row_ = row + count;
  return &buffer.batch;
}

}  // namespace curvefit
