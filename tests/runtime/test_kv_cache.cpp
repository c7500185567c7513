// KV cache bookkeeping: allocation, visibility by position, sharing prefixes, freeing.
#include <gtest/gtest.h>

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
