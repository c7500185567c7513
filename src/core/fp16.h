// IEEE half and bfloat16 <-> float conversions (scalar, exact; round-to-nearest-even).
#pragma once
#include <cstdint>
#include <cstring>

namespace ponder {

inline float bits_to_f32(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline uint32_t f32_to_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

// Half -> float, exact for every input including subnormals, inf and NaN.
inline float fp16_to_f32(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    const uint32_t man = h & 0x3ff;
    if (exp == 0) {
        if (man == 0) return bits_to_f32(sign);
        // subnormal: man * 2^-24
        float f = float(man) * (1.0f / 16777216.0f);
        return sign ? -f : f;
    }
    if (exp == 31) return bits_to_f32(sign | 0x7f800000u | (man << 13));
    return bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

// Float -> half with round-to-nearest-even; overflow gives inf, NaN stays NaN.
inline uint16_t f32_to_fp16(float f) {
    const uint32_t x = f32_to_bits(f);
    const uint32_t sign = (x >> 16) & 0x8000;
    const uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return uint16_t(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
    if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00);  // rounds to >= 65520: inf
    if (ax < 0x38800000u) {                                 // below the smallest normal half
        // Result is subnormal (or zero): value / 2^-24, rounded to nearest even.
        const float a = bits_to_f32(ax);
        const float scaled = a * 16777216.0f;  // exact: power-of-two scale
        uint32_t r = uint32_t(scaled);
        const float frac = scaled - float(r);
        if (frac > 0.5f || (frac == 0.5f && (r & 1))) ++r;
        return uint16_t(sign | r);
    }
    uint32_t e = (ax >> 23) - 112;
    uint32_t m = ax & 0x7fffff;
    uint32_t h = (e << 10) | (m >> 13);
    const uint32_t rest = m & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;  // may carry into the exponent: ok
    return uint16_t(sign | h);
}

inline float bf16_to_f32(uint16_t b) {
    return bits_to_f32(uint32_t(b) << 16);
}

// Float -> bfloat16 with round-to-nearest-even; NaN stays a quiet NaN.
inline uint16_t f32_to_bf16(float f) {
    uint32_t x = f32_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 64);
    x += 0x7fff + ((x >> 16) & 1);
    return uint16_t(x >> 16);
}

}  // namespace ponder
