#pragma once
// Read-ahead for streaming passes: one background thread reads consecutive row ranges of a
// DataSource (whose read() is not thread-safe, hence exactly one reader) into a small ring of
// buffers while the consumer computes on the range it holds. Batches arrive in order, each row
// exactly once; an exception thrown by the source is rethrown to the consumer by next(); the
// destructor stops the reader and joins it, also when the consumer stops early.
//
// Memory: `buffers` blocks of footprint::data_bytes(batch_rows, columns), taken from the pool
// once, when the reader starts. A source that serves rows in place (DataSource::view: a mapped
// window of the file) fills no buffer: the batch points at the window, at most `buffers` of them
// held at a time.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/data/data_source.h"
#include "memory/memory_manager.h"

namespace curvefit {

// One range of rows as delivered to the consumer. Column pointers stay valid until the next call
// of ReadAhead::next() or the ReadAhead's destruction.
struct RowBatch {
  std::size_t begin = 0;            // first row (index in the source)
  std::size_t rows = 0;             // number of rows in this batch
  std::vector<const double*> x;     // one pointer per predictor
  const double* y = nullptr;
  const double* sigma = nullptr;    // null when the source has no sigma
};

class ReadAhead {
 public:
  // Default ring size: one buffer computed on, one ready, one being read.
  static constexpr int kDefaultBuffers = 3;

  // Reads rows [begin, end) of `source` in batches of `batch_rows` (the last may be shorter).
  // The source must outlive this object and must not be read by anyone else meanwhile.
  ReadAhead(DataSource& source, std::size_t begin, std::size_t end, std::size_t batch_rows,
            int buffers = kDefaultBuffers, MemoryManager& manager = get_memory_manager());
  ~ReadAhead();
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  // The next batch in row order, or null after the last one. Gives the previously returned
  // batch's buffer back to the reader. Rethrows the exception the reader met, if any.
  const RowBatch* next();

  // Bytes of the ring (what the planner predicts for it).
  static std::size_t ring_bytes(std::size_t batch_rows, std::size_t columns, int buffers);

 private:
  struct Buffer;
  void reader_loop();
  void fill(Buffer& buffer, std::size_t row, std::size_t count, std::vector<double*>& x);
  void stop_reader();

  DataSource& source_;
  std::size_t begin_;
  std::size_t end_;
  std::size_t batch_rows_;
  int num_predictors_;
  bool has_sigma_;

  struct Buffer {
    PooledBuffer<double> storage;  // batch_rows x columns, column-major: x..., y, sigma
    RowBatch batch;
    std::shared_ptr<const void> view;  // rows served in place (DataSource::view), else null
  };
  std::vector<Buffer> buffers_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<int> free_;     // buffers the reader may fill
  std::deque<int> filled_;   // buffers ready for the consumer, in row order
  int held_ = -1;            // the buffer the consumer holds
  bool reader_done_ = false; // the reader has delivered its last batch (or failed)
  bool stopping_ = false;    // the consumer asked the reader to stop
  std::exception_ptr error_;
  std::thread reader_;
};

}  // namespace curvefit
