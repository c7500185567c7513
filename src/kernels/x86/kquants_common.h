// What the K-quant kernel files for x86 (gemm_kquants_avx2_impl.h, gemm_kquants_avx512.cpp)
// share: the block types by kind, the scale unpacking, the aligned activation copy. Include
// it inside each file's anonymous namespace in ponder::kernels, so that every ISA file keeps its
// own copy, compiled with its own flags (one shared inline copy could run another level's
// instructions).
#pragma once

enum class KQ { Q2, Q3, Q4, Q5, Q6 };
// Signed quants (Q3_K, Q6_K) take the activations + 128 as the unsigned operand.
template <KQ K>
constexpr bool kSigned = K == KQ::Q3 || K == KQ::Q6;
// 16 scales of 16 elements (Q2_K, Q3_K, Q6_K) rather than 8 of 32 (Q4_K, Q5_K).
template <KQ K>
constexpr bool k16Scales = K == KQ::Q2 || K == KQ::Q3 || K == KQ::Q6;

// fp16 -> f32 by the F16C instruction: exact, as core/fp16.h's fp16_to_f32, without branches.
inline float half(uint16_t h) {
    return _cvtsh_ss(h);
}

template <KQ K>
struct Block;
template <>
struct Block<KQ::Q2> {
    using type = BlockQ2_K;
};
template <>
struct Block<KQ::Q3> {
    using type = BlockQ3_K;
};
template <>
struct Block<KQ::Q4> {
    using type = BlockQ4_K;
};
template <>
struct Block<KQ::Q5> {
    using type = BlockQ5_K;
};
template <>
struct Block<KQ::Q6> {
    using type = BlockQ6_K;
};

// The 8 six-bit scales (low 8 bytes) and mins (high 8 bytes) of a Q4_K / Q5_K super-block.
inline void scales_mins(const uint8_t* p, uint64_t& sc, uint64_t& mn) {
    uint32_t u0, u1, u2;
    std::memcpy(&u0, p, 4);
    std::memcpy(&u1, p + 4, 4);
    std::memcpy(&u2, p + 8, 4);
    const uint32_t s_lo = u0 & 0x3f3f3f3fu;
    const uint32_t s_hi = (u2 & 0x0f0f0f0fu) | ((u0 >> 2) & 0x30303030u);
    const uint32_t m_lo = u1 & 0x3f3f3f3fu;
    const uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 2) & 0x30303030u);
    sc = uint64_t(s_lo) | (uint64_t(s_hi) << 32);
    mn = uint64_t(m_lo) | (uint64_t(m_hi) << 32);
}

// The quants of n_tokens Q8_K activation rows (nb super-blocks each, rows arb bytes apart)
// copied to 64-byte aligned rows of 256 in thread-local scratch (kept): row t's super-block b
// at (t * nb + b) * 256. In the activation rows (292-byte blocks) every other 32-byte load of a
// prompt tile crosses a cache line, which made the shapes whose activations stream from L2
// (ffn_down) 10-20% slower.
inline const int8_t* aligned_token_quants(const uint8_t* acts, size_t arb, int64_t n_tokens,
                                          int64_t nb) {
    struct alignas(64) Line {
        int8_t b[64];
    };
    thread_local std::vector<Line> buf;
    const size_t lines = size_t(n_tokens * nb) * (kQK_K / 64);
    if (buf.size() < lines) buf.resize(lines);
    int8_t* out = buf.data()->b;
    for (int64_t t = 0; t < n_tokens; ++t) {
        const auto* xb = reinterpret_cast<const BlockQ8_K*>(acts + size_t(t) * arb);
        for (int64_t b = 0; b < nb; ++b)
            std::memcpy(out + size_t(t * nb + b) * kQK_K, xb[b].qs, kQK_K);
    }
    return out;
}
