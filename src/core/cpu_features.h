// What the CPU we run on can do, detected once (CPUID on x86-64, hwcaps on aarch64).
#pragma once
#include <string>

namespace ponder {

struct CpuFeatures {
    std::string vendor;  // "AuthenticAMD", "GenuineIntel", ... (empty when unknown)
    std::string brand;   // the processor's marketing name, when the CPU reports one
    // x86-64 (each flag also requires the OS to save the matching register state).
    bool sse42 = false, avx = false, avx2 = false, fma = false, f16c = false, bmi2 = false;
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
    bool avx512vnni = false, avx512bf16 = false;
    // aarch64: Advanced SIMD, its dot product (SDOT/UDOT) and half-precision arithmetic.
    bool neon = false, dotprod = false, fp16 = false;
};

// Detected on first use; thread-safe.
const CpuFeatures& cpu_features();

}  // namespace ponder
