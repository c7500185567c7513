// KV cache bookkeeping: allocation, visibility by position, sharing prefixes, freeing.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "model/kv_cache.h"

namespace ponder {
namespace {

TEST(KvCache, AllocatesInPositionOrderAndCountsVisibleCells) {
    KvCache kv(2, 8, 2, 4);
    for (int p = 0; p < 4; ++p) kv.alloc(0, p);
    EXPECT_EQ(kv.n_used(), 4);
    EXPECT_EQ(kv.pos_max(0), 3);
    EXPECT_EQ(kv.n_visible(0, 0), 1);
    EXPECT_EQ(kv.n_visible(0, 2), 3);
    EXPECT_EQ(kv.n_visible(0, 100), 4);
    EXPECT_EQ(kv.n_visible(1, 100), 0);
    EXPECT_THROW(kv.alloc(0, 2), Error);  // position already present
}

TEST(KvCache, SharedPrefixIsNotCopiedAndIsFreedWithItsLastOwner) {
    KvCache kv(1, 8, 1, 4);
    for (int p = 0; p < 3; ++p) kv.alloc(0, p);
    kv.seq_cp(0, 1, 0, -1);
    EXPECT_EQ(kv.n_used(), 3);  // shared, not copied
    EXPECT_EQ(kv.cells(1), kv.cells(0));
    kv.alloc(1, 3);
    EXPECT_EQ(kv.n_used(), 4);
    kv.seq_rm(0, 0, -1);
    EXPECT_EQ(kv.n_used(), 4);  // still seen by sequence 1
    EXPECT_EQ(kv.pos_max(0), -1);
    kv.seq_rm(1, 2, -1);
    EXPECT_EQ(kv.n_used(), 2);
    EXPECT_EQ(kv.pos_max(1), 1);
    kv.clear();
    EXPECT_EQ(kv.n_used(), 0);
}

TEST(KvCache, FullCacheThrowsAClearError) {
    KvCache kv(1, 2, 1, 4);
    kv.alloc(0, 0);
    kv.alloc(0, 1);
    try {
        kv.alloc(0, 2);
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("context is full"), std::string::npos);
    }
    EXPECT_THROW(kv.alloc(64, 0), Error);
    EXPECT_THROW(kv.seq_rm(-1, 0, -1), Error);
}

// Resident bytes of this process (/proc/self/statm), -1 where unreadable.
long long resident_bytes() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f) return -1;
    long long size = 0, resident = 0;
    const int n = std::fscanf(f, "%lld %lld", &size, &resident);
    std::fclose(f);
    return n == 2 ? resident * sysconf(_SC_PAGESIZE) : -1;
}

TEST(KvCache, StorageStartsZeroedOnCacheLinesAndTakesMemoryAsCellsFill) {
    const long long before = resident_bytes();
    if (before < 0) GTEST_SKIP() << "no /proc/self/statm";
    // 24 layers x 2 heads x 32768 cells x 256 bytes: 384 MiB each for K and V.
    KvCache kv(24, 32768, 2, 128);
    ASSERT_EQ(kv.bytes(), size_t(2) * 24 * 2 * 32768 * 256);
    EXPECT_LT(resident_bytes() - before, 16ll << 20) << "the cache took its full size up front";
    EXPECT_EQ(reinterpret_cast<uintptr_t>(kv.k(0, 0, 0)) % 64, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(kv.v(0, 0, 0)) % 64, 0u);
    // 100 cells written in every (layer, head): about 25 KB per array, 4.7 MiB in all.
    for (int p = 0; p < 100; ++p) {
        const int32_t c = kv.alloc(0, p);
        for (int l = 0; l < 24; ++l)
            for (int h = 0; h < 2; ++h) {
                std::memset(kv.k(l, h, c), 0x3c, kv.head_bytes());
                std::memset(kv.v(l, h, c), 0x3c, kv.head_bytes());
            }
    }
    EXPECT_LT(resident_bytes() - before, 32ll << 20);
    // A cell nothing wrote reads as zeros (F16 +0).
    const uint8_t* last = kv.k(23, 1, 32767);
    for (size_t i = 0; i < kv.head_bytes(); ++i) ASSERT_EQ(last[i], 0) << i;
}

TEST(KvCache, SizeTheSystemCannotMapIsAClearError) {
    // 64 layers x 64 heads x 2^30 cells x 256 bytes = 1 PiB, more than any machine maps.
    try {
        KvCache kv(64, 1 << 30, 64, 128);
        FAIL() << "a 1 PiB cache was mapped";
    } catch (const Error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("KV cache"), std::string::npos) << m;
        EXPECT_NE(m.find("MiB"), std::string::npos) << m;
    }
}

TEST(KvCache, PartialRemovalKeepsOrder) {
    KvCache kv(1, 16, 1, 4);
    for (int p = 0; p < 10; ++p) kv.alloc(2, p);
    kv.seq_rm(2, 3, 6);
    EXPECT_EQ(kv.positions(2), (std::vector<int32_t>{0, 1, 2, 6, 7, 8, 9}));
    kv.alloc(2, 4);
    EXPECT_EQ(kv.positions(2), (std::vector<int32_t>{0, 1, 2, 4, 6, 7, 8, 9}));
    EXPECT_EQ(kv.n_visible(2, 5), 4);
}

}  // namespace
}  // namespace ponder
