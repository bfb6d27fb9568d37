// The read-ahead reader: every row exactly once and in order, errors reach the consumer, and the
// reader stops cleanly when the consumer stops early.
#include "core/data/read_ahead.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "core/engine/engine_test_support.h"
#include "core/errors.h"

namespace curvefit {
namespace {

using testing_support::CountingSource;
using testing_support::make_decay_data;

// Also for a source that reads by position (pread of a contiguous HDF5 file): it is copied into
// the ring's buffers batch by batch in the consumer's own thread, with no reader thread.
TEST(ReadAhead, DeliversEveryRowOnceInOrder) {
  MemoryDataSource data = make_decay_data(1000, true);
  for (std::size_t batch_rows :
       {std::size_t{1}, std::size_t{64}, std::size_t{999}, std::size_t{5000}}) {
    for (int buffers : {1, 2, 3}) {
      for (const bool by_position : {false, true}) {
        CountingSource source(data);
        source.read_by_position = by_position;
        ReadAhead reader(source, 0, data.rows(), batch_rows, buffers);
        EXPECT_EQ(reader.consumer_fills(), by_position);
        std::size_t next_row = 0;
        while (const RowBatch* batch = reader.next()) {
          ASSERT_EQ(batch->begin, next_row);
          ASSERT_EQ(batch->rows, std::min(batch_rows, data.rows() - next_row));
          ASSERT_NE(batch->sigma, nullptr);
          for (std::size_t i = 0; i < batch->rows; ++i) {
            ASSERT_EQ(batch->x[0][i], data.x_column(0)[next_row + i]);
            ASSERT_EQ(batch->y[i], data.y_column()[next_row + i]);
            ASSERT_EQ(batch->sigma[i], data.sigma_column()[next_row + i]);
          }
          next_row += batch->rows;
        }
        EXPECT_EQ(next_row, data.rows());
        EXPECT_EQ(source.rows_read, data.rows());
        EXPECT_EQ(reader.next(), nullptr);  // stays at the end
        if (by_position) {
          for (const std::thread::id& thread : source.read_threads)
            EXPECT_EQ(thread, std::this_thread::get_id());
        }
      }
    }
  }
}

TEST(ReadAhead, ReadsASubrangeWithoutSigma) {
  MemoryDataSource data = make_decay_data(500, false);
  CountingSource source(data);
  ReadAhead reader(source, 100, 350, 100);
  std::vector<std::size_t> begins;
  while (const RowBatch* batch = reader.next()) {
    EXPECT_EQ(batch->sigma, nullptr);
    EXPECT_EQ(batch->y[0], data.y_column()[batch->begin]);
    begins.push_back(batch->begin);
  }
  EXPECT_EQ(begins, (std::vector<std::size_t>{100, 200, 300}));
  EXPECT_EQ(source.rows_read, 250u);
}

TEST(ReadAhead, EmptyRangeEndsAtOnce) {
  MemoryDataSource data = make_decay_data(10, false);
  CountingSource source(data);
  ReadAhead reader(source, 10, 10, 4);
  EXPECT_EQ(reader.next(), nullptr);
  EXPECT_EQ(source.reads, 0u);
}

TEST(ReadAhead, ReadErrorReachesTheConsumerAfterTheGoodBatches) {
  MemoryDataSource data = make_decay_data(1000, false);
  CountingSource source(data);
  source.fail_at_row = 550;  // the batch [500, 600) fails
  ReadAhead reader(source, 0, data.rows(), 100);
  std::size_t delivered = 0;
  try {
    while (const RowBatch* batch = reader.next()) delivered += batch->rows;
    FAIL() << "the read error was swallowed";
  } catch (const DataError& error) {
    EXPECT_NE(std::string(error.what()).find("injected read failure"), std::string::npos);
  }
  EXPECT_EQ(delivered, 500u);
  EXPECT_THROW(reader.next(), DataError);  // and again: the stream stays failed
}

TEST(ReadAhead, ConsumerStoppingEarlyStopsTheReader) {
  MemoryDataSource data = make_decay_data(100000, false);
  CountingSource source(data);
  {
    ReadAhead reader(source, 0, data.rows(), 100, 2);
    ASSERT_NE(reader.next(), nullptr);
  }  // destructor: stops and joins the reader although 999 batches remain
  // The reader can be at most the ring size ahead of the consumer (+ the one held).
  EXPECT_LE(source.reads, 3u);
}

// A source that reads by position fills each batch in take(): its error comes there too, after
// the good batches, and stays.
TEST(ReadAhead, ByPositionErrorComesWhereItsBatchWould) {
  MemoryDataSource data = make_decay_data(1000, false);
  CountingSource source(data);
  source.read_by_position = true;
  source.fail_at_row = 550;
  ReadAhead reader(source, 0, data.rows(), 100);
  ASSERT_TRUE(reader.consumer_fills());
  std::size_t delivered = 0;
  EXPECT_THROW(
      {
        while (const RowBatch* batch = reader.next()) delivered += batch->rows;
      },
      DataError);
  EXPECT_EQ(delivered, 500u);
  EXPECT_THROW(reader.next(), DataError);  // the stream stays failed
}

// take() and give_back() let a consumer hold several batches and return them in any order; the
// batches still come in row order, each row once, never more held than the ring's buffers.
TEST(ReadAhead, BatchesTakenTogetherAreGivenBackInAnyOrder) {
  MemoryDataSource data = make_decay_data(1000, false);
  for (bool by_position : {false, true}) {
    CountingSource source(data);
    source.read_by_position = by_position;
    ReadAhead reader(source, 0, data.rows(), 90, 3);
    std::vector<const RowBatch*> held;
    std::size_t next_row = 0;
    for (;;) {
      while (held.size() < 3) {
        const RowBatch* batch = reader.take();
        if (!batch) break;
        ASSERT_EQ(batch->begin, next_row);
        ASSERT_EQ(batch->y[0], data.y_column()[next_row]);
        next_row += batch->rows;
        held.push_back(batch);
      }
      if (held.empty()) break;
      // The middle one first, then the newest: not the order they came in.
      const std::size_t pick = held.size() == 3 ? 1 : held.size() - 1;
      reader.give_back(held[pick]);
      held.erase(held.begin() + static_cast<std::ptrdiff_t>(pick));
    }
    EXPECT_EQ(next_row, data.rows()) << by_position;
    EXPECT_EQ(source.rows_read, data.rows()) << by_position;
  }
}

TEST(ReadAhead, RejectsBadArguments) {
  MemoryDataSource data = make_decay_data(10, false);
  CountingSource source(data);
  EXPECT_THROW(ReadAhead(source, 0, 10, 0), std::invalid_argument);
  EXPECT_THROW(ReadAhead(source, 0, 11, 4), std::out_of_range);
  EXPECT_THROW(ReadAhead(source, 0, 10, 4, 0), std::invalid_argument);
}

}  // namespace
}  // namespace curvefit
