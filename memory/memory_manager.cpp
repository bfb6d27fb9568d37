#include "memory/memory_manager.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>

namespace curvefit {

namespace {
constexpr std::size_t kAlignment = 64;
std::size_t round_up(std::size_t bytes) {
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}
}  // namespace

MemoryError::MemoryError(std::size_t needed_bytes, std::size_t available_bytes, std::string source)
    : std::runtime_error("memory limit: needs " + std::to_string(needed_bytes) + " bytes, " +
                         std::to_string(available_bytes) + " available (limit from " + source + ")"),
      needed_(needed_bytes),
      available_(available_bytes),
      source_(std::move(source)) {}

struct MemoryManager::Impl {
  std::mutex mutex;
  std::multimap<std::size_t, void*> idle;  // capacity -> block
  double gc_threshold;
  double safety_factor;
};

MemoryManager::MemoryManager(double gc_threshold, double safety_factor) : impl_(new Impl) {
  impl_->gc_threshold = gc_threshold;
  impl_->safety_factor = safety_factor;
}

MemoryManager::~MemoryManager() {
  clear_pool();
  delete impl_;
}

PoolBlock MemoryManager::acquire_block(std::size_t bytes, bool zero) {
  const std::size_t capacity = round_up(bytes == 0 ? 1 : bytes);
  void* data = nullptr;
  {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->idle.find(capacity);
    if (it != impl_->idle.end()) {
      data = it->second;
      impl_->idle.erase(it);
    }
  }
  if (!data) {
    data = std::aligned_alloc(kAlignment, capacity);
    if (!data) throw MemoryError(capacity, 0, "fallback");
  }
  if (zero) std::memset(data, 0, capacity);
  return {data, capacity};
}

void MemoryManager::release_block(PoolBlock block) noexcept {
  std::lock_guard lock(impl_->mutex);
  impl_->idle.emplace(block.capacity_bytes, block.data);
}

void MemoryManager::clear_pool() {
  std::lock_guard lock(impl_->mutex);
  for (auto& [capacity, data] : impl_->idle) std::free(data);
  impl_->idle.clear();
}

MemoryManager& get_memory_manager() {
  static MemoryManager manager;
  return manager;
}

SolverWorkspace::SolverWorkspace(Algorithm algorithm, std::size_t n_params, MemoryManager& manager)
    : n_(n_params), spec_(workspace_spec(algorithm)) {
  storage_ = manager.allocate<double>(
      n_params, static_cast<std::size_t>(spec_.square_matrices) * n_params + spec_.vectors, true);
}

double* SolverWorkspace::matrix(int slot) const {
  if (slot < 0 || slot >= spec_.square_matrices) throw std::out_of_range("workspace matrix slot");
  return storage_.data() + static_cast<std::size_t>(slot) * n_ * n_;
}

double* SolverWorkspace::vector(int slot) const {
  if (slot < 0 || slot >= spec_.vectors) throw std::out_of_range("workspace vector slot");
  return storage_.data() + static_cast<std::size_t>(spec_.square_matrices) * n_ * n_ +
         static_cast<std::size_t>(slot) * n_;
}

std::string_view to_string(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::trf: return "trf";
    case Algorithm::lm: return "lm";
    case Algorithm::dogbox: return "dogbox";
  }
  return "?";
}

Algorithm parse_algorithm(std::string_view text) {
  if (text == "trf") return Algorithm::trf;
  if (text == "lm") return Algorithm::lm;
  if (text == "dogbox") return Algorithm::dogbox;
  throw std::invalid_argument("unknown method '" + std::string(text) + "' (expected trf, lm or dogbox)");
}

}  // namespace curvefit
