// SHA-256 (FIPS 180-4), used to verify downloaded model files. Streaming: feed any number of
// update() calls, then finish() once.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ponder::hub {

class Sha256 {
  public:
    Sha256();
    // Appends `n` bytes to the message. Must not be called after finish().
    void update(const void* data, size_t n);
    void update(std::string_view s) { update(s.data(), s.size()); }
    // Pads the message and returns the 32-byte digest; the object is then spent.
    std::array<uint8_t, 32> finish();
    // finish() as 64 lowercase hex characters.
    std::string finish_hex();

  private:
    void compress(const uint8_t* block);

    std::array<uint32_t, 8> h_;
    std::array<uint8_t, 64> buf_;
    size_t buf_len_ = 0;
    uint64_t total_bytes_ = 0;
};

// Lowercase hex digest of a byte string.
std::string sha256_hex(std::string_view data);

// Lowercase hex digest of a whole file; throws Error naming the path if it cannot be read.
std::string sha256_file_hex(const std::string& path);

// True when `s` is exactly 64 hex digits (either case): the shape of a SHA-256 digest.
bool looks_like_sha256(std::string_view s);

}  // namespace ponder::hub
