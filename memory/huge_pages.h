#pragma once
// Transparent huge pages for large buffers that are written once and read many times: one page
// fault per 2 MiB instead of 512. A first touch of a 4 KiB page is costly (about 10 us on this
// project's VM, where 4 MiB take 11 ms in 4 KiB pages and 0.5 ms in huge pages), so the buffers of
// a fit that hold data ask for huge pages. Advice only: where the kernel
// refuses (THP "never"), the memory behaves as before.
#include <cstddef>
#include <memory>

namespace curvefit {

inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

// Asks for huge pages on the 2 MiB-aligned part of [data, data + bytes).
void advise_huge_pages(const void* data, std::size_t bytes);

// n doubles (uninitialised), freed when the last copy of the pointer goes. From one huge page up
// they start on a 2 MiB boundary with huge pages asked for where the data fill them; smaller
// buffers are plain (a huge page would cost 2 MiB of RSS for a few kB). Throws std::bad_alloc when
// the system refuses.
std::shared_ptr<double> allocate_huge_page_doubles(std::size_t n);

}  // namespace curvefit
