#include "kernels/dispatch.h"

#include <atomic>
#include <cstdlib>
#include <string>

#include "core/cpu_features.h"
#include "core/error.h"
#include "kernels/ref/kernels_ref.h"

namespace ponder::kernels {
namespace {

KernelTable make_scalar() {
    KernelTable t;
    t.isa = Isa::Scalar;
    t.rms_norm = ref::rms_norm;
    t.rope = ref::rope;
    t.swiglu = ref::swiglu;
    t.attention = {ref::attention_scores, ref::attention_exp, ref::attention_values};
    return t;
}

struct Tables {
    KernelTable scalar, avx2, avx512, neon;
    Tables() {
        scalar = make_scalar();
        avx2 = scalar;
        avx512 = scalar;
        neon = scalar;
#if defined(__aarch64__)
        neon.isa = Isa::Neon;
        register_gemm_neon(neon);
        register_gemm_kquants_neon(neon);
        register_ops_neon(neon);
#endif
#if defined(__x86_64__)
        avx2.isa = Isa::Avx2;
        register_gemm_q8_avx2(avx2);
        if (cpu_features().avxvnni) register_gemm_q8_avxvnni(avx2);
        register_gemm_kquants_avx2(avx2);
        if (cpu_features().avxvnni) register_gemm_kquants_avxvnni(avx2);
        register_ops_avx2(avx2);
        avx512 = avx2;
        avx512.isa = Isa::Avx512;
        register_gemm_q8_avx512(avx512);
        register_gemm_kquants_avx512(avx512);
        register_gemm_kquants_x16_avx512(avx512);
        register_ops_avx512(avx512);
        if (amx_enabled()) register_gemm_amx(avx512);
#endif
    }
};

const Tables& tables() {
    static const Tables t;
    return t;
}

std::string supported_list() {
    std::string s;
    for (Isa isa : supported_isas()) {
        if (!s.empty()) s += ", ";
        s += isa_name(isa);
    }
    return s;
}

Isa isa_from_env() {
    const char* env = std::getenv("PONDER_ISA");
    if (!env || !*env) return best_isa();
    const std::string v = env;
    Isa want;
    if (v == "scalar")
        want = Isa::Scalar;
    else if (v == "avx2")
        want = Isa::Avx2;
    else if (v == "avx512")
        want = Isa::Avx512;
    else if (v == "neon")
        want = Isa::Neon;
    else
        fail("PONDER_ISA=", v, " is not a kernel level (use one of: ", supported_list(), ")");
    if (!isa_supported(want))
        fail("PONDER_ISA=", v,
             " asks for kernels this CPU cannot run (it supports: ", supported_list(), ")");
    return want;
}

std::atomic<int> g_active{-1};

}  // namespace

bool amx_enabled() {
#if defined(__x86_64__)
    static const bool on = [] {
        const char* env = std::getenv("PONDER_AMX");
        if (env && std::string(env) == "0") return false;
        return cpu_features().amx_int8 && amx_request_permission();
    }();
    return on;
#else
    return false;
#endif
}

std::string active_kernels_name() {
    const Isa isa = active_isa();
    std::string s(isa_name(isa));
    if (isa == Isa::Avx512 && amx_enabled()) s += "+amx";
    return s;
}

std::string_view isa_name(Isa isa) {
    switch (isa) {
        case Isa::Avx2:
            return "avx2";
        case Isa::Avx512:
            return "avx512";
        case Isa::Neon:
            return "neon";
        default:
            return "scalar";
    }
}

Isa best_isa() {
#if defined(__x86_64__)
    const CpuFeatures& f = cpu_features();
    if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vnni && f.avx2 && f.fma &&
        f.f16c && f.bmi2)
        return Isa::Avx512;
    if (f.avx2 && f.fma && f.f16c && f.bmi2) return Isa::Avx2;
#elif defined(__aarch64__)
    // arm/*_neon.cpp are compiled for armv8.2-a with dotprod and fp16.
    const CpuFeatures& f = cpu_features();
    if (f.neon && f.dotprod && f.fp16) return Isa::Neon;
#endif
    return Isa::Scalar;
}

bool isa_supported(Isa isa) {
    const Isa best = best_isa();
    switch (isa) {
        case Isa::Scalar:
            return true;
        case Isa::Avx2:
            return best == Isa::Avx2 || best == Isa::Avx512;
        case Isa::Avx512:
            return best == Isa::Avx512;
        case Isa::Neon:
            return best == Isa::Neon;
    }
    return false;
}

std::vector<Isa> supported_isas() {
    std::vector<Isa> v;
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon})
        if (isa_supported(isa)) v.push_back(isa);
    return v;
}

Isa active_isa() {
    int a = g_active.load(std::memory_order_acquire);
    if (a < 0) {
        a = static_cast<int>(isa_from_env());
        g_active.store(a, std::memory_order_release);
    }
    return static_cast<Isa>(a);
}

void set_active_isa(Isa isa) {
    if (!isa_supported(isa))
        fail("kernel level ", isa_name(isa),
             " is not supported by this CPU (it supports: ", supported_list(), ")");
    g_active.store(static_cast<int>(isa), std::memory_order_release);
}

const KernelTable& kernel_table(Isa isa) {
    if (!isa_supported(isa))
        fail("kernel level ", isa_name(isa),
             " is not supported by this CPU (it supports: ", supported_list(), ")");
    switch (isa) {
        case Isa::Avx2:
            return tables().avx2;
        case Isa::Avx512:
            return tables().avx512;
        case Isa::Neon:
            return tables().neon;
        default:
            return tables().scalar;
    }
}

const KernelTable& active_kernels() {
    return kernel_table(active_isa());
}

}  // namespace ponder::kernels
