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
  // Below one huge page the advice would only make the RSS a whole 2 MiB: plain pages then. Above,
  // only the huge pages the data fill are advised, so the RSS exceeds the data by less than one.
  const std::size_t alignment = bytes < kHugePageBytes ? 64 : kHugePageBytes;
  const std::size_t rounded = (bytes + alignment - 1) / alignment * alignment;
  void* data = std::aligned_alloc(alignment, rounded);
  if (!data) throw std::bad_alloc();
  if (bytes >= kHugePageBytes) advise_huge_pages(data, bytes);
  return std::shared_ptr<double>(static_cast<double*>(data), [](double* p) { std::free(p); });
}

}  // namespace curvefit
