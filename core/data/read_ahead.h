#pragma once
// Read-ahead for streaming passes: consecutive row ranges of a DataSource (whose read() is not
// thread-safe, hence exactly one reader) in a small ring of buffers.
//
// A source that must copy its rows through a library (HDF5's chunked or filtered datasets, the
// spill of a CSV) is read by one background thread into the ring while the consumer computes on
// the range it holds. A source that copies them by position (DataSource::reads_by_position: pread
// of a contiguous HDF5 file) needs no thread: the consumer fills each batch in take(), which costs
// no hand-off, no wake-up and no third thread competing with the workers for the cores.
//
// Batches arrive in order, each row exactly once; an exception thrown by the source is rethrown
// to the consumer where its batch would come; the destructor stops the reader and joins it, also
// when the consumer stops early.
//
// Memory: `buffers` blocks of footprint::data_bytes(batch_rows, columns), taken from the pool
// once, when the reader starts.
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

  // The next batch in row order, or null after the last one. Gives the batch next() returned
  // before back to the reader. Rethrows the exception the reader met, if any.
  const RowBatch* next();

  // For consumers that work on several batches at once (from any thread, one call at a time):
  // take() is next() without giving anything back; give_back() returns a taken batch's buffer to
  // the reader, in any order. At most `buffers` batches are held; take() waits for the reader.
  const RowBatch* take();
  void give_back(const RowBatch* batch);
  // Whether take() fills the batch in the calling thread (a source that reads by position) rather
  // than waiting for the reader thread; and whether it would find a free buffer, or a filled one,
  // now.
  bool consumer_fills() const { return consumer_fills_; }
  bool can_take_at_once();

  // Bytes of the ring (what the planner predicts for it).
  static std::size_t ring_bytes(std::size_t batch_rows, std::size_t columns, int buffers);

 private:
  struct Buffer;
  void reader_loop();
  void fill(Buffer& buffer, std::size_t row, std::size_t count, std::vector<double*>& x);
  void stop_reader();
  const RowBatch* take_and_fill();
  int index_of(const RowBatch* batch) const;

  DataSource& source_;
  std::size_t begin_;
  std::size_t end_;
  std::size_t batch_rows_;
  int num_predictors_;
  bool has_sigma_;

  struct Buffer {
    PooledBuffer<double> storage;  // batch_rows x columns, column-major: x..., y, sigma
    RowBatch batch;
  };
  std::vector<Buffer> buffers_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<int> free_;     // buffers the reader may fill
  std::deque<int> filled_;   // buffers ready for the consumer, in row order
  int held_ = -1;            // the buffer next() returned last
  bool reader_done_ = false; // the reader has delivered its last batch (or failed)
  bool stopping_ = false;    // the consumer asked the reader to stop
  std::exception_ptr error_;
  // The consumer fills each batch in take() (a read by position), no reader thread.
  bool consumer_fills_ = false;
  std::size_t next_row_ = 0;  // consumer_fills_: the first row of the next batch
  std::thread reader_;
};

}  // namespace curvefit
