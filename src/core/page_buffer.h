// Anonymous memory for the large arrays kernels stream (the KV cache, repacked weights): mapped
// from the kernel, so it starts zero-filled and pages nothing has touched take no memory (a
// 64K-token cache costs what its used cells hold, not its full size); the data starts on a
// 2 MiB boundary, so rows start on cache lines and transparent huge pages can back it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ponder {

class PageBuffer {
  public:
    // Huge: ask for transparent huge pages (fewer TLB misses and faults where the whole buffer
    // is written at once; memory is then taken in 2 MiB steps). Small: 4 KiB steps.
    enum class Pages { Small, Huge };

    PageBuffer() = default;
    // bytes > 0; throws Error naming `what` and the size when the system refuses the mapping.
    PageBuffer(size_t bytes, Pages pages, std::string_view what);
    // As the constructor, but an empty buffer (data() == nullptr) where the mapping is refused.
    static PageBuffer try_map(size_t bytes, Pages pages);
    ~PageBuffer();
    PageBuffer(PageBuffer&& o) noexcept;
    PageBuffer& operator=(PageBuffer&& o) noexcept;
    PageBuffer(const PageBuffer&) = delete;
    PageBuffer& operator=(const PageBuffer&) = delete;

    uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    // Makes the data read-only (a write then faults instead of corrupting it).
    void protect_read_only();

  private:
    void release() noexcept;
    void* map_ = nullptr;  // the whole mapping, data_ rounded up to 2 MiB inside it
    size_t map_bytes_ = 0;
    uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace ponder
