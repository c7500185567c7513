// What the CPU we run on can do, detected once (CPUID on x86-64, hwcaps on aarch64).
#pragma once
#include <cstdint>
#include <string>

namespace ponder {

struct CpuFeatures {
    std::string vendor;  // "AuthenticAMD", "GenuineIntel", ... (empty when unknown)
    std::string brand;   // the processor's marketing name, when the CPU reports one
    // x86-64 (each flag also requires the OS to save the matching register state).
    bool sse42 = false, avx = false, avx2 = false, fma = false, f16c = false, bmi2 = false;
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
    bool avx512vnni = false, avx512bf16 = false;
    // AVX-VNNI: `vpdpbusd` on 256-bit registers without AVX-512 (Intel since Alder Lake).
    bool avxvnni = false;
    // AMX with 8-bit integer tiles (`tdpbssd`; Intel since Sapphire Rapids), with the OS saving
    // the tile state (XCR0 bits 17-18). Linux still makes a process ask before it may use the
    // tiles (kernels: amx_request_permission).
    bool amx_int8 = false;
    // aarch64: Advanced SIMD, its dot product (SDOT/UDOT) and half-precision arithmetic.
    bool neon = false, dotprod = false, fp16 = false;
    // Size of the largest (last-level) data or unified cache CPU 0 reports, in bytes; 0 when the
    // system does not say (Linux: /sys/devices/system/cpu/cpu0/cache).
    uint64_t llc_bytes = 0;
};

// Detected on first use; thread-safe.
const CpuFeatures& cpu_features();

}  // namespace ponder
