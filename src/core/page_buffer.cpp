#include "core/page_buffer.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/error.h"

namespace ponder {

namespace {
constexpr size_t kHugePage = size_t(2) << 20;
}

PageBuffer PageBuffer::try_map(size_t bytes, Pages pages) {
    PageBuffer b;
    if (bytes == 0) return b;
    // One huge page more than asked, so that the data can start on a 2 MiB boundary.
    const size_t span = bytes + kHugePage;
    void* p = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return b;
    b.map_ = p;
    b.map_bytes_ = span;
    b.data_ = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + kHugePage - 1) /
                                         kHugePage * kHugePage);
    b.size_ = bytes;
#ifdef MADV_HUGEPAGE
    if (pages == Pages::Huge) madvise(b.data_, bytes, MADV_HUGEPAGE);  // advice only
#else
    (void)pages;
#endif
    return b;
}

PageBuffer::PageBuffer(size_t bytes, Pages pages, std::string_view what) {
    *this = try_map(bytes, pages);
    if (bytes > 0 && !data_)
        fail(what, ": cannot map ", (bytes + (size_t(1) << 20) - 1) >> 20, " MiB (",
             std::strerror(errno), ")");
}

PageBuffer::~PageBuffer() {
    release();
}

PageBuffer::PageBuffer(PageBuffer&& o) noexcept
    : map_(std::exchange(o.map_, nullptr)),
      map_bytes_(std::exchange(o.map_bytes_, 0)),
      data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)) {}

PageBuffer& PageBuffer::operator=(PageBuffer&& o) noexcept {
    if (this != &o) {
        release();
        map_ = std::exchange(o.map_, nullptr);
        map_bytes_ = std::exchange(o.map_bytes_, 0);
        data_ = std::exchange(o.data_, nullptr);
        size_ = std::exchange(o.size_, 0);
    }
    return *this;
}

void PageBuffer::protect_read_only() {
    if (data_) mprotect(data_, size_, PROT_READ);
}

void PageBuffer::release() noexcept {
    if (map_) munmap(map_, map_bytes_);
    map_ = nullptr;
    data_ = nullptr;
    size_ = map_bytes_ = 0;
}

}  // namespace ponder
