#include "core/cpu_features.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace ponder {
namespace {

#if defined(__x86_64__) || defined(__i386__)
uint64_t read_xcr0() {
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t(hi) << 32) | lo;
}

void detect(CpuFeatures& f) {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    const unsigned max_leaf = a;
    char vendor[13] = {};
    std::memcpy(vendor, &b, 4);
    std::memcpy(vendor + 4, &d, 4);
    std::memcpy(vendor + 8, &c, 4);
    f.vendor = vendor;

    __get_cpuid(1, &a, &b, &c, &d);
    f.sse42 = (c >> 20) & 1;
    const bool osxsave = (c >> 27) & 1;
    const bool avx_hw = (c >> 28) & 1;
    f.fma = (c >> 12) & 1;
    f.f16c = (c >> 29) & 1;
    // The OS must save YMM (XCR0 bits 1-2) and, for AVX-512, opmask and ZMM state (bits 5-7).
    const uint64_t xcr0 = osxsave ? read_xcr0() : 0;
    const bool os_ymm = (xcr0 & 0x6) == 0x6;
    const bool os_zmm = (xcr0 & 0xE6) == 0xE6;
    f.avx = avx_hw && os_ymm;
    f.fma = f.fma && f.avx;
    f.f16c = f.f16c && f.avx;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f.avx2 = f.avx && ((b >> 5) & 1);
        f.bmi2 = (b >> 8) & 1;
        f.avx512f = os_zmm && ((b >> 16) & 1);
        f.avx512dq = f.avx512f && ((b >> 17) & 1);
        f.avx512bw = f.avx512f && ((b >> 30) & 1);
        f.avx512vl = f.avx512f && ((b >> 31) & 1);
        f.avx512vnni = f.avx512f && ((c >> 11) & 1);
        const bool os_tiles = (xcr0 & 0x60000) == 0x60000;
        f.amx_int8 = os_tiles && ((d >> 24) & 1) && ((d >> 25) & 1);
        __cpuid_count(7, 1, a, b, c, d);
        f.avx512bf16 = f.avx512f && ((a >> 5) & 1);
        f.avxvnni = f.avx2 && ((a >> 4) & 1);
    }
    __get_cpuid(0x80000000, &a, &b, &c, &d);
    if (a >= 0x80000004) {
        char brand[49] = {};
        for (unsigned i = 0; i < 3; ++i) {
            __get_cpuid(0x80000002 + i, &a, &b, &c, &d);
            std::memcpy(brand + 16 * i, &a, 4);
            std::memcpy(brand + 16 * i + 4, &b, 4);
            std::memcpy(brand + 16 * i + 8, &c, 4);
            std::memcpy(brand + 16 * i + 12, &d, 4);
        }
        f.brand = brand;
        while (!f.brand.empty() && f.brand.back() == ' ') f.brand.pop_back();
        while (!f.brand.empty() && f.brand.front() == ' ') f.brand.erase(0, 1);
    }
}
#elif defined(__aarch64__)
void detect(CpuFeatures& f) {
    f.neon = true;  // mandatory on aarch64
#if defined(__linux__)
    const unsigned long hw = getauxval(AT_HWCAP);
    f.dotprod = (hw >> 20) & 1;                    // HWCAP_ASIMDDP
    f.fp16 = ((hw >> 9) & 1) && ((hw >> 10) & 1);  // HWCAP_FPHP and HWCAP_ASIMDHP
#endif
}
#else
void detect(CpuFeatures&) {}
#endif

// The largest cache of CPU 0 that holds data, from sysfs ("size" as "266240K", "2M", ...).
uint64_t detect_llc_bytes() {
    uint64_t best = 0;
    int best_level = 0;
    for (int i = 0; i < 16; ++i) {
        const std::string dir =
            "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
        std::ifstream type_in(dir + "type"), level_in(dir + "level"), size_in(dir + "size");
        std::string type, size;
        int level = 0;
        if (!(type_in >> type) || !(level_in >> level) || !(size_in >> size)) break;
        if (type == "Instruction" || size.empty()) continue;
        uint64_t bytes = std::strtoull(size.c_str(), nullptr, 10);
        const char unit = size.back();
        if (unit == 'K') bytes <<= 10;
        if (unit == 'M') bytes <<= 20;
        if (unit == 'G') bytes <<= 30;
        if (level > best_level || (level == best_level && bytes > best)) {
            best_level = level;
            best = bytes;
        }
    }
    return best;
}

}  // namespace

const CpuFeatures& cpu_features() {
    static const CpuFeatures f = [] {
        CpuFeatures r;
        detect(r);
        r.llc_bytes = detect_llc_bytes();
        return r;
    }();
    return f;
}

}  // namespace ponder
