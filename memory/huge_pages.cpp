#include "memory/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <new>

namespace curvefit {

void advise_huge_pages(const void* data, std::size_t bytes) {
  const auto address = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t begin = (address + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
  const std::uintptr_t end = (address + bytes) & ~(kHugePageBytes - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

std::shared_ptr<double> allocate_huge_page_doubles(std::size_t n) {
  const std::size_t bytes = (n == 0 ? 1 : n) * sizeof(double);
  const std::size_t rounded = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  void* data = std::aligned_alloc(kHugePageBytes, rounded);
  if (!data) throw std::bad_alloc();
  advise_huge_pages(data, rounded);
  return std::shared_ptr<double>(static_cast<double*>(data), [](double* p) { std::free(p); });
}

}  // namespace curvefit
