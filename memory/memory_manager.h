#pragma once
// MemoryManager: predictions of what a fit needs, availability checks, an RAII guard, an aligned
// thread-safe buffer pool, statistics and chunk planning. Usable on its own: it knows nothing of
// fitting beyond the sizes in solver_workspace.h.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "memory/solver_workspace.h"

namespace curvefit {

class MemoryManager;

// Thrown when memory that a guard or an allocation asked for is not there.
class MemoryError : public std::runtime_error {
 public:
  MemoryError(std::size_t needed_bytes, std::size_t available_bytes, std::string source);
  std::size_t needed_bytes() const { return needed_; }
  std::size_t available_bytes() const { return available_; }
  // Which limit set `available` ("cgroup v2", "cgroup v1", "rlimit", "meminfo", "fallback").
  const std::string& source() const { return source_; }

 private:
  std::size_t needed_;
  std::size_t available_;
  std::string source_;
};

// Untyped pooled block; the typed handle below is what callers use.
struct PoolBlock {
  void* data = nullptr;
  std::size_t capacity_bytes = 0;  // what the pool handed out (>= requested)
};

// An owning, 64-byte aligned buffer of rows x cols elements (column-major by convention) that goes
// back to its pool when it dies or when reset() is called. Move-only.
template <class T>
class PooledBuffer {
 public:
  PooledBuffer() = default;
  PooledBuffer(const PooledBuffer&) = delete;
  PooledBuffer& operator=(const PooledBuffer&) = delete;
  PooledBuffer(PooledBuffer&& other) noexcept { *this = std::move(other); }
  PooledBuffer& operator=(PooledBuffer&& other) noexcept {
    if (this != &other) {
      reset();
      owner_ = std::exchange(other.owner_, nullptr);
      block_ = std::exchange(other.block_, PoolBlock{});
      rows_ = std::exchange(other.rows_, 0);
      cols_ = std::exchange(other.cols_, 0);
    }
    return *this;
  }
  ~PooledBuffer() { reset(); }

  T* data() const { return static_cast<T*>(block_.data); }
  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }
  std::size_t size() const { return rows_ * cols_; }
  T& operator[](std::size_t i) const { return data()[i]; }
  explicit operator bool() const { return block_.data != nullptr; }
  // Returns the memory to the pool now.
  inline void reset();

 private:
  friend class MemoryManager;
  MemoryManager* owner_ = nullptr;
  PoolBlock block_{};
  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
};

class MemoryManager {
 public:
  explicit MemoryManager(double gc_threshold = 0.8, double safety_factor = 1.2);
  ~MemoryManager();
  MemoryManager(const MemoryManager&) = delete;
  MemoryManager& operator=(const MemoryManager&) = delete;

  // rows x cols elements of T, 64-byte aligned, zero-filled when `zero`. Equal-sized requests
  // reuse pooled blocks. Thread-safe.
  template <class T>
  PooledBuffer<T> allocate(std::size_t rows, std::size_t cols = 1, bool zero = false) {
    PooledBuffer<T> buffer;
    buffer.owner_ = this;
    buffer.block_ = acquire_block(rows * cols * sizeof(T), zero);
    buffer.rows_ = rows;
    buffer.cols_ = cols;
    return buffer;
  }
  // Explicitly gives a buffer back (same as letting it die).
  template <class T>
  void free(PooledBuffer<T>& buffer) {
    buffer.reset();
  }

  // Low-level pool access, used by PooledBuffer; `zero` fills the block with zeros.
  PoolBlock acquire_block(std::size_t bytes, bool zero);
  void release_block(PoolBlock block) noexcept;

  // Drops pooled (idle) blocks and returns freed memory to the system.
  void clear_pool();

 private:
  struct Impl;
  Impl* impl_;
};

template <class T>
void PooledBuffer<T>::reset() {
  if (owner_ && block_.data) owner_->release_block(block_);
  owner_ = nullptr;
  block_ = {};
  rows_ = cols_ = 0;
}

// The process-wide instance.
MemoryManager& get_memory_manager();

// The n x n matrices and n-vectors of one solver run, taken from the pool as one block per slot.
// The slot counts are workspace_spec(algorithm): what predict_memory_requirement adds up.
class SolverWorkspace {
 public:
  SolverWorkspace(Algorithm algorithm, std::size_t n_params,
                  MemoryManager& manager = get_memory_manager());
  std::size_t n() const { return n_; }
  double* matrix(int slot) const;  // n x n, column-major
  double* vector(int slot) const;  // n

 private:
  std::size_t n_;
  WorkspaceSpec spec_;
  PooledBuffer<double> storage_;  // matrices first, then vectors
};

}  // namespace curvefit
